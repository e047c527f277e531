/// The dashboard's one HTML page. Views are drawn by `DashboardScript` into `#view`; nothing here
/// depends on the broker's data, so the page is the same for every broker.
enum DashboardPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Sluice</title>
        <link rel="stylesheet" href="/dashboard/app.css">
        <script src="/dashboard/app.js" defer></script>
        </head>
        <body>
        <header>
          <h1>Sluice</h1>
          <nav>
            <a href="#/transactions" data-view="transactions">Stuck transactions</a>
            <a href="#/topics" data-view="topics">Topics and groups</a>
            <a href="#/messages" data-view="messages">Message trace</a>
            <a href="#/cluster" data-view="cluster">Cluster</a>
          </nav>
          <span id="broker-status" class="status">connecting…</span>
        </header>
        <form id="login" hidden>
          <label>This broker needs its admin token:
            <input id="token" type="password" autocomplete="current-password" required>
          </label>
          <button type="submit">Sign in</button>
          <span class="hint">Kept for this tab only (sessionStorage).</span>
        </form>
        <main id="view" aria-live="polite"><p class="muted">Loading…</p></main>
        <noscript>The dashboard needs JavaScript; the same data is in the sluice CLI and the admin API.</noscript>
        </body>
        </html>
        """#
}
