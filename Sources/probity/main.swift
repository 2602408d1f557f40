import Foundation
import ArgumentParser
import ProbityAttribution
import ProbityContracts
import ProbityDaemon
import ProbityEvents
import ProbityMonitor

/// The `probity` command: parses arguments, then calls into ProbityMonitor.
struct Probity: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probity",
        abstract: "eBPF behavioural monitor: what did this code actually do?",
        discussion: """
            Shell completion: probity --generate-completion-script bash|zsh|fish (installed by \
            make install). Manual: man probity (docs/man/probity.1).

            Examples:
              sudo probity trace --json -- npm install
              sudo probity run -- npm ci
              probity policy check my-policy.yaml
              probity sbom diff old.cdx.json new.cdx.json
            """,
        version: ProbityVersion.string,
        subcommands: [TraceCommand.self, RunCommand.self, LearnCommand.self, PolicyCommand.self, StatusCommand.self, ViolationsCommand.self, FollowCommand.self, ReloadCommand.self, WhoseCommand.self, SBOMCommand.self]
    )
}

struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Stream exec, open, connect, fork and exit events from the kernel.",
        discussion: """
            With -- CMD, starts CMD (looked up in PATH first), follows exactly its process tree and \
            exits with its status; SIGINT or SIGTERM to probity is passed on to CMD. With --pid N, \
            follows N and its descendants until they have all exited. Otherwise traces the whole \
            host until interrupted. Hook and loss figures are printed to standard error at exit.

            Events go to -o FILE, else to standard output. With -- CMD and no -o, CMD's own \
            standard output is sent to standard error, so that standard output carries only \
            events; use -o FILE to leave CMD's standard output alone.

            Examples:
              probity trace -q --json -- make | jq 'select(.kind == "connect")'
              probity trace -o events.txt -- ./configure
              probity trace --json --pid 1234 > events.jsonl
            """
    )

    @Option(name: [.customShort("o"), .customLong("output")], help: ArgumentHelp("Write events to this file (created or truncated).", valueName: "file"))
    var output: String?

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
        try checkRange(ringBufferMiB, TraceOptions.ringBufferMiBRange, "--ring-buffer-mb")
        try checkRange(coalesceMilliseconds, TraceOptions.coalesceMillisecondsRange, "--coalesce-ms")
        if let pid { try checkRange(pid, TraceOptions.pidRange, "--pid") }
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
        options.outputFile = output
        let status: Int32
        do {
            status = try Trace.run(options)
        } catch let failure as CommandLookup.Failure {
            FileHandle.standardError.write(Data("probity: \(failure)\n".utf8))
            throw ExitCode(failure.status)
        } catch {
            FileHandle.standardError.write(Data("probity: \(error)\n".utf8))
            throw ExitCode(1)
        }
        throw ExitCode(status)
    }
}

