package forward_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app/forward"
)

// queue inserts n wallet_points_rewarded events spread over customers
// customers (emails b<i>@example.com) and routes them, 5,000 per
// RouteEvents call, as the loyalty engine would have.
func (b *bundle) queue(n, customers int, occurredAgo time.Duration) {
	b.t.Helper()
	base, err := b.benchCustomers(customers)
	if err == nil {
		err = b.queueFor(base, customers, 0, n, occurredAgo)
	}
	if err != nil {
		b.t.Fatal(err)
	}
}

// benchCustomers inserts n customers with emails and returns the base of
// their Shopify ids (base+1 .. base+n).
func (b *bundle) benchCustomers(n int) (int64, error) {
	base := uniqueShopifyID() * 1_000_000
	err := b.st.Gorm().Exec(`INSERT INTO customers (shop_id, shopify_id, gid, email)
SELECT ?, ?::bigint + s, 'gid://shopify/Customer/' || (?::bigint + s), 'b' || (?::bigint + s) || '@example.com'
FROM generate_series(1, ?) s`, b.shop.ID, base, base, base, n).Error
	return base, err
}

// queueFor inserts n events numbered first+1 .. first+n over the
// customers of base (see benchCustomers) and routes them. It reports
// errors rather than failing, so a feeding goroutine may call it.
func (b *bundle) queueFor(base int64, customers, first, n int, occurredAgo time.Duration) error {
	var ids []uuid.UUID
	if err := b.st.Gorm().Raw(`INSERT INTO loyalty_events (id, shop_id, customer_id, shopify_customer_id, key, channel, occurred_at,
    properties, points_balance, tier, currency, source_key)
SELECT gen_random_uuid(), c.shop_id, c.id, c.shopify_id, 'wallet_points_rewarded', 'online_store', now() - make_interval(secs => ?),
    jsonb_build_object('points', 10 + s % 50, 'reason', 'order', 'order_id', (5544332211 + s)::text, 'order_name', '#' || s),
    100 + s, 'silver', 'USD', 'bench:' || s
FROM generate_series(?::bigint + 1, ?::bigint + ?) s
JOIN customers c ON c.shop_id = ? AND c.shopify_id = ?::bigint + 1 + (s % ?)
RETURNING id`,
		occurredAgo.Seconds(), first, first, n, b.shop.ID, base, customers).Scan(&ids).Error; err != nil {
		return err
	}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 5000)]
		ids = ids[len(chunk):]
		if _, err := b.st.RouteEvents(context.Background(), b.shop.ID, chunk); err != nil {
			return err
		}
	}
	return nil
}

func (b *bundle) sent() int {
	var n int
	if err := b.st.Gorm().Raw("SELECT count(*) FROM deliveries WHERE shop_id = ? AND status IN ('sent', 'late')", b.shop.ID).Scan(&n).Error; err != nil {
		b.t.Fatal(err)
	}
	return n
}

// BenchmarkCleverTapDrain delivers 100,000 queued events (1,000 customers)
// to a fake CleverTap that answers at once, with one runner, and reports
// the time to drain (DESIGN.md §7: under 30 s). It asserts correctness
// (every event once, at most 10 uploads in flight, no 429), never time.
//
//	go test ./app/forward -run '^$' -bench CleverTapDrain -benchtime 1x
func BenchmarkCleverTapDrain(bb *testing.B) {
	const n = 100_000
	for range bb.N {
		bb.StopTimer()
		b := setup(bb, setupOpts{httpTimeout: 30 * time.Second})
		b.connectCleverTap("customer_id")
		b.define("clevertap", "wallet_points_rewarded", "Loyalty Points Earned")
		b.queue(n, 1000, time.Minute)
		bb.StartTimer()
		start := time.Now()
		b.run(forward.RunnerOptions{PollInterval: 250 * time.Millisecond, Backoff: func(int) time.Duration { return time.Second }})
		b.waitFor(5*time.Minute, "drain", func() (bool, string) {
			s := b.sent()
			return s == n, strconv.Itoa(s)
		})
		elapsed := time.Since(start)
		bb.StopTimer()
		if got := len(b.ct.Events()); got != n {
			bb.Fatalf("CleverTap holds %d events for %d", got, n)
		}
		if m := b.ct.MaxInFlight(); m > 10 || b.ctCount.count(429) != 0 {
			bb.Fatalf("max in flight %d, 429s %d", m, b.ctCount.count(429))
		}
		ups, records := 0, 0
		for _, u := range b.ct.Uploads() {
			if len(u.Records) > 0 && u.Records[0].(map[string]any)["type"] == "event" {
				ups++
				records += len(u.Records)
			}
		}
		// Each figure beside its reference: DESIGN.md §7 (30 s), and
		// CleverTap's limits (1,000 records per upload, 15 in flight).
		bb.ReportMetric(elapsed.Seconds(), "ct-drain-s")
		bb.ReportMetric(30, "target-s")
		bb.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
		bb.ReportMetric(float64(records)/float64(max(ups, 1)), "records/upload")
		bb.ReportMetric(1000, "max-records/upload")
		bb.ReportMetric(float64(b.ct.MaxInFlight()), "max-in-flight")
		bb.ReportMetric(15, "cap-in-flight")
	}
}

