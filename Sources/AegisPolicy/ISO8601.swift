/// Civil-calendar arithmetic (proleptic Gregorian), for reading `--at` and
/// writing audit timestamps without a date library.
public enum ISO8601 {
    /// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
    public static func daysFromCivil(_ y: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y - 1 : y
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public static func civilFromDays(_ z: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = z + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// Reads `YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM]` (a space may replace the T).
    /// Without a zone designator the time is UTC.
    public static func parse(_ text: String) -> Instant? {
        let b = Array(text.utf8)
        var i = 0
        func num(_ n: Int) -> Int64? {
            guard i + n <= b.count else { return nil }
            var v: Int64 = 0
            for k in 0..<n {
                let c = b[i + k]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int64(c - 0x30)
            }
            i += n
            return v
        }
        func lit(_ c: Character) -> Bool {
            guard i < b.count, b[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }
        guard let y = num(4), lit("-"), let mo = num(2), lit("-"), let d = num(2),
              (1...12).contains(mo), (1...31).contains(d) else { return nil }
        var secs: Int64 = 0
        if i < b.count {
            guard lit("T") || lit("t") || lit(" "), let h = num(2), lit(":"), let mi = num(2),
                  h < 24, mi < 60 else { return nil }
            var s: Int64 = 0
            if lit(":") {
                guard let v = num(2), v < 61 else { return nil }
                s = v
                if lit(".") || lit(",") {
                    while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
                }
            }
            secs = h * 3600 + mi * 60 + s
            if lit("Z") || lit("z") {
            } else if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                let sign: Int64 = b[i] == UInt8(ascii: "+") ? 1 : -1
                i += 1
                guard let oh = num(2) else { return nil }
                _ = lit(":")
                guard let om = num(2), oh < 24, om < 60 else { return nil }
                secs -= sign * (oh * 3600 + om * 60)
            }
        }
        guard i == b.count else { return nil }
        return Instant(unixSeconds: daysFromCivil(y, mo, d) * 86_400 + secs)
    }

    /// `2026-11-25T17:44:34.123456+00:00`, the form Python's isoformat() writes.
    public static func format(unixSeconds: Int64, microseconds: Int = 0) -> String {
        let days = unixSeconds >= 0 ? unixSeconds / 86_400 : (unixSeconds - 86_399) / 86_400
        let rem = unixSeconds - days * 86_400
        let (y, m, d) = civilFromDays(days)
        func pad(_ v: Int64, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rem / 3600, 2)):\(pad(rem / 60 % 60, 2)):\(pad(rem % 60, 2))"
            + ".\(pad(Int64(microseconds), 6))+00:00"
    }
}
