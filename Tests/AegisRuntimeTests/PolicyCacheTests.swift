import Foundation
import Testing
@testable import AegisConfig
@testable import AegisPolicy
@testable import AegisRuntime

/// Compiled copies of policy files: they must decide exactly as the YAML does,
/// and be used only when they are the very bytes read, written by someone who
/// could have changed the file anyway.
@Suite struct PolicyCacheTests {
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func tempDir() -> String {
        let d = NSTemporaryDirectory() + "aegis-cache-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return d
    }

    func shippedPolicies() throws -> [String] {
        let dir = repo.appendingPathComponent("policies").path
        return try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yaml") }.sorted().map { dir + "/" + $0 }
    }

    static let strict = """
        defaults: { risk_level: low, approval: auto }
        rules:
          - name: no-deletes
            match: { type: "file.delete" }
            risk_level: high
            approval: block
        """
    static let loose = """
        defaults: { risk_level: low, approval: auto }
        rules:
          - name: no-deletes
            match: { type: "file.delete" }
            risk_level: high
            approval: auto
        """

    func stat(_ path: String) -> Glibc.stat {
        let fd = try! FileDescriptor.open(path, O_RDONLY)
        return try! fd.stat()
    }

    /// Entry names are what they always were: sixteen hex digits per hash.
    @Test func namesAreSixteenLowerCaseHexDigits() {
        #expect(PolicyCache.hex(0) == "0000000000000000")
        #expect(PolicyCache.hex(0xDEAD_BEEF) == "00000000deadbeef")
        #expect(PolicyCache.hex(UInt64.max) == "ffffffffffffffff")
        for _ in 0..<200 {
            let v = UInt64.random(in: 0...UInt64.max) >> UInt64.random(in: 0...63)
            let s = String(v, radix: 16)
            #expect(PolicyCache.hex(v) == String(repeating: "0", count: 16 - s.count) + s)
        }
        #expect(RootOwnedPath.components("/root/.cache//aegis/policies/") == ["root", ".cache", "aegis", "policies"])
        #expect(RootOwnedPath.components("/").isEmpty && RootOwnedPath.components("").isEmpty)
        #expect(RootOwnedPath.components("/tmp/é x/y") == ["tmp", "é x", "y"])
    }

    /// A root gate reaches an existing directory by path (lstat of every
    /// component, then one openat2 that refuses links) exactly as by the walk
    /// that opens each component in turn: the same directory, or the same
    /// refusal naming the same component.
    @Test func reachingAnExistingDirectoryByPathDecidesAsTheWalk() throws {
        try #require(geteuid() == 0, "needs root to make directories of other owners")
        let d = tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let fm = FileManager.default
        func dir(_ name: String, mode: Int = 0o755, owner: uid_t = 0) -> String {
            let path = d + "/" + name
            try! fm.createDirectory(atPath: path, withIntermediateDirectories: true)
            chmod(path, mode_t(mode))
            chown(path, owner, owner)
            return path
        }
        _ = dir("ok/a/b")
        _ = dir("others/x", owner: 65534)
        _ = dir("others", owner: 65534)
        _ = dir("group/x")
        _ = dir("group", mode: 0o775)
        _ = dir("sticky/mine")
        _ = dir("sticky", mode: 0o1777)
        _ = dir("opentail", mode: 0o1777)
        _ = dir("real/x")
        symlink(d + "/real", d + "/link")
        _ = fm.createFile(atPath: d + "/file", contents: Data())
        let cases = ["ok/a/b", "ok/a", "others/x", "others", "group/x", "sticky/mine", "opentail", "link/x", "link", "file/x",
                     "ok/a/../a/b", "ok//a/b/"]
        for name in cases {
            let path = d + "/" + name
            var quick: Result<(dev_t, ino_t), RootOwnedPath.Refusal>
            do {
                let fd = try #require(try RootOwnedPath.openExisting(path), "\(name)")
                let st = try fd.stat()
                quick = .success((st.st_dev, st.st_ino))
            } catch let e as RootOwnedPath.Refusal { quick = .failure(e) }
            var walked: Result<(dev_t, ino_t), RootOwnedPath.Refusal>
            do {
                let st = try RootOwnedPath.walk(path, create: false).stat()
                walked = .success((st.st_dev, st.st_ino))
            } catch let e as RootOwnedPath.Refusal { walked = .failure(e) }
            switch (quick, walked) {
            case let (.success(a), .success(b)): #expect(a == b, "\(name)")
            case let (.failure(a), .failure(b)): #expect(a.path == b.path && a.reason == b.reason, "\(name): \(a) vs \(b)")
            default: Issue.record("\(name): \(quick) vs \(walked)")
            }
        }
        // Missing components are left to the walk, which makes them.
        #expect(try RootOwnedPath.openExisting(d + "/ok/new") == nil)
        #expect((try? RootOwnedPath.open(d + "/ok/new/deeper", create: true)) != nil)
        #expect(fm.fileExists(atPath: d + "/ok/new/deeper"))
    }

