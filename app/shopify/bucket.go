package shopify

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

// defaultQueryCost is the cost assumed for a query text never seen before.
const defaultQueryCost = 50

// maxKnownQueries bounds the per-shop memory of query costs; callers that
// build query texts dynamically must not grow it without limit.
const maxKnownQueries = 1024

// bucket is our estimate of Shopify's leaky bucket for one app and shop.
//
// Shopify reserves a query's requestedQueryCost up front and throttles when
// fewer points are available, restoring restoreRate points per second up to
// maximumAvailable. Every response reports the true level, so the estimate
// is reset from it; between responses it is advanced by the restore rate and
// lowered by each reservation. Reservations may drive it negative: the debt
// is the queue of clients already waiting, so concurrent callers wait one
// after another instead of all firing when the level recovers.
type bucket struct {
	mu        sync.Mutex
	known     bool // false until a response reported a throttle status
	max       float64
	rate      float64 // points per second
	available float64 // at time at; may be negative (reserved debt)
	at        time.Time
	costs     map[[sha256.Size]byte]float64 // last requestedQueryCost per query text
}

func newBucket() *bucket {
	return &bucket{costs: make(map[[sha256.Size]byte]float64)}
}

func queryKey(query string) [sha256.Size]byte { return sha256.Sum256([]byte(query)) }

// expectedCost is the last requestedQueryCost seen for the query, or 50.
func (b *bucket) expectedCost(key [sha256.Size]byte) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.costs[key]; ok {
		return c
	}
	return defaultQueryCost
}

// level is the estimated number of available points at now. Caller holds mu.
func (b *bucket) level(now time.Time) float64 {
	elapsed := now.Sub(b.at).Seconds()
	if elapsed < 0 {
		elapsed = 0
	}
	return min(b.max, b.available+elapsed*b.rate)
}

// reserve takes cost points from the estimate and returns how long to wait
// before sending so that Shopify will have them. Without a known status it
// returns 0: the first response will tell us where we stand.
func (b *bucket) reserve(now time.Time, cost float64) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.known || b.rate <= 0 {
		return 0
	}
	// A query dearer than the whole bucket would wait forever; Shopify
	// rejects it with MAX_COST_EXCEEDED instead, so let it through.
	cost = min(cost, b.max)
	b.available = b.level(now) - cost
	b.at = now
	if b.available >= 0 {
		return 0
	}
	return seconds(-b.available / b.rate)
}

// refund gives back a reservation that was never sent.
func (b *bucket) refund(now time.Time, cost float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.known {
		return
	}
	b.available = min(b.max, b.level(now)+cost)
	b.at = now
}

// observe records a response's cost: the query's requested cost for next
// time, and the reported level, which replaces the estimate because it is
// the truth as of that response.
func (b *bucket) observe(now time.Time, key [sha256.Size]byte, c *Cost) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.RequestedQueryCost > 0 {
		if len(b.costs) >= maxKnownQueries {
			clear(b.costs)
		}
		b.costs[key] = c.RequestedQueryCost
	}
	ts := c.ThrottleStatus
	if ts.MaximumAvailable > 0 && ts.RestoreRate > 0 {
		b.known = true
		b.max = ts.MaximumAvailable
		b.rate = ts.RestoreRate
		b.available = min(ts.CurrentlyAvailable, ts.MaximumAvailable)
		b.at = now
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
