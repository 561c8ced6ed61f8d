import Testing
@testable import AegisPolicy

@Suite struct ISO8601Tests {
    @Test func parsesCommonForms() {
        #expect(ISO8601.parse("1970-01-01T00:00:00Z")?.unixSeconds == 0)
        #expect(ISO8601.parse("2026-11-25T09:30:00Z")?.unixSeconds == 1_795_599_000)
        #expect(ISO8601.parse("2026-11-25T09:30")?.unixSeconds == 1_795_599_000)
        #expect(ISO8601.parse("2026-11-25 09:30:00")?.unixSeconds == 1_795_599_000)
        #expect(ISO8601.parse("2026-11-25T10:30:00+01:00")?.unixSeconds == 1_795_599_000)
        #expect(ISO8601.parse("2026-11-25T09:30:00.123456Z")?.unixSeconds == 1_795_599_000)
        #expect(ISO8601.parse("2026-11-25")?.unixSeconds == 1_795_564_800)
    }

    @Test func rejectsGarbage() {
        for bad in ["", "tomorrow", "2026-13-01T00:00Z", "2026-11-25T25:00", "2026-11-25T09:30:00Zjunk", "26-11-25"] {
            #expect(ISO8601.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func formatsAsPythonIsoformat() {
        #expect(ISO8601.format(unixSeconds: 1_795_599_000, microseconds: 42) == "2026-11-25T09:30:00.000042+00:00")
        #expect(ISO8601.format(unixSeconds: 951_782_400) == "2000-02-29T00:00:00.000000+00:00")
    }

    @Test func weekdayAndTimeOfDay() {
        // 2026-11-25 is a Wednesday (ISO 3).
        let t = ISO8601.parse("2026-11-25T23:59:59Z")!
        #expect(t.civil(in: .utc) == (86_399, 3))
        let berlin = TimeZoneTable(name: "+01:00", fixedOffset: 3600)
        #expect(t.civil(in: berlin) == (3599, 4))
    }
}
