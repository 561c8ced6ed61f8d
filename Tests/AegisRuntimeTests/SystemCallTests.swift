import Foundation
import Testing
@testable import AegisRuntime

/// File reading and the passwd lookup the audit log's `user` column comes from.
@Suite struct SystemCallTests {
    @Test func readAllReturnsEveryByteOfAFileLargerThanOneChunk() throws {
        let path = NSTemporaryDirectory() + "aegis-read-" + UUID().uuidString
        defer { unlink(path) }
        // 200,001 bytes, none of them zero-filled by mistake.
        let bytes = (0..<200_001).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        let fd = try FileDescriptor.open(path, O_RDONLY)
        #expect(try fd.readAll(limit: 1 << 20) == bytes)
        // A limit stops reading soon after it is passed (the caller then refuses the file).
        let again = try FileDescriptor.open(path, O_RDONLY)
        let cut = try again.readAll(limit: 1000)
        #expect(cut.count > 1000 && cut.count < bytes.count)
        #expect(Array(bytes[0..<cut.count]) == cut)
    }

    @Test func readAllOfAnEmptyFileIsEmpty() throws {
        let fd = try FileDescriptor.open("/dev/null", O_RDONLY)
        #expect(try fd.readAll(limit: 10).isEmpty)
    }

    @Test func passwdNameMatchesTheWholeUidField() {
        let passwd = Array("""
            root:x:0:0:root:/root:/bin/bash
            daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
            ten:x:10:10::/home/ten:/bin/sh
            hundred:x:100:100::/home/hundred:/bin/sh
            broken-line-without-fields
            late:x:1000:1000::/home/late:/bin/sh
            short:x:2000
            """.utf8)
        #expect(AegisRuntime.ProcessInfo.passwdName(passwd, uid: 0) == "root")
        #expect(AegisRuntime.ProcessInfo.passwdName(passwd, uid: 100) == "hundred")  // not "ten", whose uid is a prefix
        #expect(AegisRuntime.ProcessInfo.passwdName(passwd, uid: 10) == "ten")
        #expect(AegisRuntime.ProcessInfo.passwdName(passwd, uid: 1000) == "late")  // after a line that is not an entry
        #expect(AegisRuntime.ProcessInfo.passwdName(passwd, uid: 4242) == nil)
        #expect(AegisRuntime.ProcessInfo.passwdName(passwd, uid: 2000) == "short")  // a line that ends at the uid
        #expect(AegisRuntime.ProcessInfo.passwdName(passwd, uid: 200) == nil)
        #expect(AegisRuntime.ProcessInfo.passwdName([], uid: 0) == nil)
    }

    /// The name comes from /etc/passwd (no NSS modules: the gate is a static binary), else the uid.
    @Test func theUserNameOfThisProcessIsItsPasswdEntry() throws {
        let passwd = Array(try Data(contentsOf: URL(fileURLWithPath: "/etc/passwd")))
        let expected = AegisRuntime.ProcessInfo.passwdName(passwd, uid: getuid()) ?? String(getuid())
        #expect(AegisRuntime.ProcessInfo.userName() == expected)
        if getuid() == 0 { #expect(expected == "root") }
    }
}

/// Files whose size says nothing (pipes, /proc) or that grow while read.
@Suite struct ReadAllSourcesTests {
    @Test func aPipeIsReadToItsEnd() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let out = fds[1]
        let writer = Thread {
            payload.withUnsafeBytes { b in
                var off = 0
                while off < b.count { off += max(0, write(out, b.baseAddress! + off, b.count - off)) }
            }
            close(out)
        }
        writer.start()
        let fd = FileDescriptor(fds[0])
        #expect(try fd.readAll(limit: 1 << 20) == payload)
    }

    @Test func aProcFileWithSizeZeroIsReadWhole() throws {
        // /proc files report size 0 but have content.
        let fd = try FileDescriptor.open("/proc/self/status", O_RDONLY)
        let text = String(decoding: try fd.readAll(limit: 1 << 20), as: UTF8.self)
        #expect(text.hasPrefix("Name:"))
        #expect(text.contains("\nPid:"))
    }

    @Test func aFileExactlyAtTheLimitIsWholeAndOneByteMoreIsOverIt() throws {
        let path = NSTemporaryDirectory() + "aegis-limit-" + UUID().uuidString
        defer { unlink(path) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x61, count: 4096)))
        #expect(try FileDescriptor.open(path, O_RDONLY).readAll(limit: 4096).count == 4096)
        #expect(try FileDescriptor.open(path, O_RDONLY).readAll(limit: 4095).count > 4095)
    }
}
