/// Rules that can never decide because an earlier rule always decides first:
/// the mistake of a broad rule placed above a narrower block.
public enum Shadowing {
    public struct Finding: Sendable, Equatable {
        /// Index of the rule that never decides, and of the rule that shadows it.
        public var shadowed: Int
        public var by: Int
    }

    /// A rule shadows a later one when it has no conditions and every match
    /// key it sets matches everything the later rule's same key can match
    /// (it is `*`, or the two patterns are the same). Conservative: a
    /// finding is always real; not every shadowed rule is found.
    public static func findings(_ rules: [Rule]) -> [Finding] {
        var out: [Finding] = []
        for (j, later) in rules.enumerated() {
            for i in 0..<j where covers(rules[i], later) {
                out.append(Finding(shadowed: j, by: i))
                break
            }
        }
        return out
    }

    static func covers(_ a: Rule, _ b: Rule) -> Bool {
        guard a.conditions.isEmpty else { return false }
        let pairs: [(Glob?, Glob?)] = [
            (a.match.type, b.match.type), (a.match.target, b.match.target), (a.match.agent, b.match.agent),
            (a.match.program, b.match.program), (a.match.args, b.match.args),
        ]
        return pairs.allSatisfy { outer, inner in
            guard let outer else { return true }
            return outer.matchesEverything || outer.pattern == inner?.pattern
        }
    }
}
