/// A value bound to a statement parameter (one of SQLite's five storage classes).
public enum SQLiteValue: Sendable, Hashable {
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    case null

    /// `.text(value)` or `.null` when `value` is nil.
    public static func text(_ value: String?) -> SQLiteValue {
        value.map { .text($0) } ?? .null
    }

    /// `.integer(value)` or `.null` when `value` is nil.
    public static func integer(_ value: Int64?) -> SQLiteValue {
        value.map { .integer($0) } ?? .null
    }
}
