#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbitySinks

/// The text tables `probity violations` and `probity follow` print for the daemon's answers.
///
/// Every value in an answer may come from the code under watch (paths, argv, package names,
/// messages quoting them), so each goes through ``TerminalText/safe(_:)``: a line holds no
/// control character and no escape sequence, and one record is one line.
///
/// Times are ISO 8601 in the local time zone with its offset (`2026-01-01T01:00:00+01:00`), to
/// the second; the daemon's answers keep RFC 3339 in UTC with nanoseconds (`--json`).
public enum ClientText {
    /// The columns of a violation row.
    public static let violationHeader = ["TIME", "SEVERITY", "PACKAGE", "RULE", "MESSAGE"]
    /// The columns of `probity follow --events`, where event rows share the table.
    public static let followEventsHeader = ["TIME", "SEVERITY/EVENT", "PACKAGE/PID", "RULE", "MESSAGE/OBJECT"]
    /// The least widths of the columns of `probity follow` (a stream cannot be measured first).
    public static let followWidths = [25, 8, 24, 24]

    /// `time, severity, package@version, contract/rule, message` for one stored or followed violation.
    public static func violation(_ v: [String: Any], timeZone: TimeZone = .current) -> [String] {
        let package = (v["package"] as? [String: Any]).map { "\(value($0["name"], or: "?"))@\(value($0["version"], or: "?"))" }
            ?? "unattributed"
        return [time(v["time"], timeZone: timeZone), value(v["severity"]), package, "\(value(v["contract"]))/\(value(v["rule"]))",
                value(v["message"])]
    }

    /// `time, kind, pid N, -, path-or-exe-or-address` for one followed event.
    public static func event(_ e: [String: Any], timeZone: TimeZone = .current) -> [String] {
        [time(e["time"], timeZone: timeZone), value(e["kind"]), "pid \(value(e["pid"]))", "-", value(e["path"] ?? e["exe"] ?? e["address"])]
    }

    /// Rows as lines, each column but the last padded to `widths` (at least), two spaces apart.
    public static func line(_ cells: [String], widths: [Int]) -> String {
        var text = ""
        for (i, cell) in cells.enumerated() {
            if i > 0 { text += "  " }
            text += cell
            if i < cells.count - 1, i < widths.count, cell.count < widths[i] { text += String(repeating: " ", count: widths[i] - cell.count) }
        }
        return text
    }

    /// A header and rows, every column as wide as its widest cell (the last one unpadded).
    public static func table(header: [String], rows: [[String]]) -> [String] {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        return ([header] + rows).map { line($0, widths: widths) }
    }

    /// An RFC 3339 time of the daemon (`2026-01-01T00:00:00.123456789Z`) in `timeZone`, to the
    /// second, with the offset: `2026-01-01T01:00:00+01:00`. Anything else is shown as it is.
    public static func time(_ any: Any?, timeZone: TimeZone = .current) -> String {
        let text = value(any, or: "-")
        guard let instant = parseRFC3339(text) else { return text }
        let offset = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant)))
        var shifted = instant + offset
        var fields = tm()
        guard gmtime_r(&shifted, &fields) != nil else { return text }
        let sign = offset < 0 ? "-" : "+"
        let minutes = abs(offset) / 60
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d%@%02d:%02d", Int(fields.tm_year) + 1900, Int(fields.tm_mon) + 1, Int(fields.tm_mday),
            Int(fields.tm_hour), Int(fields.tm_min), Int(fields.tm_sec), sign, minutes / 60, minutes % 60)
    }

    /// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, or nil.
    static func parseRFC3339(_ text: String) -> Int? {
        let b = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var n = 0
            for i in from..<from + count {
                guard (48...57).contains(b[i]) else { return nil }
                n = n * 10 + Int(b[i] - 48)
            }
            return n
        }
        guard b.count >= 20, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: " "),
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var i = 19
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            while i < b.count, (48...57).contains(b[i]) { i += 1 }
        }
        var offset = 0
        if i < b.count, b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-"), i + 6 == b.count, b[i + 3] == UInt8(ascii: ":"),
                  let h = number(i + 1, 2), let m = number(i + 4, 2) {
            offset = (h * 60 + m) * 60 * (b[i] == UInt8(ascii: "-") ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        var fields = tm()
        fields.tm_year = Int32(year - 1900)
        fields.tm_mon = Int32(month - 1)
        fields.tm_mday = Int32(day)
        fields.tm_hour = Int32(hour)
        fields.tm_min = Int32(minute)
        fields.tm_sec = Int32(second)
        return Int(timegm(&fields)) - offset
    }

    /// One value of an answer as terminal-safe text (`fallback` when it is absent or null).
    public static func value(_ any: Any?, or fallback: String = "") -> String {
        guard let any, !(any is NSNull) else { return fallback }
        return TerminalText.safe(any as? String ?? "\(any)")
    }
}
