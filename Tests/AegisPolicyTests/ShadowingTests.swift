import Testing
@testable import AegisPolicy

@Suite struct ShadowingTests {
    func rule(_ name: String, type: String? = nil, program: String? = nil, _ conditions: [Condition] = []) -> Rule {
        Rule(name: name, match: Match(type: type.map { try! Glob($0) }, program: program.map { try! Glob($0) }),
             conditions: conditions)
    }

    @Test func aBroadRuleAboveANarrowBlockShadowsIt() {
        let rules = [rule("all-files", type: "*"), rule("no-deletes", type: "file.delete")]
        #expect(Shadowing.findings(rules) == [Shadowing.Finding(shadowed: 1, by: 0)])
    }

    @Test func aSameMatchWithoutConditionsShadows() {
        let rules = [rule("a", type: "git.push"), rule("b", type: "git.push", program: "git")]
        #expect(Shadowing.findings(rules) == [Shadowing.Finding(shadowed: 1, by: 0)])
    }

    @Test func conditionsOrNarrowerMatchesDoNotShadow() {
        #expect(Shadowing.findings([rule("a", type: "*", [.flagsAny(["f"])]), rule("b", type: "git.push")]).isEmpty)
        #expect(Shadowing.findings([rule("a", type: "file.*"), rule("b", program: "rm")]).isEmpty)
        #expect(Shadowing.findings([rule("narrow", type: "file.delete"), rule("broad", type: "*")]).isEmpty)
    }
}
