/// Shows a command so a person sees exactly what would run: words quoted as a
/// POSIX shell would need them, control characters and bytes that are not
/// UTF-8 escaped (`$'\x1b'`), so nothing can hide or rewrite a terminal line.
public enum ShellQuote {
    public static func command(_ argv: [[UInt8]]) -> String {
        argv.map(word).joined(separator: " ")
    }

    public static func word(_ bytes: [UInt8]) -> String {
        if bytes.isEmpty { return "''" }
        let safe = bytes.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || "_@%+=:,./-".utf8.contains(b)
        }
        if safe { return String(decoding: bytes, as: UTF8.self) }
        let printable = UTF8Validation.isValid(bytes)
            && String(decoding: bytes, as: UTF8.self).unicodeScalars.allSatisfy { !isControl($0) }
        if printable {
            return "'" + String(decoding: bytes, as: UTF8.self).replacingAll("'", with: "'\\''") + "'"
        }
        var out = "$'"
        var i = 0
        while i < bytes.count {
            let n = UTF8Validation.validSequenceLength(bytes, at: i)
            let scalar = n > 0 ? String(decoding: bytes[i..<i + n], as: UTF8.self).unicodeScalars.first! : nil
            if let s = scalar, !isControl(s) {
                switch s {
                case "'": out += "\\'"
                case "\\": out += "\\\\"
                default: out.unicodeScalars.append(s)
                }
                i += n
            } else if n > 1 {
                // A control character beyond ASCII (e.g. U+202E): show its bytes.
                for b in bytes[i..<i + n] { out += hexByte(b) }
                i += n
            } else {
                switch bytes[i] {
                case 0x0A: out += "\\n"
                case 0x09: out += "\\t"
                case 0x0D: out += "\\r"
                default: out += hexByte(bytes[i])
                }
                i += 1
            }
        }
        return out + "'"
    }

    static func hexByte(_ b: UInt8) -> String {
        let d = Array("0123456789abcdef")
        return "\\x" + String(d[Int(b >> 4)]) + String(d[Int(b & 15)])
    }

    /// C0/C1 controls, DEL, and the bidirectional overrides that can reorder a line.
    public static func isControl(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        return v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) || (0x202A...0x202E).contains(v)
            || (0x2066...0x2069).contains(v) || v == 0x200E || v == 0x200F
    }
}

extension ShellQuote {
    /// True when the text has no control characters and can be shown as is.
    public static func isPrintable(_ s: String) -> Bool { s.unicodeScalars.allSatisfy { !isControl($0) } }
}

extension ShellQuote {
    /// Text for a terminal or a one-line message: control characters become
    /// `\xNN` (or `\u{NNNN}`) so a value cannot move the cursor or reorder the line.
    public static func visible(_ s: String) -> String {
        if isPrintable(s) { return s }
        var out = ""
        for c in s.unicodeScalars {
            if !isControl(c) {
                out.unicodeScalars.append(c)
            } else if c.value < 0x100 {
                out += hexByte(UInt8(c.value))
            } else {
                out += "\\u{" + String(c.value, radix: 16) + "}"
            }
        }
        return out
    }
}
