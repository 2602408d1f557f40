import ArgumentParser
import ProbityAttribution
import ProbityMonitor

/// The `probity` command: parses arguments, then calls into ProbityMonitor.
struct Probity: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probity",
        abstract: "eBPF behavioural monitor: what did this code actually do?",
        subcommands: [TraceCommand.self, WhoseCommand.self, SBOMCommand.self]
    )
}

struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Stream exec, open, connect, fork and exit events from the kernel.",
        discussion: """
            With -- CMD, starts CMD, follows exactly its process tree and exits with its status.
            With --pid N, follows N and its descendants. Otherwise traces the whole host until
            interrupted. Loss figures are printed to standard error at exit.
            """
    )

    @Flag(help: "Write JSON lines (schema: docs/events.md).")
    var json = false

    @Option(help: "Follow this process and its descendants.")
    var pid: Int32?

    @Option(name: .customLong("ring-buffer-mb"), help: "BPF ring buffer size in MiB.")
    var ringBufferMiB: Int = 16

    @Option(name: .customLong("coalesce-ms"), help: "Fold identical opens by a process within this window (0: off).")
    var coalesceMilliseconds: UInt64 = 1000

    @Flag(name: .shortAndLong, help: "Print only events (no hook or loss summary unless events were lost).")
    var quiet = false

    @Flag(name: .customLong("no-attribution"), help: "Do not attribute events to packages.")
    var noAttribution = false

    @Option(name: .customLong("sbom"), help: "An SBOM whose file paths attribute events (repeatable).")
    var sboms: [String] = []

    @Option(name: .customLong("sbom-root"), help: "The directory relative SBOM paths are relative to.")
    var sbomRoot: String = "/"

    @Argument(parsing: .postTerminator, help: "The command to run and follow.")
    var command: [String] = []

    func validate() throws {
        if pid != nil && !command.isEmpty { throw ValidationError("--pid and a command cannot be combined") }
        if ringBufferMiB < 1 || ringBufferMiB > 1024 { throw ValidationError("--ring-buffer-mb must be 1...1024") }
    }

    func run() throws {
        var options = TraceOptions()
        options.json = json
        options.pid = pid
        options.command = command
        options.ringBufferBytes = ringBufferMiB << 20
        options.coalesceWindowNanoseconds = coalesceMilliseconds * 1_000_000
        options.verbose = !quiet
        options.attribution = !noAttribution
        options.sboms = sboms
        options.sbomRoot = sbomRoot
        let status = try Trace.run(options)
        throw ExitCode(status)
    }
}

struct WhoseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "whose",
        abstract: "Which installed package owns each path (like dpkg -S, across dpkg, pip and npm).",
        discussion: "Exits 1 when a path has no owner."
    )

    @Flag(help: "Write one JSON object per path.")
    var json = false

    @Option(name: .customLong("workspace"), help: "Where to look for node_modules and virtual environments (default: the current directory).")
    var workspaces: [String] = []

    @Argument(help: "Absolute paths.")
    var paths: [String]

    func run() throws {
        let status = Whose.run(paths: paths, workspaces: workspaces, json: json)
        if status != 0 { throw ExitCode(status) }
    }
}

struct SBOMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sbom", abstract: "Read SBOMs (CycloneDX, SPDX 2, SPDX 3).", subcommands: [Inspect.self, Diff.self])

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Added, removed and changed packages, new transitive packages, changed file hashes.",
            discussion: "Exits 1 when --fail-on finds its kind of change, 2 when a file cannot be read.")

        @Flag(help: "Write one JSON object.")
        var json = false

        @Option(name: .customLong("fail-on"), help: "new, new-transitive or changed (repeatable).")
        var failOn: [String] = []

        @Argument(help: "The old SBOM.") var old: String
        @Argument(help: "The new SBOM.") var new: String

        func validate() throws {
            for f in failOn where SBOMDiff.Failure(rawValue: f) == nil {
                throw ValidationError("--fail-on \(f): expected one of new, new-transitive, changed")
            }
        }

        func run() throws {
            let status = SBOMDiffCommand.run(old: old, new: new, json: json, failOn: failOn.compactMap(SBOMDiff.Failure.init))
            if status != 0 { throw ExitCode(status) }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Format and version, counts, files with paths and hashes, and the problems found.",
            discussion: "Exits 1 when a file cannot be read.")

        @Flag(help: "Write one JSON object per file.")
        var json = false

        @Argument(help: "SBOM files.")
        var files: [String]

        func run() throws {
            let status = SBOMInspect.run(files: files, json: json)
            if status != 0 { throw ExitCode(status) }
        }
    }
}

Probity.main()
