#if canImport(Glibc)
import Glibc
#endif
import AegisCommandLine
import CAegisArguments

// First: the environment as the gate was given it (see arguments.c).
aegis_restore_environment()

// The gate: every agent command starts this binary, so it carries no
// argument-parser machinery and no Foundation (each would cost every command
// its start-up). Subcommands and help run in aegis-exec-tool, exec'd in its place.
let raw = GateMain.rawArguments()
let first = raw.count > 1 ? String(decoding: raw[1], as: UTF8.self) : ""
if raw.count <= 1 || ToolCommand.handles(first) {
    exit(ToolCommand.exec(raw))
} else {
    exit(GateMain.run(raw))
}
