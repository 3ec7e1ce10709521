package forward_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/klaviyo"
)

// TestRunner_CleverTapAtVolume: the sink limits of CleverTap hold across
// processes (two runners stand for two processes: the slots live in
// PostgreSQL), and a large backlog goes in full batches.
func TestRunner_CleverTapAtVolume(t *testing.T) {
	t.Parallel()
	// Each runner may run 12 uploads at once, 24 together; the account
	// allows 15 (CleverTap's cap, which the fake enforces with 429). The
	// fake must see more than 12 at once (both runners sending) and never
	// more than 15.
	t.Run("CapAcrossRunners", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{clevertap: fake.CleverTapOptions{Slow: 300 * time.Millisecond}})
		b.connectCleverTap("customer_id")
		b.define("clevertap", "wallet_points_rewarded", "")
		const n = 30_000
		b.queue(n, 300, time.Minute)
		b.quietProfiles()
		opts := forward.RunnerOptions{CleverTapBatch: 100, CleverTapTasks: 12, Workers: 14, CleverTapInFlight: 15}
		opts.ID = "process-1"
		b.run(opts)
		opts.ID = "process-2"
		b.run(opts)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := b.ct.WaitForInFlight(ctx, 13); err != nil {
			t.Fatalf("never more than 12 uploads in flight (one runner's worth): max %d", b.ct.MaxInFlight())
		}
		b.waitStatus(3*time.Minute, map[string]int{"sent": n})
		if m := b.ct.MaxInFlight(); m > 15 || b.ctCount.count(429) != 0 {
			t.Fatalf("max in flight %d (cap 15), %d 429s", m, b.ctCount.count(429))
		}
		for id, c := range cleverTapCopies(b.ct.Events()) {
			if c != 1 {
				t.Fatalf("event %s reached CleverTap %d times", id, c)
			}
		}
		t.Logf("max in flight across two runners: %d (cap 15)", b.ct.MaxInFlight())
	})
	// A backlog of 10,000 goes in full uploads of 1,000 but at its tail.
	t.Run("FullBatches", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{clevertap: fake.CleverTapOptions{Slow: 20 * time.Millisecond}})
		b.connectCleverTap("customer_id")
		b.define("clevertap", "wallet_points_rewarded", "")
		const n = 10_000
		b.queue(n, 100, time.Minute)
		b.quietProfiles()
		for _, id := range []string{"process-1", "process-2"} {
			b.run(forward.RunnerOptions{ID: id})
		}
		b.waitStatus(3*time.Minute, map[string]int{"sent": n})
		var sizes []int
		records, full := 0, 0
		for _, u := range b.ct.Uploads() {
			if len(u.Records) > 0 && u.Records[0].(map[string]any)["type"] == "event" {
				sizes = append(sizes, len(u.Records))
				records += len(u.Records)
				if len(u.Records) == 1000 {
					full++
				}
			}
		}
		// Claims racing split a claim: the eight tasks of two runners
		// claim at once, and on a loaded machine a claim can find part
		// of the rows locked by another's (seen: 7 of 12 uploads full,
		// [1000 ×6, 266, 225, 845, 719, 945, 1000]). Batches fill, but a
		// round of racing claims may leave one partial upload per task:
		// at most n/1000 + 8 uploads, and most of them full.
		tasks := 8
		if records != n || len(sizes) > n/1000+tasks || full*2 < len(sizes) {
			t.Fatalf("%d records in event uploads of %v: want %d, at most %d uploads, at least half of them full", records, sizes, n, n/1000+tasks)
		}
		t.Logf("event uploads of %v records", sizes)
	})
	// A stream of events while an upload is in flight waits for it and
	// goes in one upload, not one small upload per arrival: events come
	// in five transactions (five wake-ups) during a 3 s upload.
	t.Run("StreamFillsBatches", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{clevertap: fake.CleverTapOptions{Slow: 3 * time.Second}})
		b.connectCleverTap("customer_id")
		b.define("clevertap", "wallet_points_rewarded", "")
		base, err := b.benchCustomers(10)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.queueFor(base, 10, 0, 10, time.Second); err != nil {
			t.Fatal(err)
		}
		b.quietProfiles()
		b.run(forward.RunnerOptions{CleverTapLinger: 10 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := b.ct.WaitForInFlight(ctx, 1); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if err := b.queueFor(base, 10, 10+100*i, 100, time.Second); err != nil {
				t.Fatal(err)
			}
		}
		b.quietProfiles()
		b.waitStatus(time.Minute, map[string]int{"sent": 510})
		var sizes []int
		for _, u := range b.ct.Uploads() {
			if len(u.Records) > 0 && u.Records[0].(map[string]any)["type"] == "event" {
				sizes = append(sizes, len(u.Records))
			}
		}
		// 2 when the five inserts land during the first upload; 3 if the
		// machine is so slow that one lands during the second.
		if len(sizes) > 3 {
			t.Fatalf("event uploads of %v records: the stream went in small uploads", sizes)
		}
		t.Logf("event uploads of %v records", sizes)
	})
	// A slot is renewed while its upload runs: with one slot whose lease
	// (300 ms) is much shorter than an upload (1.5 s), a second runner
	// never starts an upload beside the first.
	t.Run("SlotRenewedWhileUploading", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{clevertap: fake.CleverTapOptions{Slow: 1500 * time.Millisecond}})
		b.connectCleverTap("customer_id")
		b.define("clevertap", "wallet_points_rewarded", "")
		b.queue(30, 3, time.Minute)
		b.quietProfiles()
		opts := forward.RunnerOptions{CleverTapBatch: 10, CleverTapInFlight: 1, CleverTapSlotTTL: 300 * time.Millisecond, CleverTapLinger: -1}
		for _, id := range []string{"process-1", "process-2"} {
			opts.ID = id
			b.run(opts)
		}
		b.waitStatus(time.Minute, map[string]int{"sent": 30})
		if m := b.ct.MaxInFlight(); m != 1 || b.ctCount.count(429) != 0 {
			t.Fatalf("max in flight %d (one slot), %d 429s", m, b.ctCount.count(429))
		}
	})
	// A killed process's slots come back by themselves within the slot
	// TTL: every slot held by holders that are gone, with the default 5 s
	// TTL (what a kill -9 leaves), does not stop delivery.
	t.Run("DeadHoldersSlotsComeBack", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.connectCleverTap("customer_id")
		b.define("clevertap", "wallet_points_rewarded", "")
		for i := range 10 {
			if _, ok, err := b.st.AcquireLease(context.Background(), "clevertap:"+ctRegion+":"+ctAccount, 10,
				fmt.Sprintf("killed-runner:%d", i), 5*time.Second); err != nil || !ok {
				t.Fatalf("taking slot %d: %v %v", i, ok, err)
			}
		}
		if _, ok, err := b.st.AcquireLease(context.Background(), "clevertap:"+ctRegion+":"+ctAccount, 10, "other", time.Second); err != nil || ok {
			t.Fatalf("an eleventh slot: %v %v", ok, err)
		}
		b.queue(50, 5, time.Minute)
		b.quietProfiles()
		b.run(forward.RunnerOptions{})
		b.waitStatus(30*time.Second, map[string]int{"sent": 50})
	})
}

