#if canImport(Glibc)
import Glibc
#endif

// aegis-exec's subcommands and help, through the argument parser. The gate
// (aegis-exec) execs this binary for them; run directly, it behaves the same.
let first = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : ""
if first.hasPrefix("--generate-completion-script") {
    CompletionTree.main()
} else {
    AegisExec.main()
}
