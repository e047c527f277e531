/// The dashboard's style sheet: plain CSS, light and dark.
enum DashboardStyle {
    static let css = #"""
        :root { --bg: #fff; --fg: #1d2430; --muted: #677085; --line: #dde2ea; --accent: #2c62d8;
                --warn: #b45d00; --bad: #b3261e; --good: #1b7f3b; --card: #f5f7fa; }
        @media (prefers-color-scheme: dark) {
          :root { --bg: #14171c; --fg: #e6e9ef; --muted: #9aa3b5; --line: #2c323c; --accent: #7aa2ff;
                  --warn: #f0a64a; --bad: #ff8a80; --good: #6fcf8a; --card: #1c2027; }
        }
        * { box-sizing: border-box; }
        [hidden] { display: none !important; }
        a { color: var(--accent); }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); }
        header { display: flex; align-items: center; gap: 24px; padding: 10px 20px; border-bottom: 1px solid var(--line); }
        header h1 { font-size: 18px; margin: 0; }
        nav { display: flex; gap: 16px; flex: 1; }
        nav a { color: var(--muted); text-decoration: none; padding: 4px 0; border-bottom: 2px solid transparent; }
        nav a.active { color: var(--fg); border-bottom-color: var(--accent); }
        main { padding: 16px 20px 40px; max-width: 1400px; }
        h2 { font-size: 16px; margin: 20px 0 8px; }
        h3 { font-size: 14px; margin: 16px 0 6px; }
        table { border-collapse: collapse; width: 100%; margin: 4px 0 12px; }
        th, td { text-align: left; padding: 5px 10px 5px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
        tbody tr.link { cursor: pointer; }
        tbody tr.link:hover { background: var(--card); }
        td.num, th.num { text-align: right; padding-right: 16px; }
        code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: 12.5px; }
        .cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 8px 0 4px; }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 170px; }
        .card .value { font-size: 24px; font-weight: 650; }
        .card .label { color: var(--muted); font-size: 12px; }
        .grid { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; }
        @media (max-width: 900px) { .grid { grid-template-columns: 1fr; } }
        .state-prepared { color: var(--warn); font-weight: 600; }
        .state-parked { color: var(--bad); font-weight: 600; }
        .state-committed { color: var(--good); font-weight: 600; }
        .state-rolled-back { color: var(--muted); font-weight: 600; }
        .muted, .hint { color: var(--muted); }
        .error { color: var(--bad); background: var(--card); border-left: 3px solid var(--bad); padding: 8px 12px; }
        .ok { color: var(--good); background: var(--card); border-left: 3px solid var(--good); padding: 8px 12px; }
        .status { font-size: 12px; color: var(--muted); }
        .status.ready { color: var(--good); }
        .status.down { color: var(--bad); }
        form.inline, #login { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
        #login { padding: 12px 20px; background: var(--card); border-bottom: 1px solid var(--line); }
        fieldset { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin: 12px 0; }
        label { display: inline-flex; gap: 6px; align-items: center; }
        input, select, textarea, button { font: inherit; color: inherit; background: var(--bg); border: 1px solid var(--line); border-radius: 4px; padding: 4px 8px; }
        textarea { width: 100%; min-height: 60px; }
        button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; padding: 5px 14px; }
        button.secondary { background: var(--bg); color: var(--fg); border-color: var(--line); }
        dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 8px 0; }
        dt { color: var(--muted); }
        dd { margin: 0; }
        .timeline td:first-child { white-space: nowrap; }
        """#
}
