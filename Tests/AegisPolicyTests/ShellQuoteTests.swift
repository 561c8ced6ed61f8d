import Testing
@testable import AegisPolicy

@Suite struct ShellQuoteTests {
    @Test func plainWordsStayPlain() {
        #expect(ShellQuote.command([Array("rm".utf8), Array("-rf".utf8), Array("/tmp/x".utf8)]) == "rm -rf /tmp/x")
    }

    @Test func spacesAndQuotesAreQuoted() {
        #expect(ShellQuote.word(Array("a b".utf8)) == "'a b'")
        #expect(ShellQuote.word(Array("it's".utf8)) == #"'it'\''s'"#)
        #expect(ShellQuote.word([]) == "''")
    }

    @Test func controlCharactersAndBadBytesAreEscaped() {
        // An escape sequence that would repaint the terminal is shown, not sent.
        #expect(ShellQuote.word([0x1B, 0x5B, 0x32, 0x4A]) == #"$'\x1b[2J'"#)
        #expect(ShellQuote.word([0x61, 0x0A, 0x62]) == #"$'a\nb'"#)
        #expect(ShellQuote.word([0x61, 0xFF]) == #"$'a\xff'"#)
        // A right-to-left override cannot reorder what the human reads.
        #expect(ShellQuote.word(Array("a\u{202E}b".utf8)) == #"$'a\xe2\x80\xaeb'"#)
    }
}
