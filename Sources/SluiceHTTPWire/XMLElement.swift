/// One parsed element: its name (any namespace prefix kept as written), the character data
/// directly inside it (entities replaced, CDATA included) and its child elements in order.
/// Attributes are checked for well-formedness and dropped: the protocol's only one is `xmlns`.
public struct XMLElement: Sendable, Equatable {
    public var name: String
    public var text: String
    public var children: [XMLElement]

    public init(name: String, text: String = "", children: [XMLElement] = []) {
        self.name = name
        self.text = text
        self.children = children
    }

    /// The first child named `name`.
    public func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }
}
