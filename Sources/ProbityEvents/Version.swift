/// Probity's version: `probity --version`, `probityd --version` and the SARIF report's
/// `tool.driver.semanticVersion` all say this.
public enum ProbityVersion {
    public static let string = "0.1.0"
    /// The project's home: SARIF's `informationUri`, rules' `helpUri`, the built-in policy's URI.
    /// (The unit file's `Documentation=` names it too.)
    public static let repository = "https://github.com/probity/probity"
}
