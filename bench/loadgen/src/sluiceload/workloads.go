package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// closedLoop: `inflight` workers, each sending one durable message (or running one transaction)
// and waiting for its confirmation before the next. After the warm-up, a window of `seconds`
// counts the operations that completed inside it; CPU is sampled at the window's edges.
func closedLoop(cfg Config) (map[string]interface{}, error) {
	driver, err := newDriver(cfg)
	if err != nil {
		return nil, err
	}
	defer bounded(5*time.Second, func() error { driver.Close(); return nil })
	if err := bounded(60*time.Second, func() error { return driver.Prepare(cfg.Mode) }); err != nil {
		return nil, fmt.Errorf("prepare: %v", err)
	}
	op := driver.Publish
	if cfg.Mode == "txn" {
		op = driver.Txn
	}
	start := time.Now()
	windowOpens := start.Add(time.Duration(cfg.Warmup * float64(time.Second)))
	windowCloses := windowOpens.Add(time.Duration(cfg.Seconds * float64(time.Second)))
	var before, after cpuSnapshot
	var snapshots sync.WaitGroup
	snapshots.Add(1)
	go func() {
		defer snapshots.Done()
		time.Sleep(time.Until(windowOpens))
		before = snapshot(cfg.Pids)
		time.Sleep(time.Until(windowCloses))
		after = snapshot(cfg.Pids)
	}()
	var counted atomic.Int64
	throttledBefore := throttled.Load()
	samples := make([][]uint32, cfg.InFlight)
	var workers sync.WaitGroup
	for w := 0; w < cfg.InFlight; w++ {
		workers.Add(1)
		go func(w int) {
			defer workers.Done()
			body := make([]byte, cfg.Size)
			for seq := uint64(0); ; seq++ {
				began := time.Now()
				if !began.Before(windowCloses) {
					return
				}
				binary.BigEndian.PutUint64(body[0:8], uint64(w)<<40|seq)
				if err := op(w, body); err != nil {
					// Counted and reported beside the figures; the case goes on (grpc-go
					// reconnects a closed connection by itself).
					noteFailure(err)
					time.Sleep(time.Millisecond)
					continue
				}
				// Count and sample every operation that completed inside the window (also one
				// that began before it: a slow system's latencies may exceed a short window).
				ended := time.Now()
				if !ended.Before(windowOpens) && ended.Before(windowCloses) {
					counted.Add(1)
					samples[w] = append(samples[w], uint32(ended.Sub(began)/time.Microsecond))
				}
			}
		}(w)
	}
	// Workers stuck in a call that never answers must not hang the run: give them 15 s after
	// the window, then report what was measured and how many were still waiting.
	finished := make(chan struct{})
	go func() { workers.Wait(); close(finished) }()
	stuck := false
	select {
	case <-finished:
	case <-time.After(time.Until(windowCloses) + 15*time.Second):
		stuck = true
	}
	snapshots.Wait()
	var all []uint32
	if !stuck {
		for _, s := range samples {
			all = append(all, s...)
		}
	}
	out := map[string]interface{}{
		"inflight":  cfg.InFlight,
		"seconds":   cfg.Seconds,
		"count":     counted.Load(),
		"rate":      round1(float64(counted.Load()) / after.at.Sub(before.at).Seconds()),
		"throttled": throttled.Load() - throttledBefore,
		"errors":    failures.Load(),
	}
	if failures.Load() > 0 {
		out["last_error"] = lastFailure()
	}
	if stuck {
		out["stuck"] = true // some calls were unanswered 15 s after the window (no percentiles)
		failures.Add(1)
		out["errors"] = failures.Load()
		out["last_error"] = "calls still unanswered 15 s after the window closed"
	}
	percentiles(out, all)
	cpuFigures(out, before, after, counted.Load())
	return out, nil
}

