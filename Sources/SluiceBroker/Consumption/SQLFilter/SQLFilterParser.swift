/// Recursive descent over RocketMQ's SQL92 filter grammar:
///
///     expression := and (OR and)*
///     and        := unary (AND unary)*
///     unary      := NOT unary | '(' expression ')' | TRUE | FALSE | predicate
///     predicate  := name comparison literal | literal comparison name
///                 | name [NOT] BETWEEN number AND number | name [NOT] IN '(' string (',' string)* ')'
///                 | name IS [NOT] NULL | name [NOT] (CONTAINS | STARTSWITH | ENDSWITH) string
///
/// Ordering comparisons (<, <=, >, >=) and BETWEEN take numbers; = and <> take a string, a number
/// or a boolean, as in RocketMQ, where comparing a string with < is a parse error.
struct SQLFilterParser {
    /// Nesting deeper than this is refused: the parser recurses once per level, and the expression
    /// comes from a client.
    static let maximumDepth = 64
    static let maximumInValues = 1024

    private let tokens: [(token: SQLFilterToken, position: Int)]
    private var index = 0
    private var depth = 0

    init(tokens: [(token: SQLFilterToken, position: Int)]) {
        self.tokens = tokens
    }

    static func parse(_ expression: String) throws(SQLFilterSyntaxError) -> SQLFilterExpression {
        var lexer = SQLFilterLexer(expression)
        var parser = SQLFilterParser(tokens: try lexer.tokens())
        if parser.current == .end { throw SQLFilterSyntaxError(message: "the expression is empty", position: 0) }
        let tree = try parser.expression()
        guard parser.current == .end else { throw parser.unexpected("AND, OR or the end") }
        return tree
    }

    private var current: SQLFilterToken { tokens[index].token }
    private var position: Int { tokens[index].position }

    private mutating func advance() { if index < tokens.count - 1 { index += 1 } }

    private func unexpected(_ expected: String) -> SQLFilterSyntaxError {
        SQLFilterSyntaxError(message: "expected \(expected) but found \(current.description)", position: position)
    }

    private mutating func accept(_ keyword: SQLFilterToken.Keyword) -> Bool {
        guard current == .keyword(keyword) else { return false }
        advance()
        return true
    }

    private mutating func expect(_ keyword: SQLFilterToken.Keyword) throws(SQLFilterSyntaxError) {
        guard accept(keyword) else { throw unexpected(keyword.rawValue) }
    }

    private mutating func expect(_ symbol: SQLFilterToken.Symbol) throws(SQLFilterSyntaxError) {
        guard current == .symbol(symbol) else { throw unexpected("'\(symbol.rawValue)'") }
        advance()
    }

    private mutating func expression() throws(SQLFilterSyntaxError) -> SQLFilterExpression {
        var left = try conjunction()
        while accept(.or) { left = .or(left, try conjunction()) }
        return left
    }

    private mutating func conjunction() throws(SQLFilterSyntaxError) -> SQLFilterExpression {
        var left = try unary()
        while accept(.and) { left = .and(left, try unary()) }
        return left
    }

    private mutating func unary() throws(SQLFilterSyntaxError) -> SQLFilterExpression {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else {
            throw SQLFilterSyntaxError(message: "the expression nests deeper than \(Self.maximumDepth) levels", position: position)
        }
        if accept(.not) { return .not(try unary()) }
        if current == .symbol(.openParenthesis) {
            advance()
            let inner = try expression()
            try expect(.closeParenthesis)
            return inner
        }
        if accept(.true) { return .constant(true) }
        if accept(.false) { return .constant(false) }
        return try predicate()
    }

    private mutating func predicate() throws(SQLFilterSyntaxError) -> SQLFilterExpression {
        if case .identifier(let name) = current {
            advance()
            return try predicate(on: name)
        }
        // `5 < a`: a literal first, then a comparison and a property.
        let literalPosition = position
        guard let literal = try? literal() else { throw unexpected("a property name, NOT, TRUE, FALSE or '('") }
        guard let comparison = comparison() else { throw unexpected("a comparison (=, <>, <, <=, >, >=)") }
        guard case .identifier(let name) = current else { throw unexpected("a property name") }
        advance()
        try check(comparison, literal, at: literalPosition)
        return .compare(property: name, comparison.flipped, literal)
    }

    private mutating func predicate(on name: String) throws(SQLFilterSyntaxError) -> SQLFilterExpression {
        if let comparison = comparison() {
            let literalPosition = position
            let value = try literal()
            try check(comparison, value, at: literalPosition)
            return .compare(property: name, comparison, value)
        }
        if accept(.is) {
            let negated = accept(.not)
            try expect(.null)
            return .isNull(property: name, negated: negated)
        }
        let negated = accept(.not)
        if accept(.between) {
            let low = try number()
            try expect(.and)
            let high = try number()
            return .between(property: name, low: low, high: high, negated: negated)
        }
        if accept(.in) {
            try expect(.openParenthesis)
            var values = [try string()]
            while current == .symbol(.comma) {
                advance()
                values.append(try string())
                if values.count > Self.maximumInValues {
                    throw SQLFilterSyntaxError(message: "IN lists more than \(Self.maximumInValues) values", position: position)
                }
            }
            try expect(.closeParenthesis)
            return .in(property: name, values: values, negated: negated)
        }
        for test in [SQLFilterTextTest.contains, .startsWith, .endsWith] {
            if accept(SQLFilterToken.Keyword(rawValue: test.rawValue)!) {
                return .text(property: name, test, try string(), negated: negated)
            }
        }
        throw unexpected(negated ? "BETWEEN, IN, CONTAINS, STARTSWITH or ENDSWITH after NOT"
            : "a comparison, IS, BETWEEN, IN, CONTAINS, STARTSWITH or ENDSWITH after property '\(name)'")
    }

    private mutating func comparison() -> SQLFilterComparison? {
        guard case .symbol(let symbol) = current, let comparison = SQLFilterComparison(rawValue: symbol.rawValue) else {
            return nil
        }
        advance()
        return comparison
    }

    private func check(_ comparison: SQLFilterComparison, _ literal: SQLFilterLiteral, at position: Int)
        throws(SQLFilterSyntaxError)
    {
        switch literal {
        case .number: return
        case .string, .boolean:
            guard comparison.isEquality else {
                throw SQLFilterSyntaxError(
                    message: "'\(comparison.rawValue)' compares numbers only; a string or boolean takes = or <>",
                    position: position)
            }
        }
    }

    private mutating func literal() throws(SQLFilterSyntaxError) -> SQLFilterLiteral {
        switch current {
        case .string(let text): advance(); return .string(text)
        case .integer(let value): advance(); return .number(.integer(value))
        case .decimal(let value): advance(); return .number(.decimal(value))
        case .keyword(.true): advance(); return .boolean(true)
        case .keyword(.false): advance(); return .boolean(false)
        default: throw unexpected("a string, number or boolean literal")
        }
    }

    private mutating func number() throws(SQLFilterSyntaxError) -> SQLFilterNumber {
        switch current {
        case .integer(let value): advance(); return .integer(value)
        case .decimal(let value): advance(); return .decimal(value)
        default: throw unexpected("a number")
        }
    }

    private mutating func string() throws(SQLFilterSyntaxError) -> String {
        guard case .string(let text) = current else { throw unexpected("a string literal") }
        advance()
        return text
    }
}