// BenchmarkKlaviyoDrain measures how much of Klaviyo's published single
// event limit (3,500/min per account, 350/s burst) a backlog drains at,
// with bulk requests off so the single-event limit is the one that binds.
// Klaviyo's windows are fixed; the fake aligns them to the wall clock's
// minutes, like the runner's counters. The drain is measured in real time
// over full fake windows: the events the fake received in the first whole
// minute after the runner started (PERKBRIDGE_KLAVIYO_WINDOWS minutes,
// default 1, so a run takes at most two minutes and some). A shorter
// window cannot be compared with a per-minute fixed window: the first 10 s
// of a window may carry the whole 3,500 at the 350/s burst.
//
//	go test ./app/forward -run '^$' -bench KlaviyoDrain -benchtime 1x
func BenchmarkKlaviyoDrain(bb *testing.B) {
	windows := 1
	if v, err := strconv.Atoi(os.Getenv("PERKBRIDGE_KLAVIYO_WINDOWS")); err == nil && v > 0 {
		windows = v
	}
	for range bb.N {
		bb.StopTimer()
		b := setup(bb, setupOpts{httpTimeout: 30 * time.Second}) // the production default: a loaded machine answers slowly
		b.connectKlaviyo("email")
		b.define("klaviyo", "wallet_points_rewarded", "")
		b.queue(3500*(windows+2), 500, time.Minute)
		b.quietProfiles()
		bb.StartTimer()
		start := time.Now()
		b.run(forward.RunnerOptions{DisableBulk: true})
		from := start.Truncate(time.Minute).Add(time.Minute)
		to := from.Add(time.Duration(windows) * time.Minute)
		b.waitFor(time.Until(to)+30*time.Second, "the measured windows to end", func() (bool, string) {
			return time.Now().After(to.Add(time.Second)), ""
		})
		bb.StopTimer()
		inWindow, perSecond, perMinute := 0, map[int64]int{}, map[int64]int{}
		for _, e := range b.kl.Events() {
			perSecond[e.ReceivedAt.Unix()]++
			perMinute[e.ReceivedAt.Unix()/60]++
			if !e.ReceivedAt.Before(from) && e.ReceivedAt.Before(to) {
				inWindow++
			}
		}
		maxSecond, maxMinute := 0, 0
		for _, v := range perSecond {
			maxSecond = max(maxSecond, v)
		}
		for _, v := range perMinute {
			maxMinute = max(maxMinute, v)
		}
		if maxSecond > 350 || maxMinute > 3500 || b.klCount.count(429) != 0 {
			bb.Fatalf("over the limit: %d in a second, %d in a minute, %d 429s", maxSecond, maxMinute, b.klCount.count(429))
		}
		bb.ReportMetric(100*float64(inWindow)/float64(3500*windows), "klaviyo-share-%")
		bb.ReportMetric(90, "target-%")
		bb.ReportMetric(float64(maxSecond), "max-events/s")
		bb.ReportMetric(float64(maxMinute), "max-events/min")
	}
}

