import Synchronization
import ProbitySinks

/// The fleet export (`export-file`): one JSON line per violation (and per event with
/// `export-events`), appended to a size-rotated file for log shippers. Violations come from the
/// pipeline and the re-validation threads, events from the pipeline: the file is written under
/// one lock, so that lines never interleave and a rotation never races a write.
final class FleetExport: Sendable {
    private let file: Mutex<RotatingJSONLines>
    let path: String
    /// Whether events are exported too, not only violations.
    let includesEvents: Bool

    init(path: String, maximumBytes: Int, keep: Int, includesEvents: Bool) throws(RotatingJSONLines.ExportError) {
        let lines = try RotatingJSONLines(path: path, maximumBytes: maximumBytes, keep: keep)
        file = Mutex(lines)
        self.path = path
        self.includesEvents = includesEvents
    }

    /// Appends one line (without its newline).
    func append(_ line: [UInt8]) throws(RotatingJSONLines.ExportError) {
        try file.withLock { (file: inout RotatingJSONLines) throws(RotatingJSONLines.ExportError) in try file.append(line) }
    }
}
