/// The dashboard's script: plain JavaScript, no framework, no build step. It draws one view at a
/// time from the URL's hash (`#/transactions`, `#/transactions/<id>`, `#/topics`,
/// `#/messages/<id>`, `#/messages?key=<key>`, `#/cluster`) with data from the admin API, and builds every
/// element with `textContent`, so nothing from the broker is ever parsed as HTML.
enum DashboardScript {
    static let javaScript = #"""
        "use strict";

        const store = {
          get token() { return sessionStorage.getItem("sluice.token") || ""; },
          set token(value) { sessionStorage.setItem("sluice.token", value); },
          get actor() { return localStorage.getItem("sluice.actor") || ""; },
          set actor(value) { localStorage.setItem("sluice.actor", value); },
        };

        class ApiError extends Error {
          constructor(status, code, message) { super(message); this.status = status; this.code = code; }
        }

        async function api(method, path, body, headers) {
          const sent = Object.assign({ "Accept": "application/json" }, headers || {});
          if (store.token) sent["Authorization"] = "Bearer " + store.token;
          if (body !== undefined) sent["Content-Type"] = "application/json";
          const reply = await fetch(path, { method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body) });
          const text = await reply.text();
          let json = null;
          try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
          if (reply.status === 401) {
            document.getElementById("login").hidden = false;
            throw new ApiError(401, "UNAUTHORIZED", "This broker needs its admin token: enter it above.");
          }
          if (!reply.ok) {
            const error = (json && json.error) || {};
            throw new ApiError(reply.status, error.code || "HTTP_" + reply.status, error.message || reply.statusText);
          }
          return json;
        }

        // Elements: el("td", {class: "num"}, "text", child, ...). Strings become text nodes.
        function el(tag, attributes, ...children) {
          const node = document.createElement(tag);
          for (const [name, value] of Object.entries(attributes || {})) {
            if (value === undefined || value === null || value === false) continue;
            if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
            else node.setAttribute(name, value === true ? "" : value);
          }
          for (const child of children.flat(Infinity)) {
            if (child === undefined || child === null) continue;
            node.append(child instanceof Node ? child : document.createTextNode(String(child)));
          }
          return node;
        }

        function table(headers, rows, options) {
          const numeric = (options && options.numeric) || [];
          return el("table", options && options.id ? { id: options.id } : {},
            el("thead", {}, el("tr", {}, headers.map((h, i) => el("th", { class: numeric.includes(i) ? "num" : null }, h)))),
            el("tbody", {}, rows));
        }

        function cells(values, numeric) {
          return values.map((v, i) => el("td", { class: (numeric || []).includes(i) ? "num" : null }, v));
        }

        function show(...nodes) {
          const view = document.getElementById("view");
          view.replaceChildren(...nodes.flat(Infinity).filter((node) => node !== null && node !== undefined));
        }

        function errorBox(error) {
          return el("p", { class: "error", role: "alert" }, error.code ? `${error.message} (${error.code})` : String(error));
        }

        // An age as the CLI prints it: 45s, 3m12s, 2h05m, 3d04h.
        function age(seconds) {
          seconds = Math.max(0, Math.floor(seconds));
          const two = (n) => String(n).padStart(2, "0");
          if (seconds < 60) return `${seconds}s`;
          if (seconds < 3600) return `${Math.floor(seconds / 60)}m${two(seconds % 60)}s`;
          if (seconds < 86400) return `${Math.floor(seconds / 3600)}h${two(Math.floor(seconds % 3600 / 60))}m`;
          return `${Math.floor(seconds / 86400)}d${two(Math.floor(seconds % 86400 / 3600))}h`;
        }

        function nextCheck(iso) {
          if (!iso) return "-";
          const seconds = Math.floor((Date.parse(iso) - Date.now()) / 1000);
          if (seconds > 0) return "in " + age(seconds);
          if (seconds > -1) return "due";
          return "overdue " + age(-seconds);
        }

        function stateCell(state) { return el("span", { class: "state-" + state }, state); }
        function text(value) { return value === null || value === undefined || value === "" ? "-" : String(value); }

        // MARK: stuck transactions

        const AGE_BUCKETS = [
          ["< 1m", 0, 60], ["1m – 5m", 60, 300], ["5m – 30m", 300, 1800], ["30m – 2h", 1800, 7200],
          ["2h – 1d", 7200, 86400], ["> 1d", 86400, Infinity],
        ];
        const PAGE_LIMIT = 1000;
        const MAX_PAGES = 5;

        // Every transaction in `state`, oldest first, following the cursor for at most MAX_PAGES pages.
        async function transactionsIn(state) {
          let rows = [], cursor = null, pages = 0;
          do {
            const query = new URLSearchParams({ state, limit: String(PAGE_LIMIT) });
            if (cursor) query.set("cursor", cursor);
            const page = await api("GET", "/v1/transactions?" + query);
            rows = rows.concat(page.transactions);
            cursor = page.nextCursor;
            pages += 1;
          } while (cursor && pages < MAX_PAGES);
          return { rows, more: Boolean(cursor) };
        }

        async function stuckView(params) {
          const [prepared, parked] = await Promise.all([transactionsIn("prepared"), transactionsIn("parked")]);
          const all = prepared.rows.concat(parked.rows).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
          const minAge = Number(params.get("olderThan") || 0);
          const group = params.get("group");
          const shown = all.filter((t) => t.ageSeconds >= minAge && (group === null || t.producerGroup === group));
          const oldest = all.length ? all[0].ageSeconds : null;

          const cards = el("div", { class: "cards", id: "summary" },
            el("div", { class: "card" }, el("div", { class: "value", id: "pending-count" }, prepared.rows.length), el("div", { class: "label" }, "pending (prepared)")),
            el("div", { class: "card" }, el("div", { class: "value", id: "parked-count" }, parked.rows.length), el("div", { class: "label" }, "parked: checks spent, need an operator")),
            el("div", { class: "card" }, el("div", { class: "value", id: "oldest-age" }, oldest === null ? "-" : age(oldest)), el("div", { class: "label" }, "oldest undecided")));

          const bucketRows = AGE_BUCKETS.map(([label, low, high]) => {
            const inBucket = (t) => t.ageSeconds >= low && t.ageSeconds < high;
            const p = prepared.rows.filter(inBucket).length, k = parked.rows.filter(inBucket).length;
            const link = el("a", { href: `#/transactions?olderThan=${low}` }, label);
            return el("tr", { class: p + k ? null : "muted" }, el("td", {}, link), ...cells([p, k, p + k], [0, 1, 2]));
          });

          const groups = new Map();
          for (const t of all) {
            const entry = groups.get(t.producerGroup) || { prepared: 0, parked: 0, oldest: 0 };
            entry[t.state] += 1;
            entry.oldest = Math.max(entry.oldest, t.ageSeconds);
            groups.set(t.producerGroup, entry);
          }
          const groupRows = [...groups.entries()].sort((a, b) => b[1].oldest - a[1].oldest).map(([name, g]) =>
            el("tr", { class: "link", onclick: () => { location.hash = "#/transactions?group=" + encodeURIComponent(name); } },
              el("td", {}, name === "" ? el("span", { class: "muted" }, "(none)") : name), ...cells([g.prepared, g.parked, age(g.oldest)], [0, 1])));

          const filter = el("form", { class: "inline", id: "filter", onsubmit: (event) => {
            event.preventDefault();
            const query = new URLSearchParams();
            const value = event.target.elements.olderThan.value;
            if (value !== "0") query.set("olderThan", value);
            if (group !== null) query.set("group", group);
            location.hash = "#/transactions" + (query.toString() ? "?" + query : "");
          } },
            el("label", {}, "Older than",
              el("select", { name: "olderThan" }, [["0", "any age"], ["60", "1 minute"], ["300", "5 minutes"], ["1800", "30 minutes"], ["7200", "2 hours"], ["86400", "1 day"]]
                .map(([value, label]) => el("option", { value, selected: String(minAge) === value }, label)))),
            group === null ? null : el("span", {}, "group ", el("code", {}, group || "(none)"), " ", el("a", { href: "#/transactions" }, "(all groups)")),
            el("button", { type: "submit", class: "secondary" }, "Apply"));

          const rows = shown.map((t) => el("tr", { class: "link", "data-txn": t.id, onclick: () => { location.hash = "#/transactions/" + encodeURIComponent(t.id); } },
            el("td", { class: "mono" }, t.id), el("td", {}, stateCell(t.state)), ...cells([age(t.ageSeconds), t.topic, text(t.producerGroup), t.clientId, t.checkCount, nextCheck(t.nextCheckAt)], [4])));
          const more = prepared.more || parked.more
            ? el("p", { class: "muted" }, `Showing the oldest ${PAGE_LIMIT * MAX_PAGES} per state; use sluice txn list --all for the rest.`) : null;

          show(
            el("h2", {}, "Stuck transactions"),
            el("p", { class: "muted" }, "Half messages nobody has decided on yet: prepared ones are still checked with their producer; parked ones spent their checks and wait for an operator."),
            cards,
            el("div", { class: "grid" },
              el("section", {}, el("h3", {}, "By age"), table(["Age", "Prepared", "Parked", "Total"], bucketRows, { id: "age-buckets", numeric: [1, 2, 3] })),
              el("section", {}, el("h3", {}, "By producer group"), groupRows.length
                ? table(["Group", "Prepared", "Parked", "Oldest"], groupRows, { id: "by-group", numeric: [1, 2] })
                : el("p", { class: "muted" }, "None."))),
            el("h3", {}, "Oldest first"), filter,
            rows.length ? table(["ID", "State", "Age", "Topic", "Group", "Client", "Checks", "Next check"], rows, { id: "stuck", numeric: [6] })
              : el("p", { class: "muted", id: "none-stuck" }, "No pending or parked transactions match."),
            more);
        }

        async function transactionView(id) {
          const t = await api("GET", "/v1/transactions/" + encodeURIComponent(id));
          const fields = [
            ["Transaction", el("code", {}, t.id)], ["State", stateCell(t.state)],
            ["Message", el("a", { href: "#/messages/" + encodeURIComponent(t.messageId) }, t.messageId)],
            ["Topic", t.topic], ["Producer group", text(t.producerGroup)], ["Client", t.clientId],
            ["Keys", text(t.keys)], ["Tags", text(t.tags)], ["Created", `${t.createdAt} (${age(t.ageSeconds)} ago)`],
            ["Checks sent", String(t.checkCount) + (t.checkOutstanding ? " (one awaiting an answer)" : "")],
            ["Last check", text(t.lastCheckAt)], ["Next check", t.nextCheckAt ? `${t.nextCheckAt} (${nextCheck(t.nextCheckAt)})` : "-"],
          ];
          if (t.resolvedAt) fields.push(["Resolved", t.resolvedAt], ["Resolved by", `${text(t.resolvedBy)} (${text(t.resolutionSource)})`], ["Reason", text(t.reason)]);
          const checks = t.checks.map((c) => el("tr", {}, ...cells([c.attempt, c.sentAt, text(c.clientId), c.outcome || "awaiting answer", text(c.answeredAt)], [0])));
          const audit = t.audit.map((a) => el("tr", {}, ...cells([a.at, a.actor, a.action, text(a.detail), text(a.reason)])));
          const undecided = t.state === "prepared" || t.state === "parked";
          show(
            el("p", {}, el("a", { href: "#/transactions" }, "← Stuck transactions")),
            el("h2", {}, "Transaction ", el("code", {}, t.id)),
            el("dl", { id: "transaction" }, fields.map(([name, value]) => [el("dt", {}, name), el("dd", {}, value)])),
            el("h3", {}, "Check history"),
            checks.length ? table(["Attempt", "Sent", "Client", "Outcome", "Answered"], checks, { id: "checks", numeric: [0] })
              : el("p", { class: "muted", id: "checks" }, "No check-backs sent yet."),
            el("h3", {}, "Audit"),
            audit.length ? table(["At", "Actor", "Action", "Detail", "Reason"], audit, { id: "audit" })
              : el("p", { class: "muted", id: "audit" }, "No operator or policy actions."),
            undecided ? resolveForm(t) : null);
        }

        function resolveForm(t) {
          const result = el("div", { id: "resolve-result" });
          const form = el("form", { id: "resolve", onsubmit: async (event) => {
            event.preventDefault();
            const f = event.target.elements;
            const reason = f.reason.value.trim(), actor = f.actor.value.trim();
            if (!reason || !actor) { result.replaceChildren(errorBox("Give your name and a reason: both are kept in the audit log.")); return; }
            store.actor = actor;
            f.submit.disabled = true;
            try {
              const reply = await api("POST", "/v1/transactions/" + encodeURIComponent(t.id) + "/resolve",
                { resolution: f.resolution.value, reason }, { "X-Sluice-Actor": actor });
              await transactionView(t.id);
              document.getElementById("view").prepend(el("p", { class: "ok", id: "resolved", role: "status" },
                reply.outcome === "applied" ? `Transaction ${t.id} is now ${reply.transaction.state}.` : `Transaction ${t.id} was already ${reply.transaction.state}; nothing changed.`));
            } catch (error) {
              f.submit.disabled = false;
              result.replaceChildren(errorBox(error));
            }
          } },
            el("fieldset", {},
              el("legend", {}, "Resolve by hand"),
              el("p", { class: "muted" }, "Decide for the producer: a commit delivers the message, a rollback discards it. Final and audited."),
              el("p", {},
                el("label", {}, el("input", { type: "radio", name: "resolution", value: "commit", checked: true }), "Commit"), " ",
                el("label", {}, el("input", { type: "radio", name: "resolution", value: "rollback" }), "Roll back")),
              el("p", {}, el("label", {}, "Your name ", el("input", { name: "actor", value: store.actor, required: true, maxlength: "128" }))),
              el("p", {}, el("textarea", { name: "reason", placeholder: "Why (required, kept in the audit log)", required: true, maxlength: "1024" })),
              el("button", { type: "submit", name: "submit" }, "Resolve")),
            result);
          return form;
        }

        // MARK: topics and groups

        async function topicsView() {
          const topics = await api("GET", "/v1/topics");
          const topicRows = topics.topics.map((t) => el("tr", {}, ...cells([t.name, t.type, t.queues, new Date(t.createdAtMs).toISOString()], [2])));
          let groups, reset = null;
          try {
            const list = await api("GET", "/v1/groups");
            const rows = list.groups.map((g) =>
              el("tr", {}, ...cells([g.name, g.fifo ? "yes" : "no", g.maxDeliveryAttempts, g.consumeFrom, g.waiting, g.inFlight, g.retrying, g.scheduled, g.deadLettered], [2, 4, 5, 6, 7, 8])));
            groups = rows.length ? table(["Group", "FIFO", "Max attempts", "Starts at", "Waiting", "In flight", "Retrying", "Scheduled", "Dead letters"], rows, { id: "groups", numeric: [2, 4, 5, 6, 7, 8] })
              : el("p", { class: "muted", id: "groups" }, "No consumer groups yet.");
            if (rows.length && topics.topics.length) reset = resetForm(list.groups.map((g) => g.name), topics.topics.map((t) => t.name));
          } catch (error) {
            if (error.status !== 404) throw error;
            groups = el("p", { class: "muted", id: "groups" }, "This broker does not serve consumer groups yet.");
          }
          show(
            el("h2", {}, "Topics"),
            topicRows.length ? table(["Name", "Type", "Queues", "Created"], topicRows, { id: "topics", numeric: [2] })
              : el("p", { class: "muted", id: "topics" }, "No topics. Create one with: sluice topic create NAME --type normal"),
            el("h2", {}, "Consumer groups"), groups, reset);
        }

        // An operator moves a group's position in a topic (POST /v1/groups/{name}/reset-offset), audited.
        function resetForm(groupNames, topicNames) {
          const result = el("div", { id: "reset-result" });
          const options = (names) => names.map((name) => el("option", { value: name }, name));
          return el("form", { id: "reset-offset", onsubmit: async (event) => {
            event.preventDefault();
            const f = event.target.elements;
            const actor = f.actor.value.trim(), reason = f.reason.value.trim();
            const to = f.to.value === "time" ? f.time.value.trim() : f.to.value;
            if (!actor || !reason || !to) { result.replaceChildren(errorBox("Give the time (if resetting to one), your name and a reason: they are kept in the audit log.")); return; }
            store.actor = actor;
            f.submit.disabled = true;
            try {
              const reply = await api("POST", "/v1/groups/" + encodeURIComponent(f.group.value) + "/reset-offset",
                { topic: f.topic.value, to, reason }, { "X-Sluice-Actor": actor });
              const moves = reply.queues.map((q) => `queue ${q.queueId}: ${q.from} → ${q.to}`).join(", ");
              result.replaceChildren(el("p", { class: "ok", id: "reset-done", role: "status" },
                `Group ${reply.group} in ${reply.topic} now starts at ${reply.to} (${moves}).`));
            } catch (error) {
              result.replaceChildren(errorBox(error));
            }
            f.submit.disabled = false;
          } },
            el("fieldset", {},
              el("legend", {}, "Reset a group's position"),
              el("p", { class: "muted" }, "Every queue of the topic moves: to the oldest message (everything again), to the end (skip what was not received) or to the first message stored at or after a time. Messages in flight stay ackable. Audited."),
              el("p", {},
                el("label", {}, "Group ", el("select", { name: "group" }, ...options(groupNames))), " ",
                el("label", {}, "Topic ", el("select", { name: "topic" }, ...options(topicNames)))),
              el("p", {},
                el("label", {}, el("input", { type: "radio", name: "to", value: "earliest", checked: true }), "Earliest"),
                el("label", {}, el("input", { type: "radio", name: "to", value: "latest" }), "Latest"),
                el("label", {}, el("input", { type: "radio", name: "to", value: "time" }), "At time "),
                el("input", { name: "time", placeholder: "2026-12-05T07:00:00Z", maxlength: "64" })),
              el("p", {}, el("label", {}, "Your name ", el("input", { name: "actor", value: store.actor, required: true, maxlength: "128" }))),
              el("p", {}, el("textarea", { name: "reason", placeholder: "Why (required, kept in the audit log)", required: true, maxlength: "1024" })),
              el("button", { type: "submit", name: "submit" }, "Reset")),
            result);
        }

        // MARK: messages and trace

        function searchForm(value, byKey) {
          return el("form", { class: "inline", id: "search", onsubmit: (event) => {
            event.preventDefault();
            const f = event.target.elements;
            const query = f.query.value.trim();
            if (!query) return;
            location.hash = f.by.value === "key" ? "#/messages?key=" + encodeURIComponent(query) : "#/messages/" + encodeURIComponent(query);
          } },
            el("select", { name: "by" }, el("option", { value: "id", selected: !byKey }, "Message ID"), el("option", { value: "key", selected: byKey }, "Key")),
            el("input", { name: "query", value: value || "", size: "44", placeholder: "message id or key", required: true }),
            el("button", { type: "submit" }, "Find"));
        }

        function messageRows(messages) {
          return messages.map((m) => el("tr", { class: "link", onclick: () => { location.hash = "#/messages/" + encodeURIComponent(m.messageId); } },
            el("td", { class: "mono" }, m.messageId), ...cells([m.role, `${m.topic}#${m.queueId}`, m.queueOffset, m.storedAt, m.keys.join(" ") || "-",
              m.transaction ? m.transaction.state : "-", m.bodyPreview.encoding === "utf8" ? m.bodyPreview.text.slice(0, 60) : `${m.bodySize} bytes`], [2])));
        }

        async function messagesView(id, key) {
          const nodes = [el("h2", {}, "Message trace"), searchForm(id || key, Boolean(key))];
          if (key) {
            try {
              const found = await api("GET", "/v1/messages?" + new URLSearchParams({ key }));
              nodes.push(el("h3", {}, `Messages with key ${key}`), table(["Message ID", "Role", "Queue", "Offset", "Stored", "Keys", "Transaction", "Body"], messageRows(found.messages), { id: "messages", numeric: [3] }));
            } catch (error) { nodes.push(errorBox(error)); }
          } else if (id) {
            const [records, trace] = await Promise.allSettled([
              api("GET", "/v1/messages/" + encodeURIComponent(id)), api("GET", "/v1/messages/" + encodeURIComponent(id) + "/trace")]);
            if (records.status === "fulfilled") {
              nodes.push(el("h3", {}, "Stored records"), table(["Message ID", "Role", "Queue", "Offset", "Stored", "Keys", "Transaction", "Body"], messageRows(records.value.messages), { id: "messages", numeric: [3] }));
              const txn = records.value.messages.map((m) => m.transaction).find(Boolean);
              if (txn) nodes.push(el("p", {}, "Transaction ", el("a", { href: "#/transactions/" + encodeURIComponent(txn.id) }, txn.id), " is ", stateCell(txn.state), "."));
            } else {
              nodes.push(errorBox(records.reason));
            }
            if (trace.status === "fulfilled") {
              const events = trace.value.events.map((e) => el("tr", {}, el("td", {}, e.at), el("td", {}, el("strong", {}, e.event)),
                el("td", {}, Object.keys(e.details).sort().map((k) => el("span", {}, el("span", { class: "muted" }, k + "="), e.details[k], " ")))));
              nodes.push(el("h3", {}, "Trace"), events.length ? table(["At", "Event", "Details"], events, { id: "trace" })
                : el("p", { class: "muted", id: "trace" }, trace.value.tracing ? "No trace events recorded." : "No trace events: the broker runs with --trace off."));
            }
          } else {
            nodes.push(el("p", { class: "muted" }, "Find a message by its id (as the producer got it) or by one of its keys, then follow what happened to it: received, stored, committed or rolled back, delivered, acknowledged, retried, dead-lettered."));
          }
          show(nodes);
        }

        // MARK: cluster

        // Bytes as the CLI prints sizes: 512 B, 3.2 KiB, 14.0 MiB.
        function bytes(count) {
          if (count < 1024) return `${count} B`;
          const units = ["KiB", "MiB", "GiB", "TiB"];
          let value = count / 1024, unit = 0;
          while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
          return `${value.toFixed(1)} ${units[unit]}`;
        }

        // Groups, leaders and epochs as etcd holds them; this broker's replica of its group's log
        // and, on a leader, how far behind each follower is. Redrawn every 5 s while shown.
        let clusterTimer = null;
        async function clusterView() {
          const report = await api("GET", "/v1/cluster");
          const nodes = [el("h2", {}, "Cluster")];
          if (report.mode === "single") {
            nodes.push(el("p", { class: "muted", id: "cluster-mode" }, "This broker runs alone (no --etcd): no broker groups, no replication. See docs/operations.md, \"Cluster coordination\"."));
            show(nodes);
            return;
          }
          const node = report.node || {};
          const replica = node.replication;
          nodes.push(el("div", { class: "cards" },
            el("div", { class: "card" }, el("div", { class: "value", id: "cluster-node" }, text(node.nodeId)), el("div", { class: "label" }, "this broker")),
            el("div", { class: "card" }, el("div", { class: "value", id: "cluster-role" }, text(node.role)), el("div", { class: "label" }, `in group ${text(node.brokerGroup)}`)),
            el("div", { class: "card" }, el("div", { class: "value", id: "cluster-epoch" }, text(node.epoch)), el("div", { class: "label" }, "leader epoch")),
            // A follower's distance from its leader; a leader's bytes no majority holds yet.
            replica && replica.role !== "leader" ? el("div", { class: "card" }, el("div", { class: "value", id: "cluster-lag" }, bytes(replica.lagBytes)), el("div", { class: "label" }, "behind the leader")) : null,
            replica && replica.role === "leader" ? el("div", { class: "card" }, el("div", { class: "value", id: "cluster-unreplicated" }, bytes(Math.max(0, replica.endOffset - replica.highWatermark))), el("div", { class: "label" }, "not yet on a majority")) : null));
          if (node.lastError) nodes.push(errorBox(new Error("coordination: " + node.lastError)));
          if (report.etcdError) nodes.push(errorBox(new Error("etcd: " + report.etcdError)));

          const groupRows = report.groups.map((g) => el("tr", { "data-group": g.name },
            el("td", {}, g.name),
            el("td", { class: g.leader ? null : "state-parked" }, g.leader || "no leader"),
            ...cells([g.epoch, g.queues], [0, 1]),
            el("td", {}, g.members.map((m) => el("span", { class: "member" },
              el("a", { href: `http://${m.adminAddress}/#/cluster` }, m.nodeId), ` ${m.role} ${m.grpcAddress}`, el("br", {}))))));
          nodes.push(el("h3", {}, "Broker groups"),
            groupRows.length ? table(["Group", "Leader", "Epoch", "Queues", "Members (gRPC)"], groupRows, { id: "cluster-groups", numeric: [2, 3] })
              : el("p", { class: "muted", id: "cluster-groups" }, "etcd lists no broker groups yet."));

          if (replica) {
            nodes.push(el("h3", {}, "Replication of this broker's log"), el("dl", { id: "cluster-replica" },
              el("dt", {}, "Role"), el("dd", {}, replica.role),
              el("dt", {}, "End offset"), el("dd", { class: "mono" }, replica.endOffset),
              el("dt", {}, "High watermark"), el("dd", { class: "mono" }, `${replica.highWatermark} (a majority holds the log below it)`),
              el("dt", {}, "Leader's end"), el("dd", { class: "mono" }, replica.leaderEndOffset),
              replica.lastError ? [el("dt", {}, "Last error"), el("dd", { class: "error" }, replica.lastError)] : null));
            const followers = Object.keys(replica.followers).sort().map((name) => {
              const acknowledged = replica.followers[name];
              const behind = Math.max(0, replica.endOffset - acknowledged);
              return el("tr", { "data-follower": name }, el("td", {}, name), ...cells([acknowledged, bytes(behind)], [0, 1]));
            });
            if (replica.role === "leader") {
              nodes.push(followers.length ? table(["Follower", "Acknowledged up to", "Behind"], followers, { id: "cluster-followers", numeric: [1, 2] })
                : el("p", { class: "muted", id: "cluster-followers" }, "No follower has fetched from this leader in its epoch yet."));
            }
          }
          nodes.push(el("p", { class: "muted" }, `Refreshed ${new Date().toISOString()}; every 5 s while shown. The same data: sluice cluster status, GET /v1/cluster.`));
          show(nodes);
          clusterTimer = setTimeout(() => { if (location.hash.startsWith("#/cluster")) route(); }, 5000);
        }

        // MARK: routing

        async function route() {
          const hash = location.hash.replace(/^#/, "") || "/transactions";
          const [path, query] = hash.split("?");
          const params = new URLSearchParams(query || "");
          const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
          for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.view === parts[0]);
          if (clusterTimer) { clearTimeout(clusterTimer); clusterTimer = null; }
          try {
            if (parts[0] === "transactions" && parts[1]) await transactionView(parts[1]);
            else if (parts[0] === "cluster") await clusterView();
            else if (parts[0] === "topics") await topicsView();
            else if (parts[0] === "messages") await messagesView(parts[1], params.get("key"));
            else await stuckView(params);
          } catch (error) {
            show(errorBox(error));
          }
        }

        async function refreshStatus() {
          const badge = document.getElementById("broker-status");
          try {
            const reply = await fetch("/readyz", { headers: { "Accept": "application/json" } });
            badge.textContent = reply.ok ? "broker ready" : "broker not ready";
            badge.className = "status " + (reply.ok ? "ready" : "down");
          } catch (error) {
            badge.textContent = "broker unreachable";
            badge.className = "status down";
          }
        }

        document.addEventListener("DOMContentLoaded", () => {
          document.getElementById("login").addEventListener("submit", (event) => {
            event.preventDefault();
            store.token = document.getElementById("token").value.trim();
            document.getElementById("login").hidden = true;
            route();
          });
          window.addEventListener("hashchange", route);
          refreshStatus();
          setInterval(refreshStatus, 10000);
          route();
        });
        """#
}
