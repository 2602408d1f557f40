import ArgumentParser
import Foundation
import ProbityDaemon

/// `probityd`: parses arguments, then runs the daemon (ProbityDaemon).
struct ProbityDaemonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probityd",
        abstract: "The Probity service: watch the host, judge every package by its contract, store and publish violations.",
        discussion: "Settings come from /etc/probity/config.yaml (docs/daemon.md); each flag overrides the file.")

    @Option(name: .customLong("config"), help: "The configuration file (default /etc/probity/config.yaml, optional).")
    var configuration: String?

    @Option(name: .customLong("socket"), help: "The control socket (default /run/probity/probity.sock). Its directory must exist, except the default /run/probity, which is created.")
    var socket: String?

    @Option(name: .customLong("state-dir"), help: "Where the violation store lives (default /var/lib/probity; created with its parents if missing).")
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
