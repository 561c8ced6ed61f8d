import Foundation
import Testing
@testable import AegisConfig
@testable import AegisPolicy

@Suite struct BuiltinTests {
    @Test func builtInMappingIsValidAndNonTrivial() throws {
        let entries = try Builtin.commandMapping()
        #expect(entries.count >= 100)
    }

    @Test func everyShippedPolicyIsValid() throws {
        let dir = repoRoot.appendingPathComponent("policies")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 2)
        for name in files {
            let bytes = Array(try Data(contentsOf: dir.appendingPathComponent(name)))
            let f = PolicyLoader.load(bytes: bytes, file: name, zones: FixtureTests.zones)
            #expect(f.isValid, "\(name): \(f.errors)")
            #expect(f.diagnostics.isEmpty && f.shadowingWarnings.isEmpty, "\(name) has warnings: \(f.diagnostics + f.shadowingWarnings)")
        }
    }

    @Test func everyTemplateIsAShippedFile() throws {
        for t in Builtin.templates {
            let onDisk = try String(contentsOf: repoRoot.appendingPathComponent("policies/\(t.name).yaml"), encoding: .utf8)
            #expect(onDisk == t.text, "\(t.name)")
        }
    }

    /// Commands agents run most map to the types the templates' rules name.
    @Test(arguments: [
        ("rm -rf build", "file.delete"), ("ls -la", "file.read"), ("cat /etc/hosts", "file.read"),
        ("git push origin main", "git.push"), ("git status", "git.read"), ("git -C repo push", "git.push"),
        ("kubectl delete pod x", "k8s.delete"), ("kubectl get pods", "k8s.read"),
        ("terraform destroy", "infra.destroy"), ("terraform plan", "infra.plan"),
        ("curl https://example.com", "net.fetch"), ("apt-get install -y jq", "package.install"),
        ("pip install requests", "package.install"), ("npm publish", "package.publish"),
        ("docker run alpine", "container.run"), ("psql -c select", "db.query"),
        ("systemctl stop nginx", "service.control"), ("ssh host uptime", "net.remote"),
        ("chmod 777 x", "file.permissions"), ("dd if=/dev/zero of=/dev/sda", "disk.write"),
        ("mkfs.ext4 /dev/sdb1", "disk.format"), ("shred -u secret", "file.delete"),
        ("truncate -s 0 log", "file.truncate"), ("mv a b", "file.write"), ("cargo build", "build.run"),
    ])
    func builtInMappingCoversCommonCommands(_ line: String, _ type: String) throws {
        let argv = line.split(separator: " ").map { Array($0.utf8) }
        let cmd = CommandMapping.Command(argv: argv, cwd: "/work", resolvedPath: "/usr/bin/" + line.prefix(while: { $0 != " " }))
        #expect(CommandMapping.action(for: cmd, entries: try Builtin.commandMapping()).action.type == type)
    }
}

/// The gate parses only the built-in entries that could match its command;
/// that must give exactly what the whole file gives.
@Suite struct BuiltinSelectionTests {
    @Test func everyEntryIsOneLineThatTheSelectionSees() throws {
        let all = try Builtin.commandMapping()
        var lines = 0
        var unreadable: [String] = []
        Builtin.forEachEntryLine { line, token in
            lines += 1
            if Builtin.programToken(token) == nil { unreadable.append(String(decoding: line, as: UTF8.self)) }
        }
        #expect(lines == all.count)
        #expect(unreadable.isEmpty)
    }

