package bench

import (
	"github.com/perkbridge/perkbridge/app/procs"

	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// child is one perkbridge process the bench starts, kills and starts again.
type child = procs.Child

// waitHealthy waits for a serve child's /healthz.
func waitHealthy(c *child, d time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	ok := waitUntil(context.Background(), d, 20*time.Millisecond, func() bool {
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

// waitStarted waits for a worker child to log that its workers started
// (after offset, the log's size before the start).
func waitStarted(c *child, offset int64, d time.Duration) error {
	if !waitUntil(context.Background(), d, 20*time.Millisecond, func() bool { return c.LogContains(offset, "workers started") }) {
		return fmt.Errorf("%s did not start within %s:\n%s", c.Name, d, c.Tail(30))
	}
	return nil
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
	sw := &procs.StatusWriter{ResponseWriter: w}
	s.h.ServeHTTP(sw, r)
	if sw.Status == 0 {
		sw.Status = 200
	}
	s.mu.Lock()
	if s.n == nil {
		s.n = map[int]int{}
	}
	s.n[sw.Status]++
	s.mu.Unlock()
}

func (s *statusCounter) count(status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[status]
}
