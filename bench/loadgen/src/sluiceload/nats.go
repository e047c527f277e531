package main

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// natsDriver publishes to a JetStream file-storage stream (one replica) over ONE connection;
// each worker waits for its PubAck. Whether the server fsyncs before acking is the server's
// configuration (sync_interval: always), set by bench/run.py.
type natsDriver struct {
	cfg     Config
	conn    *nats.Conn
	js      nats.JetStreamContext
	subject string
	stream  string
}

func newNats(cfg Config) (Driver, error) {
	conn, err := nats.Connect("nats://"+cfg.Addr, nats.Timeout(2*time.Second))
	if err != nil {
		return nil, err
	}
	js, err := conn.JetStream(nats.MaxWait(10 * time.Second))
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &natsDriver{cfg: cfg, conn: conn, js: js}, nil
}

func (d *natsDriver) Close() { d.conn.Close() }

// Prepare makes a fresh stream for the case, file storage, one replica.
func (d *natsDriver) Prepare(workload string) error {
	d.stream = fmt.Sprintf("BENCH_%s_%d", workload, time.Now().UnixNano())
	d.subject = "bench." + d.stream
	_, err := d.js.AddStream(&nats.StreamConfig{Name: d.stream, Subjects: []string{d.subject},
		Storage: nats.FileStorage, Replicas: 1})
	return err
}

func (d *natsDriver) Publish(worker int, body []byte) error {
	_, err := d.js.Publish(d.subject, body)
	return err
}

func (d *natsDriver) Txn(worker int, body []byte) error {
	return fmt.Errorf("no transaction workload for NATS")
}

// Consume: n push consumers in one queue group on one durable consumer, explicit acks (no reply
// awaited), up to 1,024 unacknowledged messages (about the server's default). A pull consumer's
// Fetch(batch) waits until its batch is full or the wait expires, which added up to a second of
// latency at 1,000 msg/s: that measured the client, not the server.
func (d *natsDriver) Consume(n, batch int, deliver func(body []byte)) (func(), error) {
	var subs []*nats.Subscription
	stop := func() {
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
	}
	for c := 0; c < n; c++ {
		sub, err := d.js.QueueSubscribe(d.subject, "bench", func(m *nats.Msg) {
			deliver(m.Data)
			if err := m.Ack(); err != nil {
				noteFailure(err)
			}
		}, nats.Durable("bench"), nats.ManualAck(), nats.AckExplicit(), nats.MaxAckPending(1024))
		if err != nil {
			stop()
			return nil, err
		}
		subs = append(subs, sub)
	}
	return stop, nil
}
