import Testing
@testable import AegisPolicy

@Suite struct CommandMappingTests {
    func words(_ s: String) -> ArraySlice<String> { s.split(separator: " ").map(String.init)[...] }

    @Test func clustersSetEveryFlag() {
        let p = CommandMapping.parseArguments(words("-rf /tmp/x"), valueOptions: [])
        #expect(p.flags == ["r", "f"])
        #expect(p.positional == ["/tmp/x"])
    }

    @Test func longFlagsWithAndWithoutValues() {
        let p = CommandMapping.parseArguments(words("push --force --force-with-lease=origin/main origin main"), valueOptions: [])
        #expect(p.flags == ["force", "force-with-lease"])
        #expect(p.options["force-with-lease"] == .string("origin/main"))
        #expect(p.positional == ["push", "origin", "main"])
    }

    @Test func declaredValueOptionsConsumeTheirValue() {
        let p = CommandMapping.parseArguments(words("--context prod -n kube-system delete pod x -ojson"),
                                              valueOptions: ["context", "n", "o"])
        #expect(p.options["context"] == .string("prod"))
        #expect(p.options["n"] == .string("kube-system"))
        #expect(p.options["o"] == .string("json"))
        #expect(p.positional == ["delete", "pod", "x"])
    }

    @Test func doubleDashEndsOptionsAndDashIsPositional() {
        let p = CommandMapping.parseArguments(words("-f -- -rf - x"), valueOptions: [])
        #expect(p.flags == ["f"])
        #expect(p.positional == ["-rf", "-", "x"])
    }

    @Test func negativeNumbersArePositional() {
        let p = CommandMapping.parseArguments(words("-n -5 -3.5"), valueOptions: [])
        #expect(p.flags == ["n"])
        #expect(p.positional == ["-5", "-3.5"])
    }

    @Test func pathsAreNormalisedAgainstTheWorkingDirectory() {
        #expect(normalizePath("../x/./y", cwd: "/home/u/repo") == "/home/u/x/y")
        #expect(normalizePath("/a/../../b", cwd: "/") == "/b")
        #expect(normalizePath(".", cwd: "/tmp") == "/tmp")
        #expect(normalizePath("a//b/", cwd: "/") == "/a/b")
        #expect(normalizePath("", cwd: "/") == "/")
        #expect(normalizePath("..", cwd: "/") == "/")
        #expect(normalizePath("x", cwd: "/srv/") == "/srv/x")
        #expect(normalizePath("é/../ü", cwd: "/") == "/ü")
    }

    /// A "/" that a combining mark follows still separates, as it does for the
    /// kernel: the ".." before it climbs, so the path is not taken for one
    /// under /a/b.
    @Test func everySlashByteSeparatesAsForTheKernel() {
        #expect(normalizePath("/a/b/../\u{301}c", cwd: "/") == "/a/\u{301}c")
        #expect(normalizePath("..\u{301}", cwd: "/a") == "/a/..\u{301}")
    }

    /// The program's name is what follows the last "/" byte, as for the
    /// kernel, even when a combining mark follows that "/".
    @Test func programNamesAreSplitOnSlashBytes() {
        for (path, name) in [("/usr/bin/rm", "rm"), ("rm", "rm"), ("/usr/bin/", "bin"), ("/", "/"), ("///", "/"), ("", ""),
                             ("a//", "a"), ("/opt/bin/\u{301}rm", "\u{301}rm"), ("/opt/\u{301}/x", "x"),
                             ("/opt/\u{301}//", "\u{301}")] {
            #expect(CommandMapping.baseName(path) == name, "\(path)")
        }
        #expect(command("/opt/bin/\u{301}rm -rf x").programName == "\u{301}rm")
    }

    func command(_ s: String, path: String? = nil) -> CommandMapping.Command {
        CommandMapping.Command(argv: s.split(separator: " ").map { Array($0.utf8) }, cwd: "/work", resolvedPath: path)
    }

