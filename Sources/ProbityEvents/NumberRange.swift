/// Numbers that people give Probity (command-line options, configuration settings) are checked
/// against the range in which everything computed from them (nanoseconds from days, bytes from
/// MiB) fits its type, before anything is computed: a bad number is an error that names the
/// option or setting and the range, never a trap.

/// A number outside the range its option or setting accepts.
public struct NumberOutOfRange: Error, CustomStringConvertible, Sendable, Equatable {
    /// The option or setting, as the person wrote it (`--coalesce-ms`, `retention-days`).
    public var name: String
    /// The accepted range, as `lower...upper`.
    public var range: String
    /// The value given.
    public var value: String

    public init(name: String, range: String, value: String) {
        self.name = name
        self.range = range
        self.value = value
    }

    /// `--coalesce-ms must be 0...3600000 (got 18446744073709551615)`.
    public var description: String { "\(name) must be \(range) (got \(value))" }
}

/// Checks numbers against their ranges.
public enum NumberRange {
    /// `value` when it lies in `range`; else ``NumberOutOfRange`` naming `name`.
    @discardableResult
    public static func check<Number: BinaryInteger>(_ value: Number, in range: ClosedRange<Number>, name: String) throws(NumberOutOfRange) -> Number {
        guard range.contains(value) else {
            throw NumberOutOfRange(name: name, range: "\(range.lowerBound)...\(range.upperBound)", value: "\(value)")
        }
        return value
    }
}