    @Test func everyShippedPolicyRoundTripsAndKeepsItsExamples() throws {
        let files = try shippedPolicies()
        #expect(files.count >= 12)
        for path in files {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            let file = PolicyLoader.load(bytes: bytes, file: path, zones: TimeZones.resolve)
            try #require(file.isValid, "\(path) is invalid")
            let encoded = PolicyCodec.encode(file)
            let decoded = try PolicyCodec.decode(encoded[...], zones: TimeZones.resolve)
            // The encoding covers every field, so equal encodings are equal files.
            #expect(PolicyCodec.encode(decoded) == encoded, "\(path)")
            #expect(decoded.policy.rules.map(\.name) == file.policy.rules.map(\.name))
            #expect(decoded.policy.commands.count == file.policy.commands.count)
            #expect(decoded.examples.count == file.examples.count)
            #expect(Examples.check(decoded).isEmpty, "\(path): \(Examples.check(decoded))")
        }
    }

    @Test func everyConditionKindAndSettingRoundTrips() throws {
        let yaml = """
            version: "1"
            timezone: Europe/Berlin
            defaults: { risk_level: medium, approval: approve, sandbox: { profile: strict, network: false, deny: [ptrace, "@mount"], intercept: true } }
            audit: { path: /tmp/x.db, synchronous: full, redact: ["sk_live_[a-z0-9]+"] }
            prompt: { timeout: 30, remember: 5 }
            shell: /bin/bash
            approver: { url: "https://approver.example/ask", timeout: 9.5, secret_file: /etc/aegis/secret, allow_http: false }
            commands:
              - { program: "deploy*", subcommand: "prod", args: "*--now*", type: deploy.run, target: "env/{pos1}", options: [n, name], params: { tier: 3, on: true, ratio: 0.5, tags: [a, b], nested: { k: null } } }
            rules:
              - name: every-kind
                match: { type: "deploy.*", target: "env/*", agent: "bot-[0-9]", program: "dep?oy", args: "* --force *" }
                conditions:
                  time_after: "08:30"
                  time_before: "18:00"
                  weekdays: [1, 3, 5]
                  param_eq: { tier: 3 }
                  param_gt: { ratio: 0.25 }
                  param_contains: { tags: a }
                  param_matches: { args: "(?i)force\\\\s+now" }
                  flags_any: [f, force]
                  flags_all: [n]
                  arg_any: ["prod*", "live"]
                  path_outside: [/tmp]
                  path_inside: [/srv]
                  any: [ { flags_any: [x] }, { not: { param_eq: { ticket: none } } } ]
                risk_level: critical
                approval: block
                sandbox: { profile: /etc/aegis/profile.json }
            examples:
              - { command: "ls -l", approval: approve }
            """
        let file = PolicyLoader.load(bytes: Array(yaml.utf8), file: "/p/every.yaml", zones: TimeZones.resolve)
        let errors = file.errors
        try #require(errors.isEmpty, "\(errors)")
        let encoded = PolicyCodec.encode(file)
        let decoded = try PolicyCodec.decode(encoded[...], zones: TimeZones.resolve)
        #expect(PolicyCodec.encode(decoded) == encoded)
        #expect(decoded.timeZone.name == "Europe/Berlin")
        #expect(decoded.policy.rules[0].zone == file.policy.rules[0].zone)
        #expect(decoded.approver == file.approver)
        #expect(decoded.audit == file.audit)
        #expect(decoded.prompt == file.prompt)
        #expect(decoded.shell == "/bin/bash")
        #expect(decoded.policy.defaults == file.policy.defaults)
        #expect(decoded.policy.rules[0].sandbox == file.policy.rules[0].sandbox)
        #expect(decoded.policy.commands[0].params == file.policy.commands[0].params)
        #expect(decoded.policy.commands[0].valueOptions == ["n", "name"])
        if case .paramMatches(_, let p) = decoded.policy.rules[0].conditions.first(where: {
            if case .paramMatches = $0 { true } else { false }
        }) {
            #expect(p.search("FORCE   now"))
        } else {
            Issue.record("param_matches was lost")
        }
    }

