import ArgumentParser
import Foundation
import ProbityDaemon
import ProbityEvents

/// `probityd`: parses arguments, then runs the daemon (ProbityDaemon).
struct ProbityDaemonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probityd",
        abstract: "The Probity service: watch the host, judge every package by its contract, store and publish violations.",
        discussion: """
            Settings come from /etc/probity/config.yaml (docs/daemon.md); each flag overrides the file. \
            SIGHUP reloads the contracts; SIGTERM stops. Runs as root (or with CAP_BPF, CAP_PERFMON \
            and CAP_SYS_RESOURCE), normally under systemd (systemd/probity.service).

            Examples:
              systemctl enable --now probity
              probityd --socket /tmp/probity.sock --state-dir /tmp/probity-state
            """,
        version: ProbityVersion.string)

    @Option(name: .customLong("config"), help: ArgumentHelp("The configuration file; optional. (default: /etc/probity/config.yaml)", valueName: "file"))
    var configuration: String?

    @Option(name: .customLong("socket"), help: ArgumentHelp("The control socket. Its directory must exist, except the default /run/probity, which is created. (default: /run/probity/probity.sock, or the file's `socket`)", valueName: "path"))
    var socket: String?

    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Where the violation store lives; created with its parents if missing. (default: /var/lib/probity, or the file's `state-directory`)", valueName: "dir"))
    var stateDirectory: String?

    func run() throws {
        var options = DaemonOptions()
        options.configurationPath = configuration
        options.socketPath = socket
        options.stateDirectory = stateDirectory
        do {
            throw ExitCode(try Daemon.run(options))
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data("probityd: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

ProbityDaemonCommand.main()
