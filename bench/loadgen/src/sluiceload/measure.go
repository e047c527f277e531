package main

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat (100 on Linux/x86-64).
const clockTicks = 100.0

// treeCPUSeconds is utime+stime of every live process in the trees rooted at pids: RabbitMQ's
// beam.smp under its start script, PostgreSQL's backends under the postmaster.
func treeCPUSeconds(pids []int) float64 {
	if len(pids) == 0 {
		return 0
	}
	type proc struct {
		ppid int
		cpu  float64
	}
	procs := map[int]proc{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, cpu, ok := readStat(pid)
		if ok {
			procs[pid] = proc{ppid, cpu}
		}
	}
	roots := map[int]bool{}
	for _, p := range pids {
		roots[p] = true
	}
	total := 0.0
	for pid, p := range procs {
		// Walk up to a root (depth-bounded: pid 1 ends every chain).
		for cur, depth := pid, 0; cur > 1 && depth < 64; depth++ {
			if roots[cur] {
				total += p.cpu
				break
			}
			parent, ok := procs[cur]
			if !ok {
				break
			}
			cur = parent.ppid
		}
	}
	return total
}

func readStat(pid int) (ppid int, cpu float64, ok bool) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	text := string(data)
	close := strings.LastIndexByte(text, ')')
	if close < 0 {
		return 0, 0, false
	}
	fields := strings.Fields(text[close+1:])
	// After the command: state(0) ppid(1) ... utime(11) stime(12).
	if len(fields) < 13 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(fields[1])
	user, _ := strconv.ParseFloat(fields[11], 64)
	system, _ := strconv.ParseFloat(fields[12], 64)
	return ppid, (user + system) / clockTicks, true
}

// selfCPUSeconds is this process's user+system CPU (getrusage).
func selfCPUSeconds() float64 {
	var usage syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	return float64(usage.Utime.Sec+usage.Stime.Sec) + float64(usage.Utime.Usec+usage.Stime.Usec)/1e6
}

// cpuSnapshot is the broker's and the generator's CPU at one instant.
type cpuSnapshot struct {
	at     time.Time
	broker float64
	client float64
}

func snapshot(pids []int) cpuSnapshot {
	return cpuSnapshot{at: time.Now(), broker: treeCPUSeconds(pids), client: selfCPUSeconds()}
}

// cpuFigures adds CPU per operation (µs) and CPU use (% of one core) between two snapshots.
func cpuFigures(out map[string]interface{}, a, b cpuSnapshot, operations int64) {
	wall := b.at.Sub(a.at).Seconds()
	ops := float64(operations)
	if ops < 1 {
		ops = 1
	}
	out["broker_cpu_us"] = round1((b.broker - a.broker) / ops * 1e6)
	out["client_cpu_us"] = round1((b.client - a.client) / ops * 1e6)
	out["broker_cpu_pct"] = round1((b.broker - a.broker) / wall * 100)
	out["client_cpu_pct"] = round1((b.client - a.client) / wall * 100)
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }

// percentiles of latencies in microseconds.
func percentiles(out map[string]interface{}, samples []uint32) {
	if len(samples) == 0 {
		return
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	at := func(q float64) uint32 {
		i := int(q * float64(len(samples)-1))
		return samples[i]
	}
	out["p50_us"] = at(0.50)
	out["p99_us"] = at(0.99)
	out["p999_us"] = at(0.999)
	out["max_us"] = samples[len(samples)-1]
}
