/// A JSON value with object keys kept in their original order, so that what a
/// user passes with `--params` and what the audit log stores read the same way.
public enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object(JSONObject)

    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int, .double: "number"
        case .string: "string"
        case .array: "list"
        case .object: "mapping"
        }
    }

    /// The numeric value, for comparisons; booleans are not numbers here.
    public var number: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    public var string: String? { if case .string(let s) = self { s } else { nil } }

    /// Python-like equality: 1 == 1.0; lists and mappings compare element-wise.
    public func looselyEquals(_ other: JSON) -> Bool {
        if let a = number, let b = other.number { return a == b }
        switch (self, other) {
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.looselyEquals($1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.entries.allSatisfy { k, v in b[k].map { v.looselyEquals($0) } ?? false }
        default:
            return self == other
        }
    }
}

/// An insertion-ordered string-keyed map. Params are few, so lookups are linear.
public struct JSONObject: Equatable, Sendable, Sequence {
    public private(set) var entries: [(key: String, value: JSON)] = []

    public init() {}
    public init(_ pairs: [(String, JSON)]) { for (k, v) in pairs { self[k] = v } }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }
    public var keys: [String] { entries.map(\.key) }

    public subscript(key: String) -> JSON? {
        get { entries.first(where: { $0.key == key })?.value }
        set {
            if let i = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[i].value = newValue } else { entries.remove(at: i) }
            } else if let newValue {
                entries.append((key, newValue))
            }
        }
    }

    public func makeIterator() -> IndexingIterator<[(key: String, value: JSON)]> { entries.makeIterator() }

    /// Adds a key the caller knows is not there yet (a parser that has
    /// checked), without looking for it again.
    package mutating func appendNew(_ key: String, _ value: JSON) { entries.append((key, value)) }

    /// The value of `key`, looked for first at `cursor`, which then moves past
    /// it: reading keys in the order they were written costs one comparison
    /// each, not a scan (a spool record has two dozen).
    public func value(_ key: String, cursor: inout Int) -> JSON? {
        if cursor < entries.count, entries[cursor].key == key {
            cursor += 1
            return entries[cursor - 1].value
        }
        guard let i = entries.firstIndex(where: { $0.key == key }) else { return nil }
        cursor = i + 1
        return entries[i].value
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.entries.count == b.entries.count && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

// MARK: - Serialisation

extension JSON {
    /// Compact JSON text, keys in insertion order.
    public var serialized: String { String(decoding: serializedBytes, as: UTF8.self) }

    /// `serialized`, as its UTF-8 bytes: written straight to bytes (every
    /// audit record serializes its params; String appends cost several times more).
    public var serializedBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        appendSerialized(to: &out)
        return out
    }

    public func appendSerialized(to out: inout [UInt8]) {
        switch self {
        case .null: out += "null".utf8
        case .bool(let b): out += (b ? "true" : "false").utf8
        case .int(let i): out += String(i).utf8
        case .double(let d):
            if d.isFinite {
                // Integral doubles keep a fraction so they read back as doubles.
                out += (d == d.rounded() && abs(d) < 1e16 ? String(Int64(d)) + ".0" : String(d)).utf8
            } else {
                out += "null".utf8
            }
        case .string(let s): JSON.appendString(s, to: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.appendSerialized(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, (k, v)) in o.entries.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSON.appendString(k, to: &out)
                out.append(UInt8(ascii: ":"))
                v.appendSerialized(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    @inline(__always)
    static func needsEscape(_ b: UInt8) -> Bool { b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F }

    /// A string's JSON literal, as bytes: quote, backslash and control
    /// characters escaped, everything else as it is.
    public static func appendString(_ s: String, to bytes: inout [UInt8]) {
        var s = s
        s.withUTF8 { appendStringLiteral($0, to: &bytes) }
    }

    /// `appendString` of text already held as (valid UTF-8) bytes.
    public static func appendStringLiteral(_ text: [UInt8], to bytes: inout [UInt8]) {
        text.withUnsafeBufferPointer { appendStringLiteral($0, to: &bytes) }
    }

    /// Runs that need no escaping are copied whole; what needs escaping is all
    /// ASCII, and the bytes of any other scalar are copied as they are (audit
    /// rows hold JSON inside JSON, so escapes are common too).
    /// (No reserveCapacity here: it grows an array to exactly what is asked,
    /// so a caller appending many strings would copy the whole buffer each time.)
    static func appendStringLiteral(_ u: UnsafeBufferPointer<UInt8>, to bytes: inout [UInt8]) {
        bytes.append(0x22)
        var run = 0
        for i in 0..<u.count where needsEscape(u[i]) {
            if run < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: u[run..<i])) }
            appendEscaped(u[i], to: &bytes)
            run = i + 1
        }
        if run < u.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: u[run...])) }
        bytes.append(0x22)
    }

    static let hexDigits: StaticString = "0123456789abcdef"

    /// One byte of a string literal's body: quote, backslash and control
    /// characters escaped, any other byte as it is.
    @inline(__always)
    static func appendEscaped(_ b: UInt8, to bytes: inout [UInt8]) {
        // One append per byte: an array literal per escape would allocate.
        switch b {
        case 0x22, 0x5C: bytes.append(0x5C); bytes.append(b)
        case 0x0A: bytes.append(0x5C); bytes.append(0x6E)
        case 0x0D: bytes.append(0x5C); bytes.append(0x72)
        case 0x09: bytes.append(0x5C); bytes.append(0x74)
        case _ where b < 0x20 || b == 0x7F:
            bytes.append(0x5C); bytes.append(0x75); bytes.append(0x30); bytes.append(0x30)
            bytes.append(hexDigits.utf8Start[Int(b >> 4)])
            bytes.append(hexDigits.utf8Start[Int(b & 15)])
        default: bytes.append(b)
        }
    }

    /// A JSON string literal for raw bytes: valid UTF-8 reads as itself; each byte
    /// that is not valid UTF-8 becomes a lone surrogate escape `\udcXX` (the
    /// convention of Python's `surrogateescape`), so the exact bytes can be recovered.
    public static func byteStringLiteral(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        appendByteStringLiteral(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `byteStringLiteral`, appended as bytes. Byte by byte, with the escapes
    /// of `appendString` (what needs escaping is all ASCII): no generic
    /// collection or Character work, which a short process pays for on first use.
    public static func appendByteStringLiteral(_ bytes: [UInt8], to out: inout [UInt8]) {
        // No reserveCapacity: appends grow the array geometrically, and reserving
        // out.count + n for each argument made 100,000 of them 70 times slower.
        out.append(0x22)
        var i = 0
        while i < bytes.count {
            let n = UTF8Validation.validSequenceLength(bytes, at: i)
            if n == 0 {
                let b = bytes[i]
                out += [0x5C, 0x75, 0x64, 0x63, hexDigits.utf8Start[Int(b >> 4)], hexDigits.utf8Start[Int(b & 15)]]  // \udcXX
                i += 1
                continue
            }
            if n > 1 {
                out += bytes[i..<i + n]
                i += n
                continue
            }
            appendEscaped(bytes[i], to: &out)
            i += 1
        }
        out.append(0x22)
    }
}

public enum UTF8Validation {
    /// Length of the valid UTF-8 sequence starting at `i`, or 0 if the byte there
    /// does not start one (overlong forms and surrogates are invalid).
    static func validSequenceLength(_ b: [UInt8], at i: Int) -> Int {
        b.withUnsafeBufferPointer { validSequenceLength($0, at: i) }
    }

    static func validSequenceLength(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let c = b[i]
        if c < 0x80 { return 1 }
        func cont(_ j: Int) -> Bool { j < b.count && b[j] & 0xC0 == 0x80 }
        if c >= 0xC2 && c <= 0xDF { return cont(i + 1) ? 2 : 0 }
        if c >= 0xE0 && c <= 0xEF {
            guard cont(i + 1), cont(i + 2) else { return 0 }
            if c == 0xE0 && b[i + 1] < 0xA0 { return 0 }
            if c == 0xED && b[i + 1] >= 0xA0 { return 0 }
            return 3
        }
        if c >= 0xF0 && c <= 0xF4 {
            guard cont(i + 1), cont(i + 2), cont(i + 3) else { return 0 }
            if c == 0xF0 && b[i + 1] < 0x90 { return 0 }
            if c == 0xF4 && b[i + 1] >= 0x90 { return 0 }
            return 4
        }
        return 0
    }

    public static func isValid(_ b: [UInt8]) -> Bool { isValid(b[...]) }

    public static func isValid(_ b: ArraySlice<UInt8>) -> Bool {
        b.withUnsafeBufferPointer { u in
            var i = 0
            while i < u.count {
                // ASCII, the common case, a byte at a time without the full check.
                if u[i] < 0x80 { i += 1; continue }
                let n = validSequenceLength(u, at: i)
                if n == 0 { return false }
                i += n
            }
            return true
        }
    }
}

// MARK: - Parsing

public struct JSONParseError: Error, Equatable, Sendable {
    public let offset: Int
    public let message: String
}

extension JSON {
    /// Parses RFC 8259 JSON. Integers that fit in 64 bits stay integers.
    /// Nesting is limited so hostile input cannot exhaust the stack.
    public static func parse(_ text: String, maxDepth: Int = 64) throws(JSONParseError) -> JSON {
        try parse(bytes: Array(text.utf8), maxDepth: maxDepth)
    }

    /// `parse`, of UTF-8 bytes (invalid UTF-8 in a string is an error).
    public static func parse(bytes: [UInt8], maxDepth: Int = 64) throws(JSONParseError) -> JSON {
        var p = JSONParser(bytes: bytes, maxDepth: maxDepth)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        if p.i != p.bytes.count { throw p.fail("unexpected text after the JSON value") }
        return v
    }
}

struct JSONParser {
    let bytes: [UInt8]
    let maxDepth: Int
    var i = 0

    init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    func fail(_ m: String) -> JSONParseError { JSONParseError(offset: i, message: m) }

    mutating func skipSpace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    mutating func expect(_ word: StaticString) throws(JSONParseError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count, (0..<n).allSatisfy({ bytes[i + $0] == word.utf8Start[$0] }) else { throw fail("invalid literal") }
        i += n
    }

    mutating func value(depth: Int) throws(JSONParseError) -> JSON {
        guard depth < maxDepth else { throw fail("nested deeper than \(maxDepth) levels") }
        guard i < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[i] {
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "["):
            i += 1
            var items: [JSON] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated list") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "{"):
            i += 1
            var obj = JSONObject()
            // Each key's FNV-1a hash: a duplicate is looked for among the keys
            // only when its hash is there (comparing every pair of keys costs
            // a two-dozen-key record hundreds of string comparisons).
            var hashes: [UInt64] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(obj) }
            while true {
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let k = try string()
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipSpace()
                var h: UInt64 = 0xcbf2_9ce4_8422_2325
                for b in k.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
                if hashes.contains(h) && obj[k] != nil { throw fail("duplicate key \"\(k)\"") }
                hashes.append(h)
                obj.appendNew(k, try value(depth: depth + 1))
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated object") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(obj) }
                throw fail("expected ',' or '}'")
            }
        default:
            return try number()
        }
    }

    mutating func number() throws(JSONParseError) -> JSON {
        let start = i
        var isInt = true
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        func digits() -> Int {
            let s = i
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
            return i - s
        }
        let intDigits = digits()
        guard intDigits > 0 else { throw fail("invalid value") }
        if intDigits > 1 && bytes[i - intDigits] == 0x30 { throw fail("leading zero in number") }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            isInt = false
            i += 1
            guard digits() > 0 else { throw fail("digits expected after '.'") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            isInt = false
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw fail("digits expected in exponent") }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if isInt, let v = Int64(text) { return .int(v) }
        guard let d = Double(text) else { throw fail("invalid number") }
        return .double(d)
    }

    mutating func string() throws(JSONParseError) -> String {
        i += 1  // opening quote
        let start = i
        // Most strings have no escapes: taken whole from the input.
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                guard UTF8Validation.isValid(bytes[start..<(i - 1)]) else { throw fail("invalid UTF-8 in string") }
                return String(decoding: bytes[start..<(i - 1)], as: UTF8.self)
            }
            if c == UInt8(ascii: "\\") || c < 0x20 { break }
            i += 1
        }
        var out = Array(bytes[start..<i])
        while true {
            guard i < bytes.count else { throw fail("unterminated string") }
            let c = bytes[i]
            i += 1
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { throw fail("control character in string") }
            if c != UInt8(ascii: "\\") { out.append(c); continue }
            guard i < bytes.count else { throw fail("unterminated escape") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if code >= 0xD800 && code < 0xDC00 {
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate in string")
                    }
                    i += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw fail("unpaired surrogate in string") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if code >= 0xDC00 && code < 0xE000 {
                    throw fail("unpaired surrogate in string")
                }
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(code)!)).utf8))
            default: throw fail("invalid escape")
            }
        }
        guard UTF8Validation.isValid(out) else { throw fail("invalid UTF-8 in string") }
        return String(decoding: out, as: UTF8.self)
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            i += 1
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
        }
        return v
    }
}
