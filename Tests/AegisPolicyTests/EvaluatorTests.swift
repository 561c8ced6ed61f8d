import Testing
@testable import AegisPolicy

/// Semantics of DESIGN §3, on policies built directly.
@Suite struct EvaluatorTests {
    let noon = ISO8601.parse("2026-11-25T12:00:00Z")!  // a Wednesday

    func rule(_ name: String, type: String = "*", _ conditions: [Condition] = [], risk: RiskLevel = .medium, approval: Approval = .approve) -> Rule {
        Rule(name: name, match: Match(type: try! Glob(type)), conditions: conditions, riskLevel: risk, approval: approval)
    }

    func decide(_ rules: [Rule], _ action: Action, defaults: Defaults = .absent, at: Instant? = nil) throws -> Decision {
        try Evaluator.evaluate(action, policy: Policy(defaults: defaults, rules: rules), at: at ?? noon)
    }

    @Test func firstMatchingRuleWins() throws {
        let rules = [rule("reads", type: "read*", risk: .low, approval: .auto), rule("all", risk: .critical, approval: .block)]
        let d = try decide(rules, Action(type: "read_contacts", target: "crm"))
        #expect((d.rule, d.approval, d.riskLevel) == ("reads", .auto, .low))
        let d2 = try decide(rules, Action(type: "delete", target: "crm"))
        #expect((d2.rule, d2.approval) == ("all", .block))
    }

    @Test func noMatchGivesDefaultsReportedAsDefaultRule() throws {
        let d = try decide([rule("r", type: "read")], Action(type: "write", target: "x"))
        #expect(d.rule == "<default>")
        #expect((d.riskLevel, d.approval) == (.medium, .block))
        let d2 = try decide([], Action(type: "write", target: "x"), defaults: Defaults(riskLevel: .low, approval: .auto))
        #expect((d2.riskLevel, d2.approval, d2.rule) == (.low, .auto, "<default>"))
    }

    @Test func targetAndAgentGlobs() throws {
        var r = rule("prod")
        r.match = Match(target: try Glob("prod-*"), agent: try Glob("bot-*"))
        #expect(try decide([r], Action(type: "x", target: "prod-db", agent: "bot-1")).rule == "prod")
        #expect(try decide([r], Action(type: "x", target: "prod-db", agent: "human")).rule == "<default>")
        // No agent id reads as the empty string.
        #expect(try decide([r], Action(type: "x", target: "prod-db")).rule == "<default>")
    }

    @Test func conditionsAreAnded() throws {
        let r = rule("big", [.paramCompare(key: "count", op: .gt, value: 100), .paramEq(key: "env", value: .string("prod"))])
        #expect(try decide([r], Action(type: "t", target: "", params: JSONObject([("count", .int(150)), ("env", .string("prod"))]))).rule == "big")
        #expect(try decide([r], Action(type: "t", target: "", params: JSONObject([("count", .int(150)), ("env", .string("dev"))]))).rule == "<default>")
    }

    @Test func missingOrNullParamIsFalseEvenForNot() throws {
        let cmp = rule("gt", [.paramCompare(key: "count", op: .gt, value: 1)])
        #expect(try decide([cmp], Action(type: "t", target: "")).rule == "<default>")
        #expect(try decide([cmp], Action(type: "t", target: "", params: JSONObject([("count", .null)]))).rule == "<default>")
        let eq = rule("eq", [.paramEq(key: "x", value: .null)])
        #expect(try decide([eq], Action(type: "t", target: "", params: JSONObject([("x", .null)]))).rule == "<default>")
    }

    @Test func comparisonsAtTheirBounds() throws {
        func holds(_ op: Condition.Comparison, _ v: JSON) throws -> Bool {
            try decide([rule("r", [.paramCompare(key: "n", op: op, value: 100)])],
                       Action(type: "t", target: "", params: JSONObject([("n", v)]))).rule == "r"
        }
        #expect(try !holds(.gt, .int(100)))
        #expect(try holds(.gt, .double(100.5)))
        #expect(try holds(.gte, .int(100)))
        #expect(try !holds(.lt, .int(100)))
        #expect(try holds(.lte, .int(100)))
        #expect(try holds(.lt, .int(-3)))
    }

