/// HMAC-SHA256 (RFC 2104), for signing approver requests and checking the
/// answers.
public enum HMACSHA256 {
    public static func mac(key: some Collection<UInt8>, message: some Sequence<UInt8>) -> [UInt8] {
        var k = Array(key)
        if k.count > 64 {
            var h = SHA256()
            h.update(k)
            k = h.finalize()
        }
        k += Array(repeating: 0, count: 64 - k.count)
        var inner = SHA256()
        inner.update(k.map { $0 ^ 0x36 })
        inner.update(message)
        var outer = SHA256()
        outer.update(k.map { $0 ^ 0x5c })
        outer.update(inner.finalize())
        return outer.finalize()
    }

    public static func hex(key: some Collection<UInt8>, message: some Sequence<UInt8>) -> String {
        SHA256.hex(mac(key: key, message: message))
    }

    /// Compares without stopping at the first difference, so the time taken
    /// does not tell an attacker how much of a forged signature was right.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}
