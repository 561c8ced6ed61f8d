#if canImport(Glibc)
import Glibc
#endif

/// Which login session a command runs in, as the kernel sees it: the session
/// id and its leader's start time. Grants are bound to this, not to
/// `AEGIS_SESSION` (the caller sets that), and the start time keeps a reused
/// session id from inheriting an old session's grants.
public enum SessionIdentity {
    public static func current() -> String? {
        let sid = getsid(0)
        guard sid > 0, let start = startTime(of: sid) else { return nil }
        return "sid-\(sid)-\(start)"
    }

    /// Field 22 of /proc/PID/stat: start time in clock ticks since boot.
    static func startTime(of pid: pid_t) -> UInt64? {
        guard let fd = try? FileDescriptor.open("/proc/\(pid)/stat", O_RDONLY),
              let bytes = try? fd.readAll(limit: 4096) else { return nil }
        // The command name (field 2) is in parentheses and may hold spaces or ')'.
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        // After ")" come field 3 (state) onward; field 22 is index 19.
        guard fields.count > 19 else { return nil }
        return UInt64(String(decoding: fields[19], as: UTF8.self))
    }
}
