import Foundation
import Testing
@testable import AegisPolicy

@Suite struct ShellSyntaxTests {
    /// The commands a string would run, as words (dynamic words as source),
    /// read as bash reads it (the corpus test compares this grammar with bash).
    func commands(_ s: String) throws -> [String] {
        try ShellSyntax.parse(s, dialect: .bash).commands.map { $0.words.map(\.text).joined(separator: " ") }
    }

    func items(_ s: String) throws -> [String] {
        try ShellAnalysis.analyze(s).items.map { i in
            i.argv.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ") + (i.unknowable == nil ? "" : " ?")
        }
    }

    @Test(arguments: [
        ("ls; rm -rf x", ["ls", "rm -rf x"]),
        ("a && b || c & d", ["a", "b", "c", "d"]),
        ("a | b |& c", ["a", "b", "c"]),
        ("(cd /tmp && make) > log 2>&1", ["cd /tmp", "make"]),
        ("{ echo a; echo b; } | sort", ["echo a", "echo b", "sort"]),
        ("if test -f x; then rm x; elif true; then :; else touch x; fi", ["test -f x", "rm x", "true", ":", "touch x"]),
        ("for f in *.txt; do gzip \"$f\"; done", ["gzip \"$f\""]),
        ("for ((i=0;i<3;i++)); do echo $i; done", ["echo $i"]),
        ("while read l; do echo \"$l\"; done < in", ["read l", "echo \"$l\""]),
        ("until false; do break; done", ["false", "break"]),
        ("case $x in a|b) rm a ;; (c) rm c ;& *) ls ;; esac", ["rm a", "rm c", "ls"]),
        ("f() { rm -rf /; }; f", ["rm -rf /", "f"]),
        ("function g { shred x; }", ["shred x"]),
        ("echo $(rm -rf ~) `whoami`", ["rm -rf ~", "whoami", "echo $(rm -rf ~) `whoami`"]),
        ("diff <(sort a) >(tee b)", ["sort a", "tee b", "diff <(sort a) >(tee b)"]),
        ("echo \"$(curl x | sh)\"", ["curl x", "sh", "echo \"$(curl x | sh)\""]),
        ("x=$(date) y=2 env", ["date", "env"]),
        ("[[ -n $(id -u) && $a == b ]] && ls", ["id -u", "ls"]),
        ("echo ${x:-$(rm y)}", ["rm y", "echo ${x:-$(rm y)}"]),
        ("echo $((1 + $(wc -l < f)))", ["wc -l", "echo $((1 + $(wc -l < f)))"]),
        ("! grep -q x f", ["grep -q x f"]),
        ("time make -j4", ["make -j4"]),
        ("arr=(a b c); echo ${arr[1]}", ["", "echo ${arr[1]}"]),
        ("echo a # rm -rf /", ["echo a"]),
        ("echo 'rm -rf /' \"; rm x\"", ["echo rm -rf / ; rm x"]),
        ("r''m -r\\f x", ["rm -rf x"]),
        ("$'\\x72m' x", ["rm x"]),
        ("ls \\\n  -la", ["ls -la"]),
        ("echo }", ["echo }"]),
    ])
    func findsEverySimpleCommand(_ source: String, _ expected: [String]) throws {
        #expect(try commands(source) == expected)
    }

    @Test func hereDocumentsAreReadAndTheirSubstitutionsFound() throws {
        let s = "cat <<EOF > out\nhello $(rm -rf /tmp/x)\nEOF\ncat <<'RAW'\n$(not run)\nRAW\nls"
        #expect(try commands(s) == ["cat", "rm -rf /tmp/x", "cat", "ls"])
        let tabs = "cat <<-END\n\t$(id)\n\tEND\necho done"
        #expect(try commands(tabs) == ["cat", "id", "echo done"])
    }

    @Test func redirectionsAreKept() throws {
        let c = try ShellSyntax.parse("sort < in 2>>err >| out &> all", dialect: .bash).commands[0]
        #expect(c.redirections.map(\.op) == ["<", ">>", ">|", "&>"])
        #expect(c.redirections.map(\.target.text) == ["in", "err", "out", "all"])
        #expect(c.redirections[1].fd == 2)
        #expect(c.redirections.map(\.writesFile) == [false, true, true, true])
        #expect(try ShellSyntax.parse("cmd 2>&1").commands[0].redirections[0].writesFile == false)
    }

