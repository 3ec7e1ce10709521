package klaviyo_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/klaviyo"
)

// maxInWindow returns the most grants in any interval [g, g+w).
func maxInWindow(grants []time.Time, w time.Duration) int {
	sort.Slice(grants, func(i, j int) bool { return grants[i].Before(grants[j]) })
	most, j := 0, 0
	for i := range grants {
		for j < len(grants) && grants[j].Before(grants[i].Add(w)) {
			j++
		}
		most = max(most, j-i)
	}
	return most
}

// TestLimiter_NeverOverAnyWindow runs a backlog (every caller sends as soon
// as allowed) with random idle gaps and checks both published windows over
// every alignment, with the slack the limiter promises, and the steady
// throughput it promises.
func TestLimiter_NeverOverAnyWindow(t *testing.T) {
	t.Parallel()
	rates := map[string]klaviyo.Rate{
		"Events": klaviyo.EventsRate, "BulkEvents": klaviyo.BulkEventsRate,
		"Profiles": klaviyo.ProfilesRate, "Accounts": klaviyo.AccountsRate,
	}
	for name, r := range rates {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clk := newClock(time.Date(2026, 11, 23, 11, 59, 59, 500_000_000, time.UTC))
			l := klaviyo.NewLimiter(r, clk.Now)
			rnd := rand.New(rand.NewPCG(1, uint64(r.Steady)))
			var grants []time.Time
			start := clk.Now()
			for clk.Now().Sub(start) < 5*time.Minute {
				if rnd.IntN(500) == 0 {
					clk.Add(time.Duration(rnd.IntN(20)) * time.Second) // idle: the buckets refill
				}
				d := l.Reserve()
				if d < 0 {
					t.Fatalf("negative wait %v", d)
				}
				clk.Add(d)
				grants = append(grants, clk.Now())
			}
			burstSlack, steadySlack := 250*time.Millisecond, time.Second
			if got := maxInWindow(grants, time.Second+burstSlack); got > r.Burst {
				t.Errorf("%d grants in 1.25 s, limit %d/s", got, r.Burst)
			}
			if got := maxInWindow(grants, time.Minute+steadySlack); got > r.Steady {
				t.Errorf("%d grants in 61 s, limit %d/min", got, r.Steady)
			}

			// Throughput under a pure backlog (no idle), after the bucket
			// drained: at least 90% of the steady limit.
			l2 := klaviyo.NewLimiter(r, clk.Now)
			for range r.Steady { // drain the initial bucket and then some
				clk.Add(l2.Reserve())
			}
			from := clk.Now()
			n := 0
			for clk.Now().Sub(from) < 10*time.Minute {
				clk.Add(l2.Reserve())
				n++
			}
			perMin := float64(n) / clk.Now().Sub(from).Minutes()
			if perMin < 0.9*float64(r.Steady) || perMin > float64(r.Steady) {
				t.Errorf("steady throughput %.1f/min, want within [90%%, 100%%] of %d", perMin, r.Steady)
			}
		})
	}
}

// TestLimiter_AgainstFake sends a backlog of events through the client,
// paced by the limiter, to the fake whose fixed burst and steady windows
// (350/s, 3500/min) answer 429 when exceeded. The clock is shared, so
// waiting is advancing it. Starting half a second before a minute boundary
// puts the initial burst across two fixed windows.
func TestLimiter_AgainstFake(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.clock.Add(-500 * time.Millisecond)
	l := klaviyo.NewLimiter(klaviyo.EventsRate, b.clock.Now)
	c := b.client(fullKey)
	start := b.clock.Now()
	const n = 4000
	for i := range n {
		b.clock.Add(l.Reserve())
		e := pointsEarned(func(e *klaviyo.Event) { e.UniqueID = fmt.Sprintf("ledger_%d", i) })
		if err := c.CreateEvent(context.Background(), e); err != nil {
			t.Fatalf("event %d at +%v: %v", i, b.clock.Now().Sub(start), err)
		}
	}
	if got := len(b.fake.Events()); got != n {
		t.Fatalf("%d events recorded", got)
	}
	// 4000 events at ≥ 90% of 3500/min, counting the initial bucket.
	elapsed := b.clock.Now().Sub(start)
	if perMin := n / elapsed.Minutes(); perMin < 0.9*3500 {
		t.Fatalf("%.0f events/min over %v of fake time", perMin, elapsed)
	}
}

func TestLimiter_Pause(t *testing.T) {
	t.Parallel()
	clk := newClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	l := klaviyo.NewLimiter(klaviyo.EventsRate, clk.Now)
	if d := l.Reserve(); d != 0 {
		t.Fatalf("first reservation waits %v", d)
	}
	l.Pause(5 * time.Second)
	if d := l.Reserve(); d != 5*time.Second {
		t.Fatalf("after Pause(5s) wait %v", d)
	}
	l.Pause(time.Second) // a shorter pause does not shorten the longer one
	if d := l.Reserve(); d < 5*time.Second {
		t.Fatalf("wait %v", d)
	}
}

func TestLimiter_Wait(t *testing.T) {
	t.Parallel()
	l := klaviyo.NewLimiter(klaviyo.AccountsRate, nil)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Wait = %v, want the deadline (next slot is > 1 s away)", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("Wait did not return at the deadline")
	}
}