// BenchmarkKlaviyoBulkDrain drains a 20,000-event backlog: single events
// while the minute's events budget lasts (3,500), bulk jobs of up to 1,000
// events above it (10/s, 150/min, paced one per 400 ms), and reports the
// time and the bulk jobs' share of their limit over the drain.
//
//	go test ./app/forward -run '^$' -bench KlaviyoBulkDrain -benchtime 1x
func BenchmarkKlaviyoBulkDrain(bb *testing.B) {
	const n = 20_000
	for range bb.N {
		bb.StopTimer()
		b := setup(bb, setupOpts{httpTimeout: 30 * time.Second}) // the production default: a loaded machine answers slowly
		b.connectKlaviyo("email")
		b.define("klaviyo", "wallet_points_rewarded", "")
		b.queue(n, 2000, time.Minute)
		b.quietProfiles()
		bb.StartTimer()
		start := time.Now()
		b.run(forward.RunnerOptions{})
		b.waitFor(5*time.Minute, "drain", func() (bool, string) {
			c := b.counts()
			return c["sent"]+c["unconfirmed"] == n, fmt.Sprint(c)
		})
		elapsed := time.Since(start)
		bb.StopTimer()
		k := klaviyoFigures(b, time.Time{}, time.Time{})
		if len(distinctKlaviyo(b.kl.Events())) != n || b.kl.Duplicates() != 0 || k.throttled != 0 || k.over() {
			bb.Fatalf("%d distinct, %d duplicates, %d 429s, %+v", len(distinctKlaviyo(b.kl.Events())), b.kl.Duplicates(), k.throttled, k)
		}
		bb.ReportMetric(elapsed.Seconds(), "s/20k-events")
		bb.ReportMetric(float64(n)/elapsed.Minutes(), "events/min")
		bb.ReportMetric(float64(k.bulkJobs), "bulk-jobs")
		bb.ReportMetric(float64(k.bulkEvents)/float64(max(k.bulkJobs, 1)), "events/bulk-job")
		bb.ReportMetric(float64(k.maxBulkMinute), "max-bulk-jobs/min")
		bb.ReportMetric(150, "limit-bulk-jobs/min")
	}
}

// klaviyoCounts are what the Klaviyo fake received, against Klaviyo's
// published limits, in fixed wall-clock windows as Klaviyo counts them.
type klaviyoCounts struct {
	singles, bulkJobs, bulkEvents int // in [from, to) (everything when from is zero)
	maxSecond, maxMinute          int // single events
	maxBulkSecond, maxBulkMinute  int // bulk jobs
	throttled                     int // 429 answers
}

func (k klaviyoCounts) over() bool {
	return k.maxSecond > 350 || k.maxMinute > 3500 || k.maxBulkSecond > 10 || k.maxBulkMinute > 150
}

func klaviyoFigures(b *bundle, from, to time.Time) klaviyoCounts {
	var k klaviyoCounts
	in := func(t time.Time) bool { return from.IsZero() || (!t.Before(from) && t.Before(to)) }
	perSecond, perMinute := map[int64]int{}, map[int64]int{}
	for _, e := range b.kl.Events() {
		if e.Bulk {
			if in(e.ReceivedAt) {
				k.bulkEvents++
			}
			continue
		}
		perSecond[e.ReceivedAt.Unix()]++
		perMinute[e.ReceivedAt.Unix()/60]++
		if in(e.ReceivedAt) {
			k.singles++
		}
	}
	bulkSecond, bulkMinute := map[int64]int{}, map[int64]int{}
	for _, r := range b.kl.Requests() {
		if r.Method == http.MethodPost && strings.HasPrefix(r.Path, "/api/event-bulk-create-jobs") {
			bulkSecond[r.At.Unix()]++
			bulkMinute[r.At.Unix()/60]++
			if in(r.At) {
				k.bulkJobs++
			}
		}
	}
	peak := func(m map[int64]int) int {
		p := 0
		for _, v := range m {
			p = max(p, v)
		}
		return p
	}
	k.maxSecond, k.maxMinute, k.maxBulkSecond, k.maxBulkMinute = peak(perSecond), peak(perMinute), peak(bulkSecond), peak(bulkMinute)
	k.throttled = b.klCount.count(http.StatusTooManyRequests)
	return k
}

