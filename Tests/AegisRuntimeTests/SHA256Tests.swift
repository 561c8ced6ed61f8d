import Foundation
import Testing
@testable import AegisRuntime

@Suite struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func standardVectors(_ input: String, _ digest: String) {
        #expect(SHA256.hexDigest(Array(input.utf8)) == digest)
    }

    @Test func aMillionAs() {
        var h = SHA256()
        for _ in 0..<1000 { h.update([UInt8](repeating: 0x61, count: 1000)) }
        #expect(SHA256.hex(h.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Padding is where SHA-256 implementations go wrong: compare with coreutils
    /// at every length around the 56- and 64-byte boundaries.
    @Test func agreesWithSha256sumAroundBlockBoundaries() throws {
        for n in [0, 1, 55, 56, 57, 63, 64, 65, 111, 119, 120, 127, 128, 129] {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
            let input = Pipe(), output = Pipe()
            p.standardInput = input
            p.standardOutput = output
            try p.run()
            input.fileHandleForWriting.write(Data(bytes))
            try input.fileHandleForWriting.close()
            let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(SHA256.hexDigest(bytes) == String(out.prefix(64)), "length \(n)")
        }
    }

    /// The CPU's SHA extensions, where this machine has them, give the
    /// portable compression's digest at every length and split.
    @Test func hardwareAndPortableAgree() {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt8 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: seed >> 33)
        }
        for n in Array(0..<300) + [4096, 65_537, 1 << 20] {
            let bytes = (0..<n).map { _ in next() }
            var fast = SHA256(), portable = SHA256(portable: true)
            // Fed in uneven pieces, so buffered partial blocks are covered too.
            var i = 0
            while i < n {
                let step = min(n - i, 1 + Int(next()) % 150)
                fast.update(bytes[i..<(i + step)])
                portable.update(bytes[i..<(i + step)])
                i += step
            }
            let digest = fast.finalize()
            #expect(digest == portable.finalize(), "length \(n)")
            // And fed in pieces, the digest of the bytes whole.
            #expect(SHA256.hex(digest) == SHA256.hexDigest(bytes), "length \(n)")
        }
        #expect(SHA256.hex({ var p = SHA256(portable: true); p.update(Array("abc".utf8)); return p.finalize() }())
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
