/// The gate's own command-line grammar. The gate's argument parser and the
/// shell analysis both read it from here, so a nested `aegis-exec` inside a
/// judged string is read exactly as that gate will read its arguments.
public enum GateOptionSyntax {
    /// First words that make the gate hand its arguments to aegis-exec-tool
    /// (init, validate, explain, audit ...): nothing is gated then.
    public static let toolWords: [String] = [
        "init", "validate", "schema", "simulate", "explain", "audit", "stats", "help",
        "-h", "--help", "--version", "--experimental-dump-help",
    ]

    public static func isToolCommand(_ first: String) -> Bool {
        toolWords.contains(first) || first.hasPrefix("--generate-completion-script")
    }

    /// Options that take a value (`--policy FILE` or `--policy=FILE`).
    public static let valueOptions = ["--policy", "--agent", "--param", "--params"]

    /// Single-letter shell options passed through to the shell; `c` is ours.
    public static let shellLetters: Set<Character> = ["c", "l", "e", "x", "u", "v", "f", "a", "n", "h", "B", "C", "E", "H", "P", "T", "m", "b"]

    /// The flags a shell is called with (`-c`, `-lc`, `-l -c`, `--login -c`,
    /// `-e -c`, `-o pipefail -c`): what SHELL=, make and subprocess use.
    public static func isShellOption(_ word: String) -> Bool {
        if word == "--login" || word == "-o" || word == "+o" { return true }
        guard word.count >= 2, word.first == "-" || word.first == "+", word.dropFirst().first != "-" else { return false }
        return word.dropFirst().allSatisfy { shellLetters.contains($0) }
    }
}
