/// Why an HTTP access request's XML, properties or headers were refused: a code naming the kind
/// of problem and a message naming the field and the limit.
public struct HTTPWireError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: RawRepresentable, Sendable, Hashable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// Not well-formed XML (or a construct this reader refuses, such as a DOCTYPE).
        public static let malformed = Code(rawValue: "malformed")
        /// Past a limit: depth, element count, text size, property count.
        public static let tooLarge = Code(rawValue: "too_large")
        /// Well-formed, but not the element the protocol expects.
        public static let unexpected = Code(rawValue: "unexpected")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
