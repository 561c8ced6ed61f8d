#if canImport(Glibc)
import Glibc
#endif
import AegisConfig
import AegisPolicy
import CAegisSpawn

/// Compiled copies of policy files, so the gate does not parse YAML on every
/// command (parsing a 200-rule file costs milliseconds; reading its copy, tens
/// of microseconds).
///
/// MUST: a copy is used only if it holds, byte for byte, the file just read,
///       and was written by this very aegis-exec binary (same device, inode,
///       size and modification time of /proc/self/exe).
/// MUST: a copy is used only where whoever can write it could also change the
///       file itself: the copy's directory and file belong to the effective
///       user and are writable by no one else, and the policy file belongs to
///       that user and is writable by it right now (not immutable, not on a
///       read-only mount), or the gate runs as root. A root-owned system
///       policy is therefore never taken from an ordinary user's cache: it is
///       parsed every time.
/// MUST: as root, the cache directory is reached component by component
///       without following symbolic links, through directories that root owns
///       and no one else can write (a sticky one such as /tmp may lead to
///       the next): a root gate run with someone else's HOME or XDG_CACHE_HOME
///       (sudo -E) must never be pointed at a directory to write into.
/// MUST: the cache only ever saves time. Any problem reading or writing it
///       (missing, foreign, corrupt, full disk) means the file is parsed as if
///       there were no cache; it never changes a decision and never fails a command.
public struct PolicyCache: Sendable {
    public let directory: String
    /// Walk to the directory component by component, refusing symbolic links
    /// and directories anyone but root could change (a root gate's cache).
    let rootOnlyPath: Bool

    public init(directory: String, rootOnlyPath: Bool = geteuid() == 0) {
        self.directory = directory
        self.rootOnlyPath = rootOnlyPath
    }

    /// `$XDG_CACHE_HOME/aegis/policies`, by default `~/.cache/aegis/policies`.
    public static func defaultLocation(environment env: Environment) -> PolicyCache? {
        if let x = env["XDG_CACHE_HOME"], x.hasPrefix("/") { return PolicyCache(directory: x + "/aegis/policies") }
        if let h = env["HOME"], h.hasPrefix("/") { return PolicyCache(directory: h + "/.cache/aegis/policies") }
        return nil
    }

    /// The cache directory, opened (and made, with `create`) as the MUSTs say.
    func openDirectory(create: Bool) -> FileDescriptor? {
        guard rootOnlyPath else {
            if create && makeDirectories(directory) != nil { return nil }
            guard let dir = try? FileDescriptor.open(directory, O_RDONLY | O_DIRECTORY),
                  let st = try? dir.stat(), PolicyCache.isPrivate(st) else { return nil }
            return dir
        }
        return try? RootOwnedPath.open(directory, create: create)
    }

    /// The entry format; a change to PolicyCodec's layout changes it too.
    static let magic = Array("AEGISPC3".utf8)
    /// A copy larger than this is not read: the source limit twice, plus room.
    static let maxEntryBytes = 3 * PolicyFiles.maxBytes

    /// Whether a file with this status may be cached at all (see the MUSTs).
    static func mayCache(_ source: stat) -> Bool {
        let euid = geteuid()
        return euid == 0 || source.st_uid == euid
    }

    /// And whether the opened file is writable by the effective user now: a
    /// file made immutable, or on a read-only mount, is not the user's to change.
    static func mayCache(_ source: stat, descriptor: Int32) -> Bool {
        mayCache(source) && (geteuid() == 0 || faccessat(AT_FDCWD, "/proc/self/fd/\(descriptor)", W_OK, AT_EACCESS) == 0)
    }

    /// The compiled file, if a trustworthy copy exists of exactly the bytes
    /// `descriptor` holds (read with pread, so its offset is left alone).
    func lookup(path: String, sourceStat: stat, descriptor: Int32, zones: @escaping PolicyLoader.ZoneResolver) -> PolicyFile? {
        lookup(path: path, sourceStat: sourceStat, descriptor: descriptor, zones: zones) { copy, offset, length in
            PolicyCache.sameBytes(copy, at: offset, length: length) { buffer, done, n in
                PolicyCache.preadFully(descriptor, buffer, n, at: done)
            } && PolicyCache.atEnd(descriptor, at: length)
        }
    }

