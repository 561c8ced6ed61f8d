import Foundation
import Testing
@testable import AegisPolicy

/// `param_matches` must decide as Python's `re.search` does: checked against
/// the real Python on the same patterns and inputs.
@Suite struct PatternTests {
    static let cases: [(String, [String])] = [
        ("DROP\\s+TABLE", ["select 1; DROP  TABLE x", "drop table", "DROPTABLE"]),
        ("(?i)drop\\s+table", ["DROP TABLE", "Drop\tTable", "droptable"]),
        ("^main$", ["main", "main\n", "xmain", "main2"]),
        ("--force(-with-lease)?\\b", ["git push --force", "--force-with-lease=x", "--forced"]),
        ("\\bprod\\b", ["--context prod", "production", "prod-1", "a_prod"]),
        ("[0-9]{3,}", ["12", "123", "a1234b"]),
        ("^(origin|upstream) (main|master)$", ["origin main", "upstream master", "origin dev", "fork main"]),
        ("a.c", ["abc", "a\nc", "ac"]),
        ("(?s)a.c", ["a\nc"]),
        ("(?m)^x", ["a\nx", "ax"]),
        ("[^a-z]", ["abc", "abC", ""]),
        ("[]a]", ["]", "a", "b"]),
        ("x*", ["", "yyy"]),
        ("colou?r", ["color", "colour", "colouur"]),
        ("\\d+\\.\\d+", ["v1.25", "v1.", "١٢.٣"]),
        ("\\w+@\\w+\\.com", ["me@example.com", "@x.com"]),
        ("(?P<name>ab)+c", ["ababc", "ac"]),
        ("a{2}b{,2}c{1,}", ["aac", "aabbc", "abbbc", "aabbbc"]),
        ("\\x41\\u00e9", ["Aé", "Ae"]),
        ("(?i:AB)c", ["abc", "abC"]),
        ("rm -[a-zA-Z]*r[a-zA-Z]* /", ["rm -rf /", "rm -fr /home", "rm -f /"]),
        ("a|b|", ["", "c"]),
        ("\\$HOME", ["echo $HOME", "HOME"]),
        ("é+", ["caféé", "cafe"]),
        ("(?x) a b  # spaced\n c", ["abc", "a b c"]),
        ("\\Aab\\Z", ["ab", "ab\n"]),
        ("\\S+\\s\\S+", ["a b", "ab"]),
        ("[\\d-]+", ["12-34", "ab"]),
        ("a{,}", ["a{,}", "aaa"]),
        ("a{x}", ["a{x}", "a"]),
    ]

    @Test func agreesWithPythonRe() throws {
        var lines: [String] = []
        for (pattern, inputs) in Self.cases {
            for input in inputs {
                lines.append(JSON.array([.string(pattern), .string(input)]).serialized)
            }
        }
        let script = "import json,re,sys\nfor l in sys.stdin:\n p,s=json.loads(l)\n print(1 if re.search(p,s) else 0)\n"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script]
        let inPipe = Pipe(), outPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = outPipe
        try p.run()
        inPipe.fileHandleForWriting.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        try inPipe.fileHandleForWriting.close()
        let out = String(decoding: outPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let expected = out.split(separator: "\n").map { $0 == "1" }
        try #require(expected.count == lines.count)
        var k = 0
        for (pattern, inputs) in Self.cases {
            let compiled = try Pattern(pattern)
            for input in inputs {
                #expect(compiled.search(input) == expected[k], "re.search(\(pattern.debugDescription), \(input.prefix(20).debugDescription))")
                k += 1
            }
        }
    }

    @Test(arguments: [
        "(unclosed", "a)", "*a", "a**", "[z-a]", "(?P=name)", "(a)\\1", "(?=x)", "(?<=x)y", "(?>a)", "a++", "\\q",
        "x{1001}", "[abc", "(?i", "a(?i)b", "[a-\\", "\\x+1", "\\",
    ])
    func refusesWhatItCannotDecideSafely(_ pattern: String) {
        #expect(throws: Pattern.SyntaxError.self) { try Pattern(pattern) }
    }

    /// Patterns that make a backtracking engine (Python's among them) run for
    /// ever answer at once here: matching is linear in the input.
    @Test func catastrophicPatternsStayLinear() throws {
        #expect(try !Pattern("(a*)*b").search(String(repeating: "a", count: 20_000)))
        #expect(try !Pattern("(x+x+)+y").search(String(repeating: "x", count: 20_000)))
        #expect(try Pattern("(x+x+)+y").search(String(repeating: "x", count: 20_000) + "y"))
    }

    @Test func hugeRepeatsAreRefusedNotExpanded() {
        #expect(throws: Pattern.SyntaxError.self) { try Pattern("(a{1000}){1000}") }
    }
}
