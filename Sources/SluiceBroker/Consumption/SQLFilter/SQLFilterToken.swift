/// The words of a RocketMQ SQL92 filter expression.
enum SQLFilterToken: Equatable, Sendable {
    case identifier(String)
    case string(String)
    case integer(Int64)
    case decimal(Double)
    case keyword(Keyword)
    case symbol(Symbol)
    case end

    /// Keywords are case-insensitive, as in RocketMQ's grammar.
    enum Keyword: String, Sendable, CaseIterable {
        case and = "AND", or = "OR", not = "NOT", between = "BETWEEN", `in` = "IN", `is` = "IS"
        case null = "NULL", `true` = "TRUE", `false` = "FALSE"
        case contains = "CONTAINS", startsWith = "STARTSWITH", endsWith = "ENDSWITH"
    }

    enum Symbol: String, Sendable {
        case equal = "=", notEqual = "<>", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
        case openParenthesis = "(", closeParenthesis = ")", comma = ","
    }

    var description: String {
        switch self {
        case .identifier(let name): "'\(name)'"
        case .string(let text): "string '\(text)'"
        case .integer(let value): "\(value)"
        case .decimal(let value): "\(value)"
        case .keyword(let keyword): keyword.rawValue
        case .symbol(let symbol): "'\(symbol.rawValue)'"
        case .end: "the end of the expression"
        }
    }
}

/// What is wrong with an expression, and where (a character offset from 0).
public struct SQLFilterSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var position: Int
    public var description: String { "\(message) at position \(position)" }
}
