import CAegisSHA256

/// SHA-256 (FIPS 180-4), for the audit log's hash chain. Written here so the
/// gate needs no crypto library at start-up; checked against the standard's
/// test vectors and against sqlite3/sha256sum in the tests. Whole blocks go
/// to the CPU's SHA extensions where it has them (CAegisSHA256), about ten
/// times faster; `portable` keeps this file's own compression, the reference.
public struct SHA256 {
    static let hardware = aegis_sha256_hardware() == 1
    private let useHardware: Bool

    // Fixed-size state, no arrays: a digest allocates nothing but its result
    // (every audit record is hashed three or four times on its way).
    private var h: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
    )
    /// The partial block: `buffered` bytes of 64.
    private var block: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    private var buffered = 0
    private var length: UInt64 = 0

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    public init() { useHardware = SHA256.hardware }

    /// The portable compression only (the tests compare the two).
    init(portable: Bool) { useHardware = !portable && SHA256.hardware }

    public mutating func update(_ bytes: some Sequence<UInt8>) {
        // Arrays and slices are hashed where they lie; anything else is copied first.
        if bytes.withContiguousStorageIfAvailable({ update(buffer: $0) }) != nil { return }
        let data = Array(bytes)
        data.withUnsafeBufferPointer { update(buffer: $0) }
    }

    /// Compresses whole blocks into the state.
    private mutating func compress(_ data: UnsafePointer<UInt8>, blocks: Int) {
        let hardware = useHardware
        withUnsafeMutableBytes(of: &h) { raw in
            let state = raw.baseAddress!.assumingMemoryBound(to: UInt32.self)
            if hardware {
                aegis_sha256_blocks(state, data, blocks)
            } else {
                for b in 0..<blocks { SHA256.compress(state, data + 64 * b) }
            }
        }
    }

    /// Whole blocks are compressed straight from the caller's bytes; only a
    /// partial block is copied.
    private mutating func update(buffer p: UnsafeBufferPointer<UInt8>) {
        guard let base = p.baseAddress, !p.isEmpty else { return }
        length &+= UInt64(p.count)
        var i = 0
        if buffered > 0 {
            let take = min(64 - buffered, p.count)
            let at = buffered
            withUnsafeMutableBytes(of: &block) { $0.baseAddress!.advanced(by: at).copyMemory(from: base, byteCount: take) }
            buffered += take
            i = take
            if buffered < 64 { return }
            var full = block
            withUnsafeBytes(of: &full) { compress($0.baseAddress!.assumingMemoryBound(to: UInt8.self), blocks: 1) }
            buffered = 0
        }
        let whole = (p.count - i) / 64
        if whole > 0 {
            compress(base + i, blocks: whole)
            i += whole * 64
        }
        if i < p.count {
            let rest = p.count - i
            withUnsafeMutableBytes(of: &block) { $0.baseAddress!.copyMemory(from: base + i, byteCount: rest) }
            buffered = rest
        }
    }

    public mutating func finalize() -> [UInt8] {
        let bitLength = length &* 8
        // 0x80, zeros, and the length in bits (big-endian) ending a block.
        let tailLength = buffered <= 55 ? 64 - buffered : 128 - buffered
        var tail: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                   UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &tail) { t in
            t[0] = 0x80
            for i in 0..<8 { t[tailLength - 8 + i] = UInt8(truncatingIfNeeded: bitLength >> (56 - 8 * UInt64(i))) }
        }
        let saved = length
        withUnsafeBytes(of: &tail) { update(buffer: UnsafeBufferPointer(start: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: tailLength)) }
        length = saved
        return withUnsafeBytes(of: &h) { raw in
            let state = raw.bindMemory(to: UInt32.self)
            return [UInt8](unsafeUninitializedCapacity: 32) { out, n in
                for w in 0..<8 {
                    for b in 0..<4 { out[4 * w + b] = UInt8(truncatingIfNeeded: state[w] >> (24 - 8 * UInt32(b))) }
                }
                n = 32
            }
        }
    }

    private static func compress(_ h: UnsafeMutablePointer<UInt32>, _ block: UnsafePointer<UInt8>) {
        func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { x >> n | x << (32 - n) }
        var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            for i in 0..<16 {
                w[i] = UInt32(block[4 * i]) << 24 | UInt32(block[4 * i + 1]) << 16 | UInt32(block[4 * i + 2]) << 8 | UInt32(block[4 * i + 3])
            }
            for i in 16..<64 {
                let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            SHA256.k.withUnsafeBufferPointer { k in
                for i in 0..<64 {
                    let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                    let ch = (e & f) ^ (~e & g)
                    let t1 = hh &+ s1 &+ ch &+ k[i] &+ w[i]
                    let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                    let maj = (a & b) ^ (a & c) ^ (b & c)
                    let t2 = s0 &+ maj
                    (hh, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
                }
            }
        }
        h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d
        h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
    }

    /// Lower-case hex digits as bytes. (Built from a list of Characters,
    /// appended one by one, this took a few microseconds per digest.)
    public static func hexBytes(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in bytes {
            out.append(hexDigit(b >> 4))
            out.append(hexDigit(b & 15))
        }
        return out
    }

    @inline(__always) static func hexDigit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 + v : 0x57 + v }

    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        String(decoding: hexBytes(bytes), as: UTF8.self)
    }

    public static func hexDigest(_ bytes: some Sequence<UInt8>) -> String {
        var h = SHA256()
        h.update(bytes)
        return hex(h.finalize())
    }
}