    @Test(arguments: [
        ("rm", "/usr/bin/rm"), ("git", "/usr/bin/git"), ("zap", "/usr/bin/rm"), ("python3", "/usr/bin/python3.11"),
        ("mkfs.ext4", "/usr/sbin/mkfs.ext4"), ("kubectl", nil), ("ls", "/usr/bin/ls"), ("nosuch", nil), ("sh", "/usr/bin/dash"),
    ] as [(String, String?)])
    func selectionAgreesWithTheWholeFile(_ program: String, _ path: String?) throws {
        let all = try Builtin.commandMapping().filter { CommandMapping.programMatches($0.program, program: program, path: path) }
        let selected = try Builtin.commandMapping(program: program, path: path)
            .filter { CommandMapping.programMatches($0.program, program: program, path: path) }
        #expect(selected.map(\.type) == all.map(\.type))
        #expect(selected.map(\.program.pattern) == all.map(\.program.pattern))
        #expect(selected.map { $0.subcommand?.pattern } == all.map { $0.subcommand?.pattern })
    }

    /// The compiled mapping the gate reads is what the loader makes of
    /// policies/commands.yaml now, entry for entry.
    @Test func theCompiledMappingIsCurrent() throws {
        let compiled = try Builtin.compileMapping(PackageResources.commands_yaml)
        #expect(compiled == PackageResources.commands_map, """
            the compiled built-in mapping is stale; regenerate it with: swift build -c release --product aegis-bench \
            && .build/release/aegis-bench --compile-mapping Sources/AegisConfig/Compiled/commands.map
            """)
        #expect(Builtin.compiledMappingIsWellFormed)
    }

    /// A cut or foreign blob is never taken for a whole mapping.
    @Test func aDamagedCompiledMappingIsNoticed() {
        let good = PackageResources.commands_map
        #expect(Builtin.walkCompiled(good) { _, _ in })
        for cut in stride(from: 0, to: good.count, by: 997) where cut > 0 {
            #expect(!Builtin.walkCompiled(Array(good[..<cut])) { _, _ in }, "cut at \(cut)")
        }
        #expect(!Builtin.walkCompiled(Array("AEGISBM0".utf8) + good.dropFirst(8)) { _, _ in })
        #expect(!Builtin.walkCompiled([]) { _, _ in })
        // Made from another commands.yaml (one of another length): refused.
        #expect(!Builtin.walkCompiled(good, yamlLength: PackageResources.commands_yaml.count + 1) { _, _ in })
    }

    /// The index of plain words selects, entry for entry and in order, what
    /// walking every record with the parser's rules selects.
    @Test func theIndexSelectsWhatTheWalkSelects() throws {
        var programs: Set<String> = ["nosuch", "Git", "python3.11", "sudo-rs", "x y", "", "mkfs.ext4", "ip6tables", "gpg2", "[", "]",
                                     "gawk", "awk", "python", "7z", "7za", "x7z", "lctl", "hctl", "systemctl", "ip6tables-save", "zip"]
        Builtin.forEachEntryLine { _, token in
            if let t = Builtin.programToken(token) { programs.insert(t.replacingOccurrences(of: "*", with: "x")) }
        }
        for program in programs.sorted() {
            for path in [nil, "/usr/bin/" + program, "/usr/bin/rm", "/usr/bin/python3.11"] as [String?] {
                let indexed = try Builtin.commandMapping(program: program, path: path)
                let walked = try Builtin.walkedMapping(program: program, resolvedName: path.map(CommandMapping.baseName), path: path)
                #expect(indexed.map(\.location?.line) == walked.map(\.location?.line), "\(program) \(path ?? "-")")
            }
        }
    }

    /// A cut or altered blob makes the selection refuse or, where the cut
    /// spares everything it reads, give the same entries: never other ones.
    @Test func aCutBlobNeverSelectsOtherEntriesAndAnyDamageIsCaught() throws {
        let good = PackageResources.commands_map
        for program in ["git", "rm", "python3", "true"] {
            let expected = try Builtin.commandMapping(program: program, path: "/usr/bin/" + program).map(\.location?.line)
            for cut in stride(from: 0, to: good.count, by: 1499) {
                if let got = try? Builtin.select(program: program, path: "/usr/bin/" + program, from: Array(good[..<cut])) {
                    #expect(got.map(\.location?.line) == expected, "\(program), cut at \(cut)")
                }
            }
        }
        // Any change to the header, the index or the offsets is caught by the
        // check the test suite runs on the embedded blob.
        let map = try #require(Builtin.CompiledMapping(good))
        let tablesEnd = try #require(map.offsetsStart) + 4 * map.entryCount
        for at in stride(from: 0, to: tablesEnd - 1, by: 7) {
            var bad = good
            bad[at] ^= 0xFF
            bad[at + 1] ^= 0x80
            #expect(!Builtin.walkCompiled(bad) { _, _ in }, "damage at \(at)")
        }
    }

    /// The prefix and suffix test only ever skips globs that cannot match.
    @Test(arguments: [
        ("\"python*\"", "python3", true), ("\"python*\"", "pytho", false), ("\"*awk\"", "gawk", true), ("\"*awk\"", "awkx", false),
        ("\"[[]\"", "[", true), ("\"[hlt]*ctl\"", "lxctl", true), ("\"[hlt]*ctl\"", "lxct", false), ("\"a*a\"", "a", false),
        ("\"a*a\"", "aa", true), ("\"[]]x\"", "]x", true), ("\"*zip*\"", "gunzip", true), ("\"*zip*\"", "zi", false),
    ] as [(String, String, Bool)])
    func theGlobPrefilterIsSound(_ token: String, _ name: String, _ matches: Bool) throws {
        let glob = try Glob(try #require(Builtin.programToken(ArraySlice(token.utf8))))
        #expect(glob.matches(name) == matches)
        // A skipped glob is one that does not match; and the skip does happen for these non-matches.
        if matches { #expect(!Builtin.cannotMatchASCII(ArraySlice(token.utf8), Array(name.utf8), nil)) }
        if !matches && !token.contains("*zip*") {  // no literal prefix or suffix: the parser decides
            #expect(Builtin.cannotMatchASCII(ArraySlice(token.utf8), Array(name.utf8), nil))
        }
    }

    /// Entries carry the line they are written on in commands.yaml.
    @Test func compiledEntriesPointAtTheirLines() throws {
        let text = String(decoding: PackageResources.commands_yaml, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for program in ["rm", "git", "true", "kubectl"] {
            for e in try Builtin.commandMapping(program: program, path: nil) {
                let line = try #require(e.location?.line)
                #expect(lines[line - 1].contains("program: \(e.program.pattern)") || lines[line - 1].contains("program: \"\(e.program.pattern)\""),
                        "\(program): line \(line)")
            }
        }
        #expect(try Builtin.commandMapping(program: "git", path: "/usr/bin/git").count >= 90)
    }

    /// Every program the file names, plus names it does not, agrees: the
    /// byte-level comparison of plain words must select what the parser would.
    @Test func selectionAgreesForEveryProgramTheFileNames() throws {
        let all = try Builtin.commandMapping()
        var programs: Set<String> = ["nosuch", "ré", "rm\u{301}", "Git", "python3.11", "sudo-rs", "x y"]
        Builtin.forEachEntryLine { _, token in
            if let t = Builtin.programToken(token) { programs.insert(t.replacingOccurrences(of: "*", with: "x")) }
        }
        for program in programs.sorted() {
            for path in [nil, "/usr/bin/" + program, "/usr/bin/rm"] as [String?] {
                let expected = all.filter { CommandMapping.programMatches($0.program, program: program, path: path) }
                let got = try Builtin.commandMapping(program: program, path: path)
                    .filter { CommandMapping.programMatches($0.program, program: program, path: path) }
                #expect(got.map(\.type) == expected.map(\.type), "\(program) \(path ?? "-")")
                #expect(got.map(\.program.pattern) == expected.map(\.program.pattern))
            }
        }
    }
}

@Suite struct TemplateListTests {
    /// Every policy under policies/ except the mapping is a template `init` can write.
    @Test func everyShippedTemplateIsOffered() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: repoRoot.appendingPathComponent("policies").path)
            .filter { $0.hasSuffix(".yaml") && $0 != "commands.yaml" }.map { String($0.dropLast(5)) }
        #expect(Set(files) == Set(Builtin.templates.map(\.name)))
    }
}
