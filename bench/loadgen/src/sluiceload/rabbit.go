package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// rabbitDriver publishes persistent messages to a quorum queue over ONE connection and ONE
// channel in confirm mode; each worker waits for the broker's confirm of its own message (the
// library matches confirms to delivery tags), so N workers are N unconfirmed messages in flight.
type rabbitDriver struct {
	cfg   Config
	conn  *amqp.Connection
	ch    *amqp.Channel
	queue string
}

func newRabbit(cfg Config) (Driver, error) {
	conn, err := amqp.DialConfig("amqp://guest:guest@"+cfg.Addr+"/", amqp.Config{Heartbeat: 10 * time.Second, Locale: "en_US"})
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &rabbitDriver{cfg: cfg, conn: conn, ch: ch}, nil
}

func (d *rabbitDriver) Close() { d.conn.Close() }

// Prepare declares a fresh durable quorum queue and puts the channel in confirm mode.
func (d *rabbitDriver) Prepare(workload string) error {
	d.queue = fmt.Sprintf("bench-%s-%d", workload, time.Now().UnixNano())
	_, err := d.ch.QueueDeclare(d.queue, true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
	if err != nil {
		return err
	}
	return d.ch.Confirm(false)
}

func (d *rabbitDriver) Publish(worker int, body []byte) error {
	// The confirmation's wait ends with the context: no confirm within 30 s is a failure, not a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	confirm, err := d.ch.PublishWithDeferredConfirmWithContext(ctx, "", d.queue, false, false,
		amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/octet-stream", Body: body})
	if err != nil {
		return err
	}
	if !confirm.Wait() {
		if ctx.Err() != nil {
			return fmt.Errorf("no confirm for delivery %d within 30 s", confirm.DeliveryTag)
		}
		return fmt.Errorf("broker nacked delivery %d", confirm.DeliveryTag)
	}
	return nil
}

func (d *rabbitDriver) Txn(worker int, body []byte) error {
	return fmt.Errorf("no transaction workload for RabbitMQ (the PostgreSQL outbox is the transactional peer)")
}

// Consume: n consumers on their own connection, manual acks, prefetch `batch` each, one ack per
// delivery (amqp acks are frames with no reply).
func (d *rabbitDriver) Consume(n, batch int, deliver func(body []byte)) (func(), error) {
	conn, err := amqp.Dial("amqp://guest:guest@" + d.cfg.Addr + "/")
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	for c := 0; c < n; c++ {
		ch, err := conn.Channel()
		if err != nil {
			conn.Close()
			return nil, err
		}
		if err := ch.Qos(batch, 0, false); err != nil {
			conn.Close()
			return nil, err
		}
		deliveries, err := ch.Consume(d.queue, fmt.Sprintf("c%d", c), false, false, false, false, nil)
		if err != nil {
			conn.Close()
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for delivery := range deliveries {
				deliver(delivery.Body)
				if err := delivery.Ack(false); err != nil {
					noteFailure(err)
				}
			}
		}()
	}
	return func() { conn.Close(); wg.Wait() }, nil
}
