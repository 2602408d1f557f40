/// Probity's version: `probity --version`, `probityd --version` and the SARIF report's
/// `tool.driver.semanticVersion` all say this.
public enum ProbityVersion {
    public static let string = "0.1.0"
}
