import Foundation
import Testing

@Suite struct InstallTests {
    /// The committed completions are what the tool generates now.
    @Test(arguments: [("bash", "completions/aegis-exec.bash"), ("zsh", "completions/_aegis-exec"), ("fish", "completions/aegis-exec.fish")])
    func completionsAreCurrent(_ shell: String, _ file: String) throws {
        let generated = spawn([binary, "--generate-completion-script", shell].map { Array($0.utf8) }, env: ["PATH": "/usr/bin:/bin"], cwd: "/")
        let committed = try String(contentsOf: repoRoot.appendingPathComponent(file), encoding: .utf8)
        #expect(generated.stdout == committed, "regenerate with: aegis-exec --generate-completion-script \(shell) > \(file)")
        #expect(committed.contains("coding-agent"))  // --template completes the template names
    }

    /// The gate's own options complete at the top level too: `aegis-exec
    /// --policy <TAB>` offers policy files, as `explain --policy` does.
    @Test func bashCompletesTheGatesOwnOptions() {
        let s = Sandbox()
        _ = s.write("team.yaml", "rules: []\n")
        _ = s.write("notes.txt", "")
        let script = """
            source "$0"
            complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="${COMP_WORDS[*]}"
              COMP_POINT=${#COMP_LINE}; COMPREPLY=(); _aegis-exec aegis-exec "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"
              printf '%s\\n' "${COMPREPLY[@]}"; echo --; }
            complete_words aegis-exec --policy ''
            complete_words aegis-exec --pol
            complete_words aegis-exec explain --policy ''
            """
        let r = spawn(["bash", "-c", script, repoRoot.path + "/completions/aegis-exec.bash"].map { Array($0.utf8) },
                      env: s.environment, cwd: s.dir)
        let parts = r.stdout.components(separatedBy: "--\n")
        #expect(parts.count == 4, "\(r.stdout) \(r.stderr)")
        #expect(parts[0].contains("team.yaml") && !parts[0].contains("notes.txt"), "\(parts)")
        #expect(parts.count > 1 && parts[1].contains("--policy"))
        #expect(parts.count > 2 && parts[2].contains("team.yaml"))
    }

    /// A gate whose subcommand binary is missing still gates commands, and
    /// says in one line what is wrong when asked for a subcommand.
    @Test func aMissingToolIsOneClearLineAndGatingStillWorks() throws {
        let s = Sandbox()
        let lone = s.dir + "/bin/aegis-exec"
        try FileManager.default.createDirectory(atPath: s.dir + "/bin", withIntermediateDirectories: true)
        try #require(spawn(["cp", binary, lone].map { Array($0.utf8) }, env: s.environment, cwd: s.dir).status == 0)
        let v = spawn([lone, "--version"].map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
        #expect(v.status == 125)
        #expect(v.stderr.hasPrefix("aegis-exec: cannot run its subcommands: ") && v.stderr.contains("aegis-exec-tool"), "\(v.stderr)")
        #expect(v.stderr.split(separator: "\n").count == 1)
        let gated = spawn([lone, "--policy", s.policy(noDeletingPolicy), "--", "echo", "ok"].map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
        #expect(gated.status == 0 && gated.stdout == "ok\n", "\(gated.stderr)")
    }

    @Test func installHonoursPrefixAndDestdir() throws {
        let s = Sandbox()
        let dest = s.dir + "/pkg"
        let r = spawn([repoRoot.path + "/scripts/install"].map { Array($0.utf8) },
                      env: s.environment.merging(["BIN": binary, "PREFIX": "/opt/aegis", "DESTDIR": dest]) { $1 }, cwd: s.dir)
        #expect(r.status == 0, "\(r.stderr)")
        let root = dest + "/opt/aegis"
        for (path, mode) in [("bin/aegis-exec", 0o755), ("libexec/aegis-exec/aegis-exec-tool", 0o755), ("share/man/man1/aegis-exec.1", 0o644), ("share/man/man5/aegis-policy.5", 0o644),
                             ("share/bash-completion/completions/aegis-exec", 0o644), ("share/zsh/site-functions/_aegis-exec", 0o644),
                             ("share/fish/vendor_completions.d/aegis-exec.fish", 0o644)] {
            let attrs = try FileManager.default.attributesOfItem(atPath: root + "/" + path)
            #expect(attrs[.posixPermissions] as? Int == mode, "\(path)")
        }
        // The installed binary works, and man finds the pages under the prefix.
        #expect(s.run(["--version"].map { Array($0.utf8) }).status == 0)
        let v = spawn([root + "/bin/aegis-exec", "--version"].map { Array($0.utf8) }, env: s.environment, cwd: s.dir)
        #expect(v.stdout == "0.1.0\n")
        // Subcommands run the installed tool, found from the installed gate.
        let validate = spawn([root + "/bin/aegis-exec", "validate", repoRoot.path + "/policies/default.yaml"].map { Array($0.utf8) },
                             env: s.environment, cwd: s.dir)
        #expect(validate.status == 0, "\(validate.stderr)")
        let man = spawn(["man", "-l", root + "/share/man/man5/aegis-policy.5"].map { Array($0.utf8) },
                        env: s.environment.merging(["MANPAGER": "cat", "MANWIDTH": "80"]) { $1 }, cwd: s.dir)
        #expect(man.stdout.contains("policy files of aegis-exec"))
    }
}
