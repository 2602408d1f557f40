import ProbityContracts
import ProbityEvents
import ProbitySinks

/// `probity policy check`: validates policy files, every problem of each, then the files
/// together (names, `extends`, amendments) as `probity run --policy …` would load them.
public enum PolicyCheck {
    /// Prints every problem as `file:line:column: message` to standard error and, when there are
    /// none, one `ok` line per file with the counts `probity run` reports for the same files
    /// (rules after inheritance). Returns 0 when the files are valid, 1 if not.
    public static func run(files: [String], variables: ContractVariables = .fromEnvironment()) -> Int32 {
        var documents: [PolicyDocument] = []
        var problems: [ContractError] = []
        // The files named, then the policies they name as their `base` (as `run` loads them).
        if let overflow = PolicyLoader.visit(files, { file in
            let (document, found) = file == "builtin" ? builtIn() : PolicyLoader.check(contentsOf: file)
            problems += found
            if let document { documents.append(document) }
            return document
        }) { problems.append(overflow) }
        // Names and inheritance across the files, also when a file has problems of its own
        // (what it could read is checked; each problem is said once).
        var said = Set(problems.map(\.description))
        for problem in ContractSet.problems(documents: documents) where said.insert(problem.description).inserted {
            problems.append(problem)
        }
        if problems.isEmpty {
            do throws(ContractError) {
                let set = try ContractSet(documents: documents, variables: variables)
                guard set.ruleCount > 0 else {
                    throw ContractError(file: documents.map(\.file).joined(separator: ", "),
                                        message: "no rule: `probity run` refuses to judge by contracts that judge nothing")
                }
                for document in documents {
                    let counts = set.counts(inFile: document.file)
                    print("\(TerminalText.safe(document.file)): ok (\(English.count(counts.contracts, "contract")), \(English.count(counts.rules, "rule")))")
                }
                if documents.count > 1 { print("together: ok (\(English.count(set.contractCount, "contract")), \(English.count(set.ruleCount, "rule")))") }
                return 0
            } catch {
                problems.append(error)
            }
        }
        for problem in problems { printError("\(problem)\n") }
        printError("probity: \(English.count(problems.count, "problem")) found\n")
        return 1
    }

    static func builtIn() -> (PolicyDocument?, [ContractError]) {
        do { return (try PolicyLoader.builtIn(), []) } catch { return (nil, [error]) }
    }
}
