#if canImport(Glibc)
import Glibc
#endif
import AegisConfig
import AegisPolicy

/// The approver protocol: POST the request, approve only on a JSON `true`.
///
/// Request headers: `X-Aegis-Request-Id`, `X-Aegis-Timestamp` (Unix seconds),
/// and with a secret `X-Aegis-Signature: sha256=HEX`, the HMAC-SHA256 of
/// `TIMESTAMP "." BODY` (the body is empty for polls).
/// Answers: 200 with `{"approved": true|false, "approver": ..., "reason": ...}`,
/// or 202 with a `Location` on the same origin to poll (GET) and an optional
/// `Retry-After` in seconds. With a secret, every answer must carry
/// `X-Aegis-Timestamp` (within 5 minutes of now) and `X-Aegis-Signature` over
/// `TIMESTAMP "." REQUEST_ID "." BODY`: an answer recorded for one request
/// cannot approve another.
///
/// MUST: anything but a signed-if-required 200 whose `approved` is the JSON
///       boolean true denies: errors, timeouts, other statuses, strings.
public enum ApproverClient {
    public enum Outcome: Sendable, Equatable {
        case approved(approver: String?, reason: String?)
        case denied(approver: String?, reason: String?)
        case failed(String)
    }

    static let maxSkewSeconds: Int64 = 300

    public static func ask(_ settings: ApproverSettings, payload: JSONObject, requestID: String, signalFD: Int32) -> Outcome {
        let secret: [UInt8]?
        var headers = ["Content-Type: application/json", "Accept: application/json", "User-Agent: aegis-exec",
                       "X-Aegis-Request-Id: \(requestID)"]
        do {
            secret = try settings.secretFile.map { path throws(CredentialError) in try readCredential(path, what: "approver.secret_file") }
            if let tokenPath = settings.tokenFile {
                let token = try readCredential(tokenPath, what: "approver.token_file")
                guard token.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                    return .failed("approver.token_file \(tokenPath) must hold one token of printable characters")
                }
                headers.append("Authorization: Bearer " + String(decoding: token, as: UTF8.self))
            }
        } catch {
            return .failed(error.message)
        }
        let deadline = ProcessInfo.monotonicNanoseconds() + UInt64(settings.timeoutSeconds * 1e9)

        func send(_ method: String, _ url: EndpointURL, _ body: [UInt8]) -> Result<CurlTransport.Response, Problem> {
            var h = headers
            let ts = ProcessInfo.now().seconds
            h.append("X-Aegis-Timestamp: \(ts)")
            if let secret {
                h.append("X-Aegis-Signature: sha256=" + HMACSHA256.hex(key: secret, message: Array("\(ts).".utf8) + body))
            }
            do {
                let r = try CurlTransport.exchange(method: method, url: url, headers: h, body: method == "POST" ? body : nil,
                                                   deadline: deadline, caFile: settings.caFile, signalFD: signalFD)
                if let secret, let problem = signatureProblem(r, secret: secret, requestID: requestID) {
                    return .failure(Problem(text: problem))
                }
                return .success(r)
            } catch {
                switch error {
                case .unavailable(let why): return .failure(Problem(text: why))
                case .transport(let why): return .failure(Problem(text: why))
                case .timeout: return .failure(Problem(text: "no answer within \(Int(settings.timeoutSeconds)) s", timedOut: true))
                case .interrupted: return .failure(Problem(text: "interrupted while waiting for the approver"))
                case .malformed(let why): return .failure(Problem(text: why))
                }
            }
        }

