#if canImport(Glibc)
import Glibc
#endif
import CAegisSpawn

/// Reaching a directory as root without trusting anyone else's files: a root
/// gate run with another user's HOME or XDG_* variables (`sudo -E`) must never
/// be pointed by them at a directory to write into.
///
/// MUST: every component is opened without following symbolic links, and is a
///       directory that root owns and no one else can write; a sticky one
///       (such as /tmp) may lead on to the next, as only its owners can
///       rename what is in it.
enum RootOwnedPath {
    struct Refusal: Error, Sendable {
        /// The first component refused, as a path.
        var path: String
        var reason: String
    }

    /// The directory, opened; missing components are made (0700) with `create`.
    /// (Thrown, not a Result: the standard library's generic Result has its
    /// metadata built on first use, which a root gate paid on every command.)
    static func open(_ directory: String, create: Bool) throws(Refusal) -> FileDescriptor {
        guard directory.hasPrefix("/") else { throw Refusal(path: directory, reason: "not an absolute path") }
        if let dir = try openExisting(directory) { return dir }
        return try walk(directory, create: create)
    }

    /// The same checks for a directory that exists, by path: each component's
    /// status without following links (lstat), then the directory opened in
    /// one call that refuses a symbolic link anywhere on the way (openat2's
    /// RESOLVE_NO_SYMLINKS), and checked to be the directory examined. Sound
    /// because a component that passed can be changed only by root: no one
    /// else may write it, or (a sticky directory) rename or remove what root
    /// owns in it. A third of the syscalls of opening, examining and closing
    /// each component in turn (the gate does this twice a command as root).
    /// Nil when a component is missing or cannot be examined, or the kernel
    /// has no openat2: the walk then decides, and makes what is missing.
    static func openExisting(_ directory: String) throws(Refusal) -> FileDescriptor? {
        let comps = components(directory)
        guard !comps.isEmpty else { return nil }
        var walked = ""
        var st = stat()
        for (i, comp) in comps.enumerated() {
            walked += "/" + comp
            guard lstat(walked, &st) == 0 else { return nil }
            guard st.st_mode & S_IFMT == S_IFDIR else { throw Refusal(path: walked, reason: "a symbolic link or not a directory") }
            if let reason = problem(st, last: i == comps.count - 1) { throw Refusal(path: walked, reason: reason) }
        }
        let fd = aegis_open_directory_no_links(walked)
        guard fd >= 0 else { return nil }
        let dir = FileDescriptor(fd)
        // Root could still have swapped it since: then the walk decides.
        guard let opened = try? dir.stat(), opened.st_dev == st.st_dev, opened.st_ino == st.st_ino else { return nil }
        return dir
    }

    /// Why a component with this status may not be passed through, or nil.
    static func problem(_ st: stat, last: Bool) -> String? {
        if st.st_uid != 0 { return "owned by uid \(st.st_uid), not root" }
        let sticky = st.st_mode & S_ISVTX != 0
        if st.st_mode & 0o022 != 0 && !(sticky && !last) { return "writable by users other than root" }
        return nil
    }

    /// Component by component from /, each opened relative to the last.
    static func walk(_ directory: String, create: Bool) throws(Refusal) -> FileDescriptor {
        guard var dir = try? FileDescriptor.open("/", O_RDONLY | O_DIRECTORY) else {
            throw Refusal(path: "/", reason: String(cString: strerror(errno)))
        }
        let comps = components(directory)
        var walked = ""
        for (i, comp) in comps.enumerated() {
            walked += "/" + comp
            let flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW
            let next: FileDescriptor
            do {
                next = try FileDescriptor.open(comp, flags, relativeTo: dir.raw)
            } catch where error.errno == ENOENT && create {
                guard mkdirat(dir.raw, comp, 0o700) == 0 || errno == EEXIST,
                      let made = try? FileDescriptor.open(comp, flags, relativeTo: dir.raw) else {
                    throw Refusal(path: walked, reason: String(cString: strerror(errno)))
                }
                next = made
            } catch {
                let reason = error.errno == ELOOP || error.errno == ENOTDIR ? "a symbolic link or not a directory" : error.reason
                throw Refusal(path: walked, reason: reason)
            }
            guard let st = try? next.stat() else { throw Refusal(path: walked, reason: String(cString: strerror(errno))) }
            if let reason = problem(st, last: i == comps.count - 1) { throw Refusal(path: walked, reason: reason) }
            dir = next
        }
        return dir
    }

    /// A path's non-empty components, split on "/" byte by byte.
    static func components(_ path: String) -> [String] {
        var out: [String] = []
        var start = path.utf8.startIndex
        for i in path.utf8.indices where path.utf8[i] == UInt8(ascii: "/") {
            if i > start { out.append(String(path[start..<i])) }
            start = path.utf8.index(after: i)
        }
        if start < path.utf8.endIndex { out.append(String(path[start...])) }
        return out
    }
}