    /// A copy is the magic, the binary's identity, the path, the source and
    /// the compiled file, each length-prefixed where it varies. It is read in
    /// pieces: the source compared a chunk at a time, and only the compiled
    /// part kept, so a command touches a few pages of memory for it, not the
    /// source twice over (each fresh page costs a short process a fault).
    private func lookup(path: String, sourceStat: stat, descriptor: Int32, zones: @escaping PolicyLoader.ZoneResolver,
                        sameSource: (_ copy: Int32, _ offset: Int, _ length: Int) -> Bool) -> PolicyFile? {
        guard PolicyCache.mayCache(sourceStat, descriptor: descriptor), let exe = PolicyCache.binaryIdentity,
              let dir = openDirectory(create: false),
              let fd = try? FileDescriptor.open(PolicyCache.entryName(path), O_RDONLY | O_NOFOLLOW | O_NONBLOCK,
                                                relativeTo: dir.raw),
              let st = try? fd.stat(), st.st_mode & S_IFMT == S_IFREG, PolicyCache.isPrivate(st),
              Int(st.st_size) <= PolicyCache.maxEntryBytes
        else { return nil }
        let size = Int(st.st_size)
        var expected = PolicyCache.magic + exe
        PolicyCache.append64(UInt64(path.utf8.count), to: &expected)
        expected += Array(path.utf8)
        let sourceStart = expected.count + 8
        guard size > sourceStart, let head = PolicyCache.pread(fd.raw, count: sourceStart, at: 0),
              same(head[..<expected.count], expected)
        else { return nil }
        var length: UInt64 = 0
        for k in 0..<8 { length |= UInt64(head[expected.count + k]) << (8 * UInt64(k)) }
        guard length < UInt64(size - sourceStart) else { return nil }
        let compiledStart = sourceStart + Int(length)
        guard sameSource(fd.raw, sourceStart, Int(length)),
              let compiled = PolicyCache.pread(fd.raw, count: size - compiledStart, at: compiledStart),
              let file = try? PolicyCodec.decode(compiled[...], zones: zones, deferRules: true),
              file.path == path, file.isValid
        else { return nil }
        return file
    }