// endToEnd: `senders` workers on one connection pace durable sends at `rate` msg/s in total for
// `seconds`, while `consumers` receivers take them and ack. Each body carries its send time and
// a unique sequence number: latency is send start → in a receiver's hands; a sequence number
// seen twice is a duplicate, one confirmed but never seen (within `drain` seconds after the
// last send) is lost.
func endToEnd(cfg Config) (map[string]interface{}, error) {
	driver, err := newDriver(cfg)
	if err != nil {
		return nil, err
	}
	defer bounded(5*time.Second, func() error { driver.Close(); return nil })
	if err := bounded(60*time.Second, func() error { return driver.Prepare("e2e") }); err != nil {
		return nil, fmt.Errorf("prepare: %v", err)
	}
	total := int(float64(cfg.Rate) * cfg.Seconds)
	epoch := time.Now()
	seen := make([]uint32, total)      // deliveries per sequence number
	confirmed := make([]uint32, total) // 1 when the broker confirmed the send
	var latencyMu sync.Mutex
	latencies := make([]uint32, 0, total)
	var received, duplicates atomic.Int64
	var lastDelivery atomic.Int64
	deliver := func(body []byte) {
		if len(body) < 16 {
			return
		}
		now := time.Since(epoch)
		sentAt := time.Duration(binary.BigEndian.Uint64(body[0:8]))
		seq := binary.BigEndian.Uint64(body[8:16])
		if seq >= uint64(total) {
			return
		}
		if atomic.AddUint32(&seen[seq], 1) > 1 {
			duplicates.Add(1)
			return
		}
		received.Add(1)
		lastDelivery.Store(int64(now))
		latencyMu.Lock()
		latencies = append(latencies, uint32((now-sentAt)/time.Microsecond))
		latencyMu.Unlock()
	}
	stopConsumers, err := driver.Consume(cfg.Consumer, cfg.Batch, deliver)
	if err != nil {
		return nil, fmt.Errorf("consume: %v", err)
	}
	before := snapshot(cfg.Pids)
	var sent, lateness atomic.Int64
	var senders sync.WaitGroup
	interval := time.Duration(float64(time.Second) * float64(cfg.Senders) / float64(cfg.Rate))
	sendStart := time.Now()
	giveUp := sendStart.Add(time.Duration(cfg.Seconds*1.5*float64(time.Second)) + time.Second)
	for s := 0; s < cfg.Senders; s++ {
		senders.Add(1)
		go func(s int) {
			defer senders.Done()
			body := make([]byte, cfg.Size)
			next := sendStart.Add(interval * time.Duration(s) / time.Duration(cfg.Senders))
			for seq := s; seq < total; seq += cfg.Senders {
				if time.Now().After(giveUp) {
					return // far behind the pace: the rate is not sustained; stop rather than run on
				}
				if wait := time.Until(next); wait > 0 {
					time.Sleep(wait)
				}
				if late := time.Since(next); late > 0 && seq+cfg.Senders >= total {
					lateness.Store(maxInt64(lateness.Load(), int64(late))) // of each sender's last send
				}
				next = next.Add(interval)
				binary.BigEndian.PutUint64(body[0:8], uint64(time.Since(epoch)))
				binary.BigEndian.PutUint64(body[8:16], uint64(seq))
				if err := driver.Publish(s, body); err != nil {
					noteFailure(err)
					continue
				}
				confirmed[seq] = 1
				sent.Add(1)
			}
		}(s)
	}
	senders.Wait()
	sendEnd := time.Now()
	deadline := sendEnd.Add(time.Duration(cfg.Drain * float64(time.Second)))
	for time.Now().Before(deadline) && received.Load() < sent.Load() {
		time.Sleep(20 * time.Millisecond)
	}
	// A short grace period after the last message to catch late duplicates.
	time.Sleep(300 * time.Millisecond)
	after := snapshot(cfg.Pids)
	// Receivers still delivering at the deadline mean a backlog, not proven losses.
	stillDelivering := time.Since(epoch)-time.Duration(lastDelivery.Load()) < 500*time.Millisecond
	stopConsumers()
	lost := int64(0)
	for i := 0; i < total; i++ {
		if confirmed[i] == 1 && atomic.LoadUint32(&seen[i]) == 0 {
			lost++
		}
	}
	sendSeconds := sendEnd.Sub(sendStart).Seconds()
	receiveSeconds := time.Duration(lastDelivery.Load()).Seconds() - sendStart.Sub(epoch).Seconds()
	out := map[string]interface{}{
		"target_rate":                  cfg.Rate,
		"seconds":                      cfg.Seconds,
		"sent":                         sent.Load(),
		"received":                     received.Load(),
		"duplicates":                   duplicates.Load(),
		"lost":                         lost,
		"still_delivering_at_deadline": stillDelivering,
		"send_rate":                    round1(float64(sent.Load()) / sendSeconds),
		"receive_rate":                 round1(float64(received.Load()) / maxFloat(receiveSeconds, sendSeconds)),
		"throttled":                    throttled.Load(),
		"errors":                       failures.Load(),
		"senders":                      cfg.Senders,
		"consumers":                    cfg.Consumer,
		"batch":                        cfg.Batch,
	}
	if failures.Load() > 0 {
		out["last_error"] = lastFailure()
	}
	// "sustained": every message was sent and confirmed, the last sends started on schedule
	// (within 10% of the case's time + 50 ms), the receivers kept up (90% of the rate) and
	// nothing was lost.
	last := time.Duration(lateness.Load())
	receiveRate := float64(received.Load()) / maxFloat(receiveSeconds, sendSeconds)
	out["last_send_late_ms"] = round1(float64(last) / 1e6)
	out["sustained"] = last <= time.Duration(cfg.Seconds*0.1*float64(time.Second))+50*time.Millisecond &&
		lost == 0 && sent.Load() == int64(total) && receiveRate >= 0.9*float64(cfg.Rate)
	percentiles(out, latencies)
	cpuFigures(out, before, after, maxInt64(received.Load(), 1))
	return out, nil
}

func maxFloat(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

func maxInt64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// diskLimit: the machine's physical limit for durable appends, measured in the same run as the
// systems: 4 KiB appended to a growing file with one fdatasync each, for `seconds`.
func diskLimit(cfg Config) (map[string]interface{}, error) {
	if cfg.Dir == "" {
		cfg.Dir = os.TempDir()
	}
	path := filepath.Join(cfg.Dir, fmt.Sprintf("sluiceload-disk-%d", os.Getpid()))
	file, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer os.Remove(path)
	defer file.Close()
	block := make([]byte, 4096)
	for i := range block {
		block[i] = byte(i)
	}
	var samples []uint32
	start := time.Now()
	end := start.Add(time.Duration(cfg.Seconds * float64(time.Second)))
	for time.Now().Before(end) {
		began := time.Now()
		if _, err := file.Write(block); err != nil {
			return nil, err
		}
		if err := syscall.Fdatasync(int(file.Fd())); err != nil {
			return nil, err
		}
		samples = append(samples, uint32(time.Since(began)/time.Microsecond))
	}
	out := map[string]interface{}{
		"what":    "4 KiB append + fdatasync, growing file",
		"count":   len(samples),
		"rate":    round1(float64(len(samples)) / time.Since(start).Seconds()),
		"seconds": cfg.Seconds,
	}
	percentiles(out, samples)
	return out, nil
}
