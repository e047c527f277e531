// sluiceload drives Sluice and its peers (RabbitMQ, PostgreSQL, NATS JetStream) with the same
// workloads from one lean Go process, so that their figures can be compared side by side. Each
// invocation runs one case and prints one JSON object on stdout; bench/run.py strings the cases
// together, starts and stops the systems and writes the tables and plots.
//
// Every figure comes with the generator's own CPU (getrusage) beside the broker's (the whole
// process tree of the pids given with -pids, from /proc), so a reader can see when the generator,
// not the broker, was the limit.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// Config is what every mode reads from the command line.
type Config struct {
	Mode     string
	System   string
	Addr     string
	Admin    string
	Seconds  float64
	Warmup   float64
	InFlight int
	Size     int
	Pids     []int
	Rate     int
	Senders  int
	Drain    float64
	Dir      string
	Label    string
	Consumer int
	Batch    int
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sluiceload publish|txn|e2e|disk|wait [flags]")
		os.Exit(2)
	}
	cfg := Config{Mode: os.Args[1]}
	fs := flag.NewFlagSet(cfg.Mode, flag.ExitOnError)
	fs.StringVar(&cfg.System, "system", "sluice", "sluice | sluice-http (the RocketMQ HTTP access front) | sluice-mqtt (the MQTT 3.1.1 front) | mosquitto | rabbitmq | nats | pg")
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8081", "the system's address (pg: a lib/pq connection string)")
	fs.StringVar(&cfg.Admin, "admin", "", "Sluice's admin URL, to create the topics this case uses")
	fs.Float64Var(&cfg.Seconds, "seconds", 5, "measured seconds (e2e: seconds of sending)")
	fs.Float64Var(&cfg.Warmup, "warmup", 1, "seconds run before the measurement window opens")
	fs.IntVar(&cfg.InFlight, "inflight", 1, "concurrent requests on one connection (pg: clients, one connection each)")
	fs.IntVar(&cfg.Size, "size", 1024, "message body bytes")
	pids := fs.String("pids", "", "comma-separated pids whose process trees are the broker (CPU from /proc)")
	fs.IntVar(&cfg.Rate, "rate", 1000, "e2e: messages per second to send")
	fs.IntVar(&cfg.Senders, "senders", 256, "e2e: concurrent paced senders on one connection (enough that send latency × rate fits: 256 keep 10,000 msg/s at 25 ms per send)")
	fs.IntVar(&cfg.Consumer, "consumers", 4, "e2e: concurrent receivers")
	fs.IntVar(&cfg.Batch, "batch", 32, "e2e: messages per receive")
	fs.Float64Var(&cfg.Drain, "drain", 10, "e2e: seconds to wait for the last messages after sending ends")
	fs.StringVar(&cfg.Dir, "dir", "", "disk: folder for the fdatasync loop's file")
	fs.StringVar(&cfg.Label, "label", "", "a name for this case, copied into the output")
	_ = fs.Parse(os.Args[2:])
	for _, p := range strings.Split(*pids, ",") {
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(p), "%d", &n); err == nil && n > 0 {
			cfg.Pids = append(cfg.Pids, n)
		}
	}

	var result map[string]interface{}
	var err error
	switch cfg.Mode {
	case "wait":
		err = waitReady(cfg)
		result = map[string]interface{}{"ready": err == nil}
	case "disk":
		result, err = diskLimit(cfg)
	case "publish", "txn":
		result, err = closedLoop(cfg)
	case "e2e":
		result, err = endToEnd(cfg)
	default:
		err = fmt.Errorf("unknown mode %q", cfg.Mode)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluiceload %s %s: %v\n", cfg.Mode, cfg.System, err)
		os.Exit(1)
	}
	result["mode"] = cfg.Mode
	result["system"] = cfg.System
	if cfg.Label != "" {
		result["label"] = cfg.Label
	}
	out, _ := json.Marshal(result)
	fmt.Println(string(out))
}

// waitReady retries until the system answers or 90 s pass. A broker is ready when it has
// confirmed one durable message on a fresh queue/stream (RabbitMQ accepts connections before
// its quorum queues can take messages); PostgreSQL when it accepts a connection.
func waitReady(cfg Config) error {
	deadline := time.Now().Add(90 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		d, err := newDriver(cfg)
		if err == nil {
			if cfg.System == "rabbitmq" || cfg.System == "nats" {
				err = bounded(20*time.Second, func() error {
					if err := d.Prepare("ready"); err != nil {
						return err
					}
					return d.Publish(0, []byte("ready"))
				})
			}
			d.Close()
			if err == nil {
				return nil
			}
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("not ready after 90 s: %v", last)
}

// bounded runs op and gives up waiting for it after limit (op's goroutine is abandoned; the
// process exits soon after a case anyway).
func bounded(limit time.Duration, op func() error) error {
	done := make(chan error, 1)
	go func() { done <- op() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		return fmt.Errorf("no answer within %v", limit)
	}
}
