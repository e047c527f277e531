/// A parsed RocketMQ SQL92 filter: a tree of predicates on one message's properties and tag.
///
/// Evaluation follows SQL's three-valued logic, as RocketMQ's (JMS-selector based) filter does:
/// a predicate on a property the message does not have is UNKNOWN, `NOT UNKNOWN` is UNKNOWN, and
/// a message matches only when the whole expression is TRUE.
indirect enum SQLFilterExpression: Sendable, Equatable {
    case constant(Bool)
    case and(SQLFilterExpression, SQLFilterExpression)
    case or(SQLFilterExpression, SQLFilterExpression)
    case not(SQLFilterExpression)
    case compare(property: String, SQLFilterComparison, SQLFilterLiteral)
    case between(property: String, low: SQLFilterNumber, high: SQLFilterNumber, negated: Bool)
    case `in`(property: String, values: [String], negated: Bool)
    case isNull(property: String, negated: Bool)
    case text(property: String, SQLFilterTextTest, String, negated: Bool)
}

enum SQLFilterComparison: String, Sendable {
    case equal = "=", notEqual = "<>", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="

    /// The comparison with its sides swapped (`5 < a` is `a > 5`).
    var flipped: SQLFilterComparison {
        switch self {
        case .equal, .notEqual: self
        case .less: .greater
        case .lessOrEqual: .greaterOrEqual
        case .greater: .less
        case .greaterOrEqual: .lessOrEqual
        }
    }

    var isEquality: Bool { self == .equal || self == .notEqual }
}

enum SQLFilterTextTest: String, Sendable {
    case contains = "CONTAINS", startsWith = "STARTSWITH", endsWith = "ENDSWITH"
}

enum SQLFilterNumber: Sendable, Equatable {
    case integer(Int64)
    case decimal(Double)

    var asDouble: Double {
        switch self {
        case .integer(let value): Double(value)
        case .decimal(let value): value
        }
    }
}

enum SQLFilterLiteral: Sendable, Equatable {
    case string(String)
    case number(SQLFilterNumber)
    case boolean(Bool)
}

/// TRUE, FALSE or UNKNOWN.
enum SQLTruth: Sendable {
    case yes, no, unknown

    init(_ value: Bool) { self = value ? .yes : .no }

    static prefix func ! (truth: SQLTruth) -> SQLTruth {
        switch truth {
        case .yes: .no
        case .no: .yes
        case .unknown: .unknown
        }
    }
}

extension SQLFilterExpression {
    /// Evaluates against a message. `property` returns a user property's value, or the tag for
    /// `TAGS`, or nil when the message has none; it must not allocate for the evaluation to stay
    /// allocation-free (values are compared in place; numbers parse without copying).
    func evaluate(_ property: (String) -> String?) -> SQLTruth {
        switch self {
        case .constant(let value):
            return SQLTruth(value)
        case .and(let left, let right):
            let first = left.evaluate(property)
            if first == .no { return .no }
            let second = right.evaluate(property)
            if second == .no { return .no }
            return first == .yes && second == .yes ? .yes : .unknown
        case .or(let left, let right):
            let first = left.evaluate(property)
            if first == .yes { return .yes }
            let second = right.evaluate(property)
            if second == .yes { return .yes }
            return first == .no && second == .no ? .no : .unknown
        case .not(let inner):
            return !inner.evaluate(property)
        case .compare(let name, let comparison, let literal):
            guard let value = property(name) else { return .unknown }
            return Self.compare(value, comparison, literal)
        case .between(let name, let low, let high, let negated):
            guard let value = property(name), let number = Self.number(value) else { return .unknown }
            let inside = Self.order(number, low) >= 0 && Self.order(number, high) <= 0
            return SQLTruth(inside != negated)
        case .in(let name, let values, let negated):
            guard let value = property(name) else { return .unknown }
            return SQLTruth(values.contains(value) != negated)
        case .isNull(let name, let negated):
            return SQLTruth((property(name) == nil) != negated)
        case .text(let name, let test, let operand, let negated):
            guard let value = property(name) else { return .unknown }
            let holds: Bool
            switch test {
            case .contains: holds = value.contains(operand)
            case .startsWith: holds = value.hasPrefix(operand)
            case .endsWith: holds = value.hasSuffix(operand)
            }
            return SQLTruth(holds != negated)
        }
    }

    private static func compare(_ value: String, _ comparison: SQLFilterComparison, _ literal: SQLFilterLiteral) -> SQLTruth {
        let order: Int
        switch literal {
        case .string(let text):
            // The parser allows only = and <> against a string.
            order = value == text ? 0 : 1
        case .boolean(let flag):
            guard let parsed = Bool(value.lowercased()) else { return .unknown }
            order = parsed == flag ? 0 : 1
        case .number(let number):
            // RocketMQ keeps properties as strings and converts them when compared with a number.
            guard let parsed = Self.number(value) else { return .unknown }
            order = Self.order(parsed, number)
        }
        switch comparison {
        case .equal: return SQLTruth(order == 0)
        case .notEqual: return SQLTruth(order != 0)
        case .less: return SQLTruth(order < 0)
        case .lessOrEqual: return SQLTruth(order <= 0)
        case .greater: return SQLTruth(order > 0)
        case .greaterOrEqual: return SQLTruth(order >= 0)
        }
    }

    static func number(_ text: String) -> SQLFilterNumber? {
        if let integer = Int64(text) { return .integer(integer) }
        if let decimal = Double(text), decimal.isFinite { return .decimal(decimal) }
        return nil
    }

    /// -1, 0 or 1; integers compare exactly, anything with a decimal as doubles.
    static func order(_ left: SQLFilterNumber, _ right: SQLFilterNumber) -> Int {
        if case .integer(let a) = left, case .integer(let b) = right { return a < b ? -1 : (a == b ? 0 : 1) }
        let a = left.asDouble
        let b = right.asDouble
        return a < b ? -1 : (a == b ? 0 : 1)
    }
}