struct WhoseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "whose",
        abstract: "Which installed package owns each path (like dpkg -S, across dpkg, pip and npm).",
        discussion: """
            Relative paths are taken from the current directory. Exits 1 when a path has no owner.

            Examples:
              probity whose /usr/bin/curl
              probity whose --json node_modules/.bin/*
            """
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
        commandName: "sbom", abstract: "Read SBOMs (CycloneDX, SPDX 2, SPDX 3).",
        discussion: """
            Examples:
              probity sbom inspect build/sbom.cdx.json
              probity sbom diff --fail-on new-transitive main.spdx.json branch.spdx.json
            """,
        subcommands: [Inspect.self, Diff.self])

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Added, removed and changed packages, new transitive packages, changed file hashes.",
            discussion: """
                Packages are compared by purl in the purl specification's canonical form, without \
                version, qualifiers and subpath (pkg:deb/debian/libstdc%2B%2B6 and \
                pkg:DEB/debian/libstdc++6 are one package), else by name; a purl that is not valid is \
                compared as written, with a warning. Exits 1 when --fail-on finds its kind of change, \
                2 when a file cannot be read.

                Examples:
                  probity sbom diff old.cdx.json new.cdx.json
                  probity sbom diff --json --fail-on new old.spdx.json new.spdx.json | jq .added
                """)

        @Flag(help: "Write one JSON object: added, new_transitive, removed (packages: name, version, ecosystem, purl, direct), changed (old, new), changed_file_hashes.")
        var json = false

        @Option(name: .customLong("fail-on"), help: ArgumentHelp("Exit 1 on this kind of change: new, new-transitive or changed (repeatable).", valueName: "kind"))
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
            discussion: """
                The format is recognised from the content, not the file name. Exits 1 when a file \
                cannot be read.

                Examples:
                  probity sbom inspect sbom.cdx.json sbom.spdx.json
                  probity sbom inspect --json sbom.cdx.json | jq .problems
                """)

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

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command under the probes and hold every package in its tree to its contract.",
        discussion: """
            Writes events.jsonl, violations.json, report.sarif, junit.xml and summary.md into the report \
            directory, and appends the summary to $GITHUB_STEP_SUMMARY when it is set. Exits with the \
            command's status when clean, 86 when a contract was violated, 87 when events were lost, \
            88 when a process of the tree could not be watched (a kernel map was full) (docs/contracts.md). \
            The command runs as the user who invoked sudo (SUDO_UID), the --user given, or else the \
            current user, without capabilities and with no_new_privs.

            Violations are printed to standard error as they are found, also with -q.

            Examples:
              sudo probity run -- npm ci
              sudo probity run --policy builtin --policy team.yaml --fail-on high -- make
              sudo probity run --baseline-sbom main.cdx.json --report out -- pip install .
            """)

    @OptionGroup var shared: RunSharedOptions

    @Option(name: .customLong("baseline-sbom"), help: ArgumentHelp("An earlier SBOM: packages absent from it are `new`, others `changed`.", valueName: "file"))
    var baselineSBOM: String?

    @Option(help: ArgumentHelp("audit (report) or enforce (carry out kill and deny actions).", valueName: "mode"))
    var mode = "audit"

    @Option(name: .customLong("fail-on"), help: ArgumentHelp("The least severity that fails the run: low, medium, high or critical.", valueName: "severity"))
    var failOn = "low"

    @Flag(name: .customLong("allow-loss"), help: "Do not fail the run when events were lost.")
    var allowLoss = false

    @Option(name: .customLong("ring-buffer-mb"), help: "BPF ring buffer size in MiB.")
    var ringBufferMiB = 16

    @Flag(name: .shortAndLong, help: "Print only violations, failures and the verdict (no hooks, counts or DNS figures).")
    var quiet = false

    @Argument(parsing: .postTerminator, help: "The command to run.")
    var command: [String] = []

    func validate() throws {
        if command.isEmpty { throw ValidationError("give the command after --: probity run [options] -- CMD ARGS") }
        if !["audit", "enforce"].contains(mode) { throw ValidationError("--mode is audit or enforce") }
        try checkSeverity(failOn, option: "--fail-on")
        try checkRange(ringBufferMiB, TraceOptions.ringBufferMiBRange, "--ring-buffer-mb")
    }

    func run() throws {
        var options = shared.options()
        options.baselineSBOM = baselineSBOM
        options.enforce = mode == "enforce"
        options.failOn = Severity(rawValue: failOn) ?? .low
        options.allowLoss = allowLoss
        options.ringBufferBytes = ringBufferMiB << 20
        options.verbose = !quiet
        options.command = command
        try runOrFail(options)
    }
}


/// Stops with a usage error (status 64) unless `severity` is one of the four.
func checkSeverity(_ severity: String?, option: String = "--severity") throws {
    if let severity, Severity(rawValue: severity) == nil {
        throw ValidationError("\(option) \(severity): expected one of low, medium, high, critical")
    }
}

/// Stops with a usage error naming `option` and its range when `value` lies outside it
/// (before anything is computed from it).
func checkRange<Number: BinaryInteger>(_ value: Number, _ range: ClosedRange<Number>, _ option: String) throws {
    do {
        try NumberRange.check(value, in: range, name: option)
    } catch {
        throw ValidationError(error.description)
    }
}