    @Test func comparingAStringParamWithANumberRefusesToDecide() {
        let r = rule("gt", [.paramCompare(key: "count", op: .gt, value: 100)])
        #expect(throws: EvaluationError.self) {
            try decide([r], Action(type: "t", target: "", params: JSONObject([("count", .string("150"))])))
        }
    }

    @Test func containsIsSubstringForStringsAndMembershipForLists() throws {
        let r = rule("c", [.paramContains(key: "q", value: .string("DROP"))])
        #expect(try decide([r], Action(type: "t", target: "", params: JSONObject([("q", .string("x; DROP TABLE"))]))).rule == "c")
        #expect(try decide([r], Action(type: "t", target: "", params: JSONObject([("q", .array([.string("DROP")]))]))).rule == "c")
        #expect(try decide([r], Action(type: "t", target: "", params: JSONObject([("q", .array([.string("DROPX")]))]))).rule == "<default>")
        let n = rule("n", [.paramContains(key: "ids", value: .int(3))])
        #expect(try decide([n], Action(type: "t", target: "", params: JSONObject([("ids", .array([.double(3)]))]))).rule == "n")
    }

    @Test func matchesIsAnUnanchoredSearch() throws {
        let r = rule("m", [.paramMatches(key: "sql", pattern: try Pattern("DROP\\s+TABLE"))])
        #expect(try decide([r], Action(type: "t", target: "", params: JSONObject([("sql", .string("select 1; DROP  TABLE x"))]))).rule == "m")
        #expect(try decide([r], Action(type: "t", target: "", params: JSONObject([("sql", .string("drop table"))]))).rule == "<default>")
        #expect(throws: Pattern.SyntaxError.self) { try Pattern("(unclosed") }
    }

    @Test func timeAfterIsInclusiveAndTimeBeforeExclusive() throws {
        let after = rule("after", [.timeWindow(after: 18 * 60, before: nil)])
        #expect(try decide([after], Action(type: "t", target: ""), at: ISO8601.parse("2026-11-25T18:00:00Z")).rule == "after")
        #expect(try decide([after], Action(type: "t", target: ""), at: ISO8601.parse("2026-11-25T17:59:59Z")).rule == "<default>")
        let before = rule("before", [.timeWindow(after: nil, before: 9 * 60)])
        #expect(try decide([before], Action(type: "t", target: ""), at: ISO8601.parse("2026-11-25T08:59:59Z")).rule == "before")
        #expect(try decide([before], Action(type: "t", target: ""), at: ISO8601.parse("2026-11-25T09:00:00Z")).rule == "<default>")
    }

    @Test func windowWithAfterLaterThanBeforeWrapsMidnight() throws {
        let night = rule("night", [.timeWindow(after: 22 * 60, before: 6 * 60)])
        for (t, expected) in [("23:30", "night"), ("02:00", "night"), ("05:59", "night"), ("06:00", "<default>"), ("12:00", "<default>"), ("22:00", "night")] {
            let at = ISO8601.parse("2026-11-25T\(t):00Z")
            #expect(try decide([night], Action(type: "t", target: ""), at: at).rule == expected, "\(t)")
        }
    }

    @Test func weekdaysAreIsoNumbers() throws {
        let weekdays = rule("wd", [.weekdays([1, 2, 3, 4, 5])])
        #expect(try decide([weekdays], Action(type: "t", target: ""), at: ISO8601.parse("2026-11-25T12:00Z")).rule == "wd")  // Wed
        #expect(try decide([weekdays], Action(type: "t", target: ""), at: ISO8601.parse("2026-11-29T12:00Z")).rule == "<default>")  // Sun
        let sunday = rule("sun", [.weekdays([7])])
        #expect(try decide([sunday], Action(type: "t", target: ""), at: ISO8601.parse("2026-11-29T12:00Z")).rule == "sun")
    }

    @Test func timeConditionsReadTheRulesZone() throws {
        var r = rule("office", [.timeWindow(after: 9 * 60, before: 17 * 60)])
        r.zone = TimeZoneTable(name: "+05:00", fixedOffset: 5 * 3600)
        // 05:00 UTC is 10:00 at +05:00.
        #expect(try decide([r], Action(type: "t", target: ""), at: ISO8601.parse("2026-11-25T05:00Z")).rule == "office")
        #expect(try decide([r], Action(type: "t", target: ""), at: ISO8601.parse("2026-11-25T13:00Z")).rule == "<default>")
    }

    @Test func anyAndNotCombineGroups() throws {
        let r = rule("force-or-main", [.any([[.flagsAny(["f", "force"])], [.argAny([try Glob("main")])]])])
        func params(_ flags: [String], _ pos: [String]) -> JSONObject {
            JSONObject([("flags", .array(flags.map(JSON.string))), ("positional", .array(pos.map(JSON.string)))])
        }
        #expect(try decide([r], Action(type: "git.push", target: "", params: params(["force"], ["origin", "dev"]))).rule == r.name)
        #expect(try decide([r], Action(type: "git.push", target: "", params: params([], ["origin", "main"]))).rule == r.name)
        #expect(try decide([r], Action(type: "git.push", target: "", params: params([], ["origin", "dev"]))).rule == "<default>")
        let not = rule("not-tmp", [.not([.pathInside(["/tmp"])])])
        #expect(try decide([not], Action(type: "t", target: "", params: JSONObject([("paths", .array([.string("/tmp/x")]))]))).rule == "<default>")
        #expect(try decide([not], Action(type: "t", target: "", params: JSONObject([("paths", .array([.string("/home/x")]))]))).rule == "not-tmp")
    }

    @Test func pathOutsideHoldsWhenAnyPathLeavesTheDirectories() throws {
        let r = rule("outside", [.pathOutside(["/tmp"])])
        func paths(_ p: [String]) -> Action { Action(type: "t", target: "", params: JSONObject([("paths", .array(p.map(JSON.string)))])) }
        #expect(try decide([r], paths(["/tmp/a", "/home/u"])).rule == "outside")
        #expect(try decide([r], paths(["/tmp/a", "/tmp"])).rule == "<default>")
        #expect(try decide([r], paths(["/tmpfoo"])).rule == "outside")
        #expect(try decide([r], paths([])).rule == "<default>")
    }

    @Test func dottedParamNamesReachIntoMappings() throws {
        let r = rule("prod", [.paramEq(key: "options.context", value: .string("prod"))])
        let a = Action(type: "k8s.apply", target: "", params: JSONObject([("options", .object(JSONObject([("context", .string("prod"))])))]))
        #expect(try decide([r], a).rule == "prod")
    }

    @Test func traceExplainsEveryRuleConsidered() throws {
        let d = try decide([rule("a", type: "read"), rule("b", type: "write", approval: .block)], Action(type: "write", target: "x"))
        #expect(d.trace.map(\.rule) == ["a", "b"])
        #expect(d.trace[0].reason.contains("does not match"))
        #expect(d.trace[1].matched)
    }

    @Test func layersTakeTheStrictestDecision() throws {
        let system = Policy(defaults: Defaults(riskLevel: .low, approval: .auto), rules: [rule("sys-block-delete", type: "delete", risk: .critical, approval: .block)])
        let caller = Policy(defaults: Defaults(riskLevel: .low, approval: .auto), rules: [rule("caller-allow-all", risk: .low, approval: .auto)])
        let layered = LayeredPolicy(layers: [.init(name: "system", policy: system), .init(name: "command line", policy: caller)])
        let d = try layered.judge(Action(type: "delete", target: "x"), at: noon)
        #expect((d.approval, d.rule, d.layer) == (.block, "sys-block-delete", "system"))
        // The caller's layer can still tighten what the system allows.
        let strict = Policy(rules: [rule("caller-approve", risk: .high, approval: .approve)])
        let d2 = try LayeredPolicy(layers: [.init(name: "system", policy: system), .init(name: "command line", policy: strict)])
            .judge(Action(type: "read", target: "x"), at: noon)
        #expect((d2.approval, d2.rule, d2.layer) == (.approve, "caller-approve", "command line"))
    }

    @Test func aLessTrustedLayerCannotRemapACommandAroundAStricterLayer() throws {
        let rm = CommandMapping.Entry(program: try Glob("rm"), type: "file.delete")
        let system = Policy(defaults: Defaults(riskLevel: .low, approval: .auto),
                            rules: [rule("no-delete", type: "file.delete", risk: .critical, approval: .block)])
        // The caller's policy maps rm to a harmless-looking type and allows it.
        let caller = Policy(defaults: Defaults(riskLevel: .low, approval: .auto), rules: [],
                            commands: [CommandMapping.Entry(program: try Glob("rm"), type: "file.read")])
        let layered = LayeredPolicy(layers: [.init(name: "system", policy: system), .init(name: "command line", policy: caller)])
        let cmd = CommandMapping.Command(argv: [Array("rm".utf8), Array("-rf".utf8), Array("/".utf8)], cwd: "/", resolvedPath: "/usr/bin/rm")
        let results = try layered.judge(cmd, builtinMapping: [rm], agent: nil, callerParams: JSONObject(), at: noon)
        #expect(results[0].action.type == "file.delete")
        #expect(results[0].decision.approval == .block)
        #expect(results[1].action.type == "file.read")
    }
}

