import Testing
@testable import AegisPolicy

/// How layers' sandbox settings combine, and the names the built-in profiles refuse.
@Suite struct SandboxCombineTests {
    static func expanded(_ list: [String]) throws -> [String] {
        var names: Set<String> = []
        for n in list { names.formUnion(try SandboxGroups.expand(n)) }
        return names.sorted()
    }

    @Test func theWrittenOutProfilesAreTheExpansionOfTheirGroups() throws {
        #expect(SandboxGroups.standardDenied == (try Self.expanded(SandboxGroups.standard)))
        #expect(SandboxGroups.strictDenied == (try Self.expanded(SandboxGroups.strict)))
    }

    @Test func sortedNamesAgreeWithSets() {
        var g = SystemRandomNumberGenerator()
        let pool = SandboxGroups.strictDenied
        for _ in 0..<300 {
            let a = SortedNames.sortedUnique((0..<Int.random(in: 0...12, using: &g)).map { _ in pool.randomElement(using: &g)! })
            let b = SortedNames.sortedUnique((0..<Int.random(in: 0...12, using: &g)).map { _ in pool.randomElement(using: &g)! })
            #expect(SortedNames.union(a, b) == Set(a).union(b).sorted())
            #expect(SortedNames.isSubset(a, of: b) == Set(a).isSubset(of: Set(b)))
            #expect(SortedNames.isSubset(a, of: SortedNames.union(a, b)))
        }
    }

    /// The words the audit log's `sandbox` column and refusals show.
    @Test func theSandboxIsDescribedAsTheLogShowsIt() throws {
        #expect(try EffectiveSandbox.combine([SandboxSpec()]).description == "default")
        let several = try EffectiveSandbox.combine([
            SandboxSpec(profile: .standard), SandboxSpec(profile: .file("/etc/aegis/oci.json"), network: false, intercept: false),
        ])
        #expect(several.description == "default+/etc/aegis/oci.json, no network")
        #expect(try EffectiveSandbox.combine([SandboxSpec(profile: .strict, intercept: false)]).description
                    == "strict, no network, execs not intercepted")
        #expect(try EffectiveSandbox.combine([SandboxSpec(profile: SandboxSpec.Profile.none)]).description == "none")
        #expect(try EffectiveSandbox.combine([SandboxSpec(profile: SandboxSpec.Profile.none, intercept: true)]).description
                    == "none, execs intercepted")
    }

    @Test func layersOnlyAddRestrictions() throws {
        let plain = try EffectiveSandbox.combine([SandboxSpec()])
        #expect(plain.denied == SandboxGroups.standardDenied && !plain.noNetwork && plain.intercept && plain.hardened)
        let more = try EffectiveSandbox.combine([SandboxSpec(deny: ["@clock", "zzz_call", "acct"]), SandboxSpec(profile: SandboxSpec.Profile.none)])
        #expect(more.denied == SortedNames.union(SandboxGroups.standardDenied, ["acct", "adjtimex", "clock_adjtime", "clock_settime", "settimeofday", "zzz_call"]))
        #expect(more.hardened && more.intercept)
        #expect(more.covers(plain) && !plain.covers(more))
        let strict = try EffectiveSandbox.combine([SandboxSpec(profile: .strict)])
        #expect(strict.noNetwork && strict.denied == SandboxGroups.strictDenied)
        #expect(try EffectiveSandbox.combine([SandboxSpec(profile: .strict, network: true)]).noNetwork == false)
        let none = try EffectiveSandbox.combine([SandboxSpec(profile: SandboxSpec.Profile.none)])
        #expect(none.isNone && !none.intercept && plain.covers(none))
        #expect(throws: SandboxGroups.UnknownGroup(name: "@nope")) { try EffectiveSandbox.combine([SandboxSpec(deny: ["@nope"])]) }
    }
}