/// Runs `probity run` / `probity learn` and exits with its status; Probity's own failure (bad
/// policy, probes refused) is status 2, told apart from the command's.
func runOrFail(_ options: RunOptions) throws -> Never {
    // A command that cannot be found, or a report directory that cannot be made, is named at
    // once, before the probes load.
    do { try RunPreflight.check(options) } catch {
        FileHandle.standardError.write(Data("probity: \(error)\n".utf8))
        throw ExitCode(error.status)
    }
    let status: Int32
    do {
        status = try Run.run(options)
    } catch {
        FileHandle.standardError.write(Data("probity: \(error)\n".utf8))
        throw ExitCode(RunStatus.failure)
    }
    throw ExitCode(status)
}

/// The options `probity run` and `probity learn` share.
struct RunSharedOptions: ParsableArguments {
    @Option(name: .customLong("policy"), help: ArgumentHelp("A policy file (repeatable; `builtin` is the built-in one, used when none is given).", valueName: "file"))
    var policies: [String] = []

    @Flag(name: .customLong("replace-builtin"), help: "Judge by the --policy files alone: the built-in contracts a learnt file extends (its `base:`) are not added.")
    var replaceBuiltin = false

    @Option(name: .customLong("sbom"), help: "An SBOM whose file paths attribute events (repeatable).")
    var sboms: [String] = []

    @Option(name: .customLong("sbom-root"), help: "The directory relative SBOM paths are relative to.")
    var sbomRoot = "/"

    @Option(name: .customLong("report"), help: ArgumentHelp("The report directory (created if missing).", valueName: "dir"))
    var reportDirectory = "probity-report"

    @Option(name: .customLong("resolv-conf"), help: ArgumentHelp("Read the DNS resolvers ({resolvers}; the only servers whose answers are believed) from this file.", valueName: "file"))
    var resolvConf = "/etc/resolv.conf"

    @Option(name: .customLong("user"), help: ArgumentHelp("Run the command as this user (name or uid). (default: the user who invoked sudo, else the current user)", valueName: "user"))
    var user: String?

    /// For tests: the entries of the kernel's followed-process maps, to fill them (docs/contracts.md).
    @Option(name: .customLong("max-tracked"), help: .hidden)
    var maxTracked: UInt32?

    func validate() throws {
        if let maxTracked { try checkRange(maxTracked, 1...1_048_576, "--max-tracked") }
    }

    func options() -> RunOptions {
        var options = RunOptions()
        options.user = user
        options.maxTracked = maxTracked
        options.policies = policies
        options.replaceBuiltin = replaceBuiltin
        options.sboms = sboms
        options.sbomRoot = sbomRoot
        options.reportDirectory = reportDirectory
        options.resolvConf = resolvConf
        return options
    }
}

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "Work with contract files (docs/contracts.md).",
        discussion: """
            Examples:
              probity policy check my-policy.yaml
              probity policy check builtin probity-learned.yaml
            """,
        subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate policy files: every problem is reported as file:line:column: message.",
            discussion: """
                Files given together are also checked together, as `probity run --policy A --policy B` \
                loads them (contract names, `extends`, amendments); the rule counts are the ones `run` \
                reports (after inheritance). Without a file, checks the built-in policy. Exits 1 when \
                a problem was found.

                Examples:
                  probity policy check my-policy.yaml
                  probity policy check builtin probity-learned.yaml
                """)

        @Argument(help: "Policy files (`builtin` for the built-in one, the default).")
        var files: [String] = []

        func run() throws {
            if files.isEmpty { FileHandle.standardError.write(Data("probity: no file given: checking the built-in policy\n".utf8)) }
            throw ExitCode(PolicyCheck.run(files: files.isEmpty ? ["builtin"] : files))
        }
    }
}

