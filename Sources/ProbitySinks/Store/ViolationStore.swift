import Foundation
import GRDB
import GRDBSQLite
import Synchronization
import ProbityContracts

/// Violations with their evidence in SQLite (WAL), under the daemon's state directory.
///
/// A violation is committed before anyone is told about it: `insert` returns once the row is in
/// the write-ahead log, which survives the process being killed. Retention keeps the table within
/// an age and a row count **per user** (the uid of the violating process, ``Violation/uid``;
/// violations without one share a bucket): one user's flood deletes only that user's oldest rows,
/// never another's evidence. A total cap, when reached, takes rows from the user holding the most.
public final class ViolationStore: Sendable {
    private let pool: DatabasePool
    public let path: String
    private let retention: Retention?
    /// Rows per uid bucket (``bucket(_:)``), kept in step with the table by every write.
    private let counts = Mutex<[Int64: Int]>([:])

    /// How many rows the store keeps; checked at each insert.
    public struct Retention: Sendable, Equatable {
        /// At most this many rows per uid (probityd's `retention-rows`).
        public var rowsPerUID: Int
        /// At most this many rows in all (`retention-total-rows`).
        public var totalRows: Int

        public init(rowsPerUID: Int, totalRows: Int) {
            self.rowsPerUID = max(1, rowsPerUID)
            self.totalRows = max(1, totalRows)
        }

        /// How far a bucket may go past its cap before its oldest rows go in one statement
        /// (deleting one row per insert would cost a statement each time).
        var slack: Int { min(1024, max(0, rowsPerUID / 64)) }
    }

    /// A stored violation and its row id (ids only grow: followers resume from one).
    public struct Row: Sendable {
        public var id: Int64
        public var unixNanoseconds: Int64
        public var violation: Violation
    }

    /// What `violations` queries select; every field given must hold.
    public struct Filter: Sendable {
        public var sinceUnixNanoseconds: Int64?
        public var package: String?
        public var rule: String?
        public var minimumSeverity: Severity?
        public var afterID: Int64?
        public var limit: Int = 100

        public init() {}

        /// Whether `violation` passes the filter (for followers, who see violations as they come).
        public func accepts(_ violation: Violation, unixNanoseconds: Int64) -> Bool {
            if let since = sinceUnixNanoseconds, unixNanoseconds < since { return false }
            if let package, violation.package?.name != package { return false }
            if let rule, violation.rule != rule && "\(violation.contract)/\(violation.rule)" != rule { return false }
            if let minimumSeverity, violation.severity < minimumSeverity { return false }
            return true
        }
    }

    /// The error of a store operation, with the database file.
    public struct StoreError: Error, CustomStringConvertible {
        public var path: String
        public var message: String
        public var description: String { "\(path): \(message)" }
    }

    /// Opens (creating if needed) the store at `path`. The file is made readable by its owner
    /// and group only (0640, whatever the umask; SQLite gives its WAL and shared-memory files
    /// the database file's mode): violations quote paths and command lines of every user.
    /// With `retention`, every insert keeps it.
    public init(path: String, retention: Retention? = nil) throws(StoreError) {
        self.path = path
        self.retention = retention
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard fd >= 0 else { throw StoreError(path: path, message: "cannot open the violation store: \(String(cString: strerror(errno)))") }
        var info = stat()
        if fstat(fd, &info) == 0, info.st_mode & 0o7137 != 0 { _ = fchmod(fd, info.st_mode & 0o640) }
        close(fd)
        do {
            var configuration = Configuration()
            configuration.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator().migrate(pool)
            try pool.write { db in try recount(in: db) }
        } catch {
            throw StoreError(path: path, message: "cannot open the violation store: \(error)")
        }
    }

