package klaviyo

import (
	"context"
	"sync"
	"time"
)

// Rate is one of Klaviyo's per-account limits: at most Burst requests per
// second and Steady per minute (x-klaviyo-ratelimit, sinks.md §1.6).
type Rate struct {
	Burst  int // per second
	Steady int // per minute
}

// Published limits of the operations this package calls (spec 2026-07-15).
var (
	EventsRate     = Rate{Burst: 350, Steady: 3500} // POST /api/events
	BulkEventsRate = Rate{Burst: 10, Steady: 150}   // POST /api/event-bulk-create-jobs
	ProfilesRate   = Rate{Burst: 75, Steady: 750}   // POST /api/profile-import
	AccountsRate   = Rate{Burst: 1, Steady: 15}     // GET /api/accounts
)

// Limiter spaces requests so that one account stays under a Rate. Use one
// Limiter per account and operation, shared by every goroutine sending for
// that account.
//
// Each window is a token bucket in its GCRA form: a bucket of c = n/20
// tokens (at least 1) refilled at (n−c+1)/(w+s) tokens per second, where w
// is the window and s a slack of w/4, at most 1 s. Any interval of length
// w+s then holds at most c + (n−c) = n grants, whatever the alignment of
// Klaviyo's fixed windows and with up to s of jitter between our clock and
// Klaviyo's arrival times. A plain bucket of n tokens refilled at n/w could
// admit nearly 2n in one fixed window. The price is throughput: about 93%
// of the steady limit for events, profiles and bulk jobs.
//
// The state is per process. Several worker processes sending for the same
// account must share their budget themselves (split the Rate, or use a
// shared, database-backed limiter); this type cannot see the others.
type Limiter struct {
	now func() time.Time

	mu     sync.Mutex
	burst  gcra
	steady gcra
	paused time.Time // no grant before this (a 429's Retry-After)
}

// gcra is one window of the generic cell rate algorithm: tat is the
// theoretical arrival time of the next request, t the emission interval
// and tau the tolerance ((c−1)·t for a bucket of c).
type gcra struct {
	t, tau time.Duration
	tat    time.Time
}

func newGCRA(n int, window time.Duration) gcra {
	n = max(n, 1)
	slack := min(window/4, time.Second)
	c := max(1, n/20)
	// t is a hair over (window+slack)/(n−c+1), so that
	// floor((window+slack)/t) ≤ n−c.
	t := (window+slack)/time.Duration(n-c+1) + 1
	return gcra{t: t, tau: time.Duration(c-1) * t}
}

// NewLimiter returns a limiter for r. A nil now means time.Now.
func NewLimiter(r Rate, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, burst: newGCRA(r.Burst, time.Second), steady: newGCRA(r.Steady, time.Minute)}
}

// Reserve takes the next slot and returns how long to wait before sending.
// Slots are granted in order, so concurrent callers queue fairly.
func (l *Limiter) Reserve() time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	at := now
	if l.paused.After(at) {
		at = l.paused
	}
	for _, w := range []*gcra{&l.burst, &l.steady} {
		if earliest := w.tat.Add(-w.tau); earliest.After(at) {
			at = earliest
		}
	}
	for _, w := range []*gcra{&l.burst, &l.steady} {
		w.tat = maxTime(w.tat, at).Add(w.t)
	}
	return at.Sub(now)
}

// Wait takes the next slot and sleeps until it, or returns ctx's error. A
// slot given up that way stays spent, which errs on the safe side.
func (l *Limiter) Wait(ctx context.Context) error {
	d := l.Reserve()
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Pause grants nothing for d from now: call it with a 429's RetryAfter so
// every sender of the account waits, not only the one that was refused
// ("immediate retries will always receive a 429", sinks.md §1.6).
func (l *Limiter) Pause(d time.Duration) {
	until := l.now().Add(d)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.paused = maxTime(l.paused, until)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
