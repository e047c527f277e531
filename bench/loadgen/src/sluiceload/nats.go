package main

import (
	"fmt"
	"sync"
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

// Consume: n pull consumers sharing one durable consumer, Fetch(batch) with a 1 s wait, one
// Ack per message (JetStream's default ack, no reply awaited).
func (d *natsDriver) Consume(n, batch int, deliver func(body []byte)) (func(), error) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < n; c++ {
		sub, err := d.js.PullSubscribe(d.subject, "bench-durable", nats.AckExplicit())
		if err != nil {
			close(stop)
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				msgs, err := sub.Fetch(batch, nats.MaxWait(time.Second))
				if err != nil && err != nats.ErrTimeout {
					select {
					case <-stop:
						return
					default:
					}
					noteFailure(fmt.Errorf("fetch: %v", err))
					time.Sleep(10 * time.Millisecond)
				}
				for _, m := range msgs {
					deliver(m.Data)
					if err := m.Ack(); err != nil {
						noteFailure(err)
					}
				}
			}
		}()
	}
	return func() { close(stop); wg.Wait() }, nil
}
