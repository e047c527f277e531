/// When to give a peer more HTTP/2 flow-control window, and how much.
///
/// swift-nio-http2's stream channels do this for each stream and the connection; the gRPC front
/// reads frames on the connection itself (`GRPCConnectionHandler`), so it does it here, the same
/// way: once the window left is at most half the target, top it up to the target. Every byte
/// received is taken at once (into a message, bounded by the front's budgets), so there is never
/// a backlog to hold the window back for.
enum InboundWindow {
    /// The WINDOW_UPDATE increment for a window of `window` bytes left, or nil for none yet.
    /// A window can be negative (the peer's initial window shrank under it); the increment then
    /// covers the debt and the target, capped at HTTP/2's largest window.
    static func increment(window: Int, target: Int) -> Int? {
        if window >= target { return nil }
        if window >= 0 {
            let increment = target - window
            return increment >= window ? increment : nil
        }
        let debt = window.magnitude > UInt(Int32.max) ? Int(Int32.max) : Int(window.magnitude)
        return min(debt + target, Int(Int32.max))
    }
}
