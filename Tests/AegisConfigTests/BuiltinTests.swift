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
            #expect(f.diagnostics.isEmpty, "\(name) has warnings: \(f.diagnostics)")
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
