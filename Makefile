# Sluice: `make run` starts a broker on ./data; `make test` installs what it needs and runs every suite.
SWIFT ?= swift
# swift-configuration (a transitive dependency) builds its default traits from a Set; with Swift's
# per-process random hashing SwiftPM sees a different trait order each run and rebuilds the whole
# graph. Deterministic hashing keeps incremental builds incremental.
export SWIFT_DETERMINISTIC_HASHING := 1
DATA_DIR ?= ./data
APT_PACKAGES := libsqlite3-dev
# Debian's etcd for cluster coordination: `make etcd` runs it, the SluiceCluster tests start their own.
# (Not ETCD_*: make exports command-line variables, and etcd reads ETCD_* variables as its flags.)
ETCD_APT_PACKAGES := etcd-server
SLUICE_ETCD_DATA_DIR ?= ./etcd-data
SLUICE_ETCD_CLIENT_PORT ?= 2379
SLUICE_ETCD_PEER_PORT ?= 2380
VENV := .venv
# The official RocketMQ Python client the interop tests drive, and what the OpenAPI contract test
# (Tests/interop/test_openapi_contract.py) reads docs/openapi.yaml with; pinned.
# Playwright drives Debian's chromium for the dashboard test (Tests/interop/test_dashboard.py); it
# never downloads a browser of its own. paho-mqtt is the MQTT client the MQTT front is tested with
# (Tests/interop/test_mqtt.py), beside Debian's mosquitto_pub/mosquitto_sub.
PYTHON_PACKAGES := rocketmq-python-client==5.1.2 pytest==9.0.3 PyYAML==6.0.3 jsonschema==4.26.0 playwright==1.65.2 mq-http-sdk==1.0.3 paho-mqtt==2.1.0
BROWSER_APT_PACKAGES := chromium
MQTT_APT_PACKAGES := mosquitto-clients
CODEGEN_APT_PACKAGES := protobuf-compiler libprotobuf-dev

.PHONY: soak-cluster bench-scale scale-model run test bench generate deps browser mqtt-clients soak build release clean venv interop screenshot fuzz fuzz-libfuzzer etcd etcd-server

## Install the system packages the build needs (Debian), only those missing.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq $$missing; fi; \
	fi

