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

    /// Every kind of value as the audit rows and the approver's requests write it.
    @Test func serializesEveryKindCompactly() {
        let v = JSON.object(JSONObject([
            ("n", .null), ("t", .bool(true)), ("f", .bool(false)), ("i", .int(-42)), ("whole", .double(3)),
            ("half", .double(0.5)), ("huge", .double(1e300)), ("nan", .double(.nan)), ("s", .string("a\"b\u{1}é")),
            ("empty", .array([])), ("nested", .array([.object(JSONObject()), .array([.int(1)])])),
        ]))
        let text = #"{"n":null,"t":true,"f":false,"i":-42,"whole":3.0,"half":0.5,"huge":1e+300,"nan":null,"#
            + #""s":"a\"b\u0001é","empty":[],"nested":[{},[1]]}"#
        #expect(v.serialized == text)
        #expect(v.serializedBytes == Array(text.utf8))
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

    /// Audit rows keep argv in this form: on any bytes, valid runs are
    /// escaped as strings are and each other byte is `\udcXX`, and every
    /// byte is there. (The first form trimmed the quotes off a run's literal
    /// by Character, and so also dropped a combining mark that began a run,
    /// or a prepended mark that ended one.)
    @Test func byteLiteralsKeepEveryByte() {
        // Compared as bytes: String's == would call canonically equivalent text equal.
        func bytes(_ b: [UInt8]) -> [UInt8] { Array(JSON.byteStringLiteral(b).utf8) }
        #expect(bytes([0xCC, 0x81, 0x61]) == [0x22, 0xCC, 0x81, 0x61, 0x22])  // a combining acute first
        #expect(bytes([0xFF, 0xD9, 0x9D]) == Array(#""\udcff"#.utf8) + [0xD9, 0x9D, 0x22])
        #expect(bytes([0x61, 0xD8, 0x85]) == [0x22, 0x61, 0xD8, 0x85, 0x22])  // a prepended mark last
        func reference(_ b: [UInt8]) -> String {
            var out = "\"", plain: [UInt8] = []
            func flush() {
                guard !plain.isEmpty else { return }
                var lit: [UInt8] = []
                JSON.appendString(String(decoding: plain, as: UTF8.self), to: &lit)
                out += String(decoding: lit.dropFirst().dropLast(), as: UTF8.self)
                plain = []
            }
            var i = 0
            while i < b.count {
                let n = UTF8Validation.validSequenceLength(b, at: i)
                if n > 0 { plain += b[i..<i + n]; i += n } else {
                    flush()
                    let h = String(b[i], radix: 16)
                    out += "\\udc" + (h.count == 1 ? "0" + h : h)
                    i += 1
                }
            }
            flush()
            return out + "\""
        }
        let pieces: [[UInt8]] = [[0x22], [0x5C], [0x0A], [0x01], [0x7F], [0x80], [0xFF], [0xC3, 0xA9], [0xE2, 0x82, 0xAC],
                                 [0xF0, 0x9F, 0x98, 0x80], [0xED, 0xA0, 0x80], [0xC0, 0xAF], Array("plain ascii".utf8)]
        for _ in 0..<2000 {
            var b: [UInt8] = []
            for _ in 0..<Int.random(in: 0...8) { b += Bool.random() ? pieces.randomElement()! : [UInt8.random(in: 0...255)] }
            #expect(bytes(b) == Array(reference(b).utf8), "\(b)")
        }
    }

    /// Audit hashes are computed over this text: escaping must never change.
    /// The reference is the scalar-by-scalar form it was first written in.
    @Test func stringEscapingIsStable() throws {
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
            // The byte writer the audit records use, compared as bytes, inside other text too.
            var bytes: [UInt8] = [0x5B]
            JSON.appendString(s, to: &bytes)
            #expect(bytes == [0x5B] + Array(reference(s).utf8), "\(Array(s.utf8))")
            // And read back, from text and from bytes alike.
            #expect(try JSON.parse(reference(s)) == .string(s))
            #expect(try JSON.parse(bytes: Array(reference(s).utf8)) == .string(s))
        }
    }

    @Test func stringsReadFromBytesMustBeUTF8() throws {
        #expect(try JSON.parse(bytes: Array(#"["é", "a\u00e9b", "\ud83d\ude42x"]"#.utf8))
                == .array([.string("é"), .string("aéb"), .string("🙂x")]))
        // Invalid UTF-8 in a string, with escapes and without, and a surrogate written as bytes.
        for bad: [UInt8] in [[0x22, 0x61, 0xFF, 0x22], [0x22, 0x5C, 0x6E, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22],
                             [0x22, 0x61, 0x0A, 0x22], [0x22, 0x61, 0x62]] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSON.parse(bytes: bad) }
        }
    }

    @Test func looseEqualityFollowsPython() {
        #expect(JSON.int(1).looselyEquals(.double(1.0)))
        #expect(!JSON.string("1").looselyEquals(.int(1)))
        #expect(JSON.array([.int(1)]).looselyEquals(.array([.double(1)])))
    }
}
