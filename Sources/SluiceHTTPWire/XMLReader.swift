/// A small XML reader for the RocketMQ HTTP protocol's documents: elements, character data,
/// CDATA, the five predefined entities and character references; comments and processing
/// instructions (the `<?xml …?>` declaration) are skipped. It refuses DOCTYPE (so no entity
/// expansion can blow up) and is bounded by `XMLLimits` in depth, element count and text size.
/// Iterative with an explicit stack: no input can exhaust the call stack.
///
/// Why hand-written: Foundation's XMLParser differs between Linux and Darwin, has no limits of
/// its own, and the protocol needs only this much (XML 1.0, sections 2.4 to 2.8, 3.1, 4.1, 4.6).
public struct XMLReader {
    public let limits: XMLLimits
    private let bytes: [UInt8]
    private var index = 0
    private var elementCount = 0

    private init(_ bytes: [UInt8], limits: XMLLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    /// Parses one document and returns its root element.
    /// - Throws: `HTTPWireError` `.malformed` for anything not well-formed (with the byte
    ///   offset), `.tooLarge` past a limit.
    public static func parse(_ bytes: some Collection<UInt8>, limits: XMLLimits = XMLLimits()) throws(HTTPWireError)
        -> XMLElement
    {
        var reader = XMLReader(Array(bytes), limits: limits)
        return try reader.document()
    }

    // MARK: document structure

    private mutating func document() throws(HTTPWireError) -> XMLElement {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
        try skipMisc()
        guard peek() == UInt8(ascii: "<") else { throw malformed("expected the root element") }
        let root = try element()
        try skipMisc()
        guard index == bytes.count else { throw malformed("content after the root element") }
        return root
    }

    /// Whitespace, comments and processing instructions (allowed before and after the root).
    private mutating func skipMisc() throws(HTTPWireError) {
        while true {
            skipWhitespace()
            if starts(with: "<?") {
                try skipPast("?>", what: "processing instruction")
            } else if starts(with: "<!--") {
                try skipPast("-->", what: "comment")
            } else if starts(with: "<!") {
                throw malformed("DOCTYPE and other declarations are not accepted")
            } else {
                return
            }
        }
    }

    /// Open elements, innermost last, with the character data gathered so far.
    private struct Open {
        var name: String
        var text: [UInt8] = []
        var children: [XMLElement] = []
    }

    private mutating func element() throws(HTTPWireError) -> XMLElement {
        var stack: [Open] = []
        while true {
            // At '<' of a start tag.
            let (name, selfClosing) = try startTag()
            elementCount += 1
            if elementCount > limits.maxElements {
                throw HTTPWireError(.tooLarge, "more than \(limits.maxElements) elements")
            }
            if stack.count + 1 > limits.maxDepth {
                throw HTTPWireError(.tooLarge, "elements nested deeper than \(limits.maxDepth)")
            }
            var finished: XMLElement? = selfClosing ? XMLElement(name: name) : nil
            if !selfClosing { stack.append(Open(name: name)) }
            // Read content until a child start tag or until the stack empties.
            while true {
                if let done = finished {
                    if stack.isEmpty { return done }
                    stack[stack.count - 1].children.append(done)
                    finished = nil
                }
                guard let byte = peek() else { throw malformed("unexpected end inside <\(stack.last?.name ?? "")>") }
                if byte == UInt8(ascii: "<") {
                    if starts(with: "</") {
                        let open = stack.removeLast()
                        try endTag(open.name)
                        guard let text = String(validating: open.text, as: UTF8.self) else {
                            throw malformed("text of <\(open.name)> is not valid UTF-8")
                        }
                        finished = XMLElement(name: open.name, text: text, children: open.children)
                    } else if starts(with: "<!--") {
                        try skipPast("-->", what: "comment")
                    } else if starts(with: "<![CDATA[") {
                        index += 9
                        guard let end = find("]]>") else { throw malformed("unterminated CDATA section") }
                        try appendText(bytes[index..<end], to: &stack)
                        index = end + 3
                    } else if starts(with: "<?") {
                        try skipPast("?>", what: "processing instruction")
                    } else if starts(with: "<!") {
                        throw malformed("declarations are not accepted inside elements")
                    } else {
                        break  // a child's start tag: the outer loop reads it
                    }
                } else if byte == UInt8(ascii: "&") {
                    let scalar = try reference()
                    try appendText(Array(String(Character(scalar)).utf8), to: &stack)
                } else {
                    var end = index
                    while end < bytes.count, bytes[end] != UInt8(ascii: "<"), bytes[end] != UInt8(ascii: "&") { end += 1 }
                    try appendText(bytes[index..<end], to: &stack)
                    index = end
                }
            }
        }
    }

    private func appendText(_ text: some Collection<UInt8>, to stack: inout [Open]) throws(HTTPWireError) {
        guard !stack.isEmpty else { throw malformed("character data outside the root element") }
        let last = stack.count - 1
        if stack[last].text.count + text.count > limits.maxTextBytes {
            throw HTTPWireError(
                .tooLarge, "text of <\(stack[last].name)> is over \(limits.maxTextBytes) bytes")
        }
        stack[last].text.append(contentsOf: text)
    }

    // MARK: tags

    /// Reads `<name attr="v" …>` or `<name …/>`; attributes are checked and dropped.
    private mutating func startTag() throws(HTTPWireError) -> (String, Bool) {
        index += 1  // '<'
        let name = try self.name()
        while true {
            let hadSpace = skipWhitespace()
            guard let byte = peek() else { throw malformed("unterminated start tag <\(name)>") }
            if byte == UInt8(ascii: ">") {
                index += 1
                return (name, false)
            }
            if starts(with: "/>") {
                index += 2
                return (name, true)
            }
            guard hadSpace else { throw malformed("expected whitespace before an attribute in <\(name)>") }
            _ = try self.name()
            skipWhitespace()
            guard peek() == UInt8(ascii: "=") else { throw malformed("expected '=' after an attribute name in <\(name)>") }
            index += 1
            skipWhitespace()
            guard let quote = peek(), quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else {
                throw malformed("expected a quoted attribute value in <\(name)>")
            }
            index += 1
            while let byte = peek(), byte != quote {
                if byte == UInt8(ascii: "<") { throw malformed("'<' in an attribute value of <\(name)>") }
                if byte == UInt8(ascii: "&") { _ = try reference() } else { index += 1 }
            }
            guard peek() == quote else { throw malformed("unterminated attribute value in <\(name)>") }
            index += 1
        }
    }

    private mutating func endTag(_ expected: String) throws(HTTPWireError) {
        index += 2  // '</'
        let name = try self.name()
        skipWhitespace()
        guard peek() == UInt8(ascii: ">") else { throw malformed("unterminated end tag </\(name)>") }
        index += 1
        guard name == expected else { throw malformed("</\(name)> closes <\(expected)>") }
    }

    private mutating func name() throws(HTTPWireError) -> String {
        let start = index
        while let byte = peek(), Self.isNameByte(byte) {
            index += 1
            if index - start > limits.maxNameBytes {
                throw HTTPWireError(.tooLarge, "a name is longer than \(limits.maxNameBytes) bytes")
            }
        }
        guard index > start, let first = bytes[start...].first, !Self.isDigitOrDash(first),
            let name = String(validating: bytes[start..<index], as: UTF8.self)
        else { throw malformed("expected a name") }
        return name
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: " "), 0x09, 0x0A, 0x0D, UInt8(ascii: "/"), UInt8(ascii: ">"), UInt8(ascii: "<"),
            UInt8(ascii: "="), UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "&"), UInt8(ascii: "!"),
            UInt8(ascii: "?"):
            false
        default: byte >= 0x20
        }
    }

    private static func isDigitOrDash(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }

    // MARK: references

    /// `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` `&#NN;` `&#xHH;`: the character it stands for.
    private mutating func reference() throws(HTTPWireError) -> Unicode.Scalar {
        let start = index
        index += 1  // '&'
        var end = index
        // The longest valid reference is "#x10FFFF" (8 bytes): stop looking soon after.
        while end < bytes.count, bytes[end] != UInt8(ascii: ";"), end - index < 10 { end += 1 }
        guard end < bytes.count, bytes[end] == UInt8(ascii: ";") else {
            throw malformed("an '&' that does not start a reference", at: start)
        }
        let body = bytes[index..<end]
        index = end + 1
        switch String(decoding: body, as: UTF8.self) {
        case "lt": return "<"
        case "gt": return ">"
        case "amp": return "&"
        case "quot": return "\""
        case "apos": return "'"
        case let text where text.hasPrefix("#x"):
            return try scalar(UInt32(text.dropFirst(2), radix: 16), at: start)
        case let text where text.hasPrefix("#"):
            return try scalar(UInt32(text.dropFirst(), radix: 10), at: start)
        default:
            throw malformed("unknown entity; only the five predefined ones and character references", at: start)
        }
    }

    private func scalar(_ value: UInt32?, at offset: Int) throws(HTTPWireError) -> Unicode.Scalar {
        // XML 1.0 Char: tab, LF, CR, and from U+0020 (surrogates are refused by Unicode.Scalar).
        guard let value, value == 0x9 || value == 0xA || value == 0xD || value >= 0x20,
            value != 0xFFFE, value != 0xFFFF, let scalar = Unicode.Scalar(value)
        else { throw malformed("a character reference to a character XML does not allow", at: offset) }
        return scalar
    }

    // MARK: bytes

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private func starts(with text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard bytes.count - index >= count else { return false }
        return text.withUTF8Buffer { buffer in
            for offset in 0..<count where bytes[index + offset] != buffer[offset] { return false }
            return true
        }
    }

    private func find(_ text: StaticString) -> Int? {
        let count = text.utf8CodeUnitCount
        return text.withUTF8Buffer { buffer -> Int? in
            var at = index
            while at + count <= bytes.count {
                if bytes[at] == buffer[0], (0..<count).allSatisfy({ bytes[at + $0] == buffer[$0] }) { return at }
                at += 1
            }
            return nil
        }
    }

    private mutating func skipPast(_ text: StaticString, what: String) throws(HTTPWireError) {
        let start = index
        index += 2
        guard let end = find(text) else { throw malformed("unterminated \(what)", at: start) }
        index = end + text.utf8CodeUnitCount
    }

    @discardableResult
    private mutating func skipWhitespace() -> Bool {
        let start = index
        while let byte = peek(), byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        return index > start
    }

    private func malformed(_ message: String, at offset: Int? = nil) -> HTTPWireError {
        HTTPWireError(.malformed, "\(message) (at byte \(offset ?? index))")
    }
}
