/// Splits an expression into tokens, each with the character offset it starts at.
struct SQLFilterLexer {
    private let characters: [Character]
    private var index = 0

    init(_ expression: String) {
        characters = Array(expression)
    }

    mutating func tokens() throws(SQLFilterSyntaxError) -> [(token: SQLFilterToken, position: Int)] {
        var result: [(SQLFilterToken, Int)] = []
        while true {
            skipSpaces()
            let start = index
            let token = try next()
            result.append((token, start))
            if token == .end { return result }
        }
    }

    private mutating func skipSpaces() {
        while index < characters.count, characters[index].isWhitespace { index += 1 }
    }

    private mutating func next() throws(SQLFilterSyntaxError) -> SQLFilterToken {
        guard index < characters.count else { return .end }
        let character = characters[index]
        switch character {
        case "'":
            return try string()
        case "(": index += 1; return .symbol(.openParenthesis)
        case ")": index += 1; return .symbol(.closeParenthesis)
        case ",": index += 1; return .symbol(.comma)
        case "=": index += 1; return .symbol(.equal)
        case "<":
            index += 1
            if peek("=") { index += 1; return .symbol(.lessOrEqual) }
            if peek(">") { index += 1; return .symbol(.notEqual) }
            return .symbol(.less)
        case ">":
            index += 1
            if peek("=") { index += 1; return .symbol(.greaterOrEqual) }
            return .symbol(.greater)
        case "!":
            index += 1
            if peek("=") { index += 1; return .symbol(.notEqual) }
            throw SQLFilterSyntaxError(message: "'!' must be followed by '=' (or write '<>')", position: index - 1)
        default:
            if character.isNumber || ((character == "-" || character == "+" || character == ".") && nextIsDigit()) {
                return try number()
            }
            if character.isLetter || character == "_" || character == "$" {
                return word()
            }
            throw SQLFilterSyntaxError(message: "unexpected character '\(character)'", position: index)
        }
    }

    private func peek(_ character: Character) -> Bool {
        index < characters.count && characters[index] == character
    }

    private func nextIsDigit() -> Bool {
        var look = index + 1
        if look < characters.count, characters[look] == "." { look += 1 }
        return look < characters.count && characters[look].isASCII && characters[look].isNumber
    }

    /// A single-quoted literal; a quote inside is written twice ('it''s').
    private mutating func string() throws(SQLFilterSyntaxError) -> SQLFilterToken {
        let start = index
        index += 1
        var text = ""
        while index < characters.count {
            if characters[index] == "'" {
                if index + 1 < characters.count, characters[index + 1] == "'" {
                    text.append("'")
                    index += 2
                    continue
                }
                index += 1
                return .string(text)
            }
            text.append(characters[index])
            index += 1
        }
        throw SQLFilterSyntaxError(message: "string literal is not closed with '", position: start)
    }

    /// A Java-style number: an integer that fits a 64-bit long, or a decimal / exponent form.
    private mutating func number() throws(SQLFilterSyntaxError) -> SQLFilterToken {
        let start = index
        var text = ""
        if characters[index] == "-" || characters[index] == "+" {
            text.append(characters[index])
            index += 1
        }
        var isDecimal = false
        while index < characters.count {
            let character = characters[index]
            if character.isASCII && character.isNumber {
                text.append(character)
            } else if character == "." || character == "e" || character == "E" {
                isDecimal = true
                text.append(character)
                if character != ".", index + 1 < characters.count, characters[index + 1] == "-" || characters[index + 1] == "+" {
                    index += 1
                    text.append(characters[index])
                }
            } else {
                break
            }
            index += 1
        }
        if index < characters.count, characters[index].isLetter || characters[index] == "_" {
            throw SQLFilterSyntaxError(message: "malformed number '\(text)\(characters[index])'", position: start)
        }
        if !isDecimal, let value = Int64(text) { return .integer(value) }
        if !isDecimal {
            throw SQLFilterSyntaxError(message: "integer \(text) does not fit in a 64-bit long", position: start)
        }
        guard let value = Double(text), value.isFinite else {
            throw SQLFilterSyntaxError(message: "malformed number '\(text)'", position: start)
        }
        return .decimal(value)
    }

    private mutating func word() -> SQLFilterToken {
        var text = ""
        while index < characters.count {
            let character = characters[index]
            guard character.isLetter || character.isNumber || character == "_" || character == "$" || character == "."
            else { break }
            text.append(character)
            index += 1
        }
        if let keyword = SQLFilterToken.Keyword(rawValue: text.uppercased()) { return .keyword(keyword) }
        return .identifier(text)
    }
}
