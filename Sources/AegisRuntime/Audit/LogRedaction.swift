import AegisPolicy

extension Redactor {
    /// What the audit log stores of a command: its action and argument bytes
    /// with credentials replaced. Words without any stay byte-exact; values
    /// derived from the words (joined args, resolved paths, targets, option
    /// values) are scrubbed of the secrets found in them; params the caller
    /// or the mapping added go through the word rules.
    public func forLog(_ action: Action, argv: [[UInt8]]) -> (action: Action, argv: [[UInt8]]) {
        // Plain loops: every command runs this once, and the generic zips and
        // maps it was written with cost a short process their first use.
        var words: [String] = []
        words.reserveCapacity(argv.count)
        for a in argv { words.append(String(decoding: a, as: UTF8.self)) }
        let clean = redact(words: words)
        let fragments = Redactor.fragments(original: words, redacted: clean)
        var logged = action
        logged.target = Redactor.scrub(redact(word: action.target), fragments)
        var params = JSONObject()
        for entry in action.params.entries {
            let value = CommandMapping.reservedParams.contains(entry.key) ? entry.value : redact(entry.value, key: entry.key)
            params[entry.key] = Redactor.scrub(value, fragments)
        }
        logged.params = params
        var bytes: [[UInt8]] = []
        bytes.reserveCapacity(argv.count)
        for i in argv.indices { bytes.append(words[i] == clean[i] ? argv[i] : Array(clean[i].utf8)) }
        return (logged, bytes)
    }
}
