import ArgumentParser
import Foundation

/// `sluice health`: is the broker up (`/healthz`) and has its store recovered (`/readyz`)?
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Check that the broker is live and ready.",
        discussion: """
            Calls GET /healthz (the process answers) and GET /readyz (the commit log has been recovered \
            and the broker serves). Exits 0 only when the broker is ready, 1 when it answers but is not \
            ready (still recovering, failed, or shutting down), and 2 when the admin API cannot be reached. \
            Scripts can poll `sluice health` until it exits 0.
            """
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let client = global.client
        let report: HealthReport
        do throws(CLIError) {
            report = HealthReport(
                admin: client.baseURL.absoluteString, healthz: try await client.get("healthz"),
                readyz: try await client.get("readyz"))
        } catch {
            if global.json {
                print(HealthReport.unreachableJSON(admin: client.baseURL.absoluteString, error: error.message))
            }
            throw error.exit()
        }
        print(global.json ? report.json : report.table)
        if !report.isReady { throw ExitCode(CLIError.Code.failed.exitStatus) }
    }
}