## Debian's chromium for the dashboard's browser test, only if missing.
browser:
	@missing=""; for p in $(BROWSER_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq $$missing; fi; \
	fi

## Debian's mosquitto-clients (mosquitto_pub/mosquitto_sub) for the MQTT interop tests, only if missing.
mqtt-clients:
	@missing=""; for p in $(MQTT_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq $$missing; fi; \
	fi

## Debian's etcd-server, only if missing (the cluster tests start real etcd processes).
etcd-server:
	@missing=""; for p in $(ETCD_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq $$missing; fi; \
	fi

## One etcd member on loopback for `sluice-broker --etcd http://127.0.0.1:2379`, data in ./etcd-data;
## Ctrl-C stops it. (Debian's package also installs a systemd unit; this does not use it.)
etcd: etcd-server
	etcd --name sluice --data-dir $(SLUICE_ETCD_DATA_DIR) \
		--listen-client-urls http://127.0.0.1:$(SLUICE_ETCD_CLIENT_PORT) --advertise-client-urls http://127.0.0.1:$(SLUICE_ETCD_CLIENT_PORT) \
		--listen-peer-urls http://127.0.0.1:$(SLUICE_ETCD_PEER_PORT) --initial-advertise-peer-urls http://127.0.0.1:$(SLUICE_ETCD_PEER_PORT) \
		--initial-cluster sluice=http://127.0.0.1:$(SLUICE_ETCD_PEER_PORT)

## Build in release mode and start one broker on the embedded default (./data, gRPC 8081, admin 8082).
run: deps
	$(SWIFT) build -c release --product sluice-broker
	.build/release/sluice-broker --data-dir $(DATA_DIR)

build: deps
	$(SWIFT) build --build-tests

## A Python venv with the official RocketMQ client, for the interop tests.
venv: $(VENV)/.installed
# Re-run pip when this file (so PYTHON_PACKAGES) changes.
$(VENV)/.installed: Makefile
	@python3 -m venv $(VENV) 2>/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv && python3 -m venv $(VENV); }
	$(VENV)/bin/pip install -q $(PYTHON_PACKAGES)
	touch $@

## Every test suite: unit tests, integration tests that start real child processes (brokers, etcd), the
## official Python client against a real broker, and the admin API against docs/openapi.yaml.
## Phases: the suites that start etcd or wait on replication deadlines run after the rest, in three
## groups of their own (etcd's lease tests; the replication port's hostile peers; the multi-broker
## groups), and the fuzzers (minutes of full-speed hostile load) run alone last. Run all at once on
## a two-core CI machine, the fuzzer and the kill -9 suites starved them past their deadlines (and
## the three groups together let 2 s etcd leases and 12 s due times run out).
ISOLATED_TESTS := SluiceClusterTests|Replicat|TruncatedTail
ETCD_TESTS := SluiceClusterTests
PORT_TESTS := SluiceReplicationTests
FUZZ_TESTS := ProtocolFuzzTests|ReplicationFuzzTests
test: build venv etcd-server
	$(SWIFT) test --skip-build --skip '$(ISOLATED_TESTS)|$(FUZZ_TESTS)'
	$(SWIFT) test --skip-build --filter '$(ETCD_TESTS)'
	$(SWIFT) test --skip-build --filter '$(PORT_TESTS)'
	$(SWIFT) test --skip-build --filter '$(ISOLATED_TESTS)' --skip '$(ETCD_TESTS)|$(PORT_TESTS)|$(FUZZ_TESTS)'
	$(SWIFT) test --skip-build --filter '$(FUZZ_TESTS)'
	$(MAKE) interop

interop: venv browser mqtt-clients
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 SLUICE_BROKER_BIN=$(CURDIR)/.build/debug/sluice-broker $(VENV)/bin/python -m pytest -q Tests/interop

## Refresh docs/dashboard.png from the dashboard's browser test.
screenshot: build venv browser
	SLUICE_DASHBOARD_SCREENSHOT=$(CURDIR)/docs/dashboard.png PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
		SLUICE_BROKER_BIN=$(CURDIR)/.build/debug/sluice-broker $(VENV)/bin/python -m pytest -q Tests/interop/test_dashboard.py

## The benchmarks, release mode; see docs/benchmarks.md.
bench: deps
	$(SWIFT) build -c release --product sluice-bench
	.build/release/sluice-bench storage
	.build/release/sluice-bench txn
	.build/release/sluice-bench consume
	$(SWIFT) build -c release --product sluice-broker
	.build/release/sluice-bench grpc
	.build/release/sluice-bench grpc --driver sdk --e2e-rates ""
	.build/release/sluice-bench auth
	$(MAKE) bench-peers
	$(MAKE) bench-replication

## Sluice (gRPC, HTTP, MQTT fronts) beside RabbitMQ, PostgreSQL, NATS JetStream and mosquitto in one run (bench/run.py installs and
## starts them on loopback, drives all with one Go load generator, writes docs/bench/).
.PHONY: bench-peers bench-quick bench-replication
bench-peers: deps
	$(SWIFT) build -c release --product sluice-broker
	python3 bench/run.py --broker .build/release/sluice-broker --out docs/bench

## A broker group of three (--replicas 3, sync and async) beside one broker: sends and transactions at
## 1/16/256 in flight on the elected leader, the group's CPU per operation; then a replica added after
## the leader's retention ran: its snapshot and log copy beside the disk's write rate (bench/replication.py).
bench-replication: deps etcd-server
	$(SWIFT) build -c release --product sluice-broker
	@test -x bench/loadgen/bin/sluiceload || bash bench/loadgen/build.sh
	python3 bench/replication.py --broker .build/release/sluice-broker --snapshot --out docs/bench/replication.json

## The same side by side in about a minute and a half (1 s cases; noisy), written to docs/bench/quick/.
bench-quick: deps
	$(SWIFT) build -c release --product sluice-broker
	python3 bench/run.py --quick --broker .build/release/sluice-broker --out docs/bench/quick

## RocketMQ's scale claim: 100 M messages (200 B) accumulated, write rate per tenth of the run
## (needs ~40 GB free; checks first), then the 10 M backlog drain of `sluice-bench consume`.
bench-scale: deps
	$(SWIFT) build -c release --product sluice-bench
	.build/release/sluice-bench accumulate --messages $${SLUICE_SCALE_MESSAGES:-100000000}
	.build/release/sluice-bench consume --backlog 10000000 --drain-backlog

## Issue 15 item 5: brokers, groups, etcd load and fail-over unavailability at a trillion messages a
## day, extrapolated from docs/benchmarks.md (Python stdlib, ~2 s; docs/scale.md reads its output).
scale-model:
	python3 bench/scale_model.py

## A longer kill -9 soak of the commit log, transactions and consumer groups (200 rounds each).
soak: build
	SLUICE_CRASH_ROUNDS=$${SLUICE_CRASH_ROUNDS:-200} $(SWIFT) test --skip-build --filter CommitLogCrashTests
	SLUICE_TXN_CRASH_ROUNDS=$${SLUICE_CRASH_ROUNDS:-200} $(SWIFT) test --skip-build --filter TransactionCrashTests
	SLUICE_CONSUME_CRASH_ROUNDS=$${SLUICE_CRASH_ROUNDS:-200} $(SWIFT) test --skip-build --filter ConsumptionCrashTests

## Issue 15: a replicated group of three (etcd + `--replicas 3 --replication sync`) under mixed load from
## the official Python client (sends, transactions with commits, rollbacks and check-backs, a consumer
## group) through SOAK_ROUNDS fail-over rounds (kill -9 of the leader, restart; every 4th a SIGSTOP),
## with a client-side ledger checked at the end: no acknowledged loss, no double commit, no rolled-back
## delivery. SOAK_ARGS=--quick for about three minutes. Writes SOAK_JSON. Not part of `make test`.
SOAK_ROUNDS ?= 10
SOAK_JSON ?= soak-cluster.json
soak-cluster: venv etcd-server
	$(SWIFT) build --product sluice-broker
	$(VENV)/bin/python bench/soak_cluster.py --broker $(CURDIR)/.build/debug/sluice-broker \
		--rounds $(SOAK_ROUNDS) --json $(SOAK_JSON) $(SOAK_ARGS)

## Issue 11: one million hostile requests over every RPC against a release broker (alive, memory
## bounded, every acknowledged message intact afterwards); then the replication port of a real
## leader and follower (etcd + `--replicas 2`) under 200,000 hostile frames, damaged frames, garbage
## and out-of-order requests (both alive, still leader and follower, no wrong answer); then the
## libFuzzer storage harness. SLUICE_FUZZ_REQUESTS and SLUICE_REPLICATION_FUZZ_REQUESTS change the
## lengths; SLUICE_FUZZ_SEED replays the gRPC run, SLUICE_REPLICATION_FUZZ_SEED the replication one.
fuzz: deps etcd-server
	$(SWIFT) build -c release --product sluice-broker
	$(SWIFT) build -c release --product sluice-bench
	.build/release/sluice-bench fuzz --requests $${SLUICE_FUZZ_REQUESTS:-1000000} $${SLUICE_FUZZ_SEED:+--seed $$SLUICE_FUZZ_SEED}
	.build/release/sluice-bench fuzz-replication --requests $${SLUICE_REPLICATION_FUZZ_REQUESTS:-200000} \
		$${SLUICE_REPLICATION_FUZZ_SEED:+--seed $$SLUICE_REPLICATION_FUZZ_SEED}
	$(MAKE) fuzz-libfuzzer

## libFuzzer (-sanitize=fuzzer, debug so bounds preconditions stay on) on the commit log's record
## decoder and recovery scanner, the MQTT packet decoder and the HTTP access front's XML and header
## parsers, FUZZ_SECONDS each, in its own scratch path. New inputs go to
## .build-fuzz/corpus; the committed seeds are Tests/fuzz-corpus (scripts/make-fuzz-corpus.py).
## Recovery opens a real data folder per input: it runs in /dev/shm when there is one (4x faster).
FUZZ_SECONDS ?= 60
fuzz-libfuzzer:
	$(SWIFT) build --scratch-path .build-fuzz --product sluice-fuzz-storage -Xswiftc -sanitize=fuzzer -Xswiftc -DSLUICE_LIBFUZZER
	mkdir -p .build-fuzz/corpus/record .build-fuzz/corpus/recovery .build-fuzz/corpus/mqtt .build-fuzz/corpus/http .build-fuzz/crashes
	SLUICE_FUZZ_TARGET=record .build-fuzz/debug/sluice-fuzz-storage -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
		-artifact_prefix=.build-fuzz/crashes/record- -print_final_stats=1 .build-fuzz/corpus/record Tests/fuzz-corpus/record
	TMPDIR=$$( [ -d /dev/shm ] && echo /dev/shm || echo /tmp ) \
	SLUICE_FUZZ_TARGET=recovery .build-fuzz/debug/sluice-fuzz-storage -max_total_time=$(FUZZ_SECONDS) -max_len=16384 \
		-artifact_prefix=.build-fuzz/crashes/recovery- -print_final_stats=1 .build-fuzz/corpus/recovery Tests/fuzz-corpus/recovery
	SLUICE_FUZZ_TARGET=mqtt .build-fuzz/debug/sluice-fuzz-storage -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
		-artifact_prefix=.build-fuzz/crashes/mqtt- -print_final_stats=1 .build-fuzz/corpus/mqtt Tests/fuzz-corpus/mqtt
	SLUICE_FUZZ_TARGET=http .build-fuzz/debug/sluice-fuzz-storage -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
		-artifact_prefix=.build-fuzz/crashes/http- -print_final_stats=1 .build-fuzz/corpus/http Tests/fuzz-corpus/http

## Regenerate committed code: protobuf/gRPC Swift from proto/ (RocketMQ into SluiceWire, the etcd v3
## subset into EtcdWire), embedded migrations from migrations/.
generate:
	@missing=""; for p in $(CODEGEN_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && apt-get install -y -qq $$missing; fi
	bash scripts/generate.sh
	bash scripts/embed-migrations.sh

clean:
	rm -rf .build .build-codegen .build-fuzz bench-data etcd-data