    @Test func dynamicWordsAreMarked() throws {
        let c = try ShellSyntax.parse("$cmd \"$HOME/x\" 'lit' a$b").commands[0]
        #expect(c.words.map(\.isStatic) == [false, false, true, false])
        #expect(c.words[0].text == "$cmd")
    }

    @Test(arguments: [
        "echo 'unterminated", "echo \"unterminated", "if true; then ls", "for x in a b; do ls", "ls )", "(ls", "ls &&",
        "; ls", "case x in a) ls", "echo $(ls", "fi", "done", "{ ls", "ls | ", "echo `ls",
    ])
    func syntaxErrorsAreReported(_ source: String) {
        #expect(throws: ShellSyntaxError.self) { try ShellSyntax.parse(source) }
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let deep = String(repeating: "$(", count: 5000) + "ls" + String(repeating: ")", count: 5000)
        #expect(throws: ShellSyntaxError.self) { try ShellSyntax.parse(deep) }
        let braces = String(repeating: "{ ", count: 5000) + "ls" + String(repeating: "; }", count: 5000)
        #expect(throws: ShellSyntaxError.self) { try ShellSyntax.parse(braces) }
    }

    // MARK: analysis

    @Test(arguments: [
        ("env -i PATH=/bin FOO=1 rm -rf x", ["env -i PATH=/bin FOO=1 rm -rf x ?", "rm -rf x"]),  // PATH picks what rm is
        ("env - rm x", ["env - rm x", "rm x"]),
        ("env -S'rm x'", ["env -Srm x", "rm x"]),
        ("env -iS 'rm x' y", ["env -iS rm x y", "rm x y"]),
        ("env -S '-i rm\\_x'", ["env -S -i rm\\_x", "rm x"]),   // -S is read again as env's arguments; \_ separates
        ("env --split-string='rm x'", ["env --split-string=rm x", "rm x"]),
        ("env curl -S u", ["env curl -S u", "curl -S u"]),        // curl's -S, not env's
        ("env --spl='rm x'", ["env --spl=rm x", "rm x"]),          // GNU env takes a unique prefix
        ("env --help rm x", ["env --help rm x"]),
        ("aegis-exec init /etc/p.yaml", ["aegis-exec init /etc/p.yaml", "tee /etc/p.yaml"]),
        ("aegis-exec explain -c 'rm x'", ["aegis-exec explain -c rm x"]),
        ("env -C / -S 'rm x'", ["env -C / -S rm x", "rm x"]),
        ("unshare -U --setgroups deny rm x", ["unshare -U --setgroups deny rm x", "rm x"]),
        ("strace -o '|rm x' -f true", ["strace -o |rm x -f true", "rm x", "true"]),
        ("/usr/bin/time -o /etc/out true", ["/usr/bin/time -o /etc/out true", "tee /etc/out", "true"]),
        ("runuser -c 'rm x' root", ["runuser -c rm x root", "rm x"]),
        ("runuser -u bob -- rm x", ["runuser -u bob -- rm x", "rm x"]),
        ("chrt -f 10 rm x", ["chrt -f 10 rm x", "rm x"]),
        ("nsenter -t 1 -mu rm x", ["nsenter -t 1 -mu rm x", "rm x"]),
        ("xargs -0 rm", ["xargs -0 rm", "rm {input}"]),
        ("xargs -I{} cp {} dir", ["xargs -I{} cp {} dir", "cp {} dir"]),
        ("env -S '${X}'", ["env -S ${X} ?"]),
        ("nohup -- rm x", ["nohup -- rm x", "rm x"]),
        ("sudo -R /srv rm x", ["sudo -R /srv rm x", "rm x"]),
        ("aegis-exec -o pipefail -c 'rm x'", ["aegis-exec -o pipefail -c rm x", "rm x"]),
        ("aegis-exec -x -c 'rm x'", ["aegis-exec -x -c rm x", "rm x"]),
        ("aegis-exec -c -e 'rm x'", ["aegis-exec -c -e rm x", "rm x"]),
        ("aegis-exec -c -- 'rm x'", ["aegis-exec -c -- rm x", "rm x"]),
        ("aegis-exec --policy=p.yaml --agent a -- rm x", ["aegis-exec --policy=p.yaml --agent a -- rm x", "rm x"]),
        ("aegis-exec --frobnicate rm x", ["aegis-exec --frobnicate rm x ?"]),
        ("env -u HOME -- rm x", ["env -u HOME -- rm x", "rm x"]),
        ("env -S 'rm -rf y'", ["env -S rm -rf y", "rm -rf y"]),
        ("sudo -u root -E rm x", ["sudo -u root -E rm x", "rm x"]),
        ("sudo -s 'rm x'", ["sudo -s rm x", "rm x"]),
        ("doas -u bob rm x", ["doas -u bob rm x", "rm x"]),
        ("nice -n 10 ionice -c3 rm x", ["nice -n 10 ionice -c3 rm x", "ionice -c3 rm x", "rm x"]),
        ("nohup timeout -s KILL 5 rm x", ["nohup timeout -s KILL 5 rm x", "timeout -s KILL 5 rm x", "rm x"]),
        ("stdbuf -oL setsid -f rm x", ["stdbuf -oL setsid -f rm x", "setsid -f rm x", "rm x"]),
        ("time -p rm x", ["time -p rm x", "rm x", "rm x"]),  // a program in dash; in bash a keyword before `rm x`
        ("/usr/bin/time -o t rm x", ["/usr/bin/time -o t rm x", "tee t", "rm x"]),  // -o writes t
        ("flock /tmp/l rm x", ["flock /tmp/l rm x", "rm x"]),
        ("flock -w 3 /tmp/l -c 'rm x'", ["flock -w 3 /tmp/l -c rm x", "rm x"]),
        ("watch -n 1 rm x", ["watch -n 1 rm x", "rm x"]),
        ("watch -x rm x", ["watch -x rm x", "rm x"]),
        ("xargs -0 -n1 rm", ["xargs -0 -n1 rm", "rm {input}"]),
        ("xargs", ["xargs", "echo {input}"]),
        ("command rm x", ["command rm x", "rm x"]),
        ("command -v rm", ["command -v rm"]),
        ("builtin exec rm x", ["builtin exec rm x", "exec rm x", "rm x"]),
        ("exec -a foo rm x", ["exec -a foo rm x", "rm x"]),
        ("bash -lc 'git push --force'", ["bash -lc git push --force", "git push --force"]),
        ("sh -e -c 'rm x' arg0", ["sh -e -c rm x arg0", "rm x"]),
        ("find . -name '*.o' -exec rm -f {} \\;", ["find . -name *.o -exec rm -f {} ;", "rm -f {}"]),
        ("find /tmp -execdir shred {} +", ["find /tmp -execdir shred {} +", "shred {}"]),
        ("find build -delete", ["find build -delete", "rm -r build"]),
        ("aegis-exec --policy p.yaml -- rm x", ["aegis-exec --policy p.yaml -- rm x", "rm x"]),
        ("aegis-exec -c 'rm x'", ["aegis-exec -c rm x", "rm x"]),
        ("eval 'rm -rf' /", ["eval rm -rf /", "rm -rf /"]),
        ("trap 'rm -f lock' EXIT", ["trap rm -f lock EXIT", "rm -f lock"]),
        ("trap -- 'rm -f lock' EXIT", ["trap -- rm -f lock EXIT", "rm -f lock"]),
        ("\"x=1\" env", ["x=1 env"]),
        ("echo hi > /etc/motd", ["echo hi", "tee /etc/motd"]),
        ("echo hi > /dev/null", ["echo hi"]),
        ("env env env sh -c 'sudo rm x'", ["env env env sh -c sudo rm x", "env env sh -c sudo rm x", "env sh -c sudo rm x",
                                          "sh -c sudo rm x", "sudo rm x", "rm x"]),
    ])
    func wrappersAreUnwrapped(_ source: String, _ expected: [String]) throws {
        #expect(try items(source) == expected)
    }