    /// The store's migrations, in order; `through` stops after the one named (a test makes a
    /// store as an older version left it).
    static func migrator(through last: String? = nil) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "violation") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("unix_ns", .integer).notNull().indexed()
                t.column("severity", .integer).notNull()
                t.column("contract", .text).notNull()
                t.column("rule", .text).notNull()
                t.column("package", .text).indexed()
                t.column("json", .blob).notNull()
            }
        }
        if last == "v1" { return migrator }
        // The violating process's uid, for retention per user (rows stored before: NULL).
        migrator.registerMigration("v2-uid") { db in
            try db.alter(table: "violation") { t in t.add(column: "uid", .integer) }
            try db.create(index: "violation_uid_id", on: "violation", columns: ["uid", "id"])
        }
        return migrator
    }

    /// The retention bucket of a uid (one for every violation without a uid).
    static func bucket(_ uid: UInt32?) -> Int64 { uid.map { Int64($0) } ?? -1 }

    /// Counts the rows of each uid again (at open, after a prune), in a write transaction so
    /// that no insert comes between the count and its use.
    private func recount(in db: Database) throws {
        let rows = try GRDB.Row.fetchAll(db, sql: "SELECT COALESCE(uid, -1) AS bucket, COUNT(*) AS n FROM violation GROUP BY uid")
        var fresh: [Int64: Int] = [:]
        for row in rows { fresh[row["bucket"]] = row["n"] }
        counts.withLock { $0 = fresh }
    }

    /// Deletes the oldest `n` rows of `bucket` (in the write transaction `db`).
    private static func deleteOldest(_ n: Int, of bucket: Int64, in db: Database) throws {
        guard n > 0 else { return }
        let uid: Int64? = bucket < 0 ? nil : bucket
        try db.cachedStatement(
            sql: "DELETE FROM violation WHERE uid IS ? AND id <= (SELECT id FROM violation WHERE uid IS ? ORDER BY id LIMIT 1 OFFSET ?)"
        ).execute(arguments: [uid, uid, n - 1])
    }

    /// After rows were added to `bucket` (in the write transaction `db`): deletes its oldest
    /// beyond ``Retention/rowsPerUID`` (once it is ``Retention/slack`` past it), then, beyond
    /// ``Retention/totalRows``, the oldest of whichever bucket holds the most.
    private func enforce(_ retention: Retention, added: Int, to bucket: Int64, in db: Database) throws {
        try counts.withLock { counts in
            counts[bucket, default: 0] += added
            if let n = counts[bucket], n > retention.rowsPerUID + retention.slack {
                try Self.deleteOldest(n - retention.rowsPerUID, of: bucket, in: db)
                counts[bucket] = retention.rowsPerUID
            }
            var total = counts.values.reduce(0, +)
            guard total > retention.totalRows + retention.slack else { return }
            while total > retention.totalRows, let (largest, n) = counts.max(by: { $0.value < $1.value }), n > 0 {
                let excess = min(n, total - retention.totalRows)
                try Self.deleteOldest(excess, of: largest, in: db)
                counts[largest] = n - excess
                total -= excess
            }
        }
    }

    static func rank(_ severity: Severity) -> Int { Severity.allCases.firstIndex(of: severity) ?? 0 }

    /// Commits `violation`; returns its row id. With retention, the oldest rows of the
    /// violation's uid beyond the cap go in the same transaction.
    @discardableResult
    public func insert(_ violation: Violation, unixNanoseconds: Int64) throws(StoreError) -> Int64 {
        do {
            let json = try JSONEncoder().encode(violation)
            return try pool.write { db in
                try Self.insertRow(violation, json: json, unixNanoseconds: unixNanoseconds, in: db)
                let id = db.lastInsertedRowID
                if let retention { try enforce(retention, added: 1, to: Self.bucket(violation.uid), in: db) }
                return id
            }
        } catch {
            throw StoreError(path: path, message: "cannot store a violation: \(error)")
        }
    }

    /// Commits `violations` in one transaction (all or none), with retention kept as by
    /// ``insert(_:unixNanoseconds:)``; a violation repeated in a row is encoded once.
    public func insert(_ violations: [(violation: Violation, unixNanoseconds: Int64)]) throws(StoreError) {
        do {
            try pool.write { db in
                var last: (Violation, Data)?
                for (violation, unix) in violations {
                    let json: Data
                    if let last, last.0 == violation { json = last.1 } else { json = try JSONEncoder().encode(violation) }
                    last = (violation, json)
                    try Self.insertRow(violation, json: json, unixNanoseconds: unix, in: db)
                    if let retention { try enforce(retention, added: 1, to: Self.bucket(violation.uid), in: db) }
                }
            }
        } catch {
            throw StoreError(path: path, message: "cannot store violations: \(error)")
        }
    }

    /// Inserts one row with the statement prepared once per connection, its values bound with
    /// SQLite's own calls (a million-row batch spends its time in SQLite, not in binding).
    private static func insertRow(_ violation: Violation, json: Data, unixNanoseconds: Int64, in db: Database) throws {
        let statement = try db.cachedStatement(
            sql: "INSERT INTO violation (unix_ns, severity, contract, rule, package, uid, json) VALUES (?, ?, ?, ?, ?, ?, ?)")
        let raw = statement.sqliteStatement
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        sqlite3_reset(raw)
        sqlite3_clear_bindings(raw)
        sqlite3_bind_int64(raw, 1, unixNanoseconds)
        sqlite3_bind_int64(raw, 2, Int64(rank(violation.severity)))
        sqlite3_bind_text(raw, 3, violation.contract, -1, transient)
        sqlite3_bind_text(raw, 4, violation.rule, -1, transient)
        if let package = violation.package?.name { sqlite3_bind_text(raw, 5, package, -1, transient) }
        if let uid = violation.uid { sqlite3_bind_int64(raw, 6, Int64(uid)) }
        json.withUnsafeBytes { bytes in _ = sqlite3_bind_blob(raw, 7, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count), transient) }
        let code = sqlite3_step(raw)
        sqlite3_reset(raw)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
    }

    /// Violations matching `filter`, oldest first (the newest `limit` of them).
    public func query(_ filter: Filter) throws(StoreError) -> [Row] {
        var conditions: [String] = []
        var arguments: [any DatabaseValueConvertible] = []
        if let since = filter.sinceUnixNanoseconds { conditions.append("unix_ns >= ?"); arguments.append(since) }
        if let package = filter.package { conditions.append("package = ?"); arguments.append(package) }
        if let rule = filter.rule {
            conditions.append("(rule = ? OR contract || '/' || rule = ?)")
            arguments.append(rule)
            arguments.append(rule)
        }
        if let severity = filter.minimumSeverity { conditions.append("severity >= ?"); arguments.append(Self.rank(severity)) }
        if let after = filter.afterID { conditions.append("id > ?"); arguments.append(after) }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT id, unix_ns, json FROM violation \(whereClause) ORDER BY id DESC LIMIT ?"
        arguments.append(max(0, filter.limit))
        do {
            let rows = try pool.read { db in try GRDB.Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)) }
            let decoder = JSONDecoder()
            return try rows.reversed().map { row in
                let data: Data = row["json"]
                return Row(id: row["id"], unixNanoseconds: row["unix_ns"], violation: try decoder.decode(Violation.self, from: data))
            }
        } catch {
            throw StoreError(path: path, message: "cannot read violations: \(error)")
        }
    }

    /// Rows in the store.
    public func count() throws(StoreError) -> Int {
        do {
            return try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM violation") ?? 0 }
        } catch {
            throw StoreError(path: path, message: "cannot count violations: \(error)")
        }
    }

    /// Rows of each uid (`nil`: violations without one).
    public func countsByUID() throws(StoreError) -> [UInt32?: Int] {
        do {
            let rows = try pool.read { db in try GRDB.Row.fetchAll(db, sql: "SELECT uid, COUNT(*) AS n FROM violation GROUP BY uid") }
            var out: [UInt32?: Int] = [:]
            for row in rows { out[(row["uid"] as Int64?).map { UInt32(truncatingIfNeeded: $0) }] = row["n"] }
            return out
        } catch {
            throw StoreError(path: path, message: "cannot count violations: \(error)")
        }
    }

    /// Deletes rows older than `olderThanUnixNanoseconds` and, of each uid, the oldest beyond
    /// `maximumRows`; returns how many went.
    @discardableResult
    public func prune(olderThanUnixNanoseconds: Int64, maximumRows: Int) throws(StoreError) -> Int {
        do {
            let removed = try pool.write { db in
                try db.execute(sql: "DELETE FROM violation WHERE unix_ns < ?", arguments: [olderThanUnixNanoseconds])
                var removed = db.changesCount
                let over = try GRDB.Row.fetchAll(
                    db, sql: "SELECT COALESCE(uid, -1) AS bucket, COUNT(*) AS n FROM violation GROUP BY uid HAVING n > ?",
                    arguments: [max(0, maximumRows)])
                for row in over {
                    let n: Int = row["n"]
                    try Self.deleteOldest(n - max(0, maximumRows), of: row["bucket"], in: db)
                    removed += db.changesCount
                }
                try recount(in: db)
                return removed
            }
            return removed
        } catch {
            throw StoreError(path: path, message: "cannot prune violations: \(error)")
        }
    }
}
