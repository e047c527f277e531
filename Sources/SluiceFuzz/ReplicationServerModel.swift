import NIOCore
import SluiceReplication

/// What the replication port makes of the bytes one connection sent, by the same frame limit
/// and decoder: the frames that complete, each answered once; the first malformed one answered
/// with a `malformedRequest` refusal, after which the server closes. The fuzzer uses it to know
/// how many answers to wait for, to check each, and to hold back a fetch that would depose the
/// leader (a random byte run that happens to frame one is not sent).
struct ReplicationServerModel {
    enum Frame {
        case request(ReplicationMessage)
        case malformed(String)
    }

    private(set) var pending: [UInt8] = []
    /// A malformed frame was seen: the server answered it and closes; later bytes are ignored.
    private(set) var closing = false

    /// The frames `bytes` would complete, without taking them in.
    func preview(_ bytes: [UInt8]) -> [Frame] {
        var copy = self
        return copy.take(bytes)
    }

    /// Takes `bytes` in; returns the frames they complete.
    mutating func take(_ bytes: [UInt8]) -> [Frame] {
        guard !closing else { return [] }
        pending += bytes
        var frames: [Frame] = []
        var start = 0
        while !closing, pending.count - start >= 4 {
            let length = Int(pending[start]) | Int(pending[start + 1]) << 8 | Int(pending[start + 2]) << 16
                | Int(pending[start + 3]) << 24
            if length > ReplicationMessage.maxRequestBytes {
                frames.append(.malformed("frame of \(length) bytes; limit \(ReplicationMessage.maxRequestBytes)"))
                closing = true
                break
            }
            guard pending.count - start >= 4 + length else { break }
            let body = ByteBuffer(bytes: pending[(start + 4)..<(start + 4 + length)])
            start += 4 + length
            do {
                frames.append(.request(try ReplicationMessage.decode(body)))
            } catch {
                frames.append(.malformed(error.message))
                closing = true
            }
        }
        pending.removeFirst(min(start, pending.count))
        if closing { pending = [] }
        return frames
    }

    /// Whether any of `frames` is a fetch naming an epoch above `ceiling`.
    static func deposes(_ frames: [Frame], ceiling: Int64?) -> Bool {
        guard let ceiling else { return false }
        return frames.contains { frame in
            if case .request(.fetch(let fetch)) = frame { return fetch.epoch > ceiling }
            return false
        }
    }

    /// How long the server may take to answer `frame`: a fetch at the log's end waits for new
    /// records up to its `waitMs` (at most 10 s); a snapshot request copies the database.
    static func answerTime(_ frame: Frame) -> Duration {
        switch frame {
        case .request(.fetch(let fetch)): .milliseconds(Int64(min(fetch.waitMs, 10_000))) + .seconds(10)
        case .request(.snapshotRequest): .seconds(30)
        default: .seconds(10)
        }
    }
}
