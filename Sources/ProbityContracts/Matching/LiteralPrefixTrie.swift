/// The patterns of a list whose literal prefix (the bytes before their first wildcard) begins a
/// path: a byte trie over those prefixes, walked once per path.
///
/// A list of path patterns is mostly a few long shared beginnings (`/home/runner/.ssh/…`,
/// `/home/runner/.aws/…`, the same under `/root` and `/home/*`): comparing each pattern's prefix
/// with the path in turn read the same bytes once per pattern (most of the evaluator's time with
/// the built-in contract). The trie reads each byte of the path once and names only the patterns
/// whose whole prefix is there; those alone are matched in full.
struct LiteralPrefixTrie: Sendable {
    // One node per distinct prefix of a prefix; node 0 is the empty prefix. Children are a linked
    // list of siblings (few children per node, and one in the long shared runs).
    private var byte: [UInt8] = [0]
    private var firstChild: [Int32] = [-1]
    private var nextSibling: [Int32] = [-1]
    /// Per node: the last pattern added whose prefix ends there (-1: none).
    private var lastEnding: [Int32] = [-1]
    /// Per pattern: the pattern added before it whose prefix ends at the same node (-1: none).
    private var previousEnding: [Int32] = []

    /// Patterns added so far.
    var count: Int { previousEnding.count }

    /// Adds the pattern numbered `count` (its index in the caller's list), of literal prefix `prefix`.
    mutating func append(prefix: [UInt8]) {
        var node = 0
        for b in prefix {
            var child = Int(firstChild[node])
            while child >= 0 && byte[child] != b { child = Int(nextSibling[child]) }
            if child < 0 {
                child = byte.count
                byte.append(b)
                firstChild.append(-1)
                nextSibling.append(firstChild[node])
                lastEnding.append(-1)
                firstChild[node] = Int32(child)
            }
            node = child
        }
        previousEnding.append(lastEnding[node])
        lastEnding[node] = Int32(previousEnding.count - 1)
    }

    /// The lowest-numbered pattern whose literal prefix begins `bytes` and for which `matches`
    /// (the rest of the pattern tested against the whole path) is true.
    func firstMatch(_ bytes: UnsafeBufferPointer<UInt8>, where matches: (Int) -> Bool) -> Int? {
        var best = Int.max
        var node = 0
        var i = 0
        while true {
            var pattern = Int(lastEnding[node])
            while pattern >= 0 {
                if pattern < best && matches(pattern) { best = pattern }
                pattern = Int(previousEnding[pattern])
            }
            guard i < bytes.count else { break }
            let b = bytes[i]
            var child = Int(firstChild[node])
            while child >= 0 && byte[child] != b { child = Int(nextSibling[child]) }
            if child < 0 { break }
            node = child
            i += 1
        }
        return best == Int.max ? nil : best
    }
}