/// A layer's files merge in order; a layer of one file is that file.
@Suite struct PolicyMergeTests {
    func rule(_ name: String) -> Rule {
        Rule(name: name, match: Match(type: try! Glob("t.\(name)")), conditions: [], riskLevel: .high, approval: .block)
    }

    @Test func oneFileIsItsOwnMerge() throws {
        let p = Policy(defaults: Defaults(riskLevel: .low, approval: .auto), rules: [rule("a"), rule("b")],
                       commands: [CommandMapping.Entry(program: try Glob("x"), type: "x.run")], files: ["/one.yaml"])
        let m = Policy.merged([p])
        #expect(m.rules.map(\.name) == ["a", "b"])
        #expect(m.commands.map(\.type) == ["x.run"])
        #expect(m.files == ["/one.yaml"])
        #expect(m.defaults == p.defaults)
    }

    @Test func laterFilesAddRulesAfterEarlierOnesAndTheFirstFilesDefaultsStand() throws {
        let first = Policy(defaults: Defaults(riskLevel: .low, approval: .auto), rules: [rule("a")], files: ["/1.yaml"])
        let second = Policy(defaults: Defaults(riskLevel: .critical, approval: .block), rules: [rule("b"), rule("c")],
                            commands: [CommandMapping.Entry(program: try Glob("y"), type: "y.run")], files: ["/2.yaml"])
        let m = Policy.merged([first, second])
        #expect(m.rules.map(\.name) == ["a", "b", "c"])
        #expect(m.commands.map(\.type) == ["y.run"])
        #expect(m.files == ["/1.yaml", "/2.yaml"])
        #expect(m.defaults == first.defaults)
        #expect(Policy.merged([]).rules.isEmpty)
    }
}
