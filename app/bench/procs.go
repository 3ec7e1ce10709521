package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is one perkbridge process (serve or worker) the bench starts,
// kills and starts again. Its output goes to a log file.
type child struct {
	name string
	mode string // "serve" or "worker"
	bin  string
	port int // serve only
	env  []string
	logf string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	killed  bool // the bench ended it on purpose
	crashes []string
	peakKB  int64 // highest VmHWM seen over every start
}

func (c *child) url() string { return "http://127.0.0.1:" + strconv.Itoa(c.port) }

func (c *child) start() error {
	f, err := os.OpenFile(c.logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(f, "=== start at %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(c.bin, c.mode)
	cmd.Env = c.env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	c.cmd, c.killed, c.exited = cmd, false, make(chan struct{})
	exited := c.exited
	go func() {
		err := cmd.Wait()
		f.Close()
		c.mu.Lock()
		if !c.killed {
			c.crashes = append(c.crashes, fmt.Sprintf("%s exited by itself at %s: %v", c.name, time.Now().Format(time.TimeOnly), err))
		}
		c.mu.Unlock()
		close(exited)
	}()
	return nil
}

// pid is the running process's id, 0 when none.
func (c *child) pid() int {
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

// sampleRSS records the process's resident-set high-water mark.
func (c *child) sampleRSS() {
	pid := c.pid()
	if pid == 0 {
		return
	}
	if kb := vmHWM(pid); kb > 0 {
		c.mu.Lock()
		c.peakKB = max(c.peakKB, kb)
		c.mu.Unlock()
	}
}

func (c *child) peakMB() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return float64(c.peakKB) / 1024
}

// signal sends sig and waits for the process to exit.
func (c *child) signal(sig syscall.Signal) {
	c.sampleRSS()
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

// stop ends the process gracefully (SIGTERM), then by force.
func (c *child) stop() {
	c.sampleRSS()
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

func (c *child) crashList() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.crashes...)
}

func (c *child) tail(n int) string {
	b, _ := os.ReadFile(c.logf)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (c *child) logSize() int64 {
	fi, err := os.Stat(c.logf)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logContains reports whether the log holds s after offset.
func (c *child) logContains(offset int64, s string) bool {
	f, err := os.Open(c.logf)
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

// waitHealthy waits for a serve child's /healthz.
func waitHealthy(c *child, d time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	ok := waitUntil(context.Background(), d, 20*time.Millisecond, func() bool {
		resp, err := client.Get(c.url() + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if !ok {
		return fmt.Errorf("%s not healthy after %s:\n%s", c.name, d, c.tail(30))
	}
	return nil
}

// waitStarted waits for a worker child to log that its workers started
// (after offset, the log's size before the start).
func waitStarted(c *child, offset int64, d time.Duration) error {
	if !waitUntil(context.Background(), d, 20*time.Millisecond, func() bool { return c.logContains(offset, "workers started") }) {
		return fmt.Errorf("%s did not start within %s:\n%s", c.name, d, c.tail(30))
	}
	return nil
}

// vmHWM is a process's peak resident set in kB, from /proc/<pid>/status.
func vmHWM(pid int) int64 {
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

// waitUntil polls cond every step until it holds, d passes or ctx is
// done.
func waitUntil(ctx context.Context, d, step time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-time.After(step):
		case <-ctx.Done():
		}
	}
}

// freePort returns a loopback port free at the time of the call.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// statusCounter counts a fake's answers by status (the fakes record
// requests, not answers).
type statusCounter struct {
	h  http.Handler
	mu sync.Mutex
	n  map[int]int
}

func (s *statusCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	s.h.ServeHTTP(sw, r)
	if sw.status == 0 {
		sw.status = 200
	}
	s.mu.Lock()
	if s.n == nil {
		s.n = map[int]int{}
	}
	s.n[sw.status]++
	s.mu.Unlock()
}

func (s *statusCounter) count(status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[status]
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return w.ResponseWriter.Write(b)
}
