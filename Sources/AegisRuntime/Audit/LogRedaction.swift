import AegisPolicy

extension Redactor {
    /// What the audit log stores of a command: its action and argument bytes
    /// with credentials replaced. Words without any stay byte-exact; values
    /// derived from the words (joined args, resolved paths, targets, option
    /// values) are scrubbed of the secrets found in them; params the caller
    /// or the mapping added go through the word rules.
    public func forLog(_ action: Action, argv: [[UInt8]]) -> (action: Action, argv: [[UInt8]]) {
        let words = argv.map { String(decoding: $0, as: UTF8.self) }
        let clean = redact(words: words)
        let fragments = Redactor.fragments(original: words, redacted: clean)
        var logged = action
        logged.target = Redactor.scrub(redact(word: action.target), fragments)
        logged.params = JSONObject(action.params.entries.map { key, value in
            let words = CommandMapping.reservedParams.contains(key) ? value : redact(value, key: key)
            return (key, Redactor.scrub(words, fragments))
        })
        let bytes = zip(argv, zip(words, clean)).map { original, pair in pair.0 == pair.1 ? original : Array(pair.1.utf8) }
        return (logged, bytes)
    }
}
