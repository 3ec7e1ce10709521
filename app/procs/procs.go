// Package procs is the harness the fault matrix (app/faultmatrix) and the
// load bench (app/bench) share: perkbridge processes (serve, worker) run
// as children that a harness starts, kills and starts again, and a
// response writer that records a fake's answers. A child's
// output goes to a log file; an exit the harness did not cause is
// recorded as a crash.
package procs

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Child is one perkbridge process.
type Child struct {
	Name string
	Mode string // "serve" or "worker"
	Bin  string // the perkbridge binary
	Port int    // serve only
	Env  []string
	Log  string // the log file, appended to by every start

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	killed  bool // the harness ended it on purpose
	starts  int
	crashes []string // exits the harness did not cause
	peakKB  int64    // highest VmHWM seen over every start
}

// URL is a serve child's base URL.
func (c *Child) URL() string { return "http://127.0.0.1:" + strconv.Itoa(c.Port) }

// Start starts the process (it must not be running).
func (c *Child) Start() error {
	f, err := os.OpenFile(c.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(f, "=== start %d at %s\n", c.starts+1, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(c.Bin, c.Mode)
	cmd.Env = c.Env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	c.cmd, c.killed, c.exited = cmd, false, make(chan struct{})
	c.starts++
	exited := c.exited
	go func() {
		err := cmd.Wait()
		f.Close()
		c.mu.Lock()
		if !c.killed {
			c.crashes = append(c.crashes, fmt.Sprintf("%s exited by itself at %s: %v", c.Name, time.Now().Format(time.TimeOnly), err))
		}
		c.mu.Unlock()
		close(exited)
	}()
	return nil
}

// Pid is the running process's id, 0 when none.
func (c *Child) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	select {
	case <-c.exited:
		return 0
	default:
	}
	return c.cmd.Process.Pid
}

// Alive reports whether the process runs.
func (c *Child) Alive() bool { return c.Pid() != 0 }

// Signal sends sig and waits for the process to exit.
func (c *Child) Signal(sig syscall.Signal) {
	c.SampleRSS()
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.killed = true
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	<-exited
}

// Stop ends the process gracefully (SIGTERM), then by force after 20 s.
func (c *Child) Stop() {
	c.SampleRSS()
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.killed = true
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Crashes lists the exits the harness did not cause.
func (c *Child) Crashes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.crashes...)
}

// SampleRSS records the process's resident-set high-water mark.
func (c *Child) SampleRSS() {
	pid := c.Pid()
	if pid == 0 {
		return
	}
	if kb := VmHWM(pid); kb > 0 {
		c.mu.Lock()
		c.peakKB = max(c.peakKB, kb)
		c.mu.Unlock()
	}
}

// PeakMB is the highest resident set sampled, over every start.
func (c *Child) PeakMB() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return float64(c.peakKB) / 1024
}

// Tail returns the last n lines of the child's log.
func (c *Child) Tail(n int) string {
	b, _ := os.ReadFile(c.Log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// LogSize is the log's size, an offset for LogContains.
func (c *Child) LogSize() int64 {
	fi, err := os.Stat(c.Log)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// LogContains reports whether the log holds s after offset.
func (c *Child) LogContains(offset int64, s string) bool {
	f, err := os.Open(c.Log)
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return false
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			return true
		}
	}
	return false
}

// VmHWM is a process's peak resident set in kB, from /proc/<pid>/status.
func VmHWM(pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb
		}
	}
	return 0
}

// StatusWriter records the status a handler answered with (200 when it
// wrote a body without one), so a harness can count a fake's answers: the
// fakes record requests, not answers.
type StatusWriter struct {
	http.ResponseWriter
	Status int
}

func (w *StatusWriter) WriteHeader(s int) {
	if w.Status == 0 {
		w.Status = s
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
