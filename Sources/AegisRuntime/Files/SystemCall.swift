#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: the function's name and errno. Every C call in this
/// module goes through `check`/`retry`, so failures are typed, not ignored.
public struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
    public var function: String
    public var errno: Int32

    public init(_ function: String, errno: Int32) {
        self.function = function
        self.errno = errno
    }

    public var reason: String { String(cString: strerror(errno)) }
    public var description: String { "\(function): \(reason)" }
}

/// Runs a call that reports failure as -1 + errno, retrying on EINTR.
@discardableResult
func retry<T: FixedWidthInteger>(_ function: String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let r = body()
        if r != -1 { return r }
        if errno == EINTR { continue }
        throw SystemError(function, errno: errno)
    }
}

/// An owned file descriptor, closed when dropped.
public final class FileDescriptor {
    public let raw: Int32
    public init(_ raw: Int32) { self.raw = raw }
    deinit { close(raw) }

    /// open(2) with O_CLOEXEC always added.
    public static func open(_ path: String, _ flags: Int32, mode: mode_t = 0, relativeTo dir: Int32 = AT_FDCWD) throws(SystemError) -> FileDescriptor {
        FileDescriptor(try retry("open \(path)") { openat(dir, path, flags | O_CLOEXEC, mode) })
    }

    /// open(2) that gives nil for a file that is not there (ENOENT, and
    /// ENOTDIR when asked): the gate looks for policy files that usually do
    /// not exist, and an error thrown and caught on that path cost every
    /// command the runtime's first-use work for error values.
    public static func openIfPresent(
        _ path: String, _ flags: Int32, relativeTo dir: Int32 = AT_FDCWD, notDirectoryIsMissing: Bool = false
    ) throws(SystemError) -> FileDescriptor? {
        while true {
            let fd = openat(dir, path, flags | O_CLOEXEC, 0)
            if fd >= 0 { return FileDescriptor(fd) }
            let e = errno
            if e == EINTR { continue }
            if e == ENOENT || (notDirectoryIsMissing && e == ENOTDIR) { return nil }
            throw SystemError("open \(path)", errno: e)
        }
    }

    /// fstat(2) on this descriptor: the file actually opened, not a path that may have changed.
    public func stat() throws(SystemError) -> Glibc.stat {
        var st = Glibc.stat()
        try retry("fstat") { fstat(raw, &st) }
        return st
    }

    /// Reads the whole file, refusing more than `limit` bytes.
    /// A regular file is read straight into an array of its size (one more
    /// byte, to see the end); what else there is, or what a growing file
    /// adds, in chunks. Nothing is zero-filled first: doing that to a 64 KiB
    /// buffer for every small file cost a short process its page faults.
    public func readAll(limit: Int) throws(SystemError) -> [UInt8] {
        var st = Glibc.stat()
        let size = fstat(raw, &st) == 0 && st.st_mode & S_IFMT == S_IFREG ? Int(st.st_size) : 0
        let capacity = min(max(size, 0), limit) + 1
        var failure: SystemError?
        var out = [UInt8](unsafeUninitializedCapacity: capacity) { buf, count in
            count = 0
            while count < buf.count {
                let n = read(raw, buf.baseAddress! + count, buf.count - count)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = SystemError("read", errno: errno); return }
                if n == 0 { return }
                count += n
            }
        }
        if let failure { throw failure }
        if out.count < capacity || out.count > limit { return out }
        let chunkSize = 65_536
        let chunk = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n = try retry("read") { read(raw, chunk, chunkSize) }
            if n == 0 { return out }
            out.append(contentsOf: UnsafeRawBufferPointer(start: chunk, count: n))
            if out.count > limit { return out }
        }
    }

    /// The path the kernel has for this descriptor (symlinks resolved).
    public func resolvedPath() -> String? { ProcessInfo.readLink("/proc/self/fd/\(raw)") }
}

/// The few environment variables the gate consults, by name. Two short
/// lists, not a dictionary: a dictionary type costs a one-command process
/// its first-use set-up, and there are never more than a handful of names.
public struct Environment: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    private var names: [String] = []
    private var values: [String] = []

    public init() {}

    public init(dictionaryLiteral elements: (String, String)...) {
        for (name, value) in elements { self[name] = value }
    }

    public subscript(name: String) -> String? {
        get { names.firstIndex(of: name).map { values[$0] } }
        set {
            if let i = names.firstIndex(of: name) {
                if let newValue { values[i] = newValue } else { names.remove(at: i); values.remove(at: i) }
            } else if let newValue {
                names.append(name)
                values.append(newValue)
            }
        }
    }
}

/// Process facts the runtime records.
public enum ProcessInfo {
    /// The environment variables aegis-exec reads, and only those: looking
    /// up a handful with getenv is cheaper than decoding the whole environment.
    public static let consultedVariables = [
        "PATH", "HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "AEGIS_POLICY", "AEGIS_AGENT", "AEGIS_SESSION",
        "AEGIS_AUDIT_PARENT",
    ]

    public static func environment() -> Environment {
        var env = Environment()
        for name in consultedVariables {
            if let v = getenv(name) { env[name] = String(decoding: UnsafeRawBufferPointer(start: v, count: strlen(v)), as: UTF8.self) }
        }
        return env
    }

    /// The target of a symbolic link (readlink(2)), or nil.
    static func readLink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buf, Int(PATH_MAX))
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func currentDirectory() -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buf, buf.count) != nil else { return "/" }
        let bytes = buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The user's name from /etc/passwd (no NSS modules loaded), or the uid.
    public static func userName(uid: uid_t = getuid()) -> String {
        if let fd = try? FileDescriptor.open("/etc/passwd", O_RDONLY), let bytes = try? fd.readAll(limit: 1 << 22),
           let name = passwdName(bytes, uid: uid) {
            return name
        }
        return String(uid)
    }

    /// The name on the first line of passwd-format `bytes` whose third field
    /// is `uid` in decimal. A scan by index, not a split into lines and fields.
    static func passwdName(_ bytes: [UInt8], uid: uid_t) -> String? {
        let wanted = Array(String(uid).utf8)
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            // name:password:uid:... — the uid field ends at the third colon,
            // or at the end of a short line.
            var colons = (first: -1, second: -1, third: end)
            var i = start
            while i < end && colons.third == end {
                if bytes[i] == UInt8(ascii: ":") {
                    if colons.first < 0 { colons.first = i } else if colons.second < 0 { colons.second = i } else { colons.third = i }
                }
                i += 1
            }
            if colons.second >= 0, bytes[(colons.second + 1)..<colons.third].elementsEqual(wanted) {
                return String(decoding: bytes[start..<colons.first], as: UTF8.self)
            }
            start = end + 1
        }
        return nil
    }

    public static func now() -> (seconds: Int64, microseconds: Int) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return (Int64(ts.tv_sec), Int(ts.tv_nsec / 1000))
    }

    public static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// Creates a directory and its missing ancestors, each new one 0700 (private
/// to the user); nil on success, else the component that could not be made.
func makeDirectories(_ path: String) -> (path: String, errno: Int32)? {
    var st = stat()
    if stat(path, &st) == 0 { return st.st_mode & S_IFMT == S_IFDIR ? nil : (path, ENOTDIR) }
    var built = ""
    for comp in path.split(separator: "/") {
        built += "/" + comp
        if mkdir(built, 0o700) != 0 && errno != EEXIST { return (built, errno) }
    }
    return nil
}