// TestRunner_KlaviyoBulkOnlyAboveSteady: single events go while the events
// budget lasts; only once its steady window is spent do the rest go in
// bulk jobs, which are "unconfirmed". The fake enforces Klaviyo's limits
// (429 when over); the runner never draws one.
func TestRunner_KlaviyoBulkOnlyAboveSteady(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.connectKlaviyo("email")
	b.define("klaviyo", "wallet_points_rewarded", "")
	for i := range 5 {
		b.events(b.customer(uniqueShopifyID(), fmt.Sprintf("steady%d@example.com", i), ""), rewarded(200, "")...)
	}
	b.quietProfiles()
	// A small steady limit, so the test does not send 3,500 events first.
	rate := klaviyo.Rate{Burst: 100, Steady: 300}
	b.run(forward.RunnerOptions{EventsRate: rate})
	b.waitFor(time.Minute, "1000 deliveries settled", func() (bool, string) {
		got := b.counts()
		return got["sent"]+got["unconfirmed"] == 1000, fmt.Sprint(got)
	})
	singlesBefore, firstBulk := 0, -1
	for i, r := range b.kl.Requests() {
		switch r.Path {
		case "/api/events/", "/api/events":
			if firstBulk < 0 {
				singlesBefore++
			}
		case "/api/event-bulk-create-jobs/", "/api/event-bulk-create-jobs":
			if firstBulk < 0 {
				firstBulk = i
			}
		}
	}
	bulk := 0
	for _, e := range b.kl.Events() {
		if e.Bulk {
			bulk++
		}
	}
	if firstBulk < 0 || bulk == 0 {
		t.Fatal("no bulk job above the steady limit")
	}
	if singlesBefore < rate.Steady {
		t.Fatalf("the first bulk job came after %d single events, before the steady limit (%d) was spent", singlesBefore, rate.Steady)
	}
	if got := b.counts(); got["unconfirmed"] != bulk || got["sent"] != 1000-bulk {
		t.Fatalf("deliveries %v, want %d unconfirmed (the bulk ones) and the rest sent", got, bulk)
	}
	if len(distinctKlaviyo(b.kl.Events())) != 1000 || b.kl.Duplicates() != 0 || b.klCount.count(429) != 0 {
		t.Fatalf("%d distinct, %d duplicates, %d 429s", len(distinctKlaviyo(b.kl.Events())), b.kl.Duplicates(), b.klCount.count(429))
	}
	t.Logf("%d single events before the first bulk job; %d of 1000 events in bulk jobs", singlesBefore, bulk)
}
