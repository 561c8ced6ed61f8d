#if canImport(Glibc)
import Glibc
#endif
import AegisPolicy

/// The fields of a spool line as `AuditSpool.RecordWriter` writes them, read
/// without the general JSON parser: a flat object whose keys come exactly in the
/// writer's order, whose values are strings, integers or null, with no
/// whitespace. Anything else (a line edited by hand, a key out of place or
/// repeated, a fraction, a surrogate escape, bytes that are not UTF-8) gives
/// nil, and the line is read by the JSON parser instead, with the same result.
/// (Parsing each line into JSON values was a third of moving a record.)
enum SpoolLineReader {
    static let decisionKeys = [
        "k", "id", "parent", "session", "ts", "type", "target", "params", "risk", "approval", "rule", "layer", "status",
        "error", "agent", "argv", "cwd", "user", "pid", "exe", "files", "sandbox", "exit",
    ]
    static let outcomeKeys = ["k", "id", "status", "error", "human", "exit", "signal", "duration", "finished"]

    /// The line's fields, under the keys `decisionKeys` or `outcomeKeys`
    /// (as the first value, the kind, says), in that order; or nil.
    static func fields(_ body: ArraySlice<UInt8>) -> JSONObject? {
        guard UTF8Validation.isValid(body) else { return nil }
        return body.withUnsafeBufferPointer { b -> JSONObject? in
            var r = Scanner(b: b)
            guard r.take(0x7B) else { return nil }  // {
            var keys = decisionKeys
            var out = JSONObject()
            var k = 0
            while k < keys.count {
                if k > 0 { guard r.take(0x2C) else { return nil } }  // ,
                guard r.key(keys[k]), r.take(0x3A), let v = r.value() else { return nil }
                if k == 0 {
                    guard case .string(let kind) = v else { return nil }
                    if kind == "o" { keys = outcomeKeys } else if kind != "d" { return nil }
                }
                // Each key once: the list has no repeats.
                out.appendNew(keys[k], v)
                k += 1
            }
            guard r.take(0x7D), r.i == b.count else { return nil }  // }
            return out
        }
    }

    struct Scanner {
        let b: UnsafeBufferPointer<UInt8>
        var i = 0

        mutating func take(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }

        /// `"name"`, exactly (the writer's keys need no escapes).
        mutating func key(_ name: String) -> Bool {
            var name = name
            return name.withUTF8 { u in
                let n = u.count
                guard b.count - i >= n + 2, b[i] == 0x22, b[i + 1 + n] == 0x22,
                      memcmp(b.baseAddress! + i + 1, u.baseAddress!, n) == 0 else { return false }
                i += n + 2
                return true
            }
        }

        /// A string, an integer or null; anything else gives nil.
        mutating func value() -> JSON? {
            guard i < b.count else { return nil }
            switch b[i] {
            case 0x22: return string().map(JSON.string)
            case 0x6E:  // null
                guard b.count - i >= 4, b[i + 1] == 0x75, b[i + 2] == 0x6C, b[i + 3] == 0x6C else { return nil }
                i += 4
                return .null
            default: return integer().map(JSON.int)
            }
        }

        /// An integer as JSON spells one (no leading zeros, no fraction or
        /// exponent), within Int64.
        mutating func integer() -> Int64? {
            let negative = take(0x2D)
            guard i < b.count, b[i] >= 0x30, b[i] <= 0x39 else { return nil }
            if b[i] == 0x30 {
                i += 1
                guard !negative, i >= b.count || !(b[i] >= 0x30 && b[i] <= 0x39 || b[i] == 0x2E || b[i] | 0x20 == 0x65) else { return nil }
                return 0
            }
            var v: Int64 = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                let d = Int64(b[i] - 0x30)
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (s, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
                guard !o1, !o2 else { return nil }
                v = s
                i += 1
            }
            guard i >= b.count || !(b[i] == 0x2E || b[i] | 0x20 == 0x65) else { return nil }
            return v
        }

        /// A string literal: runs without escapes are taken whole; the
        /// escapes the writer uses are decoded; a surrogate escape, a raw
        /// control byte or DEL gives nil (the JSON parser decides those).
        mutating func string() -> String? {
            i += 1
            var run = i
            var out: [UInt8] = []
            var escaped = false
            while i < b.count {
                let c = b[i]
                if c == 0x22 {
                    let tail = UnsafeBufferPointer(rebasing: b[run..<i])
                    i += 1
                    if !escaped { return String(decoding: tail, as: UTF8.self) }
                    out.append(contentsOf: tail)
                    return String(decoding: out, as: UTF8.self)
                }
                if c < 0x20 || c == 0x7F { return nil }
                if c != 0x5C {
                    i += 1
                    continue
                }
                escaped = true
                out.append(contentsOf: UnsafeBufferPointer(rebasing: b[run..<i]))
                guard i + 1 < b.count else { return nil }
                let e = b[i + 1]
                i += 2
                switch e {
                case 0x22, 0x5C, 0x2F: out.append(e)
                case 0x62: out.append(0x08)
                case 0x66: out.append(0x0C)
                case 0x6E: out.append(0x0A)
                case 0x72: out.append(0x0D)
                case 0x74: out.append(0x09)
                case 0x75:
                    guard b.count - i >= 4 else { return nil }
                    var u: UInt32 = 0
                    for _ in 0..<4 {
                        let h = b[i]
                        let d: UInt8
                        switch h {
                        case 0x30...0x39: d = h - 0x30
                        case 0x61...0x66: d = h - 0x61 + 10
                        case 0x41...0x46: d = h - 0x41 + 10
                        default: return nil
                        }
                        u = u << 4 | UInt32(d)
                        i += 1
                    }
                    if u >= 0xD800 && u <= 0xDFFF { return nil }  // surrogates
                    if u < 0x80 {
                        out.append(UInt8(u))
                    } else if u < 0x800 {
                        out.append(UInt8(0xC0 | u >> 6))
                        out.append(UInt8(0x80 | u & 0x3F))
                    } else {
                        out.append(UInt8(0xE0 | u >> 12))
                        out.append(UInt8(0x80 | u >> 6 & 0x3F))
                        out.append(UInt8(0x80 | u & 0x3F))
                    }
                default: return nil
                }
                run = i
            }
            return nil
        }
    }
}
