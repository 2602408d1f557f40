import ProbityContracts
import ProbitySinks

/// `probity policy check`: validates policy files one by one, then together (names, `extends`).
public enum PolicyCheck {
    /// Prints one line per file and returns the exit status: 0 when every file is valid, 1 if not.
    public static func run(files: [String], variables: ContractVariables = .fromEnvironment()) -> Int32 {
        var documents: [PolicyDocument] = []
        var failed = false
        for file in files {
            do {
                let document = file == "builtin" ? try PolicyLoader.builtIn() : try PolicyLoader.load(contentsOf: file)
                let rules = document.contracts.reduce(0) { $0 + $1.rules.count }
                print("\(TerminalText.safe(document.file)): ok (\(document.contracts.count) contracts, \(rules) rules)")
                documents.append(document)
            } catch {
                printError("\(error)\n")
                failed = true
            }
        }
        if !failed {
            do {
                let set = try ContractSet(documents: documents, variables: variables)
                if files.count > 1 { print("together: ok (\(set.contractCount) contracts, \(set.ruleCount) rules after inheritance)") }
            } catch {
                printError("\(error)\n")
                failed = true
            }
        }
        return failed ? 1 : 0
    }
}
