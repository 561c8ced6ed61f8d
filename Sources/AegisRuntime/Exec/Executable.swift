#if canImport(Glibc)
import Glibc
#endif
import CAegisSpawn

/// The program a command names, found and opened once. The opened descriptor
/// is what runs (execveat), so a file swapped in after judging is not run.
public struct ResolvedExecutable {
    public let descriptor: FileDescriptor
    /// The path of the opened file, symlinks resolved.
    public let path: String
    public let isScript: Bool
    /// The path it was found at, as execvp would have used it.
    public let foundAt: [UInt8]
}

public enum ResolveError: Error, Equatable, Sendable {
    /// Exit 127.
    case notFound(String)
    /// Exit 126: found but cannot be executed (permissions, a directory, ...).
    case notExecutable(path: String, reason: String)
}

public enum ExecutableResolver {
    /// glibc's default search path when PATH is unset.
    public static let defaultSearchPath = "/bin:/usr/bin"

    /// Finds argv[0] as execvp(3) would: a name with '/' is a path (relative
    /// to the working directory); otherwise each PATH entry is tried in order.
    public static func resolve(_ argv0: [UInt8], searchPath: String?) throws(ResolveError) -> ResolvedExecutable {
        let name = String(decoding: argv0, as: UTF8.self)
        guard !argv0.isEmpty else { throw .notFound("") }
        if argv0.contains(UInt8(ascii: "/")) {
            return try open(argv0, display: name)
        }
        var denied: ResolveError?
        let dirs = (searchPath ?? defaultSearchPath).split(separator: ":", omittingEmptySubsequences: false)
        for dir in dirs {
            var candidate = Array((dir.isEmpty ? "." : String(dir)).utf8)
            candidate.append(UInt8(ascii: "/"))
            candidate += argv0
            do {
                return try open(candidate, display: String(decoding: candidate, as: UTF8.self))
            } catch .notFound {
                continue
            } catch {
                // As execvp: remember EACCES, keep looking, report it if nothing runs.
                if denied == nil { denied = error }
            }
        }
        throw denied ?? .notFound(name)
    }

    static func open(_ pathBytes: [UInt8], display: String) throws(ResolveError) -> ResolvedExecutable {
        var cpath = pathBytes.map { CChar(bitPattern: $0) }
        cpath.append(0)
        var fd = Glibc.open(cpath, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        var readable = true
        if fd < 0 && errno == EACCES {
            // Execute-only binaries can still run; they just cannot be read.
            fd = Glibc.open(cpath, aegis_o_path | O_CLOEXEC)
            readable = false
        }
        guard fd >= 0 else {
            let e = errno
            if e == ENOENT || e == ENOTDIR { throw .notFound(display) }
            throw .notExecutable(path: display, reason: String(cString: strerror(e)))
        }
        let descriptor = FileDescriptor(fd)
        guard let st = try? descriptor.stat() else { throw .notExecutable(path: display, reason: "cannot stat") }
        if st.st_mode & S_IFMT == S_IFDIR { throw .notExecutable(path: display, reason: "is a directory") }
        if st.st_mode & S_IFMT != S_IFREG { throw .notExecutable(path: display, reason: "not a regular file") }
        if access(cpath, X_OK) != 0 { throw .notExecutable(path: display, reason: String(cString: strerror(errno))) }
        var isScript = false
        if readable {
            var magic: (UInt8, UInt8) = (0, 0)
            let n = withUnsafeMutableBytes(of: &magic) { pread(fd, $0.baseAddress, 2, 0) }
            isScript = n == 2 && magic == (UInt8(ascii: "#"), UInt8(ascii: "!"))
        }
        return ResolvedExecutable(descriptor: descriptor, path: descriptor.resolvedPath() ?? display, isScript: isScript,
                                  foundAt: pathBytes)
    }
}
