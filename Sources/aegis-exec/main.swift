#if canImport(Glibc)
import Glibc
#endif

// Subcommands and help go through the argument parser; everything else is a
// command to gate, handled by the lean path that keeps the argument bytes exact.
let raw = GateMain.rawArguments()
let first = raw.count > 1 ? String(decoding: raw[1], as: UTF8.self) : ""
let parserWords: [String] = [
    "init", "validate", "schema", "simulate", "explain", "audit", "stats", "help",
    "-h", "--help", "--version", "--generate-completion-script", "--experimental-dump-help",
]
if first.hasPrefix("--generate-completion-script") {
    CompletionTree.main()
} else if raw.count <= 1 || parserWords.contains(first) {
    AegisExec.main()
} else {
    exit(GateMain.run(raw))
}
