package faultmatrix

import (
	"github.com/perkbridge/perkbridge/app/procs"

	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/perkbridge/perkbridge/app/pglocal"
)

// binPath is the perkbridge binary TestMain builds once.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "faultmatrix-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "perkbridge")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "faultmatrix: building perkbridge: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	apiKey    = "faultmatrix-key"
	apiSecret = "faultmatrix-secret"
	// encKey is the children's ENCRYPTION_KEY (base64 of 32 bytes); the
	// suite seals integration credentials with the same key.
	encKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	encRaw = "0123456789abcdef0123456789abcdef"
)

// child is one perkbridge process (serve or worker) that the suite starts,
// kills and starts again; its log is dumped when the test fails.
type child = procs.Child

// cluster is the suite's own PostgreSQL, which it stops and starts.
type cluster struct {
	pg   *pglocal.Cluster
	url  string
	pool *pgxpool.Pool // the suite's connections, for setup and polling
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "faultmatrix-pg-")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := pglocal.Start(ctx, pglocal.Options{Dir: dir, Database: "perkbridge", Fast: true})
	if err != nil {
		if errors.Is(err, pglocal.ErrNoBinaries) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Remove(context.Background()); err != nil {
			t.Logf("removing the cluster: %v", err)
		}
		os.RemoveAll(dir)
	})
	cfg, err := pgxpool.ParseConfig(pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 8
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &cluster{pg: pg, url: pg.URL, pool: pool}
}

// stop stops PostgreSQL (fast shutdown: sessions are cut, as in a
// restart of the server).
func (c *cluster) stop(ctx context.Context) error { return c.pg.Stop(ctx) }

// start starts it again on the same port.
func (c *cluster) start(ctx context.Context) error { return c.pg.StartAgain(ctx, true) }

// count runs a count query, -1 on error (the database may be down).
func (c *cluster) count(ctx context.Context, q string, args ...any) int64 {
	var n int64
	if err := c.pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return -1
	}
	return n
}

// freePort returns a loopback port free at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitUntil polls cond every step until it holds or d passes.
func waitUntil(d, step time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(step)
	}
}

// waitHealthy waits for a serve child's /healthz.
func waitHealthy(c *child, d time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	ok := waitUntil(d, 20*time.Millisecond, func() bool {
		resp, err := client.Get(c.URL() + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if !ok {
		return fmt.Errorf("%s not healthy after %s:\n%s", c.Name, d, c.Tail(30))
	}
	return nil
}

// pidOfClientPort returns which of pids owns the TCP socket whose local
// port is port (the client end of a connection to a fake sink), or 0. It
// reads /proc (Linux): the socket's inode from /proc/net/tcp{,6}, then the
// process whose file descriptors include it.
func pidOfClientPort(port int, pids []int) int {
	want := fmt.Sprintf(":%04X", port)
	var inode string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) > 9 && strings.HasSuffix(fs[1], want) {
				inode = fs[9]
				break
			}
		}
		if inode != "" {
			break
		}
	}
	if inode == "" || inode == "0" {
		return 0
	}
	target := "socket:[" + inode + "]"
	for _, pid := range pids {
		dir := "/proc/" + strconv.Itoa(pid) + "/fd"
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && l == target {
				return pid
			}
		}
	}
	return 0
}

// sinkGate sits in front of a sink fake and can hold one event upload:
// the fake receives and records it, but its answer is kept back until the
// suite has killed the sender (a kill between the sink call and the
// recording of its outcome).
type sinkGate struct {
	name    string
	h       http.Handler
	isEvent func(r *http.Request, body []byte) bool

	mu   sync.Mutex
	hold *heldCall

	status429 atomic.Int64
	status5xx atomic.Int64
	requests  atomic.Int64
}

type heldCall struct {
	held    chan string   // receives the caller's address once the fake answered
	release chan struct{} // closed to let the answer go
}

// armHold makes the next event upload be held; the call returns the
// caller's address once it is.
func (g *sinkGate) armHold() *heldCall {
	h := &heldCall{held: make(chan string, 1), release: make(chan struct{})}
	g.mu.Lock()
	g.hold = h
	g.mu.Unlock()
	return h
}

func (g *sinkGate) disarm() {
	g.mu.Lock()
	g.hold = nil
	g.mu.Unlock()
}

func (g *sinkGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.requests.Add(1)
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var hold *heldCall
	if g.isEvent(r, body) {
		g.mu.Lock()
		hold, g.hold = g.hold, nil
		g.mu.Unlock()
	}
	if hold == nil {
		sw := &procs.StatusWriter{ResponseWriter: w}
		g.h.ServeHTTP(sw, r)
		g.count(sw.Status)
		return
	}
	// The fake acts on the call (records the events) now; the answer waits.
	rec := newRecorder()
	g.h.ServeHTTP(rec, r)
	hold.held <- r.RemoteAddr
	<-hold.release
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
	g.count(rec.status)
}

func (g *sinkGate) count(status int) {
	switch {
	case status == http.StatusTooManyRequests:
		g.status429.Add(1)
	case status >= 500:
		g.status5xx.Add(1)
	}
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder            { return &recorder{header: http.Header{}} }
func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
