import Testing
@testable import AegisPolicy

@Suite struct GlobTests {
    func m(_ p: String, _ s: String) throws -> Bool { try Glob(p).matches(s) }

    @Test func starMatchesAnyRunIncludingSlash() throws {
        #expect(try m("read*", "read"))
        #expect(try m("read*", "read.file"))
        #expect(try m("*", ""))
        #expect(try m("/tmp/*", "/tmp/a/b/c"))
        #expect(try m("a*b*c", "a/x/b/y/c"))
        #expect(try !m("a*b*c", "a/x/b/y/d"))
    }

    @Test func matchIsWholeStringAndCaseSensitive() throws {
        #expect(try !m("read", "read_all"))
        #expect(try !m("read", "xread"))
        #expect(try !m("Read*", "read"))
    }

    @Test func questionMarkIsOneCharacter() throws {
        #expect(try m("r?m", "rom"))
        #expect(try !m("r?m", "rm"))
        #expect(try m("caf?", "café"))
    }

    @Test func bracketClassesRangesAndNegation() throws {
        #expect(try m("[abc]x", "bx"))
        #expect(try !m("[abc]x", "dx"))
        #expect(try m("v[0-9]", "v7"))
        #expect(try !m("v[!0-9]", "v7"))
        #expect(try m("v[!0-9]", "vx"))
        #expect(try m("[]]", "]"))
        #expect(try m("[!]]", "a"))
        #expect(try m("a[-]b", "a-b"))
    }

    @Test func noBraceExpansion() throws {
        #expect(try m("{a,b}", "{a,b}"))
        #expect(try !m("{a,b}", "a"))
    }

    @Test func unclosedBracketIsAnError() {
        #expect(throws: Glob.SyntaxError.self) { try Glob("rm[") }
        #expect(throws: Glob.SyntaxError.self) { try Glob("[z-a]") }
    }

    @Test func pathologicalPatternsStayFast() throws {
        let g = try Glob(String(repeating: "*a", count: 50) + "b")
        #expect(!g.matches(String(repeating: "a", count: 5000)))
    }
}
