"""Draws bench/run.py's results.json as PNGs: throughput.png, cpu.png, latency.png.

Usage: bench/.venv/bin/python bench/plot.py results.json OUT_DIR
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NAMES = {
    "sluice": "Sluice (sync flush)",
    "sluice-http": "Sluice HTTP front",
    "sluice-mqtt": "Sluice MQTT front, async flush",
    "sluice-mqtt-sync": "Sluice MQTT front, sync flush",
    "mosquitto": "mosquitto (no fsync)",
    "rabbitmq": "RabbitMQ quorum",
    "pg": "PostgreSQL outbox",
    "nats-fsync": "NATS JS, fsync",
    "nats-nofsync": "NATS JS, no fsync",
}
COLORS = {"sluice": "#d62728", "sluice-http": "#e377c2", "sluice-mqtt": "#8c564b", "sluice-mqtt-sync": "#c49c94",
          "mosquitto": "#9467bd", "rabbitmq": "#ff7f0e", "pg": "#1f77b4", "nats-fsync": "#2ca02c",
          "nats-nofsync": "#98df8a"}


def cases(doc, system, workload):
    entry = doc["results"].get(system, {})
    return [c for c in entry.get(workload, []) if "error" not in c] if isinstance(entry, dict) else []


def bars(ax, groups, series, ylabel, title, log=False, fmt="{:,.0f}"):
    """groups: x labels; series: [(system, label, [values per group], optional [notes per group])].
    A note (failures in that case) is printed in red after the value."""
    width = 0.8 / max(len(series), 1)
    for i, entry in enumerate(series):
        system, label, values = entry[:3]
        notes = entry[3] if len(entry) > 3 else [None] * len(values)
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        heights = [v if v is not None else 0 for v in values]
        drawn = ax.bar(xs, heights, width * 0.95, label=label, color=COLORS.get(system))
        for rect, v, note in zip(drawn, values, notes):
            x = rect.get_x() + rect.get_width() / 2
            if v is not None:
                ax.annotate(fmt.format(v) + (f" ({note})" if note else ""), (x, rect.get_height()),
                            ha="center", va="bottom", fontsize=7, rotation=90, xytext=(0, 2),
                            textcoords="offset points", color="red" if note else "black")
            elif note:
                ax.annotate("(almost) none completed: " + note, (x, 0.02), xycoords=("data", "axes fraction"), ha="center",
                            va="bottom", fontsize=7, rotation=90, color="red")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.margins(y=0.3)
    if log:
        ax.set_yscale("log")
        tallest = max([v for entry in series for v in entry[2] if v] or [1])
        ax.set_ylim(top=tallest * 12)  # room for the rotated labels above the bars
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    ax.grid(axis="y", alpha=0.3)


def by_level(case_list, key, levels, level_key="inflight"):
    found = {c.get(level_key): (c.get(key) if c.get("count", 10) >= 10 else None) for c in case_list}
    return [found.get(level) for level in levels]


def failures(case_list, levels, level_key="inflight"):
    found = {c.get(level_key): c for c in case_list}
    notes = []
    for level in levels:
        c = found.get(level, {})
        parts = []
        if c.get("errors"):
            parts.append(f"{c['errors']:,} errors")
        if c.get("lost"):
            parts.append(f"{c['lost']:,} lost")
        if c.get("duplicates"):
            parts.append(f"{c['duplicates']:,} dup")
        notes.append(", ".join(parts) or None)
    return notes


def main():
    doc = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    plan = doc["plan"]
    levels, pg_levels, rates = plan["inflight"], plan["pg_clients"], plan["rates"]
    when = doc["when"] + (" (quick)" if doc.get("quick") else "")
    disk = doc.get("disk", {}).get("rate")
    subtitle = f"{when}; {doc['machine']['cpus']} CPUs, load {doc['machine']['loadavg_start']}; " \
               f"disk limit {disk:,.0f} 4 KiB fdatasyncs/s" if disk else when

    publishers = [s for s in ("sluice", "sluice-http", "sluice-mqtt", "sluice-mqtt-sync", "mosquitto", "rabbitmq", "nats-fsync",
                                 "nats-nofsync") if cases(doc, s, "publish")]
    txn_groups = [f"Sluice x{a} / PG {b} clients" for a, b in zip(levels, pg_levels)]

    # Throughput: durable publish and transactions.
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 6))
    bars(left, [f"{n} in flight" for n in levels],
         [(s, NAMES[s], by_level(cases(doc, s, "publish"), "rate", levels), failures(cases(doc, s, "publish"), levels))
          for s in publishers],
         "messages/s (confirmed, 1 KiB)", "Durable publish on one connection", log=True)
    if disk:
        left.axhline(disk, color="grey", linestyle="--", linewidth=1)
        left.annotate("disk: 4 KiB append+fdatasync/s", (0, disk), fontsize=7, color="grey",
                      xytext=(-30, 3), textcoords="offset points")
    txn_series = []
    if cases(doc, "sluice", "txn"):
        txn_series.append(("sluice", "Sluice half + commit", by_level(cases(doc, "sluice", "txn"), "rate", levels),
                           failures(cases(doc, "sluice", "txn"), levels)))
    if cases(doc, "pg", "txn"):
        txn_series.append(("pg", "PostgreSQL outbox txn", by_level(cases(doc, "pg", "txn"), "rate", pg_levels),
                           failures(cases(doc, "pg", "txn"), pg_levels)))
    bars(right, txn_groups, txn_series, "transactions/s", "Transactions (durable)", log=True)
    fig.suptitle("Throughput, same run — " + subtitle, fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "throughput.png"), dpi=110)
    plt.close(fig)

    # CPU per message: broker (bars) and the load generator (hatched bars beside).
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 6))
    series = []
    for s in publishers:
        series.append((s, NAMES[s] + " broker", by_level(cases(doc, s, "publish"), "broker_cpu_us", levels),
                       failures(cases(doc, s, "publish"), levels)))
    bars(left, [f"{n} in flight" for n in levels], series, "CPU µs per message (lower is better)",
         "Broker CPU per durable message (whole process tree, /proc)", log=True, fmt="{:,.1f}")
    gen = []
    for s in publishers:
        gen.append((s, NAMES[s] + " generator", by_level(cases(doc, s, "publish"), "client_cpu_us", levels)))
    for i, (system, label, values) in enumerate(gen):
        width = 0.8 / max(len(gen), 1)
        xs = [g + (i - (len(gen) - 1) / 2) * width for g in range(len(levels))]
        left.scatter(xs, [v if v else float("nan") for v in values], marker="_", s=200, color="black",
                     label="load generator" if i == 0 else None, zorder=3)
    left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, frameon=False)
    txn_cpu = []
    if cases(doc, "sluice", "txn"):
        txn_cpu.append(("sluice", "Sluice", by_level(cases(doc, "sluice", "txn"), "broker_cpu_us", levels),
                        failures(cases(doc, "sluice", "txn"), levels)))
    if cases(doc, "pg", "txn"):
        txn_cpu.append(("pg", "PostgreSQL", by_level(cases(doc, "pg", "txn"), "broker_cpu_us", pg_levels),
                        failures(cases(doc, "pg", "txn"), pg_levels)))
    bars(right, txn_groups, txn_cpu, "CPU µs per transaction (lower is better)", "Broker CPU per transaction",
         log=True, fmt="{:,.1f}")
    fig.suptitle("CPU per message, same run — black dashes: the load generator's CPU — " + subtitle, fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "cpu.png"), dpi=110)
    plt.close(fig)

    # End-to-end latency percentiles.
    consumers = [s for s in ("sluice", "sluice-http", "sluice-mqtt", "sluice-mqtt-sync", "mosquitto", "rabbitmq", "nats-fsync",
                                 "nats-nofsync") if cases(doc, s, "e2e")]
    fig, axes = plt.subplots(1, len(rates), figsize=(6.5 * len(rates), 6), squeeze=False)
    for ax, rate in zip(axes[0], rates):
        series = []
        for s in consumers:
            found = [c for c in cases(doc, s, "e2e") if c.get("target_rate") == rate]
            c = found[0] if found else {}
            values = [c.get(k) / 1000 if c.get(k) is not None else None for k in ("p50_us", "p99_us", "p999_us")]
            label = NAMES[s]
            if c and not c.get("sustained"):
                label += f" (NOT sustained: {c.get('send_rate', 0):,.0f}/s sent)"
            if c and (c.get("lost") or c.get("duplicates") or c.get("errors")):
                label += f" lost {c.get('lost')} dup {c.get('duplicates')} errors {c.get('errors', 0):,}"
            series.append((s, label, values))
        bars(ax, ["p50", "p99", "p99.9"], series, "ms, send start → in consumer's hands", f"Publish → consume at {rate:,} msg/s",
             log=True, fmt="{:,.2f}")
    fig.suptitle("End-to-end latency, same run — " + subtitle, fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "latency.png"), dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