struct LearnCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "learn",
        abstract: "Watch a known-good run and write the contracts under which it passes.",
        discussion: """
            Runs the command like `probity run`, then writes, for every package that broke a rule, a \
            contract that extends the one that judged it and amends each broken rule with exceptions \
            for exactly what the package did. The reports of the run go to the report directory, as \
            with `probity run`. Exits with the command's status.

            Examples:
              sudo probity learn -- npm ci
              sudo probity learn -o team-learned.yaml --report learn-report -- make test
              probity run --policy team-learned.yaml --policy builtin -- make test
            """)

    @OptionGroup var shared: RunSharedOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the learnt contracts.", valueName: "file"))
    var output = "probity-learned.yaml"

    @Flag(name: .shortAndLong, help: "Print only the outcome (no hooks, counts or violations).")
    var quiet = false

    @Argument(parsing: .postTerminator, help: "The command to run.")
    var command: [String] = []

    func validate() throws {
        if command.isEmpty { throw ValidationError("give the command after --: probity learn [options] -- CMD ARGS") }
    }

    func run() throws {
        var options = shared.options()
        options.learnOutput = output
        options.allowLoss = true
        options.verbose = !quiet
        options.printViolations = !quiet
        options.stepSummary = nil
        options.command = command
        try runOrFail(options)
    }
}

/// Options every client of the control socket shares.
struct ClientOptions: ParsableArguments {
    /// `--severity` of `violations` and `follow`.
    static var severityHelp: ArgumentHelp {
        ArgumentHelp("At least this severity: low, medium, high or critical. (default: all)", valueName: "severity")
    }

    @Option(help: ArgumentHelp("probityd's control socket.", valueName: "path"))
    var socket = "/run/probity/probity.sock"

    @Flag(help: "Print the daemon's JSON answer.")
    var json = false

