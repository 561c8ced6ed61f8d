/// A rule condition. A rule's conditions are ANDed; `any` and `not` combine groups.
public indirect enum Condition: Sendable {
    /// `time_after` / `time_before` ("HH:MM", minutes since midnight in the rule's
    /// zone). When both are set and after > before, the window wraps midnight.
    case timeWindow(after: Int?, before: Int?)
    /// ISO weekdays, 1 = Monday ... 7 = Sunday.
    case weekdays(Set<Int>)
    case paramEq(key: String, value: JSON)
    case paramCompare(key: String, op: Comparison, value: Double)
    case paramContains(key: String, value: JSON)
    case paramMatches(key: String, pattern: Pattern)
    /// Command-oriented: some flag in the list is present (`-rf` sets r and f).
    case flagsAny([String])
    /// Command-oriented: every flag in the list is present.
    case flagsAll([String])
    /// Command-oriented: some positional argument matches one of the globs.
    case argAny([Glob])
    /// Command-oriented: some path argument, resolved against the working
    /// directory, lies outside every one of these directories.
    case pathOutside([String])
    /// Command-oriented: some path argument lies inside one of these directories.
    case pathInside([String])
    /// At least one group holds (each group's conditions ANDed).
    case any([[Condition]])
    /// The group does not hold.
    case not([Condition])

    public enum Comparison: String, Sendable {
        case gt = "param_gt", lt = "param_lt", gte = "param_gte", lte = "param_lte"

        func holds(_ a: Double, _ b: Double) -> Bool {
            switch self {
            case .gt: a > b
            case .lt: a < b
            case .gte: a >= b
            case .lte: a <= b
            }
        }

        var symbol: String {
            switch self {
            case .gt: ">"
            case .lt: "<"
            case .gte: ">="
            case .lte: "<="
            }
        }
    }
}

/// A compiled `param_matches` regex: Python `re` syntax, searched (not
/// anchored) as `re.search` does, in time linear in the input.
public struct Pattern: Sendable {
    public let source: String
    let program: PatternProgram

    public struct SyntaxError: Error, Sendable {
        public let message: String
    }

    public init(_ source: String) throws(SyntaxError) {
        self.source = source
        do {
            program = try PatternParser.compile(source)
        } catch {
            throw SyntaxError(message: "invalid regular expression '\(source)': \(error.message)")
        }
    }

    public func search(_ text: String) -> Bool { program.search(text) }
}

/// A moment, as the evaluator needs it: Unix seconds.
public struct Instant: Sendable, Equatable {
    public var unixSeconds: Int64
    public init(unixSeconds: Int64) { self.unixSeconds = unixSeconds }

    /// Seconds since local midnight and the ISO weekday in the given zone.
    public func civil(in zone: TimeZoneTable) -> (secondsOfDay: Int, isoWeekday: Int) {
        let local = unixSeconds + Int64(zone.offset(at: unixSeconds))
        let days = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        let secs = Int(local - days * 86_400)
        // 1970-01-01 was a Thursday (ISO 4).
        let wd = Int(((days % 7) + 7 + 3) % 7) + 1
        return (secs, wd)
    }
}

/// UTC offsets of a time zone over time, from a TZif file or a fixed offset.
public struct TimeZoneTable: Sendable, Equatable {
    public let name: String
    /// Sorted transition times with the offset that applies from each.
    let transitions: [(at: Int64, offset: Int32)]
    let initialOffset: Int32

    public static let utc = TimeZoneTable(name: "UTC", fixedOffset: 0)

    public init(name: String, fixedOffset: Int32) {
        self.name = name
        transitions = []
        initialOffset = fixedOffset
    }

    init(name: String, transitions: [(at: Int64, offset: Int32)], initialOffset: Int32) {
        self.name = name
        self.transitions = transitions
        self.initialOffset = initialOffset
    }

    public func offset(at t: Int64) -> Int32 {
        // Binary search for the last transition at or before t.
        var lo = 0, hi = transitions.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if transitions[mid].at <= t { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? initialOffset : transitions[lo - 1].offset
    }

    public static func == (a: TimeZoneTable, b: TimeZoneTable) -> Bool {
        a.name == b.name && a.initialOffset == b.initialOffset && a.transitions.count == b.transitions.count
            && zip(a.transitions, b.transitions).allSatisfy { $0.at == $1.at && $0.offset == $1.offset }
    }

    /// Parses a TZif file (RFC 8536), version 2+ 64-bit data when present.
    /// Beyond the last transition the last offset holds (Debian ships
    /// transitions to 2037).
    public static func parseTZif(name: String, bytes: [UInt8]) -> TimeZoneTable? {
        func be32(_ at: Int) -> Int64? {
            guard at + 4 <= bytes.count else { return nil }
            return Int64(Int32(bitPattern: UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])))
        }
        func be64(_ at: Int) -> Int64? {
            guard let hi = be32(at), let lo = be32(at + 4) else { return nil }
            return hi << 32 | (lo & 0xFFFF_FFFF)
        }
        func header(_ at: Int) -> (version: UInt8, isutc: Int, isstd: Int, leap: Int, time: Int, type: Int, chars: Int)? {
            guard at + 44 <= bytes.count, Array(bytes[at..<at + 4]) == Array("TZif".utf8) else { return nil }
            let f = (0..<6).compactMap { be32(at + 20 + 4 * $0).map(Int.init) }
            guard f.count == 6, f.allSatisfy({ $0 >= 0 && $0 < 1_000_000 }) else { return nil }
            return (bytes[at + 4], f[0], f[1], f[2], f[3], f[4], f[5])
        }
        guard let h1 = header(0) else { return nil }
        var base = 0
        var h = h1
        var timeSize = 4
        if h1.version >= 0x32 {  // '2' or later: skip the v1 block
            base = 44 + h1.time * 5 + h1.type * 6 + h1.chars + h1.leap * 8 + h1.isstd + h1.isutc
            guard let h2 = header(base) else { return nil }
            h = h2
            timeSize = 8
        }
        let times = base + 44
        let idx = times + h.time * timeSize
        let types = idx + h.time
        guard types + h.type * 6 <= bytes.count, h.type > 0 else { return nil }
        func typeOffset(_ t: Int) -> Int32? {
            guard t < h.type, let o = be32(types + 6 * t) else { return nil }
            return Int32(truncatingIfNeeded: o)
        }
        var transitions: [(Int64, Int32)] = []
        for i in 0..<h.time {
            guard let at = timeSize == 8 ? be64(times + 8 * i) : be32(times + 4 * i),
                  let off = typeOffset(Int(bytes[idx + i])) else { return nil }
            transitions.append((at, off))
        }
        guard let initial = typeOffset(0) else { return nil }
        return TimeZoneTable(name: name, transitions: transitions, initialOffset: initial)
    }
}
