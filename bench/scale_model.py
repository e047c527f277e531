#!/usr/bin/env python3
"""Sluice at the seed's scale: a trillion messages a day, tens of millions per second at peak.

An extrapolation, on paper, from the per-broker figures measured on one shared 2-vCPU machine
(docs/benchmarks.md) to a cluster of replicated broker groups coordinated by etcd
(docs/architecture.md §13, §15), plus a Monte-Carlo simulation of fail-overs. Every default
below names the table it was copied from; every figure that was not measured says so. Read
docs/scale.md for what the output means and where the model is weakest.

Python 3 standard library only; runs in about a second: `make scale-model` or
`python3 bench/scale_model.py [--help]`.
"""
import argparse
import json
import math
import random
import sys
import time

DAY = 86400.0
TRILLION = 1e12
MIB = 1024 * 1024
GIB = 1024 * MIB

# etcd's documented practical limits (docs/scale.md, "etcd's limits", has the links):
ETCD_DB_DEFAULT_QUOTA = 2 * GIB      # --quota-backend-bytes default (etcd.io dev-guide/limit)
ETCD_DB_SUGGESTED_MAX = 8 * GIB      # "8 GiB is a suggested maximum size for normal environments"
ETCD_MAX_REQUEST = 1.5 * MIB         # --max-request-bytes default (same page)
ETCD_LEASE_REVOKE_PER_S = 1000       # lessor's leaseRevokeRate: expired leases revoked per second
ETCD_LESSOR_TICK_S = 0.5             # lessor.runLoop checks for expired leases every 500 ms
GRPC_SWIFT_MAX_MESSAGE = 4 * MIB     # grpc-swift-nio-transport 2.9.2 default message limit, which
                                     # bounds one Range answer EtcdClient.list() can decode


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    m = p.add_argument_group("measured per-broker figures (defaults from docs/benchmarks.md)")
    m.add_argument("--send-cpu-us", type=float, default=45.1,
                   help="broker CPU per durable 1 KiB normal send over gRPC, 256 in flight "
                        "('make bench-peers, 2026-12-05 08:04', publish Sluice n=256: 20,648 msg/s, 45.1 us)")
    m.add_argument("--measured-send-rate", type=float, default=20648,
                   help="msgs/s of that same row (2 vCPU shared with the load generator; shown, not used)")
    m.add_argument("--e2e-cpu-us", type=float, default=112.2,
                   help="broker CPU per delivered message, send + receive + ack, at 10,000 msg/s "
                        "(same run, 'end to end' table); delivery cost = this - send-cpu-us")
    m.add_argument("--txn-cpu-us", type=float, default=174.0,
                   help="broker CPU per transaction (half + commit), 256 in flight, --transaction-hold 500ms "
                        "('Held halves' table, 2026-12-05 ~14:45)")
    m.add_argument("--log-ceiling", type=float, default=285576,
                   help="durable appends/s one commit log takes in process, 1 KiB, sync flush, 256 appenders "
                        "('Commit log', 2026-11-26 19:10 UTC, sync x256; 4.1 us CPU each). One writer thread "
                        "per log: treated as a per-group ceiling that more cores do not raise")
    m.add_argument("--append-cpu-us", type=float, default=4.1,
                   help="CPU per in-process durable append (same row); used for a follower's appendReplicated")
    m.add_argument("--record-overhead-bytes", type=float, default=115,
                   help="log bytes per record beyond the body (storage sync x256: 325.2 MB/s / 285,576 msg/s = 1,139 B "
                        "for 1,024 B bodies)")
    m.add_argument("--index-overhead-bytes", type=float, default=95,
                   help="index bytes per message (100 M accumulation: 410 B on disk per 200 B body, "
                        "minus the body and the record overhead)")
    m.add_argument("--takeover-extra-s", type=float, default=0.2,
                   help="election + candidacy + becoming leader after the lease expires "
                        "(ReplicationFailoverTests: take-over ~2.2 s with a 2 s lease TTL, architecture.md §15)")

    a = p.add_argument_group("assumptions (not measured)")
    a.add_argument("--body-bytes", type=float, default=1024, help="message body size")
    a.add_argument("--wire-overhead-bytes", type=float, default=150,
                   help="gRPC/HTTP2/protobuf bytes per message on the wire beyond the body")
    a.add_argument("--replicas", type=int, default=3, help="brokers per group")
    a.add_argument("--replication", choices=("sync", "async"), default="sync",
                   help="labels the sizing: CPU and bytes per message are modelled the same for both (sync adds "
                        "latency, not work); the simulation prints both")
    a.add_argument("--ship-cpu-us", type=float, default=1.0,
                   help="leader CPU per message per follower for shipping chunks (unmeasured)")
    a.add_argument("--txn-share", type=float, default=0.0, help="fraction of messages sent as transactions")
    a.add_argument("--fanout", type=float, default=1.0, help="consumer groups reading each message")
    a.add_argument("--peak-to-average", type=float, default=3.0)
    a.add_argument("--cpu-target", type=float, default=0.6, help="CPU (and log writer) utilisation allowed at peak")
    a.add_argument("--profiles", default="2:1.0,32:0.6",
                   help="broker machines as cores:efficiency; 2:1.0 is the machine measured, efficiency is the "
                        "share of linear scaling with cores (Sluice's scaling across cores is unmeasured)")
    a.add_argument("--disk-mbs", type=float, default=1800,
                   help="sequential write MB/s of a broker's disk (anchors.md machine 2: ~1.8 GiB/s)")
    a.add_argument("--disk-target", type=float, default=0.5, help="disk bandwidth utilisation allowed at peak")
    a.add_argument("--nic-gbits", type=float, default=10.0, help="NIC Gbit/s per direction")
    a.add_argument("--nic-target", type=float, default=0.6)
    a.add_argument("--retention-days", type=float, default=3.0, help="broker default --retention-hours 72")
    a.add_argument("--disk-fill-target", type=float, default=0.8,
                   help="fill at steady state (retention also deletes past 90%% full)")
    a.add_argument("--topics", type=int, default=10000)
    a.add_argument("--queues-per-topic", type=int, default=16)
    a.add_argument("--producer-groups", type=int, default=2000, help="transactional producer groups (check owners)")
    a.add_argument("--clients", type=int, default=200000, help="client processes (producers + consumers)")
    a.add_argument("--route-refresh-s", type=float, default=30.0,
                   help="how often a RocketMQ 5 client re-queries a topic's route")
    a.add_argument("--etcd-req-per-s", type=float, default=30000,
                   help="requests/s a 3-member etcd takes under heavy load (etcd.io op-guide/performance)")
    a.add_argument("--etcd-budget", type=float, default=0.25, help="share of that Sluice may use steadily")
    a.add_argument("--etcd-revisions-kept", type=float, default=3.0,
                   help="db bytes per live byte (MVCC history between compactions, bbolt free pages)")

    s = p.add_argument_group("fail-over simulation")
    s.add_argument("--lease-ttl", type=float, default=5.0, help="--etcd-lease-ttl")
    s.add_argument("--mtbf-days", type=float, default=30.0,
                   help="broker crashes (kill -9, OOM, kernel panic, host reboot; the disk survives): "
                        "one per broker per this many days")
    s.add_argument("--machine-afr", type=float, default=0.05,
                   help="machines lost with their disk per broker per year (annualised failure rate)")
    s.add_argument("--restart-s", type=float, default=30.0, help="a crashed or redeployed broker is back after this")
    s.add_argument("--replace-hours", type=float, default=4.0, help="a lost machine is replaced after this")
    s.add_argument("--catchup-mbs", type=float, default=400.0,
                   help="MB/s a returning follower copies at (fetch chunks; unmeasured)")
    s.add_argument("--planned-per-month", type=float, default=1.0,
                   help="rolling restarts per broker per month (SIGTERM: the lease is revoked, no TTL wait)")
    s.add_argument("--sim-groups", type=int, default=0,
                   help="groups simulated (0: those needed for a trillion a day on the first profile, at most 2000)")
    s.add_argument("--sim-days", type=float, default=365.0)
    s.add_argument("--seed", type=int, default=15)
    s.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    args = p.parse_args(argv)
    args.profiles = [(int(c), float(e)) for c, e in (x.split(":") for x in args.profiles.split(","))]
    if args.replicas < 1:
        p.error("--replicas must be at least 1")
    return args


