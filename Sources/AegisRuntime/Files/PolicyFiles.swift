#if canImport(Glibc)
import Glibc
#endif
import AegisConfig
import AegisPolicy

/// Finds, reads and layers policy files.
///
/// MUST: the system policy, when present, always applies.
/// MUST: the system policy is opened without following symlinks, and is
///       trusted only if it and its directory are owned by root and writable
///       by no one else (checked with fstat on the opened descriptors).
/// MUST: nothing the caller controls (flags, environment, files) removes a
///       layer; each layer it names is judged too, and the strictest decision stands.
public struct PolicySources: Sendable {
    public static let systemPolicyPath = "/etc/aegis/policy.yaml"

    public var systemPath: String
    public var explicit: [String]
    public var environment: Environment
    /// Compiled copies of the files, where the gate may use them (nil: parse every file).
    public var cache: PolicyCache?
    /// Parse every file and replace its copy (after a copy turned out damaged).
    public var refreshCache = false

    public init(explicit: [String], environment: Environment, systemPath: String = PolicySources.systemPolicyPath,
                cache: PolicyCache? = nil) {
        self.systemPath = systemPath
        self.explicit = explicit
        self.environment = environment
        self.cache = cache
    }

    /// `$XDG_CONFIG_HOME/aegis/policy.yaml`, by default `~/.config/aegis/policy.yaml`.
    public var userPath: String? {
        if let x = environment["XDG_CONFIG_HOME"], x.hasPrefix("/") { return x + "/aegis/policy.yaml" }
        guard let home = homeDirectory(environment) else { return nil }
        return home + "/.config/aegis/policy.yaml"
    }

    /// Paths in `AEGIS_POLICY`, separated by ':'.
    public var environmentPaths: [String] {
        (environment["AEGIS_POLICY"] ?? "").split(separator: ":").map(String.init)
    }
}

func homeDirectory(_ env: Environment) -> String? {
    if let h = env["HOME"], h.hasPrefix("/") { return h }
    return nil
}

/// An approver endpoint and the layer whose file names it. (A struct: an
/// optional tuple's metadata is built at run time on first use.)
public struct ApproverInLayer: Sendable {
    public var settings: ApproverSettings
    public var layer: String

    public init(settings: ApproverSettings, layer: String) {
        self.settings = settings
        self.layer = layer
    }
}

public struct LoadedPolicy: Sendable {
    public var layered: LayeredPolicy
    public var files: [PolicyFile]
    /// The audit settings that apply: the system policy's if it has any, else
    /// the first file (in layer order) that sets them.
    public var audit: AuditSettings?

    /// The approver endpoint and the layer whose file names it: the most
    /// trusted layer that sets one. It may answer only for approvals that
    /// layer or a less trusted one asks for (see `approverMayAnswer`).
    public var approver: ApproverInLayer?
    /// The prompt's timeout from the most trusted file that sets one; the
    /// shortest `remember` any file sets, since a longer one only loosens.
    public var prompt: PromptSettings

    /// The shell for `-c` strings: the most trusted file that names one.
    public var shell: String? { files.first { $0.shell != nil }?.shell }

    /// Layer names, most trusted first.
    public static let layerOrder = ["system", "user", "environment", "command line"]

    /// Whether the approver may decide for these layers' `approve`: a layer
    /// the caller can choose (its environment, its flags) must not pick who
    /// approves for a layer above it.
    public func approverMayAnswer(for askingLayers: [String]) -> Bool {
        guard let approver, let a = Self.layerOrder.firstIndex(of: approver.layer) else { return false }
        return askingLayers.allSatisfy { (Self.layerOrder.firstIndex(of: $0) ?? 0) >= a }
    }

    /// Redaction patterns of every file: more redaction is always allowed.
    public var redactor: Redactor { Redactor(patterns: files.flatMap { $0.audit?.redact ?? [] }) }
}

public enum PolicyError: Error, Sendable {
    case noPolicy(searched: [String])
    case unreadable(path: String, reason: String)
    case untrusted(path: String, reason: String)
    case invalid([Diagnostic])
    case evaluation(EvaluationError)
}

