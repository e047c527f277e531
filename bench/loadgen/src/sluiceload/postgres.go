package main

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	_ "github.com/lib/pq"
)

// postgresDriver runs the transactional outbox: per transaction a business row (orders) and a
// 1 KiB outbox row, committed with synchronous_commit=on. Each worker is one client with its
// own connection (PostgreSQL serves one transaction per connection at a time).
type postgresDriver struct {
	cfg   Config
	db    *sql.DB
	mu    sync.Mutex
	conns map[int]*pgWorker
}

type pgWorker struct {
	conn   *sql.Conn
	order  *sql.Stmt
	outbox *sql.Stmt
}

func newPostgres(cfg Config) (Driver, error) {
	db, err := sql.Open("postgres", cfg.Addr)
	if err != nil {
		return nil, err
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	db.SetMaxIdleConns(1024)
	return &postgresDriver{cfg: cfg, db: db, conns: map[int]*pgWorker{}}, nil
}

func (d *postgresDriver) Close() {
	for _, w := range d.conns {
		w.conn.Close()
	}
	d.db.Close()
}

func (d *postgresDriver) Prepare(workload string) error {
	_, err := d.db.Exec(`
		CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, customer int NOT NULL, amount bigint NOT NULL,
			created timestamptz NOT NULL DEFAULT now());
		CREATE TABLE IF NOT EXISTS outbox (id bigserial PRIMARY KEY, aggregate_id bigint NOT NULL, topic text NOT NULL,
			payload bytea NOT NULL, created timestamptz NOT NULL DEFAULT now());
		TRUNCATE orders, outbox;`)
	return err
}

func (d *postgresDriver) worker(w int) (*pgWorker, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if existing := d.conns[w]; existing != nil {
		return existing, nil
	}
	ctx := context.Background()
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	order, err := conn.PrepareContext(ctx, `INSERT INTO orders (customer, amount) VALUES ($1, $2) RETURNING id`)
	if err != nil {
		conn.Close()
		return nil, err
	}
	outbox, err := conn.PrepareContext(ctx, `INSERT INTO outbox (aggregate_id, topic, payload) VALUES ($1, 'orders', $2)`)
	if err != nil {
		conn.Close()
		return nil, err
	}
	created := &pgWorker{conn: conn, order: order, outbox: outbox}
	d.conns[w] = created
	return created, nil
}

// Txn: BEGIN; INSERT the order (RETURNING id); INSERT the outbox row; COMMIT — four round trips
// on the worker's own connection, the inserts as statements prepared once per connection (as
// pgbench -M prepared does). database/sql's Tx.Stmt would re-prepare a connection's statement
// in every transaction (an extra Parse per statement), so BEGIN/COMMIT are sent as plain
// statements on the connection instead.
func (d *postgresDriver) Txn(w int, body []byte) error {
	worker, err := d.worker(w)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a failure, not a hang
	defer cancel()
	if _, err := worker.conn.ExecContext(ctx, "BEGIN"); err != nil {
		return err
	}
	rollback := func(err error) error {
		_, _ = worker.conn.ExecContext(context.Background(), "ROLLBACK")
		return err
	}
	var id int64
	if err := worker.order.QueryRowContext(ctx, w, len(body)).Scan(&id); err != nil {
		return rollback(err)
	}
	if _, err := worker.outbox.ExecContext(ctx, id, body); err != nil {
		return rollback(err)
	}
	_, err = worker.conn.ExecContext(ctx, "COMMIT")
	return err
}

func (d *postgresDriver) Publish(w int, body []byte) error { return d.Txn(w, body) }

func (d *postgresDriver) Consume(n, batch int, deliver func(body []byte)) (func(), error) {
	return nil, fmt.Errorf("no publish→consume workload for the PostgreSQL outbox")
}
