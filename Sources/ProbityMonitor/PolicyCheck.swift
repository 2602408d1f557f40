import ProbityContracts
import ProbitySinks

/// `probity policy check`: validates policy files, every problem of each, then the files
/// together (names, `extends`, amendments) as `probity run --policy …` would load them.
public enum PolicyCheck {
    /// Prints every problem as `file:line:column: message` to standard error and, when there are
    /// none, one `ok` line per file with the counts `probity run` reports for the same files
    /// (rules after inheritance). Returns 0 when the files are valid, 1 if not.
    public static func run(files: [String], variables: ContractVariables = .fromEnvironment()) -> Int32 {
        var documents: [PolicyDocument] = []
        var problems = 0
        for file in files {
            let (document, found) = file == "builtin" ? builtIn() : PolicyLoader.check(contentsOf: file)
            for problem in found { printError("\(problem)\n") }
            problems += found.count
            if let document, found.isEmpty { documents.append(document) }
        }
        if problems == 0 {
            do {
                let set = try ContractSet(documents: documents, variables: variables)
                for document in documents {
                    let counts = set.counts(inFile: document.file)
                    print("\(TerminalText.safe(document.file)): ok (\(plural(counts.contracts, "contract")), \(plural(counts.rules, "rule")))")
                }
                if files.count > 1 { print("together: ok (\(plural(set.contractCount, "contract")), \(plural(set.ruleCount, "rule")))") }
                return 0
            } catch {
                printError("\(error)\n")
                problems += 1
            }
        }
        printError("probity: \(plural(problems, "problem")) found\n")
        return 1
    }

    static func builtIn() -> (PolicyDocument?, [ContractError]) {
        do { return (try PolicyLoader.builtIn(), []) } catch { return (nil, [error]) }
    }

    static func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
}
