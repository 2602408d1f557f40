import Foundation
import GRDB
import ProbityContracts

/// Violations with their evidence in SQLite (WAL), under the daemon's state directory.
///
/// A violation is committed before anyone is told about it: `insert` returns once the row is in
/// the write-ahead log, which survives the process being killed. Retention keeps the table within
/// an age and a row count.
public final class ViolationStore: Sendable {
    private let pool: DatabasePool
    public let path: String

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
    public init(path: String) throws(StoreError) {
        self.path = path
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
            try migrator.migrate(pool)
        } catch {
            throw StoreError(path: path, message: "cannot open the violation store: \(error)")
        }
    }

    static func rank(_ severity: Severity) -> Int { Severity.allCases.firstIndex(of: severity) ?? 0 }

    /// Commits `violation`; returns its row id.
    @discardableResult
    public func insert(_ violation: Violation, unixNanoseconds: Int64) throws(StoreError) -> Int64 {
        do {
            let json = try JSONEncoder().encode(violation)
            return try pool.write { db in
                try db.execute(
                    sql: "INSERT INTO violation (unix_ns, severity, contract, rule, package, json) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [unixNanoseconds, Self.rank(violation.severity), violation.contract, violation.rule,
                                violation.package?.name, json])
                return db.lastInsertedRowID
            }
        } catch {
            throw StoreError(path: path, message: "cannot store a violation: \(error)")
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

    /// Deletes rows older than `olderThanUnixNanoseconds` and the oldest beyond `maximumRows`;
    /// returns how many went.
    @discardableResult
    public func prune(olderThanUnixNanoseconds: Int64, maximumRows: Int) throws(StoreError) -> Int {
        do {
            return try pool.write { db in
                try db.execute(sql: "DELETE FROM violation WHERE unix_ns < ?", arguments: [olderThanUnixNanoseconds])
                var removed = db.changesCount
                try db.execute(
                    sql: "DELETE FROM violation WHERE id <= (SELECT id FROM violation ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    arguments: [maximumRows])
                removed += db.changesCount
                return removed
            }
        } catch {
            throw StoreError(path: path, message: "cannot prune violations: \(error)")
        }
    }
}
