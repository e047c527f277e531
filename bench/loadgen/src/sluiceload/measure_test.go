package main

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// The broker's CPU is its whole process tree: a child's CPU counts, and a parent that only
// waits has next to none of its own.
func TestTreeCPUCountsDescendants(t *testing.T) {
	cmd := exec.Command("sh", "-c", `sh -c 'i=0; while [ $i -lt 100000000 ]; do i=$((i+1)); done' & wait`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group this test started
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for treeCPUSeconds([]int{cmd.Process.Pid}) < 0.3 {
		if time.Now().After(deadline) {
			t.Fatalf("tree CPU stayed at %.2f s", treeCPUSeconds([]int{cmd.Process.Pid}))
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, own, ok := readStat(cmd.Process.Pid)
	if !ok || own > 0.1 {
		t.Fatalf("the waiting parent has %.2f s of its own (ok %v): the CPU must come from the child", own, ok)
	}
	if got := treeCPUSeconds(nil); got != 0 {
		t.Fatalf("no pids: %.2f", got)
	}
}

func TestWithRetryRetriesThrottlingOnlyAndCountsIt(t *testing.T) {
	before := throttled.Load()
	calls := 0
	err := withRetry(func() error {
		calls++
		if calls < 3 {
			return errThrottled{"slow down"}
		}
		return nil
	})
	if err != nil || calls != 3 || throttled.Load()-before != 2 {
		t.Fatalf("err %v calls %d throttled %d", err, calls, throttled.Load()-before)
	}
	calls = 0
	failure := errors.New("broken")
	if err := withRetry(func() error { calls++; return failure }); err != failure || calls != 1 {
		t.Fatalf("a plain error must not be retried: err %v calls %d", err, calls)
	}
}

func TestPercentiles(t *testing.T) {
	samples := make([]uint32, 1000)
	for i := range samples {
		samples[len(samples)-1-i] = uint32(i + 1)
	}
	out := map[string]interface{}{}
	percentiles(out, samples)
	if out["p50_us"] != uint32(500) || out["p99_us"] != uint32(990) || out["p999_us"] != uint32(999) || out["max_us"] != uint32(1000) {
		t.Fatalf("%v", out)
	}
	empty := map[string]interface{}{}
	percentiles(empty, nil)
	if len(empty) != 0 {
		t.Fatalf("no samples must leave no percentiles: %v", empty)
	}
}