        var url = settings.url
        var response: CurlTransport.Response
        switch send("POST", url, Array(JSON.object(payload).serialized.utf8)) {
        case .success(let r): response = r
        case .failure(let why): return .failed(why.text)
        }
        while response.status == 202 {
            guard let location = response.header("location") else {
                return .failed("the approver answered 202 (pending) without a Location to poll")
            }
            guard let next = try? url.resolving(location), next.sameOrigin(settings.url) else {
                return .failed("the approver's poll location \(location) is not on \(settings.url.scheme)://\(settings.url.host):\(settings.url.port)")
            }
            url = next
            let wait = min(max(Double(response.header("retry-after") ?? "") ?? 1, 0.2), 10)
            let now = ProcessInfo.monotonicNanoseconds()
            if now + UInt64(wait * 1e9) >= deadline {
                return .failed("still pending after \(Int(settings.timeoutSeconds)) s; no decision in time")
            }
            if sleepUnlessSignalled(seconds: wait, signalFD: signalFD) {
                return .failed("interrupted while waiting for the approver")
            }
            switch send("GET", url, []) {
            case .success(let r): response = r
            // It had answered "pending"; the time ran out during the next poll.
            case .failure(let why) where why.timedOut:
                return .failed("still pending after \(Int(settings.timeoutSeconds)) s; no decision in time")
            case .failure(let why): return .failed(why.text)
            }
        }
        guard (200..<300).contains(response.status) else {
            return .failed("the approver answered HTTP \(response.status)")
        }
        return decision(response.body, requestID: requestID)
    }

    /// Reads the decision from a 2xx body.
    static func decision(_ body: [UInt8], requestID: String) -> Outcome {
        guard UTF8Validation.isValid(body), case .object(let o)? = try? JSON.parse(String(decoding: body, as: UTF8.self)) else {
            return .failed("the approver's answer is not a JSON object")
        }
        if let id = o["request_id"], id != .string(requestID) {
            return .failed("the approver's answer is for another request")
        }
        let approver = o["approver"]?.string.map { clean($0) }
        let reason = o["reason"]?.string.map { clean($0) }
        switch o["approved"] {
        case .bool(true)?: return .approved(approver: approver, reason: reason)
        case .bool(false)?: return .denied(approver: approver, reason: reason)
        case nil: return .failed("the approver's answer has no `approved`")
        case let v?: return .failed("the approver's `approved` is \(v.typeName), not a JSON boolean")
        }
    }

    /// Why a signed answer is not acceptable, or nil.
    static func signatureProblem(_ r: CurlTransport.Response, secret: [UInt8], requestID: String) -> String? {
        guard let sig = r.header("x-aegis-signature"), sig.hasPrefix("sha256=") else {
            return "the approver's answer is not signed (X-Aegis-Signature missing)"
        }
        guard let tsText = r.header("x-aegis-timestamp"), let ts = Int64(tsText) else {
            return "the approver's answer has no X-Aegis-Timestamp"
        }
        let skew = abs(ProcessInfo.now().seconds - ts)
        guard skew <= maxSkewSeconds else {
            return "the approver's answer is timestamped \(skew) s from now (a replay, or clocks apart)"
        }
        let expected = HMACSHA256.hex(key: secret, message: Array("\(ts).\(requestID).".utf8) + r.body)
        guard HMACSHA256.constantTimeEqual(Array(expected.utf8), Array(sig.dropFirst(7).lowercased().utf8)) else {
            return "the approver's answer has a bad signature"
        }
        return nil
    }

    /// Approver-supplied text, made safe for one log line and a terminal.
    static func clean(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.filter { !ShellQuote.isControl($0) }.prefix(200)))
    }

    /// Sleeps; true if a signal arrived on `signalFD` first.
    static func sleepUnlessSignalled(seconds: Double, signalFD: Int32) -> Bool {
        var fds = [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0)]
        let deadline = ProcessInfo.monotonicNanoseconds() + UInt64(seconds * 1e9)
        while true {
            let now = ProcessInfo.monotonicNanoseconds()
            if now >= deadline { return false }
            let n = poll(&fds, 1, Int32((deadline - now) / 1_000_000 + 1))
            if n > 0 { return true }
        }
    }

    struct Problem: Error {
        var text: String
        /// The deadline passed while waiting for this answer.
        var timedOut = false
    }

    struct CredentialError: Error {
        var message: String
    }

    /// A secret or token file: readable by us, by no one else, and one line.
    static func readCredential(_ path: String, what: String) throws(CredentialError) -> [UInt8] {
        do {
            let fd = try FileDescriptor.open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK)
            let st = try fd.stat()
            guard st.st_mode & S_IFMT == S_IFREG else { throw CredentialError(message: "\(what) \(path) is not a regular file") }
            guard st.st_mode & 0o077 == 0 else {
                throw CredentialError(message: "\(what) \(path) can be read or written by others (chmod 600 \(path))")
            }
            var bytes = try fd.readAll(limit: 4096)
            while let last = bytes.last, last == 10 || last == 13 || last == 32 { bytes.removeLast() }
            guard !bytes.isEmpty, bytes.count <= 4096 else { throw CredentialError(message: "\(what) \(path) is empty or too large") }
            return bytes
        } catch let e as CredentialError {
            throw e
        } catch let e as SystemError {
            throw CredentialError(message: "cannot read \(what) \(path): \(e.reason)")
        } catch {
            throw CredentialError(message: "cannot read \(what) \(path): \(error)")
        }
    }
}
