#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock milliseconds since the Unix epoch (`CLOCK_REALTIME`): the default time source of
/// the checker and `ParkingBudgetHandler`. Logic takes a `@Sendable () -> Int64` instead, so
/// tests can pass a manual one.
public enum SystemWallClock {
    public static func nowMs() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000 + Int64(spec.tv_nsec) / 1_000_000
    }
}
