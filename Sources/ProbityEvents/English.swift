/// Counts in English, so that no message says "1 edges" or "1 findings".
public enum English {
    /// `1 rule`, `2 rules`; `plural` for the irregular ones (`1 file hash`, `2 file hashes`).
    public static func count<Number: BinaryInteger>(_ n: Number, _ singular: String, _ plural: String? = nil) -> String {
        "\(n) \(n == 1 ? singular : plural ?? singular + "s")"
    }
}