// BenchmarkKlaviyoBurst offers 500 new events a second (a 500 orders/s
// burst, PERKBRIDGE_KLAVIYO_BURST_RATE) to one Klaviyo account until
// PERKBRIDGE_KLAVIYO_WINDOWS whole wall-clock minutes (default 1) have
// passed, and reports, over those minutes: the single events' share of
// the 3,500/min steady limit (target 90%), the bulk jobs per minute (limit
// 150) and events per job, the peaks per second and minute (never over),
// the 429s (none), and the delivery latency (created to sent) of the
// burst's events, p50 and p99, with the time the backlog took to drain
// after the burst.
//
//	go test ./app/forward -run '^$' -bench KlaviyoBurst -benchtime 1x -timeout 20m
func BenchmarkKlaviyoBurst(bb *testing.B) {
	windows, rate := 1, 500
	if v, err := strconv.Atoi(os.Getenv("PERKBRIDGE_KLAVIYO_WINDOWS")); err == nil && v > 0 {
		windows = v
	}
	if v, err := strconv.Atoi(os.Getenv("PERKBRIDGE_KLAVIYO_BURST_RATE")); err == nil && v > 0 {
		rate = v
	}
	for range bb.N {
		bb.StopTimer()
		b := setup(bb, setupOpts{httpTimeout: 30 * time.Second}) // the production default: a loaded machine answers slowly
		b.connectKlaviyo("email")
		b.define("klaviyo", "wallet_points_rewarded", "")
		const customers = 5000
		base, err := b.benchCustomers(customers)
		if err != nil {
			bb.Fatal(err)
		}
		bb.StartTimer()
		start := time.Now()
		from := start.Truncate(time.Minute).Add(time.Minute)
		to := from.Add(time.Duration(windows) * time.Minute)
		b.run(forward.RunnerOptions{})
		// The feeder: rate/10 events every 100 ms, on schedule.
		queued := 0
		for tick := start; tick.Before(to); tick = tick.Add(100 * time.Millisecond) {
			time.Sleep(time.Until(tick))
			n := max(rate/10, 1)
			if err := b.queueFor(base, customers, queued, n, 0); err != nil {
				bb.Fatal(err)
			}
			queued += n
		}
		burstEnd := time.Now()
		b.waitFor(5*time.Minute, "the burst to drain", func() (bool, string) {
			c := b.counts()
			return c["sent"]+c["unconfirmed"] == queued, fmt.Sprint(c)
		})
		drain := time.Since(burstEnd)
		bb.StopTimer()
		k := klaviyoFigures(b, from, to)
		if len(distinctKlaviyo(b.kl.Events())) != queued || b.kl.Duplicates() != 0 || k.throttled != 0 || k.over() {
			bb.Fatalf("%d distinct of %d, %d duplicates, %+v", len(distinctKlaviyo(b.kl.Events())), queued, b.kl.Duplicates(), k)
		}
		var lat struct{ P50, P99 float64 }
		if err := b.st.Gorm().Raw(`SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)) AS p50,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)) AS p99
FROM deliveries WHERE shop_id = ? AND sent_at IS NOT NULL`, b.shop.ID).Scan(&lat).Error; err != nil {
			bb.Fatal(err)
		}
		bb.ReportMetric(100*float64(k.singles)/float64(3500*windows), "klaviyo-share-%")
		bb.ReportMetric(90, "target-%")
		bb.ReportMetric(float64(k.bulkJobs)/float64(windows), "bulk-jobs/min")
		bb.ReportMetric(150, "limit-bulk-jobs/min")
		bb.ReportMetric(float64(k.bulkEvents)/float64(max(k.bulkJobs, 1)), "events/bulk-job")
		bb.ReportMetric(float64(k.singles+k.bulkEvents)/float64(windows)/60, "events/s")
		bb.ReportMetric(float64(rate), "offered-events/s")
		bb.ReportMetric(float64(k.maxSecond), "max-events/s")
		bb.ReportMetric(float64(k.maxMinute), "max-events/min")
		bb.ReportMetric(float64(k.maxBulkSecond), "max-bulk-jobs/s")
		bb.ReportMetric(lat.P50, "p50-s")
		bb.ReportMetric(lat.P99, "p99-s")
		bb.ReportMetric(drain.Seconds(), "drain-after-burst-s")
	}
}