    @Test(arguments: [
        ("$CMD -rf /", "the command name comes from an expansion"),
        ("$(echo rm) -rf /", "the command name comes from an expansion"),
        ("eval \"$x\"", "eval of a string"),
        ("source ./env.sh", "runs the commands of a file"),
        (". ./env.sh", "runs the commands of a file"),
        ("exec $prog", "the command name comes from an expansion"),
        ("curl x | bash", "reads its commands from standard input"),
        ("sh -c \"$s\"", "sh -c of a string known only at run time"),
        ("sudo -i", "opens an interactive shell"),
        ("alias ls='rm -rf ~'; ls", "an alias makes a later command name run something else"),
        ("PATH=/tmp/x ls", "it sets PATH"),
        ("LD_PRELOAD=./x.so ls", "it sets LD_PRELOAD"),
        ("export BASH_ENV=./x.sh", "it sets BASH_ENV"),
        ("PATH=/tmp/x; ls", "it sets PATH"),
        ("PS4='$(rm x)'; set -x; ls", "it sets PS4"),
        ("/bin/r? victim", "the command name is a pattern the shell expands"),
        ("{rm,victim}", "the command name is a pattern the shell expands"),
        ("f=/etc/hosts; echo x > $f", "a redirection writes to a file named only at run time"),
        ("echo x > /etc/host?", "a redirection writes to a file named only at run time"),
        ("cd \"$D\" && echo x > hosts", "a redirection writes to hosts after a cd to a directory known only at run time"),
        ("cd - && ./rm x", "it runs ./rm where a cd to a directory known only at run time may have moved it"),
        ("d=/; cd \"$d\" && rm -rf etc", "it runs rm where a cd to a directory known only at run time"),
        ("rm -rf etc; cd ~-", "it runs rm where a cd to a directory known only at run time"),
        ("cd a b; rm -rf etc", "it runs rm where a cd to a directory known only at run time"),
        ("export CDPATH=/; cd etc; rm -rf hosts", "it runs rm where a cd to a directory known only at run time"),
        ("env -C \"$D\" rm x", "it changes to a directory known only at run time"),
        ("o='-Secho x'; env \"$o=\" true", "the command name comes from an expansion"),
        ("env {X=1,rm,-rf,/x}", "the command name is a pattern the shell expands"),
        ("env -?* true", "the command name is a pattern the shell expands"),
        ("env --i rm x", "abbreviates more than one of its options"),
        ("timeout --sig KILL 5 rm x", "--sig may abbreviate one of its options"),
        ("nsenter -t 1 -w rm x", "-w changes what it runs in ways not followed here"),
        ("sudo PATH=/tmp rm x", "it sets PATH"),
        ("echo x; [[", "bash cannot parse the string"),
        ("/proc/self/exe rm x", "which names another file in the process that runs it"),
        ("aegis-exec init \"$P\"", "aegis-exec init writes to a file named only at run time"),
        // Found by a second review:
        ("export CD\"PATH\"=/home; cd u; echo x >> .bashrc", "a cd to a directory known only at run time"),
        ("read CD\\PATH; cd u; echo x >> .bashrc", "a cd to a directory known only at run time"),
        ("V=CD; export ${V}PATH=/home; cd u; echo x >> .bashrc", "a cd to a directory known only at run time"),
        ("shopt -s cdable_vars; d=/home/u; cd d; echo x >> .bashrc", "a cd to a directory known only at run time"),
        ("up(){ cd ..; }; up; up; echo x >> .bashrc", "a cd to a directory known only at run time"),
        ("for i in 1 2; do rm -rf etc; cd ..; done", "a cd to a directory known only at run time"),
        ("trap 'cd ..' USR1; echo x >> .bashrc", "a cd to a directory known only at run time"),
        ("echo x >> ~root/.bashrc", "a redirection writes to a file named only at run time (~root/.bashrc)"),
        ("echo x > ~-/hosts", "a redirection writes to a file named only at run time"),
        ("D=\"5 rm\"; timeout $D -rf ~", "its argument $D is known only at run time"),
        ("N=\"5 sh -c\"; nice -n $N 'rm -rf ~'", "an option's value is known only at run time ($N)"),
        ("V=\"X sh -c\"; env -u $V 'echo hi'", "an option's value is known only at run time ($V)"),
        ("X=\"n sh -c\"; exec -a $X 'rm x'", "an option's value is known only at run time ($X)"),
        ("aegis-exec --policy $P -- rm x", "a nested aegis-exec is given an option value known only at run time"),
        ("unshare -U --frobnicate rm x", "an option not read here"),
        ("strace --output /dev/null rm x", "an option not read here"),
        ("strace -E LD_PRELOAD=./x.so ls", "it sets LD_PRELOAD"),
        ("time -o $F true", "it writes to a file named only at run time"),
        ("runuser root", "runuser without -u starts the user's shell"),
        ("echo 'rm -rf ~' | xargs sh -c", "sh -c of a string known only at run time"),
        ("echo rm | xargs env", "the command name comes from an expansion"),
        ("xargs -I{} sh -c '{}'", "sh -c of a string known only at run time"),
    ])
    func whatCannotBeKnownIsSaid(_ source: String, _ why: String) throws {
        let a = try ShellAnalysis.analyze(source)
        #expect(!a.analyzable)
        #expect(a.items.contains { $0.unknowable?.contains(why) == true }, "\(a.items)")
    }