# ---------------------------------------------------------------- formatting

def si(x, unit=""):
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}{unit}"
    return f"{x:.3g}{unit}"


def table(title, header, rows, out):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    out.append("")
    out.append(title)
    out.append("  ".join(str(h).ljust(w) if i == 0 else str(h).rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
    for r in rows:
        out.append("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))))


# ---------------------------------------------------------------- per message and per group

def per_message(a):
    deliver_us = max(0.0, a.e2e_cpu_us - a.send_cpu_us)
    followers = a.replicas - 1
    leader_us = ((1 - a.txn_share) * a.send_cpu_us + a.txn_share * a.txn_cpu_us
                 + a.fanout * deliver_us + followers * a.ship_cpu_us)
    log_bytes = a.body_bytes + a.record_overhead_bytes
    # A transaction writes its half and a commit marker (no second copy of the body) unless the
    # half is ended within --transaction-hold, when it is one record: counted as one record here.
    disk_bytes = log_bytes + a.index_overhead_bytes
    wire_bytes = a.body_bytes + a.wire_overhead_bytes
    return dict(deliver_us=deliver_us, leader_us=leader_us, follower_us=a.append_cpu_us,
                log_bytes=log_bytes, disk_bytes=disk_bytes, wire_bytes=wire_bytes, followers=followers)


def group_limits(a, pm, cores, eff):
    """Messages/s one broker group takes at peak, by each resource, at the allowed utilisation."""
    nic = a.nic_gbits * 1e9 / 8 * a.nic_target
    egress = pm["followers"] * pm["log_bytes"] + a.fanout * pm["wire_bytes"]
    ingress = pm["wire_bytes"]
    limits = {
        "cpu": cores * eff * 1e6 / pm["leader_us"] * a.cpu_target,
        "log": a.log_ceiling * a.cpu_target,
        "disk": a.disk_mbs * 1e6 * a.disk_target / pm["disk_bytes"],
        "nic": nic / max(egress, ingress),
    }
    # Interleaved placement: each machine leads one group and follows R-1 others.
    inter_cpu = cores * eff * 1e6 / (pm["leader_us"] + pm["followers"] * pm["follower_us"]) * a.cpu_target
    inter_disk = a.disk_mbs * 1e6 * a.disk_target / (a.replicas * pm["disk_bytes"])
    inter_nic = nic / max(egress, ingress + pm["followers"] * pm["log_bytes"])
    inter = {"cpu": inter_cpu, "log": limits["log"], "disk": inter_disk, "nic": inter_nic}
    return limits, inter


def binding(limits):
    k = min(limits, key=limits.get)
    return k, limits[k]


def scenarios(a):
    avg = TRILLION / DAY
    return [
        ("1e12/day, flat", avg, avg),
        (f"1e12/day, peak x{a.peak_to_average:g}", avg * a.peak_to_average, avg),
        ("10M/s peak", 10e6, 10e6 / a.peak_to_average),
        ("50M/s peak", 50e6, 50e6 / a.peak_to_average),
    ]


# ---------------------------------------------------------------- etcd

def json_len(obj):
    return len(json.dumps(obj, sort_keys=True, separators=(",", ":")))


def etcd_sizes(a):
    """Bytes of each kind of key and value, from the JSON Sluice stores (sorted keys, compact)."""
    node, group, topic = "broker-000001", "group-00001", "orders.payment-events.v1"
    broker = json_len({"nodeID": node, "brokerGroup": group, "grpcAddress": "10.120.33.201:8081",
                       "adminAddress": "10.120.33.201:8082", "registeredAtMs": 1765000000000,
                       "replicationAddress": "10.120.33.201:8091"}) + len("/sluice/brokers/" + node)
    leader = json_len({"nodeID": node, "epoch": 123456, "grpcAddress": "10.120.33.201:8081",
                       "replicationAddress": "10.120.33.201:8091"}) + len(f"/sluice/groups/{group}/leader")
    epoch = len("123456") + len(f"/sluice/groups/{group}/epoch")
    route = json_len({"topic": topic, "queues": [{"queueID": i, "brokerGroup": group}
                                                 for i in range(a.queues_per_topic)]}) + len("/sluice/routes/" + topic)
    route_max = json_len({"topic": topic, "queues": [{"queueID": i, "brokerGroup": group}
                                                     for i in range(1024)]})
    owner = json_len({"producerGroup": "pg-checkout-service-01", "nodeID": node, "brokerGroup": group}) \
        + len("/sluice/txn-check-owners/pg-checkout-service-01")
    return dict(broker=broker, leader=leader, epoch=epoch, route=route, route_max=route_max, owner=owner)


def etcd_load(a, groups, sizes, peak):
    brokers = groups * a.replicas
    keys = brokers + 2 * groups + a.topics + a.producer_groups
    live = (brokers * sizes["broker"] + groups * (sizes["leader"] + sizes["epoch"])
            + a.topics * sizes["route"] + a.producer_groups * sizes["owner"])
    db = live * a.etcd_revisions_kept
    keepalive = brokers * 3.0 / a.lease_ttl           # renewed every TTL/3
    budget = a.etcd_req_per_s * a.etcd_budget
    # Watchers: each broker follows its group's leader key and the route table; to answer
    # QueryRoute with leaders (issue 15 item 3) each also follows /groups/ (every leader change).
    watchers = brokers * 3
    # One unplanned leader loss writes: the lease revoked (deletes the registration, the leader key and
    # the check owners it held), the campaign Txn (leader key + epoch), the check-owner claims of its
    # successor, the dead broker's new registration when it returns.
    owners_per_leader = a.producer_groups / max(1, groups)   # claimed by leaders only
    writes = 1 + 1 + owners_per_leader + 2
    # Events delivered: the three /groups/ events (leader deleted, leader put, epoch put) to every
    # broker's /groups/ watch, and leader deleted + leader put to the group's own election watches.
    deliveries = 3 * brokers + 2 * (a.replicas - 1)
    return dict(brokers=brokers, keys=keys, live=live, db=db, keepalive=keepalive, budget=budget,
                watchers=watchers, writes_per_failover=writes, deliveries=deliveries,
                routes_list=a.topics * sizes["route"], brokers_list=brokers * sizes["broker"],
                queryroute_if_etcd=a.clients / a.route_refresh_s, peak=peak)


# ---------------------------------------------------------------- fail-over simulation

def takeover_sample(rng, ttl, extra):
    """Seconds from a leader's death to its successor accepting sends.

    The lease is renewed every TTL/3 and expires TTL after the last renewal, so death lands
    uniformly within a renewal period: expiry 2/3 TTL to TTL after it; etcd's lessor notices on its
    next 500 ms tick; then the candidacy check and the campaign Txn (extra)."""
    return ttl - rng.uniform(0, ttl / 3) + rng.uniform(0, ETCD_LESSOR_TICK_S) + extra


def broker_outages(rng, a, horizon, catchup_small, catchup_full, rejoin):
    """(down, back_in_sync, kind) intervals of one broker over the horizon."""
    out = []
    t = 0.0
    rate_crash = 1.0 / (a.mtbf_days * DAY)
    rate_machine = a.machine_afr / (365 * DAY)
    rate_planned = a.planned_per_month / (30 * DAY)
    rate = rate_crash + rate_machine + rate_planned
    while True:
        t += rng.expovariate(rate)
        if t >= horizon:
            return out
        x = rng.random() * rate
        if x < rate_machine:
            kind = "machine"
            back = t + a.replace_hours * 3600 + catchup_full if rejoin else math.inf
        else:
            kind = "planned" if x < rate_machine + rate_planned else "crash"
            back = t + a.restart_s * (1 + catchup_small)
        out.append((t, back, kind))
        if back >= horizon:
            return out
        t = back


def simulate_group(rng, a, horizon, sync, catchup_small, catchup_full, rejoin, stats):
    r = a.replicas
    quorum = r // 2 + 1 if sync else 1
    events = []
    for m in range(r):
        for (down, back, kind) in broker_outages(rng, a, horizon, catchup_small, catchup_full, rejoin):
            events.append((down, 1, m, kind))
            if back < horizon:
                events.append((back, 0, m, kind))
    events.sort()
    up = set(range(r))
    leader, ready = 0, 0.0
    t_prev = 0.0
    cur_start = None
    incidents = []

    def account(t0, t1):
        nonlocal cur_start
        if t1 <= t0:
            return
        if leader is None or len(up) < quorum:
            a0, a1, cause = t0, t1, "leader" if leader is None else "quorum"
        elif ready > t0:
            a0, a1, cause = t0, min(t1, ready), "takeover"
        else:
            a0 = a1 = None
        if a0 is not None:
            stats["unavail_" + cause] += a1 - a0
            if cur_start is not None and abs(cur_start[1] - a0) < 1e-9:
                cur_start = (cur_start[0], a1)
            else:
                if cur_start is not None:
                    incidents.append(cur_start[1] - cur_start[0])
                cur_start = (a0, a1)

    for (t, is_down, m, kind) in events:
        account(t_prev, t)
        t_prev = t
        if is_down:
            up.discard(m)
            if m == leader:
                stats["leader_losses"] += 1
                stats["planned_handovers" if kind == "planned" else "unplanned_takeovers"] += 1
                leader = min(up) if up else None
                if leader is not None:
                    delay = a.takeover_extra_s if kind == "planned" else takeover_sample(rng, a.lease_ttl, a.takeover_extra_s)
                    ready = t + delay
                    stats["takeover_s"].append(delay)
        else:
            up.add(m)
            if leader is None:
                leader, ready = m, t + a.takeover_extra_s   # vacancy already seen: campaign at once
    account(t_prev, horizon)
    if cur_start is not None:
        incidents.append(cur_start[1] - cur_start[0])
    stats["incidents"].extend(incidents)


def simulate(a, groups_total, group_rate_avg, pm, retained_per_broker):
    n = a.sim_groups or min(groups_total, 2000)
    horizon = a.sim_days * DAY
    ingest = group_rate_avg * pm["log_bytes"]                       # bytes/s into each group's log
    spare = max(1.0, a.catchup_mbs * 1e6 - ingest)
    catchup_small = ingest / spare                                  # seconds of copy per second missed
    catchup_full = retained_per_broker / spare                       # a replacement copies everything retained
    rows = {}
    for label, sync, rejoin in (("sync", True, True), ("async", False, True),
                                ("sync, no rejoin (before 12-07)", True, False)):
        rng = random.Random(a.seed)                                   # same failures for every mode
        st = dict(unavail_leader=0.0, unavail_quorum=0.0, unavail_takeover=0.0, leader_losses=0,
                  planned_handovers=0, unplanned_takeovers=0, takeover_s=[], incidents=[])
        for _ in range(n):
            simulate_group(rng, a, horizon, sync, catchup_small, catchup_full, rejoin, st)
        rows[label] = st
    return n, horizon, catchup_full, rows


def dur(x):
    if x >= 2 * DAY:
        return f"{x / DAY:.0f} d"
    if x >= 7200:
        return f"{x / 3600:.1f} h"
    if x >= 120:
        return f"{x / 60:.0f} min"
    return f"{x:.1f} s"


def pct(xs, q):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


# ---------------------------------------------------------------- main

def main(argv=None):
    a = parse_args(argv)
    started = time.time()
    out = []
    result = {"inputs": {k: v for k, v in vars(a).items() if k != "json"}}
    pm = per_message(a)
    result["per_message"] = pm

    out.append("Sluice scale model (bench/scale_model.py): extrapolated from one shared 2-vCPU machine; read ratios.")
    out.append(f"inputs: {a.body_bytes:g} B bodies, R={a.replicas} {a.replication}, fan-out {a.fanout:g}, "
               f"txn share {a.txn_share:g}, peak/avg {a.peak_to_average:g}, CPU target {a.cpu_target:g}, "
               f"disk {a.disk_mbs:g} MB/s x{a.disk_target:g}, NIC {a.nic_gbits:g} Gbit/s x{a.nic_target:g}, "
               f"retention {a.retention_days:g} d")
    out.append(f"per message: leader CPU {pm['leader_us']:.1f} us (send {a.send_cpu_us:g}, delivery "
               f"{pm['deliver_us']:.1f} x{a.fanout:g}, shipping {pm['followers'] * a.ship_cpu_us:.1f}), follower "
               f"{pm['follower_us']:g} us; log {pm['log_bytes']:.0f} B, disk {pm['disk_bytes']:.0f} B, wire "
               f"{pm['wire_bytes']:.0f} B")
    out.append(f"measured on 2 vCPU with the generator beside it: {si(a.measured_send_rate)} msg/s at "
               f"{a.send_cpu_us:g} us each ({a.measured_send_rate * a.send_cpu_us / 1e4:.0f}% of one core); "
               f"one log in process: {si(a.log_ceiling)} appends/s")

    # -- per group capacity
    rows = []
    caps = {}
    for cores, eff in a.profiles:
        lim, inter = group_limits(a, pm, cores, eff)
        caps[(cores, eff)] = (lim, inter)
        for name, l in (("dedicated", lim), ("interleaved", inter)):
            k, v = binding(l)
            rows.append((f"{cores} cores x{eff:g}, {name}", si(l["cpu"]), si(l["log"]), si(l["disk"]),
                         si(l["nic"]), f"{si(v)} ({k})"))
    table("1. One broker group at peak: msgs/s each resource allows (at its target utilisation)",
          ["machine, placement", "cpu", "log", "disk", "nic", "group takes"], rows, out)
    out.append("   dedicated: one broker per machine, followers mostly idle (machines = groups x R);")
    out.append("   interleaved: each machine leads one group and follows R-1 others (machines = groups).")

    # -- scenarios
    rows = []
    result["scenarios"] = []
    sizes = etcd_sizes(a)
    first = None
    for cores, eff in a.profiles:
        lim, inter = caps[(cores, eff)]
        for label, peak, avg in scenarios(a):
            k, per_group = binding(lim)
            ki, per_group_i = binding(inter)
            groups = math.ceil(peak / per_group)
            groups_i = math.ceil(peak / per_group_i)
            repl_gbits = avg * pm["followers"] * pm["log_bytes"] * 8 / 1e9
            daily = avg * DAY * pm["disk_bytes"]
            per_broker = daily / groups * a.retention_days / a.disk_fill_target
            cluster_pb = daily * a.replicas * a.retention_days / 1e15
            util = avg / groups / (lim["cpu"] / a.cpu_target)
            rec = dict(profile=f"{cores}:{eff}", scenario=label, peak=peak, avg=avg, groups=groups,
                       brokers=groups * a.replicas, machines_dedicated=groups * a.replicas,
                       groups_interleaved=groups_i, machines_interleaved=groups_i, binding=k,
                       binding_interleaved=ki, cpu_util_at_avg=util, replication_gbits_avg=repl_gbits,
                       disk_tb_per_broker=per_broker / 1e12, cluster_pb=cluster_pb)
            result["scenarios"].append(rec)
            if first is None and label.startswith("1e12/day, peak"):
                first = rec
            rows.append((f"{cores}c {label}", si(peak), f"{groups:,}", f"{groups * a.replicas:,}", k,
                         f"{groups_i:,}", f"{util:.0%}", f"{repl_gbits:,.0f}",
                         f"{per_broker / 1e12:.1f}", f"{cluster_pb:.2f}"))
    table("2. Groups needed (sized for the peak; average = peak / peak-to-average)",
          ["profile, scenario", "peak/s", "groups", "brokers", "binds", "machines(il)", "cpu@avg",
           "repl Gb/s", "TB/broker", "PB total"], rows, out)
    out.append(f"   brokers = groups x {a.replicas} = machines when dedicated; machines(il) = interleaved placement;")
    out.append(f"   repl Gb/s = leader->follower traffic across the cluster at the average rate; TB/broker = "
               f"{a.retention_days:g} d retained at {a.disk_fill_target:.0%} full.")

    # -- sensitivity: the same sizing (1e12/day at peak) with one input changed at a time
    rows = []
    peak_t = TRILLION / DAY * a.peak_to_average
    variants = [("as above", {}), ("200 B bodies", {"body_bytes": 200}), ("no consumers (fan-out 0)", {"fanout": 0}),
                ("fan-out 3", {"fanout": 3}), ("10% transactions", {"txn_share": 0.1}),
                ("50% transactions", {"txn_share": 0.5}), ("R=1 (no replicas)", {"replicas": 1}),
                ("R=5", {"replicas": 5}), ("send CPU = RabbitMQ quorum's 37 us", {"send_cpu_us": 37.0,
                                                                                  "e2e_cpu_us": 37.0 + pm["deliver_us"]}),
                ("all CPU halved", {"send_cpu_us": a.send_cpu_us / 2, "e2e_cpu_us": a.e2e_cpu_us / 2,
                                    "txn_cpu_us": a.txn_cpu_us / 2})]
    result["sensitivity"] = []
    for label, change in variants:
        v = argparse.Namespace(**{**vars(a), **change})
        vpm = per_message(v)
        cells = [label, f"{vpm['leader_us']:.1f}"]
        for cores, eff in a.profiles:
            lim, _ = group_limits(v, vpm, cores, eff)
            k, per_group = binding(lim)
            g = math.ceil(peak_t / per_group)
            cells += [f"{g:,}", f"{g * v.replicas:,}", k]
            result["sensitivity"].append(dict(variant=label, profile=f"{cores}:{eff}", groups=g, binding=k))
        rows.append(tuple(cells))
    hdr = ["variant (1e12/day, peak)", "leader us"]
    for cores, eff in a.profiles:
        hdr += [f"groups {cores}c", f"brokers {cores}c", "binds"]
    table("2b. Sensitivity: one input changed at a time", hdr, rows, out)

    # -- etcd
    rows = []
    result["etcd"] = []
    for cores, eff in a.profiles:
        for rec in result["scenarios"]:
            if rec["profile"] != f"{cores}:{eff}" or rec["scenario"].endswith("flat"):
                continue
            e = etcd_load(a, rec["groups"], sizes, rec["peak"])
            e.update(profile=rec["profile"], scenario=rec["scenario"])
            result["etcd"].append(e)
            rows.append((f"{cores}c {rec['scenario']}", f"{e['brokers']:,}", f"{e['keys']:,}",
                         f"{e['db'] / MIB:.0f} MiB", f"{e['keepalive']:,.0f}",
                         f"{e['keepalive'] / e['budget']:.0%}", f"{e['watchers']:,}",
                         f"{e['deliveries']:,.0f}", f"{e['routes_list'] / MIB:.1f}",
                         f"{e['brokers_list'] / MIB:.2f}"))
    table(f"3. What etcd carries ({a.topics:,} topics x {a.queues_per_topic} queues, {a.producer_groups:,} "
          f"check owners, lease TTL {a.lease_ttl:g} s)",
          ["profile, scenario", "brokers", "keys", "db est", "renew/s", "of budget", "watches",
           "events/failover", "routes MiB", "brokers MiB"], rows, out)
    budget = a.etcd_req_per_s * a.etcd_budget
    out.append(f"   budget = {a.etcd_budget:.0%} of {si(a.etcd_req_per_s)} req/s; db est = live bytes x "
               f"{a.etcd_revisions_kept:g} (quota default {ETCD_DB_DEFAULT_QUOTA / GIB:.0f} GiB, suggested max "
               f"{ETCD_DB_SUGGESTED_MAX / GIB:.0f} GiB); one Range answer must fit {GRPC_SWIFT_MAX_MESSAGE / MIB:.0f} MiB "
               f"(routes MiB, brokers MiB: RouteTable.all(), BrokerRegistry.liveBrokers()).")
    out.append(f"   sizes: broker {sizes['broker']} B, leader {sizes['leader']} B, epoch {sizes['epoch']} B, route "
               f"{sizes['route']} B ({a.queues_per_topic} queues; 1,024 queues: {sizes['route_max']:,} B of "
               f"{ETCD_MAX_REQUEST / MIB:.1f} MiB max request), check owner {sizes['owner']} B.")
    per_route = sizes["route"]
    out.append(f"   breaks at: {GRPC_SWIFT_MAX_MESSAGE / per_route:,.0f} topics of {a.queues_per_topic} queues "
               f"(one unpaginated Range of /routes/); {GRPC_SWIFT_MAX_MESSAGE / sizes['broker']:,.0f} brokers "
               f"(/brokers/ list at every candidacy); {budget * a.lease_ttl / 3:,.0f} brokers (renewals alone "
               f"fill the budget); {ETCD_DB_SUGGESTED_MAX / a.etcd_revisions_kept / per_route:,.0f} topics (db).")
    peak = first["peak"] if first else TRILLION / DAY * a.peak_to_average
    txn_share = a.txn_share or 0.1
    rows = [
        ("lease renewals (all brokers)", f"{etcd_load(a, first['groups'], sizes, peak)['keepalive']:,.0f}", "yes"),
        ("QueryRoute answered from etcd", f"{a.clients / a.route_refresh_s:,.0f}", "no: from each broker's watched copy"),
        ("one etcd op per send", f"{peak:,.0f}", "never"),
        ("consumer offsets / acks in etcd", f"{peak * a.fanout:,.0f}", "never (the log / SQLite)"),
        (f"one op per commit ({txn_share:.0%} transactional)", f"{peak * txn_share:,.0f}", "never (txn table)"),
    ]
    rows = [(n, r, f"{float(r.replace(',', '')) / a.etcd_req_per_s:,.2f}x", v) for n, r, v in rows]
    table(f"4. Load on etcd if each of these went through it (first profile, 1e12/day at peak; "
          f"etcd takes ~{si(a.etcd_req_per_s)} req/s)", ["what", "req/s", "of etcd", "through etcd?"], rows, out)

    # -- take-over time
    rng = random.Random(a.seed)
    rows = []
    for ttl in (2.0, a.lease_ttl, 10.0):
        xs = [takeover_sample(rng, ttl, a.takeover_extra_s) for _ in range(20000)]
        rows.append((f"TTL {ttl:g} s", f"{sum(xs) / len(xs):.2f}", f"{pct(xs, 0.5):.2f}", f"{pct(xs, 0.99):.2f}",
                     f"{max(xs):.2f}"))
    table("5. Take-over after a leader dies (kill -9): lease expiry + 500 ms lessor tick + election",
          ["lease", "mean s", "p50 s", "p99 s", "max s"], rows, out)
    out.append("   calibration: ReplicationFailoverTests measured ~2.2 s with a 2 s TTL on loopback; operations.md: 2-4 s.")

    # -- simulation
    if first:
        groups_total = first["groups"]
        group_rate_avg = first["avg"] / groups_total
        retained = group_rate_avg * DAY * a.retention_days * pm["disk_bytes"]
        n, horizon, catchup_full, sims = simulate(a, groups_total, group_rate_avg, pm, retained)
        days = horizon / DAY
        rows = []
        result["simulation"] = {"groups_simulated": n, "days": days, "groups_total": groups_total, "modes": {}}
        for label, st in sims.items():
            total = st["unavail_leader"] + st["unavail_quorum"] + st["unavail_takeover"]
            per_group_day = total / n / days
            frac = total / (n * horizon)
            inc = st["incidents"]
            rows.append((label, f"{st['leader_losses'] / n / days:.3f}", f"{per_group_day:.2f}",
                         f"{st['unavail_takeover'] / n / days:.2f}", f"{st['unavail_quorum'] / n / days:.2f}",
                         f"{st['unavail_leader'] / n / days:.2f}", f"{frac:.2e}",
                         f"{frac * a.topics * a.queues_per_topic:.2f}",
                         f"{per_group_day * groups_total:,.0f}", dur(pct(inc, 0.5)), dur(pct(inc, 0.99)),
                         dur(max(inc) if inc else 0)))
            result["simulation"]["modes"][label] = dict(
                leader_losses_per_group_day=st["leader_losses"] / n / days, unavailable_s_per_group_day=per_group_day,
                fraction_unavailable=frac, incidents=len(inc), incident_p50_s=pct(inc, 0.5),
                incident_p99_s=pct(inc, 0.99), incident_max_s=max(inc) if inc else 0.0)
        table(f"6. Fail-over simulation: {n:,} groups x {a.replicas} brokers for {days:g} days (seed {a.seed}); "
              f"cluster = {groups_total:,} groups",
              ["mode", "leader loss/grp/d", "unavail s/grp/d", "takeover", "quorum", "no leader", "fraction",
               "queues down*", "cluster grp-s/d", "incident p50", "p99", "max"], rows, out)
        out.append(f"   per broker: a crash every {a.mtbf_days:g} d (back in {a.restart_s:g} s), {a.planned_per_month:g} rolling "
                   f"restart(s) a month (lease revoked: {a.takeover_extra_s:g} s hand-over), machine loss {a.machine_afr:.0%}/year "
                   f"(replaced after {a.replace_hours:g} h, then {catchup_full / 3600:.1f} h copying {retained / 1e12:.1f} TB at "
                   f"{a.catchup_mbs:g} MB/s; 'no rejoin': never, as before snapshot transfer).")
        out.append(f"   fraction = unavailable group-time / group-time = the share of queues refusing sends at a random "
                   f"instant; * queues down = that x {a.topics * a.queues_per_topic:,} queues.")
        lost = sims["sync"]["unplanned_takeovers"] / n / days * groups_total
        out.append(f"   etcd per day at this size: ~{lost:,.0f} unplanned take-overs -> ~{lost * etcd_load(a, groups_total, sizes, peak)['deliveries']:,.0f} "
                   f"watch deliveries (~{lost * etcd_load(a, groups_total, sizes, peak)['deliveries'] / DAY:,.1f}/s average).")

    # -- what the per-broker figures would have to become
    rows = []
    lim0, _ = caps[a.profiles[-1]]
    cores, eff = a.profiles[-1]
    for target_groups in (100, 300, 1000):
        for label, peak, avg in scenarios(a)[1:]:
            need_rate = peak / target_groups
            need_us = cores * eff * 1e6 * a.cpu_target / need_rate
            need_log = need_rate / a.cpu_target
            rows.append((f"{target_groups} groups, {label}", si(need_rate), f"{need_us:.1f}",
                         f"{need_us / pm['leader_us']:.2f}x", si(need_log), f"{need_log / a.log_ceiling:.2f}x",
                         f"{need_rate * pm['disk_bytes'] / 1e6 / a.disk_target:,.0f}"))
    table(f"7. What one group must take, on {cores}-core machines at x{eff:g} (today: leader {pm['leader_us']:.1f} us/msg, "
          f"log {si(a.log_ceiling)}/s)",
          ["target", "msgs/s/group", "leader us/msg", "/ today", "log appends/s", "/ today", "disk MB/s"], rows, out)

    out.append("")
    out.append(f"(model ran in {time.time() - started:.2f} s)")
    print("\n".join(out))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
