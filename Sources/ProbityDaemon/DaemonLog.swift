#if canImport(Glibc)
import Glibc
#endif
import ProbitySinks

/// The daemon's own log lines: to journald with structured fields when systemd started it with
/// the journal as standard error (`$JOURNAL_STREAM`), else to standard error. Paths and names it
/// quotes come from the code under watch: every control character is rendered visibly, so that
/// one entry stays one line and drives no terminal reading the log.
struct DaemonLog: Sendable {
    let journal: JournalWriter?
    let toJournal: Bool

    init(environment: [String: String], journal: JournalWriter?) {
        self.journal = journal
        toJournal = environment["JOURNAL_STREAM"] != nil
    }

    /// One line; `priority` is syslog's (3 error, 4 warning, 6 information).
    func callAsFunction(_ text: String, priority: Int = 6) {
        let text = TerminalText.safe(text)
        if toJournal, let journal, journal.send([
            ("MESSAGE", text), ("PRIORITY", "\(priority)"), ("SYSLOG_IDENTIFIER", "probityd"), ("PROBITY_COMPONENT", "daemon"),
        ]) { return }
        var line = "probityd: \(text)\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}