public enum PolicyFiles {
    public static let maxBytes = 4 << 20

    /// Reads every layer. Layers, most trusted first: system, user
    /// (`~/.config/aegis/policy.yaml`), `AEGIS_POLICY`, `--policy` files.
    public static func load(_ sources: PolicySources) throws(PolicyError) -> LoadedPolicy {
        var layers: [LayeredPolicy.Layer] = []
        var files: [PolicyFile] = []
        var errors: [Diagnostic] = []
        var approver: ApproverInLayer?
        var prompt: PromptSettings?
        var remember: Int?

        func addLayer(_ name: String, _ layerFiles: [PolicyFile]) {
            guard !layerFiles.isEmpty else { return }
            for f in layerFiles {
                if approver == nil, let a = f.approver { approver = ApproverInLayer(settings: a, layer: name) }
                if let p = f.prompt {
                    if prompt == nil { prompt = p }
                    remember = min(remember ?? p.rememberMinutes, p.rememberMinutes)
                }
            }
            files += layerFiles
            errors += layerFiles.flatMap(\.errors)
            layers.append(.init(name: name, policy: Policy.merged(layerFiles.map(\.policy))))
        }

        let cache = sources.cache, refresh = sources.refreshCache
        if let system = try readSystemPolicy(sources.systemPath, cache: cache, refresh: refresh) { addLayer("system", [system]) }
        if let user = sources.userPath, let f = try readIfPresent(user, cache: cache, refresh: refresh) { addLayer("user", [f]) }
        addLayer("environment", try sources.environmentPaths.map { path throws(PolicyError) in try read(path, cache: cache, refresh: refresh) })
        addLayer("command line", try sources.explicit.map { path throws(PolicyError) in try read(path, cache: cache, refresh: refresh) })

        guard !layers.isEmpty else {
            throw .noPolicy(searched: [sources.systemPath, sources.userPath ?? "~/.config/aegis/policy.yaml"])
        }
        guard errors.isEmpty else { throw .invalid(errors) }
        // (A pattern, not `!= nil`, which for an Equatable type compares two
        // optionals and has the runtime build a tuple's metadata on first use.)
        let auditFile = files.first(where: { if case .some = $0.audit { true } else { false } })
        var promptSettings = prompt ?? PromptSettings()
        if let remember { promptSettings.rememberMinutes = remember }
        return LoadedPolicy(layered: LayeredPolicy(layers: layers), files: files, audit: auditFile?.audit,
                            approver: approver, prompt: promptSettings)
    }

