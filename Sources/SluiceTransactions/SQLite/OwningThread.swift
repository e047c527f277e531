#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The thread that opened a connection; SQLite handles are used on it only.
///
/// Connections are opened with `SQLITE_OPEN_NOMUTEX`, so SQLite itself does not serialise
/// access: using a handle from two threads would be a data race. The check is a precondition
/// because it can only fail through a programming error, never through client input.
struct OwningThread {
    private let thread: pthread_t

    /// Captures the calling thread.
    init() {
        thread = pthread_self()
    }

    /// Whether the calling thread is the owner.
    var isCurrent: Bool {
        pthread_equal(thread, pthread_self()) != 0
    }

    func preconditionIsCurrent(_ what: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
        precondition(isCurrent, "\(what()) used off the thread that owns it", file: file, line: line)
    }
}