    func connect() throws -> ControlClient {
        do { return try ControlClient(path: socket) } catch {
            FileHandle.standardError.write(Data("probity: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}

/// Prints a JSON object on one line.
func printJSON(_ object: Any) {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    print(String(decoding: data, as: UTF8.self))
}

/// Stops with the daemon's error, if it answered with one.
func checkAnswer(_ answer: [String: Any]) throws {
    if answer["ok"] as? Bool != true {
        FileHandle.standardError.write(Data("probity: probityd: \(ClientText.value(answer["error"], or: "error"))\n".utf8))
        throw ExitCode(1)
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "What probityd is doing: hooks, events, loss, contracts.",
        discussion: """
            Exits 2 when probityd cannot be reached.

            Examples:
              probity status
              probity status --json | jq .lost
            """)
    @OptionGroup var client: ClientOptions

    func run() throws {
        let answer = try client.connect().request(["request": "status"])
        if client.json { printJSON(answer); return }
        try checkAnswer(answer)
        let contracts = answer["contracts"] as? [String: Any] ?? [:]
        let hooks = answer["hooks"] as? [[String: Any]] ?? []
        let events = (answer["events"] as? [String: Any] ?? [:]).sorted { $0.key < $1.key }.map { "\(ClientText.value($0.key)) \(ClientText.value($0.value, or: "0"))" }
        let lost = (answer["lost"] as? [String: Any] ?? [:]).values.compactMap { $0 as? Int }.reduce(0, +)
        print("probityd pid \(ClientText.value(answer["pid"], or: "?")), up \(ClientText.value(answer["uptime_seconds"], or: "0")) s")
        print("hooks:      \(hooks.filter { $0["state"] as? String == "attached" }.count)/\(hooks.count) attached")
        print("events:     \(events.joined(separator: ", "))")
        print("lost:       \(lost)")
        print("contracts:  \(ClientText.value(contracts["contracts"], or: "0")) (\(ClientText.value(contracts["rules"], or: "0")) rules, generation \(ClientText.value(contracts["generation"], or: "0"))) from \((contracts["files"] as? [String] ?? []).map { ClientText.value($0) }.joined(separator: ", "))")
        print("violations: \(ClientText.value(answer["violations"], or: "0")) since start; store \(ClientText.value((answer["store"] as? [String: Any])?["rows"], or: "0")) rows")
    }
}

struct ViolationsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "violations", abstract: "Violations probityd has stored.",
        discussion: """
            A table, oldest first, times in the local time zone (ISO 8601 with the offset); --json \
            gives the daemon's answer, times in UTC with nanoseconds.

            Examples:
              probity violations --since 1h
              probity violations --package left-pad --severity high --limit 10
              probity violations --json --since 2026-01-01T00:00:00Z | jq .violations
            """)
    @OptionGroup var client: ClientOptions
    @Option(help: ArgumentHelp("Since a time: 30s, 15m, 1h, 7d, RFC 3339, or unix seconds. (default: all stored)", valueName: "time")) var since: String?
    @Option(help: ArgumentHelp("Only this package.", valueName: "name")) var package: String?
    @Option(help: ArgumentHelp("Only this rule (id or contract/id).", valueName: "rule")) var rule: String?
    @Option(help: ClientOptions.severityHelp) var severity: String?
    @Option(help: ArgumentHelp("At most this many (the newest), 1...10000.", valueName: "n")) var limit = 100

    func validate() throws {
        try checkRange(limit, 1...10_000, "--limit")
        try checkSeverity(severity)
    }

    func run() throws {
        var request: [String: Any] = ["request": "violations", "limit": limit]
        if let since { request["since"] = since }
        if let package { request["package"] = package }
        if let rule { request["rule"] = rule }
        if let severity { request["severity"] = severity }
        let answer = try client.connect().request(request)
        if client.json { printJSON(answer); return }
        try checkAnswer(answer)
        let list = answer["violations"] as? [[String: Any]] ?? []
        if list.isEmpty { print("no violations"); return }
        for line in ClientText.table(header: ClientText.violationHeader, rows: list.map { ClientText.violation($0) }) { print(line) }
    }
}

struct FollowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "follow", abstract: "Stream new violations (and events, with --events) as they happen.",
        discussion: """
            A table with a header line, times in the local time zone (ISO 8601 with the offset); \
            --json gives one JSON object per line as the daemon sends it. Runs until interrupted.

            Examples:
              probity follow --severity high
              probity follow --events --package left-pad
              probity follow --json | jq -c '.violation | select(. != null)'
            """)
    @OptionGroup var client: ClientOptions
    @Flag(help: "Also stream events.") var events = false
    @Option(help: ArgumentHelp("Only this package.", valueName: "name")) var package: String?
    @Option(help: ArgumentHelp("Only this rule (id or contract/id).", valueName: "rule")) var rule: String?
    @Option(help: ClientOptions.severityHelp) var severity: String?

    func validate() throws { try checkSeverity(severity) }

    func run() throws {
        let connection = try client.connect()
        var request: [String: Any] = ["request": "follow", "what": events ? ["violations", "events"] : ["violations"]]
        if let package { request["package"] = package }
        if let rule { request["rule"] = rule }
        if let severity { request["severity"] = severity }
        try checkAnswer(try connection.request(request))
        if !client.json {
            print(ClientText.line(events ? ClientText.followEventsHeader : ClientText.violationHeader, widths: ClientText.followWidths))
            fflush(nil)
        }
        while let line = try connection.readObject() {
            if client.json { printJSON(line) } else if let v = line["violation"] as? [String: Any] {
                print(ClientText.line(ClientText.violation(v), widths: ClientText.followWidths))
            } else if let e = line["event"] as? [String: Any] {
                print(ClientText.line(ClientText.event(e), widths: ClientText.followWidths))
            }
            fflush(nil)
        }
    }
}

struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload", abstract: "Reload probityd's contracts (a broken file is refused; the old set stays).",
        discussion: """
            Check the files first with probity policy check. Exits 1 when probityd refused them.

            Examples:
              probity policy check builtin /etc/probity/team.yaml && probity reload
              systemctl reload probity
            """)
    @OptionGroup var client: ClientOptions

    func run() throws {
        let answer = try client.connect().request(["request": "reload"])
        if client.json { printJSON(answer) } else if answer["ok"] as? Bool == true { print("reloaded: generation \(ClientText.value(answer["generation"], or: "?"))") }
        try checkAnswer(answer)
    }
}
