import ArgumentParser
import Foundation

/// Options every subcommand takes: where the admin API is and how to print.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .customLong("admin"),
        help: ArgumentHelp(
            "Base URL of the broker's admin HTTP API (default: $SLUICE_ADMIN, else http://127.0.0.1:8082). Accepted before or after the subcommand.",
            valueName: "url"))
    var adminURL = ProcessInfo.processInfo.environment["SLUICE_ADMIN"].flatMap { $0.isEmpty ? nil : $0 }
        ?? "http://127.0.0.1:8082"

    @Flag(help: "Print JSON for scripts instead of a table.")
    var json = false

    @Option(help: ArgumentHelp("Give up on a request after this many seconds.", valueName: "seconds"))
    var timeout = 5.0

    @Option(help: ArgumentHelp(
        "The broker's admin token, sent as 'Authorization: Bearer <token>' (default: $SLUICE_ADMIN_TOKEN; prefer the variable, a flag shows in ps).",
        valueName: "token"))
    var token: String?

    @Option(help: ArgumentHelp(
        "A PEM CA file to trust for an https:// admin URL (default: $SLUICE_CACERT, else the system's roots).",
        valueName: "path"))
    var cacert: String?

    /// `--cacert`, else `SLUICE_CACERT`.
    var effectiveCACert: String? {
        let value = cacert ?? ProcessInfo.processInfo.environment["SLUICE_CACERT"]
        guard let value, !value.isEmpty else { return nil }
        return value
    }

    /// `--token`, else `SLUICE_ADMIN_TOKEN`; nil when neither is set (or set empty).
    var effectiveToken: String? {
        let value = token ?? ProcessInfo.processInfo.environment["SLUICE_ADMIN_TOKEN"]
        guard let value, !value.isEmpty else { return nil }
        return value
    }

    mutating func validate() throws {
        guard let url = URL(string: adminURL), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", url.host != nil
        else {
            throw ValidationError("--admin: expected an http:// or https:// URL such as http://127.0.0.1:8082; got '\(adminURL)'")
        }
        guard timeout > 0, timeout <= 3600 else {
            throw ValidationError("--timeout: expected seconds between 0 and 3600; got \(timeout)")
        }
    }

    var client: AdminClient {
        // `validate()` has checked the URL.
        AdminClient(baseURL: URL(string: adminURL)!, timeoutSeconds: timeout, token: effectiveToken, caFile: effectiveCACert)
    }
}