    /// Where dash and bash read a string differently, the gate reads it as
    /// the shell that will run it (dash for /bin/sh) does.
    @Test(arguments: [
        ("((echo x >>~/.bashrc))", ["echo x", "tee ~/.bashrc"]),           // two subshells in dash
        ("[[ ; . ./p.sh ; ]]", [". ./p.sh ?"]),                           // [[ is a program name in dash
        ("echo $'\\' ; eval \"$P\" ; echo '\\'", ["eval \"$P\" ?"]),   // no $'...' in dash
        ("true &>/dev/null . ./p.sh", [". ./p.sh ?"]),                    // & then >
        ("echo \"${x:-'$(id)'}\"", ["id"]),                                // quotes inside \"${…}\" are literal
        ("echo \"$\\\n(id)\"", ["id"]),                                   // a line continuation after $
        ("i\\\nf true; t\\\nhen rm x; f\\\ni", ["rm x"]),                 // and inside reserved words
        ("# comment \\\nrm x", ["rm x"]),                                  // a comment does not continue
        ("cat <<'E'\nx\\\nE\nrm y", ["rm y"]),                               // nor a quoted here-document
    ])
    func posixReadsAsDashDoes(_ source: String, _ expected: [String]) throws {
        let got = try items(source)
        for e in expected { #expect(got.contains(e), "\(source): \(got)") }
        #expect(!got.contains { $0.hasPrefix("if ") || $0.hasPrefix("then ") }, "\(got)")
    }

    /// Where bash reads a string differently from dash, what bash would run
    /// is judged too: /bin/sh is bash on other systems.
    @Test(arguments: [
        ("echo $'\\'' ; rm victim #'", "rm victim"),
        ("echo x &>/dev/null; rm y", "rm y"),
    ])
    func whatBashWouldRunIsJudgedToo(_ source: String, _ expected: String) throws {
        let got = try items(source)
        #expect(got.contains(expected), "\(got)")
    }

    /// After `cd DIR` a command is judged in the starting directory and in
    /// DIR (the cd may fail); `env -C DIR` runs its command in DIR only.
    @Test func commandsAreJudgedWhereACdMayHaveMovedThem() throws {
        func placed(_ a: ShellAnalysis) -> [String] {
            a.items.map { i in
                i.argv.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ") + (i.directory.map { " @" + String(decoding: $0, as: UTF8.self) } ?? "")
            }
        }
        // Every command in every directory any cd reaches: a loop, a function
        // or a trap may run after a cd written later.
        let a = try ShellAnalysis.analyze("echo a > x; cd /etc && echo b > hosts; cd sub; ./rm y", home: "/home/agent")
        let everywhere = ["", " @/etc", " @sub", " @/etc/sub"]
        #expect(placed(a) == ["echo a", "tee x", "cd /etc", "echo b", "tee hosts", "cd sub", "./rm y"].flatMap { c in everywhere.map { c + $0 } })
        #expect(a.analyzable)
        let f = try ShellAnalysis.analyze("f(){ echo x >> .bashrc; }; cd /root; f")
        #expect(placed(f).contains("tee .bashrc @/root"), "\(placed(f))")
        let c = try ShellAnalysis.analyze("env -C /srv rm y; cd; rm z", home: "/home/agent")
        #expect(c.items.map { $0.directory.map { String(decoding: $0, as: UTF8.self) } } == [nil, "/home/agent", "/srv", nil, "/home/agent", nil, "/home/agent"])
        // Wrappers that change directory: the command is judged there only.
        for (source, expected) in [("unshare --wd=/etc tee hosts", "tee hosts @/etc"), ("sudo -D /etc tee hosts", "tee hosts @/etc"),
                                   ("env --ch=/etc tee hosts", "tee hosts @/etc")] {
            #expect(placed(try ShellAnalysis.analyze(source)).last == expected, "\(source)")
        }
        // Under CDPATH, `cd NAME` may go anywhere; ./NAME may not.
        #expect(!(try ShellAnalysis.analyze("cd etc; echo > hosts", cdSearchPath: "/").analyzable))
        #expect(try ShellAnalysis.analyze("cd ./etc; echo > hosts", cdSearchPath: "/").analyzable)
        #expect(!(try ShellAnalysis.analyze("CDPATH=/; cd etc; echo > hosts").analyzable))
    }

    /// env -S splits as GNU env does; what it would expand or reject is not guessed.
    @Test func envSplitStrings() {
        func split(_ s: String) -> [String]? { Analyzer.envSplit(Array(s.utf8))?.map { String(decoding: $0, as: UTF8.self) } }
        #expect(split("rm  -rf\tx") == ["rm", "-rf", "x"])
        #expect(split("'a b' \"c\\_d\" e\\_f") == ["a b", "c d", "e", "f"])
        #expect(split("a # b c") == ["a"])
        #expect(split("a\\cb c") == ["a"])
        #expect(split("a${HOME}") == nil)
        #expect(split("'unterminated") == nil)
        #expect(split("a\\qb") == nil)
    }

    /// An unquoted leading ~ is the shell's $HOME, in words and redirection targets.
    @Test func tildeIsHome() throws {
        let a = try ShellAnalysis.analyze("echo x >>~/.bashrc; rm -rf ~ '~/q' ~user", home: "/home/agent")
        let got = a.items.map { $0.argv.map { String(decoding: $0, as: UTF8.self) } }
        #expect(got == [["echo", "x"], ["tee", "/home/agent/.bashrc"], ["rm", "-rf", "/home/agent", "~/q", "~user"]])
    }

    @Test func analyzableWhenEveryProgramIsKnown() throws {
        #expect(try ShellAnalysis.analyze("git status && make -j$(nproc) | tee log").analyzable)
        #expect(try ShellAnalysis.analyze("bash ./build.sh").analyzable)
        #expect(try ShellAnalysis.analyze("[ -f x ] && rm x").analyzable)  // `[` is the test program, not a pattern
        #expect(try ShellAnalysis.analyze("printf '%s\\n' \"$X\"; cd repo && make test").analyzable)
        #expect(!(try ShellAnalysis.analyze("/bin/[a-z]m x").analyzable))
    }
}

@Suite struct ShellLimitsTests {
    /// A string of more commands than are judged one by one is one unanalyzable item.
    @Test func tooManyCommandsIsUnanalyzable() throws {
        let huge = String(repeating: "true;", count: 12_000)
        let a = try ShellAnalysis.analyze(huge)
        #expect(a.items.count == 1)
        #expect(a.items[0].unknowable == "the string has more than the 10000 commands judged one by one")
        #expect(try ShellAnalysis.analyze(String(repeating: "true;", count: 10_000)).analyzable)
    }

    /// Bytes that are not UTF-8 are kept exactly in the words.
    @Test func invalidUTF8IsKeptExactly() throws {
        let bytes: [UInt8] = Array("rm ".utf8) + [0xff, 0xfe] + Array(" x".utf8)
        let c = try ShellSyntax.parse(bytes).commands[0]
        #expect(c.words.map(\.bytes) == [Array("rm".utf8), [0xff, 0xfe], Array("x".utf8)])
    }
}
