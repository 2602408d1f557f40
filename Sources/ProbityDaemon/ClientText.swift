import Foundation
import ProbitySinks

/// The text lines `probity violations` and `probity follow` print for the daemon's answers.
///
/// Every value in an answer may come from the code under watch (paths, argv, package names,
/// messages quoting them), so each goes through ``TerminalText/safe(_:)``: a line holds no
/// control character and no escape sequence, and one record is one line.
public enum ClientText {
    /// `time  severity  package@version  contract/rule  message` for one stored or followed violation.
    public static func violation(_ v: [String: Any]) -> String {
        let package = (v["package"] as? [String: Any]).map { "\(value($0["name"], or: "?"))@\(value($0["version"], or: "?"))" }
            ?? "unattributed"
        let time = value(v["time"]).prefix(19)
        return "\(time)  \(value(v["severity"]))  \(package)  \(value(v["contract"]))/\(value(v["rule"]))  \(value(v["message"]))"
    }

    /// `time  kind  pid N  path-or-exe-or-address` for one followed event.
    public static func event(_ e: [String: Any]) -> String {
        let what = e["path"] ?? e["exe"] ?? e["address"]
        return "\(value(e["time"]))  \(value(e["kind"]))  pid \(value(e["pid"]))  \(value(what))"
    }

    /// One value of an answer as terminal-safe text (`fallback` when it is absent or null).
    public static func value(_ any: Any?, or fallback: String = "") -> String {
        guard let any, !(any is NSNull) else { return fallback }
        return TerminalText.safe(any as? String ?? "\(any)")
    }
}
