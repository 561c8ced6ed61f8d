import AegisPolicy

/// How a YAML 1.1 loader (PyYAML's safe_load, which the Python original uses)
/// reads a plain scalar, so values decide here as they decide there.
enum YAMLScalar {
    enum Value: Equatable {
        case null
        case bool(Bool)
        case int(Int64)
        case double(Double)
        case string(String)
    }

    static func resolve(_ text: String, plain: Bool) -> Value {
        guard plain else { return .string(text) }
        // Most scalars are words that cannot be anything but strings; decide
        // those by their first byte before comparing against the keyword list.
        guard let first = text.utf8.first else { return .null }
        if !"~nNtTfFyYoO.+-0123456789".utf8.contains(first) { return .string(text) }
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON": return .bool(true)
        case "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .double(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .double(-.infinity)
        case ".nan", ".NaN", ".NAN": return .double(.nan)
        default: break
        }
        guard let first = text.utf8.first, "-+0123456789.".utf8.contains(first) else { return .string(text) }
        if let i = int(text) { return .int(i) }
        if let d = double(text) { return .double(d) }
        return .string(text)
    }

    /// YAML 1.1 integers: decimal, 0b binary, 0 octal, 0x hex, and base-60
    /// (`18:00` is 1080), with `_` separators.
    static func int(_ text: String) -> Int64? {
        var s = Substring(text)
        var negative = false
        if let c = s.first, c == "-" || c == "+" { negative = c == "-"; s = s.dropFirst() }
        guard !s.isEmpty else { return nil }
        func parse(_ digits: Substring, radix: Int) -> Int64? {
            let clean = digits.filter { $0 != "_" }
            guard !clean.isEmpty, let v = Int64(clean, radix: radix) else { return nil }
            return negative ? -v : v
        }
        if s.hasPrefix("0b") { return parse(s.dropFirst(2), radix: 2) }
        if s.hasPrefix("0x") { return parse(s.dropFirst(2), radix: 16) }
        if s == "0" { return 0 }
        if s.hasPrefix("0") {
            guard s.allSatisfy({ ("0"..."7").contains($0) || $0 == "_" }) else { return nil }
            return parse(s.dropFirst(), radix: 8)
        }
        if s.utf8.contains(0x3A) {
            guard isSexagesimal(s, fractional: false) else { return nil }
            var v: Int64 = 0
            for part in s.split(separator: ":") {
                guard let p = Int64(part.filter { $0 != "_" }) else { return nil }
                v = v * 60 + p
            }
            return negative ? -v : v
        }
        guard s.first!.isASCII, ("1"..."9").contains(s.first!), s.allSatisfy({ ("0"..."9").contains($0) || $0 == "_" }) else {
            return nil
        }
        return parse(s, radix: 10)
    }

    /// `[1-9][0-9_]*(:[0-5]?[0-9])+`, the YAML 1.1 base-60 form.
    static func isSexagesimal(_ s: Substring, fractional: Bool) -> Bool {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 2, let head = parts.first, let h = head.first, ("1"..."9").contains(h),
              head.allSatisfy({ ("0"..."9").contains($0) || $0 == "_" }) else { return false }
        for (i, p) in parts.dropFirst().enumerated() {
            var digits = p
            if fractional && i == parts.count - 2, let dot = p.firstIndex(of: ".") { digits = p[..<dot] }
            guard (1...2).contains(digits.count), digits.allSatisfy({ ("0"..."9").contains($0) }) else { return false }
            if digits.count == 2, digits.first! > "5" { return false }
        }
        return true
    }

    /// YAML 1.1 floats as PyYAML reads them: a '.' is required (`1e3` is a string).
    static func double(_ text: String) -> Double? {
        guard text.utf8.contains(0x2E) else { return nil }
        var s = Substring(text)
        if let c = s.first, c == "-" || c == "+" { s = s.dropFirst() }
        if s.utf8.contains(0x3A) { return nil }  // base-60 floats: too rare to matter; read as strings
        let mantissaEnd = s.firstIndex(where: { $0 == "e" || $0 == "E" }) ?? s.endIndex
        let mantissa = s[..<mantissaEnd]
        guard mantissa.allSatisfy({ ("0"..."9").contains($0) || $0 == "_" || $0 == "." }),
              mantissa.filter({ $0 == "." }).count == 1 else { return nil }
        if mantissa.first == "." && mantissa.count == 1 { return nil }
        if mantissaEnd != s.endIndex {
            let exp = s[s.index(after: mantissaEnd)...]
            guard let sign = exp.first, sign == "+" || sign == "-", exp.count > 1,
                  exp.dropFirst().allSatisfy({ ("0"..."9").contains($0) }) else { return nil }
        }
        return Double(text.filter { $0 != "_" })
    }

    /// True when PyYAML would read this plain scalar as a base-60 number.
    static func looksSexagesimal(_ text: String) -> Bool {
        var s = Substring(text)
        if let c = s.first, c == "-" || c == "+" { s = s.dropFirst() }
        return isSexagesimal(s, fractional: false)
    }
}
