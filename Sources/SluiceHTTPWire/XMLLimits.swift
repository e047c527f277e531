/// Bounds on what `XMLReader` accepts, so a hostile body costs at most a bounded amount of memory
/// and time: the protocol's documents are two levels deep and small apart from the message body.
public struct XMLLimits: Sendable, Hashable {
    /// Nesting depth; the root is depth 1. The protocol needs 2.
    public var maxDepth: Int
    /// Elements in the document, the root included.
    public var maxElements: Int
    /// Bytes of character data in one element after entities are replaced.
    public var maxTextBytes: Int
    /// Bytes of one element or attribute name.
    public var maxNameBytes: Int

    public init(maxDepth: Int = 4, maxElements: Int = 64, maxTextBytes: Int = 4 << 20, maxNameBytes: Int = 64) {
        self.maxDepth = maxDepth
        self.maxElements = maxElements
        self.maxTextBytes = maxTextBytes
        self.maxNameBytes = maxNameBytes
    }
}
