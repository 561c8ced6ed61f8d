#if canImport(Glibc)
import Glibc
#endif

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
            if st.st_uid != 0 { throw Refusal(path: walked, reason: "owned by uid \(st.st_uid), not root") }
            let sticky = st.st_mode & S_ISVTX != 0
            if st.st_mode & 0o022 != 0 && !(sticky && i < comps.count - 1) {
                throw Refusal(path: walked, reason: "writable by users other than root")
            }
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
