import Hummingbird

/// The web dashboard: a page, a script and a style sheet compiled into the binary (no build step,
/// no files to deploy), served at `/`. The page calls the admin API from the browser, with the
/// admin token the operator types in when the broker asks for one.
///
/// The three files hold no data, so they are served without a token; everything they show comes
/// from the `/v1` routes, which need it. A strict Content-Security-Policy allows only these files
/// and calls to this origin.
enum DashboardRoutes {
    static let scriptPath = "/dashboard/app.js"
    static let stylePath = "/dashboard/app.css"

    /// Paths that are part of the dashboard itself (public even with a token).
    static func isStaticPath(_ path: String) -> Bool {
        path == "/" || path == scriptPath || path == stylePath
    }

    static func add(to router: Router<some RequestContext>) {
        router.get("/") { _, _ in asset(DashboardPage.html, type: "text/html; charset=utf-8") }
        router.get("dashboard/app.js") { _, _ in asset(DashboardScript.javaScript, type: "text/javascript; charset=utf-8") }
        router.get("dashboard/app.css") { _, _ in asset(DashboardStyle.css, type: "text/css; charset=utf-8") }
    }

    private static func asset(_ text: String, type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.contentSecurityPolicy] =
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
            + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        headers[.xContentTypeOptions] = "nosniff"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
