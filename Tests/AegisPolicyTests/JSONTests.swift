import Foundation
import Testing
@testable import AegisPolicy

@Suite struct JSONTests {
    @Test func numbersStayNumbersAndIntegersStayIntegers() throws {
        let v = try JSON.parse(#"{"count": 150, "ratio": 0.5, "big": 1e3, "neg": -7}"#)
        guard case .object(let o) = v else { Issue.record("not an object"); return }
        #expect(o["count"] == .int(150))
        #expect(o["ratio"] == .double(0.5))
        #expect(o["big"] == .double(1000))
        #expect(o["neg"] == .int(-7))
        #expect(o.keys == ["count", "ratio", "big", "neg"])
    }

    @Test func roundTripsThroughText() throws {
        let text = #"{"a":[1,2.5,true,null,"x\"y\n"],"b":{"c":"é\u0001"}}"#
        #expect(try JSON.parse(text).serialized == text)
    }

    @Test func rejectsMalformedInput() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "01", "\"\\ud800\"", "{\"a\":1,\"a\":2}", "nul", "1 2"] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSON.parse(bad) }
        }
    }

    @Test func deepNestingIsRefusedNotACrash() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSON.parse(deep) }
    }

    @Test func bytesThatAreNotUTF8BecomeSurrogateEscapes() {
        #expect(JSON.byteStringLiteral(Array("ok".utf8)) == #""ok""#)
        #expect(JSON.byteStringLiteral([0x61, 0xFF, 0x62]) == #""a\udcffb""#)
        #expect(JSON.byteStringLiteral([0xC3, 0xA9, 0x01]) == #""é\u0001""#)
        // An overlong encoding is not valid UTF-8: each byte escapes.
        #expect(JSON.byteStringLiteral([0xC0, 0xAF]) == #""\udcc0\udcaf""#)
    }

    /// Audit hashes are computed over this text: escaping must never change.
    /// The reference is the scalar-by-scalar form it was first written in.
    @Test func stringEscapingIsStable() {
        func reference(_ s: String) -> String {
            var out = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where u.value < 0x20 || u.value == 0x7F: out += String(format: "\\u%04x", u.value)
                default: out.unicodeScalars.append(u)
                }
            }
            return out + "\""
        }
        var samples = (0..<0x80).map { String(UnicodeScalar(UInt8($0))) }
        samples += ["plain", "a\"b\\c", "é\u{1}\u{7F}ü", "e\u{301}\n\t\r", "🙂\"🙂", "\u{2028}\u{FEFF}", #"{"argv":["rm","-rf"]}"#, ""]
        for s in samples {
            #expect(JSON.string(s).serialized == reference(s), "\(Array(s.utf8))")
        }
    }

    @Test func looseEqualityFollowsPython() {
        #expect(JSON.int(1).looselyEquals(.double(1.0)))
        #expect(!JSON.string("1").looselyEquals(.int(1)))
        #expect(JSON.array([.int(1)]).looselyEquals(.array([.double(1)])))
    }
}