    @Test func anyCutOrDamagedEncodingIsRefusedWithoutCrashing() throws {
        let bytes = Array(try Data(contentsOf: repo.appendingPathComponent("policies/default.yaml")))
        let encoded = PolicyCodec.encode(PolicyLoader.load(bytes: bytes, file: "default.yaml", zones: TimeZones.resolve))
        for cut in stride(from: 0, to: encoded.count, by: 7) {
            #expect(throws: PolicyCodec.DecodeError.self) { try PolicyCodec.decode(encoded[..<cut], zones: TimeZones.resolve) }
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            var damaged = encoded
            damaged[Int.random(in: 0..<damaged.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            _ = try? PolicyCodec.decode(damaged[...], zones: TimeZones.resolve)  // must not trap
        }
        #expect(throws: PolicyCodec.DecodeError.self) { try PolicyCodec.decode(encoded[...] + [0], zones: TimeZones.resolve) }
    }

    /// The gate's copies keep each rule's conditions and the rest encoded
    /// until its match holds; decoded, they are the very rules.
    @Test func deferredRulesDecodeToTheSameRules() throws {
        for path in try shippedPolicies() {
            let file = PolicyLoader.load(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path))), file: path, zones: TimeZones.resolve)
            let encoded = PolicyCodec.encode(file)
            var deferred = try PolicyCodec.decode(encoded[...], zones: TimeZones.resolve, deferRules: true)
            #expect(deferred.policy.rules.isEmpty)
            #expect(deferred.policy.ruleCount == file.policy.rules.count, "\(path)")
            deferred.policy = Policy(defaults: deferred.policy.defaults, rules: try deferred.policy.allRules(),
                                     commands: deferred.policy.commands, files: deferred.policy.files)
            #expect(PolicyCodec.encode(deferred) == encoded, "\(path)")
        }
    }

    /// A rule whose encoding is damaged past its match is found out when its
    /// match holds: the judgement fails, saying so (the gate then judges by
    /// the files), and never decides by a half-read rule or skips it.
    @Test func aDamagedDeferredRuleStopsTheJudgementThatReachesIt() throws {
        let yaml = """
            defaults: { risk_level: low, approval: auto }
            rules:
              - name: first
                match: { type: "net.*" }
                approval: block
              - name: deletes
                match: { type: file.delete }
                conditions: { flags_any: [r, R], path_outside: ["/tmp"] }
                risk_level: high
                approval: block
            """
        let file = PolicyLoader.load(bytes: Array(yaml.utf8), file: "p.yaml", zones: TimeZones.resolve)
        try #require(file.isValid)
        let encoded = PolicyCodec.encode(file)
        let delete = Action(type: "file.delete", target: "/home/me/x", params: JSONObject([("flags", .array([.string("r")])),
                            ("paths", .array([.string("/home/me/x")]))]))
        let read = Action(type: "file.read", target: "/etc/hosts")
        let at = Instant(unixSeconds: 1_765_000_000)
        let good = try PolicyCodec.decode(encoded[...], zones: TimeZones.resolve, deferRules: true)
        #expect(try Evaluator.evaluate(delete, policy: good.policy, at: at, traced: false).rule == "deletes")
        // Where the second rule's name is: past its match, inside what is kept encoded.
        let name = Array("deletes".utf8)
        let at0 = try #require((0..<(encoded.count - name.count)).first { Array(encoded[$0..<($0 + name.count)]) == name })
        var damaged = encoded
        damaged[at0 - 1] = 0x7F  // the name's length: a negative one, once zig-zag decoded
        let bad = try PolicyCodec.decode(damaged[...], zones: TimeZones.resolve, deferRules: true)
        for traced in [false, true] {
            #expect(throws: EvaluationError.self) { try Evaluator.evaluate(delete, policy: bad.policy, at: at, traced: traced) }
            do {
                _ = try Evaluator.evaluate(delete, policy: bad.policy, at: at, traced: traced)
            } catch {
                #expect(error.damagedCopy)
            }
        }
        // A command no damaged rule's match admits is judged as before.
        #expect(try Evaluator.evaluate(read, policy: bad.policy, at: at, traced: false).rule == Decision.defaultRuleName)
        #expect(throws: DeferredRules.Damaged.self) { try bad.policy.allRules() }
        // Random damage anywhere never traps, decoded or judged.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            var d = encoded
            d[Int.random(in: 0..<d.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            if let f = try? PolicyCodec.decode(d[...], zones: TimeZones.resolve, deferRules: true) {
                _ = try? Evaluator.evaluate(delete, policy: f.policy, at: at, traced: false)
                _ = try? f.policy.allRules()
            }
        }
    }

    /// A layer of several files keeps their rules in order, deferred or not.
    @Test func mergedLayersOfDeferredAndDecodedFilesKeepTheOrder() throws {
        func file(_ names: [String]) -> PolicyFile {
            let yaml = "rules:\n" + names.map { "  - name: \($0)\n    match: { type: \"t.\($0)\" }\n    approval: block\n" }.joined()
            return PolicyLoader.load(bytes: Array(yaml.utf8), file: "\(names[0]).yaml", zones: TimeZones.resolve)
        }
        let a = try PolicyCodec.decode(PolicyCodec.encode(file(["a1", "a2"]))[...], zones: TimeZones.resolve, deferRules: true)
        let b = file(["b1"])
        let empty = try PolicyCodec.decode(PolicyCodec.encode(PolicyLoader.load(bytes: Array("rules: []\n".utf8), file: "e.yaml",
                                                                                zones: TimeZones.resolve))[...],
                                           zones: TimeZones.resolve, deferRules: true)
        let c = try PolicyCodec.decode(PolicyCodec.encode(file(["c1", "c2"]))[...], zones: TimeZones.resolve, deferRules: true)
        let merged = Policy.merged([a.policy, b.policy, empty.policy, c.policy])
        #expect(merged.ruleCount == 5)
        #expect(try merged.allRules().map(\.name) == ["a1", "a2", "b1", "c1", "c2"])
        for name in ["a2", "b1", "c1", "c2"] {
            #expect(try Evaluator.evaluate(Action(type: "t." + name, target: "x"), policy: merged, at: Instant(unixSeconds: 0),
                                           traced: false).rule == name)
        }
    }

    /// Writes the strict policy and returns its path, bytes, status and an open descriptor.
    func strictFile(in d: String) -> (String, [UInt8], Glibc.stat, FileDescriptor) {
        let path = d + "/policy.yaml"
        _ = FileManager.default.createFile(atPath: path, contents: Data(Self.strict.utf8))
        let fd = try! FileDescriptor.open(path, O_RDONLY)
        return (path, Array(Self.strict.utf8), try! fd.stat(), fd)
    }

    @Test func aCopyIsUsedOnlyForTheExactBytesAndPathItWasMadeFrom() throws {
        let d = tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let cache = PolicyCache(directory: d + "/cache")
        let (path, bytes, st, fd) = strictFile(in: d)
        let file = PolicyLoader.load(bytes: bytes, file: path, zones: TimeZones.resolve)
        func lookup(_ p: String = path) -> PolicyFile? {
            cache.lookup(path: p, sourceStat: st, descriptor: fd.raw, zones: TimeZones.resolve)
        }
        #expect(lookup() == nil)
        cache.store(path: path, source: bytes, sourceStat: st, descriptor: fd.raw, file: file)
        #expect(try lookup()?.policy.allRules().first?.approval == .block)
        // The file rewritten in place (the same inode, read through the same
        // descriptor): one byte changed, one fewer, one more.
        func rewrite(_ content: [UInt8]) {
            let w = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
            precondition(w >= 0 && content.withUnsafeBytes { write(w, $0.baseAddress, $0.count) } == content.count)
            close(w)
        }
        var edited = bytes
        edited[edited.count - 1] = UInt8(ascii: "x")
        for content in [edited, Array(bytes.dropLast()), bytes + [UInt8(ascii: "\n")]] {
            rewrite(content)
            #expect(lookup() == nil, "\(content.count) bytes")
        }
        rewrite(bytes)
        #expect(lookup() != nil)
        #expect(lookup(d + "/./policy.yaml") == nil)
        // The directory and entry are private to the user.
        let dirMode = stat(d + "/cache").st_mode & 0o777
        #expect(dirMode == 0o700)
        let entries = try FileManager.default.contentsOfDirectory(atPath: d + "/cache")
        #expect(entries.count == 1)
        #expect(stat(d + "/cache/" + entries[0]).st_mode & 0o777 == 0o600)
    }

    @Test func anInvalidPolicyIsNeverStored() throws {
        let d = tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let cache = PolicyCache(directory: d + "/cache")
        let bytes = Array("rules:\n  - name: x\n    approval: sometimes\n".utf8)
        let file = PolicyLoader.load(bytes: bytes, file: d + "/bad.yaml", zones: TimeZones.resolve)
        #expect(!file.isValid)
        let dirFD = try FileDescriptor.open(d, O_RDONLY | O_DIRECTORY)
        cache.store(path: d + "/bad.yaml", source: bytes, sourceStat: try dirFD.stat(), descriptor: dirFD.raw, file: file)
        #expect(!FileManager.default.fileExists(atPath: d + "/cache"))
    }

    /// A copy says whatever its writer wants: a looser rule under the strict
    /// file's bytes. It must be ignored unless only the user (who could edit
    /// the file itself) could have written it.
    @Test func aCopyAnotherUserCouldWriteIsIgnored() throws {
        try #require(geteuid() == 0, "needs root to hand files to another user")
        let d = tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let cache = PolicyCache(directory: d + "/cache")
        let (path, bytes, st, fd) = strictFile(in: d)
        let looseFile = PolicyLoader.load(bytes: Array(Self.loose.utf8), file: path, zones: TimeZones.resolve)
        cache.store(path: path, source: bytes, sourceStat: st, descriptor: fd.raw, file: looseFile)
        // Written by the user itself, the forgery is believed: the user could edit the file anyway.
        #expect(try cache.lookup(path: path, sourceStat: st, descriptor: fd.raw, zones: TimeZones.resolve)?.policy.allRules()[0].approval == .auto)
        let entry = d + "/cache/" + (try FileManager.default.contentsOfDirectory(atPath: d + "/cache"))[0]

        chmod(entry, 0o666)
        #expect(cache.lookup(path: path, sourceStat: st, descriptor: fd.raw, zones: TimeZones.resolve) == nil)
        chmod(entry, 0o600)
        chown(entry, 65534, 65534)
        #expect(cache.lookup(path: path, sourceStat: st, descriptor: fd.raw, zones: TimeZones.resolve) == nil)
        chown(entry, 0, 0)
        chmod(d + "/cache", 0o777)
        #expect(cache.lookup(path: path, sourceStat: st, descriptor: fd.raw, zones: TimeZones.resolve) == nil)
        chmod(d + "/cache", 0o700)
        chown(d + "/cache", 65534, 65534)
        #expect(cache.lookup(path: path, sourceStat: st, descriptor: fd.raw, zones: TimeZones.resolve) == nil)
        chown(d + "/cache", 0, 0)
        let symlinked = d + "/cache/link"
        try FileManager.default.moveItem(atPath: entry, toPath: symlinked)
        symlink(symlinked, entry)
        #expect(cache.lookup(path: path, sourceStat: st, descriptor: fd.raw, zones: TimeZones.resolve) == nil)
    }

    /// As a user other than root, a policy file someone else owns (the system
    /// policy, a team policy under /etc) is parsed every time: the user's own
    /// cache could hold anything.
    @Test func onlyFilesTheUserOwnsAreCachedByOrdinaryUsers() {
        var st = Glibc.stat()
        st.st_uid = geteuid()
        #expect(PolicyCache.mayCache(st))
        st.st_uid = geteuid() == 0 ? 4242 : 0
        #expect(PolicyCache.mayCache(st) == (geteuid() == 0))
    }

    /// Other builds' copies of a file go once unused for a day; recent ones
    /// (another build in use) and other files' copies stay.
    @Test func staleCopiesFromOtherBuildsAreRemovedOnTheNextWrite() throws {
        let d = tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let cache = PolicyCache(directory: d + "/cache")
        let (path, bytes, st, fd) = strictFile(in: d)
        let file = PolicyLoader.load(bytes: bytes, file: path, zones: TimeZones.resolve)
        cache.store(path: path, source: bytes, sourceStat: st, descriptor: fd.raw, file: file)
        let slot = PolicyCache.slotName(path)
        let old = d + "/cache/" + slot + "-00000000000000aa", recent = d + "/cache/" + slot + "-00000000000000bb"
        let otherFile = d + "/cache/0000000000000001-00000000000000aa"
        for f in [old, recent, otherFile] { _ = FileManager.default.createFile(atPath: f, contents: Data("x".utf8)) }
        let twoDaysAgo = Date().addingTimeInterval(-2 * 86_400)
        for f in [old, otherFile] { try FileManager.default.setAttributes([.modificationDate: twoDaysAgo], ofItemAtPath: f) }
        cache.store(path: path, source: bytes, sourceStat: st, descriptor: fd.raw, file: file)
        #expect(!FileManager.default.fileExists(atPath: old))
        #expect(FileManager.default.fileExists(atPath: recent))
        #expect(FileManager.default.fileExists(atPath: otherFile))
        #expect(FileManager.default.fileExists(atPath: d + "/cache/" + PolicyCache.entryName(path)))
        #expect(cache.lookup(path: path, sourceStat: st, descriptor: fd.raw, zones: TimeZones.resolve) != nil)
    }

    @Test func damagedEntriesOnDiskAreIgnored() throws {
        let d = tempDir()
        defer { try? FileManager.default.removeItem(atPath: d) }
        let cache = PolicyCache(directory: d + "/cache")
        let (path, bytes, st, fd) = strictFile(in: d)
        cache.store(path: path, source: bytes, sourceStat: st, descriptor: fd.raw, file: PolicyLoader.load(bytes: bytes, file: path, zones: TimeZones.resolve))
        let entry = d + "/cache/" + (try FileManager.default.contentsOfDirectory(atPath: d + "/cache"))[0]
        let good = try Data(contentsOf: URL(fileURLWithPath: entry))
        for cut in [0, 4, 8, 30, 60, good.count / 2, good.count - 1] {
            try good.prefix(cut).write(to: URL(fileURLWithPath: entry))
            #expect(cache.lookup(path: path, sourceStat: st, descriptor: fd.raw, zones: TimeZones.resolve) == nil, "cut at \(cut)")
        }
        var otherBuild = good
        otherBuild[9] ^= 0xFF  // the binary's identity
        try otherBuild.write(to: URL(fileURLWithPath: entry))
        #expect(cache.lookup(path: path, sourceStat: st, descriptor: fd.raw, zones: TimeZones.resolve) == nil)
        try good.write(to: URL(fileURLWithPath: entry))
        #expect(cache.lookup(path: path, sourceStat: st, descriptor: fd.raw, zones: TimeZones.resolve) != nil)
    }
}