    /// Whether `length` bytes of `copy` from `offset` equal what `fill(buffer,
    /// done, n)` puts in a buffer: the source's next `n` bytes from `done`.
    static func sameBytes(_ copy: Int32, at offset: Int, length: Int,
                          fill: (UnsafeMutableRawPointer, Int, Int) -> Bool) -> Bool {
        let chunk = 8192
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 2 * chunk, alignment: 16)
        defer { buffer.deallocate() }
        var done = 0
        while done < length {
            let n = min(chunk, length - done)
            guard fill(buffer, done, n), preadFully(copy, buffer + chunk, n, at: offset + done),
                  memcmp(buffer, buffer + chunk, n) == 0
            else { return false }
            done += n
        }
        return true
    }

    /// Exactly `count` bytes at `offset`, or nil (an error or the file ends first).
    static func pread(_ fd: Int32, count: Int, at offset: Int) -> [UInt8]? {
        var ok = false
        let out = [UInt8](unsafeUninitializedCapacity: count) { buf, n in
            ok = count == 0 || preadFully(fd, UnsafeMutableRawPointer(buf.baseAddress!), count, at: offset)
            n = ok ? count : 0
        }
        return ok ? out : nil
    }

    static func preadFully(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, at offset: Int) -> Bool {
        var done = 0
        while done < count {
            let n = Glibc.pread(fd, buffer + done, count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// Whether the file ends at `offset`.
    static func atEnd(_ fd: Int32, at offset: Int) -> Bool {
        var byte: UInt8 = 0
        while true {
            let n = Glibc.pread(fd, &byte, 1, off_t(offset))
            if n < 0 && errno == EINTR { continue }
            return n == 0
        }
    }

    /// Stores a valid file's compiled form; failures are ignored (see the MUSTs).
    func store(path: String, source: [UInt8], sourceStat: stat, descriptor: Int32, file: PolicyFile) {
        // Only a parsed file is stored: one read from a copy keeps its rules
        // deferred, and `encode` writes decoded rules only.
        guard file.isValid, file.policy.deferredRules == nil, PolicyCache.mayCache(sourceStat, descriptor: descriptor),
              let exe = PolicyCache.binaryIdentity else { return }
        var out = PolicyCache.magic + exe
        PolicyCache.append64(UInt64(path.utf8.count), to: &out)
        out += Array(path.utf8)
        PolicyCache.append64(UInt64(source.count), to: &out)
        out += source
        out += PolicyCodec.encode(file)
        guard out.count <= PolicyCache.maxEntryBytes, let dir = openDirectory(create: true) else { return }
        let name = PolicyCache.entryName(path)
        let temp = name + ".tmp.\(getpid())"
        guard let fd = try? FileDescriptor.open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600, relativeTo: dir.raw)
        else { return }
        var written = 0
        let ok = out.withUnsafeBytes { buf -> Bool in
            while written < buf.count {
                let n = write(fd.raw, buf.baseAddress! + written, buf.count - written)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                written += n
            }
            return true
        }
        // The copy appears whole or not at all.
        if !ok || renameat(dir.raw, temp, dir.raw, name) != 0 {
            unlinkat(dir.raw, temp, 0)
            return
        }
        PolicyCache.removeStaleSiblings(of: name, slot: PolicyCache.slotName(path), in: dir)
    }

    /// Byte-wise equality with memcmp: a policy is compared whole on every run.
    func same(_ a: ArraySlice<UInt8>, _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in a.isEmpty || memcmp(pa.baseAddress!, pb.baseAddress!, a.count) == 0 }
        }
    }

    /// Owned by the effective user, writable by no one else.
    static func isPrivate(_ st: stat) -> Bool {
        st.st_uid == geteuid() && st.st_mode & 0o022 == 0
    }

    /// One slot per file, by its path (relative ones from the current
    /// directory; the copy itself holds the path as given, and is used for
    /// that spelling only), so saving it by rename, which makes a new inode,
    /// reuses the slot; and per binary: two builds used side by side (an
    /// installed one and a newer one) keep a copy each instead of replacing
    /// each other's on every command. (Not the kernel's name for the open
    /// file: that readlink of /proc/self/fd cost every command 20 us.)
    static func entryName(_ path: String) -> String {
        slotName(path) + "-" + hex(fnv(binaryIdentity ?? []))
    }

    static func slotName(_ path: String) -> String {
        hex(fnv(Array((path.hasPrefix("/") ? path : ProcessInfo.currentDirectory() + "/" + path).utf8)))
    }

    static func fnv(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// Copies of the same file made by other builds and unused for a day, and
    /// half-written ones left by a gate that died, are removed when a new copy
    /// is written, so upgrades do not pile them up.
    static func removeStaleSiblings(of name: String, slot: String, in dir: FileDescriptor) {
        guard let d = fdopendir(dup(dir.raw)) else { return }
        defer { closedir(d) }
        let now = time(nil)
        while let e = readdir(d) {
            let entry = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard entry.hasPrefix(slot + "-"), entry != name else { continue }
            var st = stat()
            if fstatat(dir.raw, entry, &st, AT_SYMLINK_NOFOLLOW) == 0, now - st.st_mtim.tv_sec > 86_400 {
                unlinkat(dir.raw, entry, 0)
            }
        }
    }

    /// Sixteen lower-case hex digits. (Written out: the standard library's
    /// generic radix conversion costs a short process its first use.)
    static func hex(_ v: UInt64) -> String {
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 16) { buf in
            for i in 0..<16 { buf[i] = digits.utf8Start[Int((v >> (60 - 4 * UInt64(i))) & 0xF)] }
            return 16
        }
    }

    /// Device, inode, size, modification time and build id of the running
    /// binary: a rebuilt or upgraded aegis-exec never reads another build's copies.
    static let binaryIdentity: [UInt8]? = {
        var st = stat()
        guard stat("/proc/self/exe", &st) == 0 else { return nil }
        var out: [UInt8] = []
        for v in [UInt64(st.st_dev), UInt64(st.st_ino), UInt64(st.st_size), UInt64(st.st_mtim.tv_sec),
                  UInt64(st.st_mtim.tv_nsec)] {
            append64(v, to: &out)
        }
        // And the linker's build id, for builds that set every mtime alike
        // (reproducible builds) on a file system that reuses inodes.
        var id = [UInt8](repeating: 0, count: 64)
        let n = aegis_build_id(&id, Int32(id.count))
        out += id[0..<Int(max(0, n))]
        return out
    }()

    /// Little-endian, as `lookup` reads the source's length.
    static func append64(_ v: UInt64, to out: inout [UInt8]) {
        var x = v
        for _ in 0..<8 {
            out.append(UInt8(x & 0xFF))
            x >>= 8
        }
    }
}