    /// Reads one policy file (a caller's): any regular file the user can read.
    public static func read(_ path: String, cache: PolicyCache? = nil, refresh: Bool = false) throws(PolicyError) -> PolicyFile {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK)
        } catch {
            throw .unreadable(path: path, reason: error.reason)
        }
        return try parse(fd, path: path, cache: cache, refresh: refresh)
    }

    static func readIfPresent(_ path: String, cache: PolicyCache?, refresh: Bool = false) throws(PolicyError) -> PolicyFile? {
        let fd: FileDescriptor
        do {
            guard let opened = try FileDescriptor.openIfPresent(path, O_RDONLY | O_NOCTTY | O_NONBLOCK, notDirectoryIsMissing: true)
            else { return nil }
            fd = opened
        } catch {
            throw .unreadable(path: path, reason: error.reason)
        }
        return try parse(fd, path: path, cache: cache, refresh: refresh)
    }

    /// The system policy, if present, after the ownership and mode checks.
    public static func readSystemPolicy(_ path: String, cache: PolicyCache? = nil, refresh: Bool = false) throws(PolicyError) -> PolicyFile? {
        let slash = path.lastIndex(of: "/") ?? path.startIndex
        let dirPath = path[..<slash].isEmpty ? "/" : String(path[..<slash])
        let name = String(path[path.index(after: slash)...])
        let dir: FileDescriptor
        do {
            guard let opened = try FileDescriptor.openIfPresent(dirPath, O_RDONLY | O_DIRECTORY) else { return nil }
            dir = opened
        } catch {
            throw .unreadable(path: dirPath, reason: error.reason)
        }
        let fd: FileDescriptor
        do {
            guard let opened = try FileDescriptor.openIfPresent(name, O_RDONLY | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK, relativeTo: dir.raw)
            else { return nil }
            fd = opened
        } catch where error.errno == ELOOP {
            throw .untrusted(path: path, reason: "it is a symbolic link; the system policy must be a regular file")
        } catch {
            throw .unreadable(path: path, reason: error.reason)
        }
        let dirStat: stat, fileStat: stat
        do {
            dirStat = try dir.stat()
            fileStat = try fd.stat()
        } catch {
            throw .unreadable(path: path, reason: error.reason)
        }
        if let problem = trustProblem(dirStat, what: "its directory \(dirPath)") ?? trustProblem(fileStat, what: "it") {
            throw .untrusted(path: path, reason: problem)
        }
        return try parse(fd, path: path, cache: cache, refresh: refresh)
    }

    /// Why a file or directory with this status cannot be trusted as the
    /// system policy, or nil.
    public static func trustProblem(_ st: stat, what: String) -> String? {
        if st.st_uid != 0 { return "\(what) is owned by uid \(st.st_uid), not root (chown root)" }
        if st.st_mode & 0o022 != 0 { return "\(what) is writable by group or others (chmod go-w)" }
        return nil
    }

    static func parse(_ fd: FileDescriptor, path: String, cache: PolicyCache?, refresh: Bool = false) throws(PolicyError) -> PolicyFile {
        do {
            let st = try fd.stat()
            // Opened non-blocking so a FIFO cannot stall the gate; only regular files are read.
            if st.st_mode & S_IFMT == S_IFDIR { throw PolicyError.unreadable(path: path, reason: "it is a directory") }
            if st.st_mode & S_IFMT != S_IFREG { throw PolicyError.unreadable(path: path, reason: "it is not a regular file") }
            if Int(st.st_size) > maxBytes {
                let d = Diagnostic(file: path, line: 1, column: 1,
                                   message: "file is \(Int(st.st_size) >> 20) MiB; the limit for a policy is \(maxBytes >> 20) MiB")
                throw PolicyError.invalid([d])
            }
            // The copy is compared with the file a chunk at a time; the file
            // is read whole only to be parsed.
            if let cache, !refresh, let file = cache.lookup(path: path, sourceStat: st, descriptor: fd.raw, zones: TimeZones.resolve) {
                return file
            }
            let bytes = try fd.readAll(limit: maxBytes)
            let file = PolicyLoader.load(bytes: bytes, file: path, zones: TimeZones.resolve)
            cache?.store(path: path, source: bytes, sourceStat: st, descriptor: fd.raw, file: file)
            return file
        } catch let e as SystemError {
            throw .unreadable(path: path, reason: e.reason)
        } catch let e as PolicyError {
            throw e
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
    }
}

/// Time zones from the system's tz database (/usr/share/zoneinfo).
public enum TimeZones {
    public static func resolve(_ name: String) -> TimeZoneTable? {
        if name == "UTC" || name == "Z" || name == "Etc/UTC" { return .utc }
        // Fixed offsets: +02:00, -0530.
        if let sign = name.first, sign == "+" || sign == "-" {
            let digits = name.dropFirst().filter { $0 != ":" }
            guard digits.count == 4, let v = Int32(digits), v % 100 < 60, v / 100 < 24 else { return nil }
            let secs = (v / 100 * 3600 + v % 100 * 60) * (sign == "-" ? -1 : 1)
            return TimeZoneTable(name: name, fixedOffset: secs)
        }
        // IANA names only: no absolute paths, no climbing out of the database.
        guard !name.hasPrefix("/"), !name.split(separator: "/").contains(".."),
              name.allSatisfy({ $0.isLetter || $0.isNumber || "/_-+".contains($0) }) else { return nil }
        guard let fd = try? FileDescriptor.open("/usr/share/zoneinfo/" + name, O_RDONLY),
              let bytes = try? fd.readAll(limit: 1 << 20) else { return nil }
        return TimeZoneTable.parseTZif(name: name, bytes: bytes)
    }
}
