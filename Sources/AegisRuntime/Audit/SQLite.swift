import CLibSQLite3
import Synchronization

/// A thin, owned SQLite connection. Errors carry SQLite's own message.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public var description: String { message }
}

final class SQLiteConnection {
    let db: OpaquePointer

    /// How many connections this process has open. SQLite's file locks and
    /// shared memory are per process: a child forked while one is open must
    /// not open the store itself (see `NestedGate.finish`).
    static let openCount = Atomic<Int>(0)

    init(path: String, flags: Int32) throws(SQLiteError) {
        var handle: OpaquePointer?
        let rc = sqlite3_open_v2(path, &handle, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let handle else {
            let msg = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            if let handle { sqlite3_close_v2(handle) }
            throw SQLiteError(code: rc, message: msg)
        }
        db = handle
        sqlite3_extended_result_codes(db, 1)
        SQLiteConnection.openCount.add(1, ordering: .sequentiallyConsistent)
    }

    deinit {
        sqlite3_close_v2(db)
        SQLiteConnection.openCount.subtract(1, ordering: .sequentiallyConsistent)
    }

    func fail(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(db)))
    }

    func execute(_ sql: String) throws(SQLiteError) {
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw fail(rc) }
    }

    func prepare(_ sql: String) throws(SQLiteError) -> Statement {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw fail(rc) }
        return Statement(connection: self, stmt: stmt)
    }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(db) }

    func intPragma(_ name: String) throws(SQLiteError) -> Int64 {
        let s = try prepare("PRAGMA \(name)")
        guard try s.step() else { return 0 }
        return s.int(0)
    }
}

final class Statement {
    let connection: SQLiteConnection
    let stmt: OpaquePointer

    init(connection: SQLiteConnection, stmt: OpaquePointer) {
        self.connection = connection
        self.stmt = stmt
    }

    deinit { sqlite3_finalize(stmt) }

    enum Value {
        case null, int(Int64), double(Double), text(String)
    }

    func bind(_ values: [Value]) throws(SQLiteError) {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
        for (i, v) in values.enumerated() {
            let idx = Int32(i + 1)
            let rc: Int32
            switch v {
            case .null: rc = sqlite3_bind_null(stmt, idx)
            case .int(let x): rc = sqlite3_bind_int64(stmt, idx, x)
            case .double(let x): rc = sqlite3_bind_double(stmt, idx, x)
            case .text(let s): rc = sqlite3_bind_text(stmt, idx, s, -1, aegis_sqlite_transient())
            }
            guard rc == SQLITE_OK else { throw connection.fail(rc) }
        }
    }

    /// Steps once; true while there is a row.
    func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw connection.fail(rc)
    }

    /// Ends the statement's current run, releasing the read it holds open.
    func reset() { sqlite3_reset(stmt) }

    func run(_ values: [Value]) throws(SQLiteError) {
        try bind(values)
        while try step() {}
    }

    func int(_ col: Int32) -> Int64 { sqlite3_column_int64(stmt, col) }
    func double(_ col: Int32) -> Double { sqlite3_column_double(stmt, col) }
    func isNull(_ col: Int32) -> Bool { sqlite3_column_type(stmt, col) == SQLITE_NULL }
    func text(_ col: Int32) -> String? {
        guard let p = sqlite3_column_text(stmt, col) else { return nil }
        return String(cString: p)
    }
}
