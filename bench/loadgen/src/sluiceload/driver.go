package main

import (
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"time"
)

// Driver is one system under test, reached over ONE connection (PostgreSQL: one connection per
// worker, as its clients work). Prepare gives a fresh queue/topic/stream/table for a case.
type Driver interface {
	Prepare(workload string) error
	// Publish sends one durable message and returns once the system has confirmed it.
	Publish(worker int, body []byte) error
	// Txn runs one transaction: Sluice half message + commit; PostgreSQL the outbox transaction.
	Txn(worker int, body []byte) error
	// Consume starts n receivers; deliver is called for every delivery (before its ack).
	Consume(n, batch int, deliver func(body []byte)) (stop func(), err error)
	Close()
}

func newDriver(cfg Config) (Driver, error) {
	switch cfg.System {
	case "sluice":
		return newSluice(cfg)
	case "sluice-http":
		return newSluiceHTTP(cfg)
	case "sluice-mqtt", "mosquitto":
		return newMQTT(cfg)
	case "rabbitmq":
		return newRabbit(cfg)
	case "nats", "nats-fsync", "nats-nofsync":
		return newNats(cfg)
	case "pg":
		return newPostgres(cfg)
	}
	return nil, fmt.Errorf("unknown system %q", cfg.System)
}

// Counters every driver feeds: throttling answers (retried), failed operations, the last error.
var (
	throttled   atomic.Int64
	failures    atomic.Int64
	lastErrorMu sync.Mutex
	lastError   string
)

func noteFailure(err error) {
	failures.Add(1)
	lastErrorMu.Lock()
	lastError = err.Error()
	lastErrorMu.Unlock()
}

func lastFailure() string {
	lastErrorMu.Lock()
	defer lastErrorMu.Unlock()
	return lastError
}

// errThrottled marks an answer that asks the client to slow down (Sluice TOO_MANY_REQUESTS).
type errThrottled struct{ msg string }

func (e errThrottled) Error() string { return "throttled: " + e.msg }

// withRetry retries op while it is throttled, with exponential backoff and jitter (1 ms doubling
// to 100 ms), and counts each throttling answer. Other errors are returned as they are.
func withRetry(op func() error) error {
	backoff := time.Millisecond
	for attempt := 0; ; attempt++ {
		err := op()
		if _, ok := err.(errThrottled); !ok || attempt >= 200 {
			return err
		}
		throttled.Add(1)
		time.Sleep(backoff/2 + time.Duration(rand.Int63n(int64(backoff))))
		if backoff < 100*time.Millisecond {
			backoff *= 2
		}
	}
}
