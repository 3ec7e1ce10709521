package bench

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuSample is the CPU time, in clock ticks, spent so far by PostgreSQL
// (every process named postgres, plus what its exited children used,
// which the postmaster's cutime/cstime keep), by the serve process, by
// this load process (its own fakes and sender included) and by the whole
// machine (busy and idle, from /proc/stat).
type cpuSample struct {
	at                        time.Time
	postgres, serve, load     int64
	machineBusy, machineTotal int64
}

// procTicks returns a process's comm, utime+stime and cutime+cstime.
func procTicks(pid string) (comm string, own, children int64, ok bool) {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return "", 0, 0, false
	}
	s := string(data)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return "", 0, 0, false
	}
	comm = s[open+1 : close]
	f := strings.Fields(s[close+1:])
	// After the comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
	if len(f) < 15 {
		return "", 0, 0, false
	}
	n := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	return comm, n(11) + n(12), n(13) + n(14), true
}

func (b *bench) sampleCPU() cpuSample {
	c := cpuSample{at: time.Now()}
	servePid := strconv.Itoa(b.serve.Pid())
	self := strconv.Itoa(os.Getpid())
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid := e.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		comm, own, children, ok := procTicks(pid)
		if !ok {
			continue
		}
		switch {
		case comm == "postgres" || comm == "postmaster":
			c.postgres += own + children
		case pid == servePid:
			c.serve += own
		case pid == self:
			c.load += own
		}
	}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(data), "\n")
		f := strings.Fields(line)
		for i := 1; i < len(f); i++ {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			c.machineTotal += v
			if i != 4 && i != 5 { // idle, iowait
				c.machineBusy += v
			}
		}
	}
	return c
}

// cpuNote notes where the machine's CPU went between two samples, as
// shares of all cores over the interval: the profile behind a phase's
// figures (which process a faster run would have to make cheaper).
func (b *bench) cpuNote(phase string, from, to cpuSample) {
	total := float64(to.machineTotal - from.machineTotal)
	if total <= 0 {
		return
	}
	pct := func(ticks int64) float64 { return 100 * float64(ticks) / total }
	// /proc/stat counts every CPU; the processes' ticks are per process.
	b.note("CPU during %s (%.0f s, shares of all %d cores): PostgreSQL %.0f%%, serve %.0f%%, this load process (sender and sink fakes) %.0f%%, machine busy %.0f%%",
		phase, to.at.Sub(from.at).Seconds(), cores(), pct(to.postgres-from.postgres), pct(to.serve-from.serve), pct(to.load-from.load),
		pct(to.machineBusy-from.machineBusy))
}

func cores() int {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "cpu") && len(line) > 3 && line[3] >= '0' && line[3] <= '9' {
			n++
		}
	}
	return n
}