    @Test func firstMatchingEntryGivesTypeTargetAndParams() throws {
        let entries = [
            CommandMapping.Entry(program: try Glob("git"), subcommand: try Glob("push"), type: "git.push",
                                 target: try Template("{pos2} {pos3}"), valueOptions: ["C"],
                                 params: JSONObject([("remote_write", .bool(true))])),
            CommandMapping.Entry(program: try Glob("git"), type: "git.other"),
        ]
        let (a, e) = CommandMapping.action(for: command("git -C repo push origin main", path: "/usr/bin/git"), entries: entries)
        #expect(e != nil)
        #expect(a.type == "git.push")
        #expect(a.target == "origin main")
        #expect(a.params["remote_write"] == .bool(true))
        #expect(a.params["options"] == .object(JSONObject([("C", .string("repo"))])))
        let (b, _) = CommandMapping.action(for: command("git status", path: "/usr/bin/git"), entries: entries)
        #expect(b.type == "git.other")
        #expect(b.target == "/usr/bin/git")
    }

    @Test func programMatchesArgvNameOrResolvedName() throws {
        let rm = [CommandMapping.Entry(program: try Glob("rm"), type: "file.delete")]
        // A symlink with another name still resolves to rm.
        #expect(CommandMapping.action(for: command("zap -rf /", path: "/usr/bin/rm"), entries: rm).action.type == "file.delete")
        #expect(CommandMapping.action(for: command("/usr/bin/rm x", path: "/usr/bin/rm"), entries: rm).action.type == "file.delete")
        let byPath = [CommandMapping.Entry(program: try Glob("/usr/bin/*"), type: "system")]
        #expect(CommandMapping.action(for: command("ls", path: "/usr/bin/ls"), entries: byPath).action.type == "system")
        #expect(CommandMapping.action(for: command("./ls", path: "/home/u/ls"), entries: byPath).action.type == "exec")
    }

    @Test func unmappedCommandsGetTheFallbackAction() {
        let (a, e) = CommandMapping.action(for: command("frobnicate --x", path: "/opt/bin/frobnicate"), entries: [])
        #expect(e == nil)
        #expect(a.type == "exec")
        #expect(a.target == "/opt/bin/frobnicate")
        let (nf, _) = CommandMapping.action(for: command("nosuch"), entries: [])
        #expect(nf.target == "nosuch")
        #expect(nf.params["path"] == .null)
    }

    @Test func commandParamsAreComplete() {
        let (a, _) = CommandMapping.action(for: command("rm -rf ../x", path: "/usr/bin/rm"), entries: [],
                                           callerParams: JSONObject([("ticket", .string("OPS-1")), ("argv", .string("forged"))]))
        #expect(a.params["argv"] == .array(["rm", "-rf", "../x"].map(JSON.string)))
        #expect(a.params["args"] == .string("-rf ../x"))
        #expect(a.params["argc"] == .int(3))
        #expect(a.params["program"] == .string("rm"))
        #expect(a.params["path"] == .string("/usr/bin/rm"))
        #expect(a.params["cwd"] == .string("/work"))
        #expect(a.params["paths"] == .array([.string("/x")]))
        #expect(a.params["ticket"] == .string("OPS-1"))
    }

    @Test func templatesRenderAndRejectUnknownVariables() throws {
        let params = JSONObject([("positional", .array([.string("a"), .string("b")])), ("argv", .array([.string("p"), .string("a")])),
                                 ("options", .object(JSONObject([("context", .string("prod"))])))])
        #expect(try Template("{positional}|{pos2}|{arg0}|{options.context}|{pos9}|{{x}}").render(params) == "a b|b|p|prod||{x}")
        #expect(throws: Template.SyntaxError.self) { try Template("{nope}") }
        #expect(throws: Template.SyntaxError.self) { try Template("{path") }
        #expect(throws: Template.SyntaxError.self) { try Template("a}") }
    }
}
