package engagement_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/engagement"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/vault"
)

const (
	testShop   = "engagement-test.myshopify.com"
	klaviyoKey = "pk_test_engagement_0123456789"
	shopZone   = "America/New_York"
)

// bundle is what an engagement test works with.
type bundle struct {
	t    *testing.T
	st   *store.Store
	fwd  *forward.Service
	kl   *fake.Klaviyo
	svc  *engagement.Service
	shop *store.Shop
	loc  *time.Location
	now  time.Time // the service's clock; tests move it
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{t: t}
	b.kl = fake.NewKlaviyo(fake.KlaviyoOptions{Keys: []fake.KlaviyoKey{{Key: klaviyoKey}}})
	srv := httptest.NewServer(b.kl)
	t.Cleanup(srv.Close)
	db := pgtest.NewDB(t)
	b.st = store.New(db.Gorm)
	v, err := vault.New([]byte("engagement-test-key-0123456789ab"))
	if err != nil {
		t.Fatal(err)
	}
	b.fwd = forward.New(b.st, v, nil, nil, forward.Options{KlaviyoOrigin: srv.URL, HTTPTimeout: 5 * time.Second})
	ctx := context.Background()
	b.shop, err = b.st.SaveInstall(ctx, testShop, store.Tokens{Scope: "read_customers", AccessToken: "sealed"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.st.Gorm().Exec("UPDATE shops SET iana_timezone = ? WHERE id = ?", shopZone, b.shop.ID).Error; err != nil {
		t.Fatal(err)
	}
	b.loc, _ = time.LoadLocation(shopZone)
	// Mid-morning in New York, so "today" and "yesterday" are plain.
	b.now = time.Date(2026, 11, 20, 10, 0, 0, 0, b.loc)
	b.svc = engagement.New(b.st, b.fwd, nil, engagement.Options{Every: 6 * time.Hour, Lookback: 30, Now: func() time.Time { return b.now }})
	if v, err := b.fwd.ConnectKlaviyo(ctx, b.shop.ID, forward.KlaviyoInput{CommonProperty: "email", PrivateAPIKey: klaviyoKey}); err != nil || v.Status != "active" {
		t.Fatalf("connect: %+v %v", v, err)
	}
	return b
}

func (b *bundle) define(ev, name string) {
	b.t.Helper()
	if _, err := b.fwd.CreateDefinition(context.Background(), b.shop.ID, forward.KindKlaviyo, forward.DefinitionInput{Event: ev, Name: name}); err != nil {
		b.t.Fatal(err)
	}
}

// day is local midnight of the day n days before b.now's day.
func (b *bundle) day(n int) time.Time {
	y, m, d := b.now.Date()
	return time.Date(y, m, d-n, 0, 0, 0, 0, b.loc)
}

// aggregateCalls returns the bodies of the metric-aggregates requests.
func (b *bundle) aggregateCalls() []map[string]any {
	var out []map[string]any
	for _, r := range b.kl.Requests() {
		if strings.HasPrefix(r.Path, "/api/metric-aggregates") {
			var doc map[string]any
			_ = json.Unmarshal(r.Body, &doc)
			out = append(out, doc["data"].(map[string]any)["attributes"].(map[string]any))
		}
	}
	return out
}

// recorded is one engagement record the test made, to compute what the
// stats must say independently of the code under test.
type recorded struct {
	event   string // the loyalty event whose flow got it ("" for a foreign flow)
	metric  string
	at      time.Time
	n       int
	clicked bool
}

func TestService_Refresh(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.define("wallet_points_rewarded", "")
	b.define("tier_upgraded", "Tier Up")
	// Two flows on the points metric add up; one on the renamed tier
	// metric; one on a metric the app did not create.
	pointsA := b.kl.AddFlow(fake.KlaviyoFlow{Name: "Points A", TriggerMetric: "wallet_points_rewarded"})
	pointsB := b.kl.AddFlow(fake.KlaviyoFlow{Name: "Points B", TriggerMetric: "wallet_points_rewarded"})
	tier := b.kl.AddFlow(fake.KlaviyoFlow{Name: "Tier", TriggerMetric: "Tier Up"})
	foreign := b.kl.AddFlow(fake.KlaviyoFlow{Name: "Welcome", TriggerMetric: "Subscribed to List"})
	flowEvent := map[string]string{pointsA: "wallet_points_rewarded", pointsB: "wallet_points_rewarded", tier: "tier_upgraded", foreign: ""}
	recs := []recorded{
		{metric: fake.KlaviyoOpenedEmail, at: b.day(3).Add(9 * time.Hour), n: 5},
		{metric: fake.KlaviyoClickedEmail, at: b.day(3).Add(10 * time.Hour), n: 2, clicked: true},
		{metric: fake.KlaviyoClickedSMS, at: b.day(2).Add(23*time.Hour + 30*time.Minute), n: 1, clicked: true}, // 04:30 UTC the next day
		{metric: fake.KlaviyoOpenedEmail, at: b.day(0).Add(8 * time.Hour), n: 3},
		{metric: fake.KlaviyoOpenedEmail, at: b.day(40), n: 9}, // before the lookback
	}
	var all []recorded
	for _, flow := range []string{pointsA, pointsB, tier, foreign} {
		for i, r := range recs {
			r.event = flowEvent[flow]
			r.n += i % 2 // not every flow equal
			b.kl.RecordEngagement(r.metric, flow, r.at, r.n)
			all = append(all, r)
		}
	}
	// Campaign engagement (no flow) never counts.
	b.kl.RecordEngagement(fake.KlaviyoOpenedEmail, "", b.day(1).Add(12*time.Hour), 50)

	rep, err := b.svc.Refresh(ctx, b.shop.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Flows != 3 || rep.Days != 2*30 {
		t.Fatalf("report %+v, want 3 flows and 60 days", rep)
	}
	calls := b.aggregateCalls()
	if len(calls) != 3 {
		t.Fatalf("%d metric-aggregates calls, want 3 (one per engagement metric)", len(calls))
	}
	for _, c := range calls {
		f, _ := json.Marshal(c["filter"])
		if strings.Contains(string(f), foreign) || !strings.Contains(string(f), pointsA) || c["timezone"] != shopZone {
			t.Fatalf("query %s: want the app's flows only, in the shop's zone", f)
		}
	}

	t.Run("ReconcilesPerEventAndDay", func(t *testing.T) {
		want := map[[2]string]engagement.Counts{}
		for _, r := range all {
			if r.event == "" || r.at.Before(b.day(29)) {
				continue
			}
			k := [2]string{r.event, r.at.In(b.loc).Format(time.DateOnly)}
			c := want[k]
			if r.clicked {
				c.Clicked += int64(r.n)
			} else {
				c.Opened += int64(r.n)
			}
			want[k] = c
		}
		for _, ev := range []string{"wallet_points_rewarded", "tier_upgraded"} {
			for n := 0; n < 30; n++ {
				st, err := b.svc.Stats(ctx, b.shop.ID, engagement.Filter{Event: ev, From: b.day(n), To: b.day(n - 1), Location: b.loc})
				if err != nil || !st.Known {
					t.Fatalf("%s day -%d: %+v %v", ev, n, st, err)
				}
				if w := want[[2]string{ev, b.day(n).Format(time.DateOnly)}]; st.Totals != w {
					t.Fatalf("%s on %s: %+v, fake recorded %+v", ev, b.day(n).Format(time.DateOnly), st.Totals, w)
				}
			}
		}
		// The SMS click at 23:30 local counts on its local day.
		if w := want[[2]string{"wallet_points_rewarded", b.day(2).Format(time.DateOnly)}]; w.Clicked == 0 {
			t.Fatal("fixture lost the late-evening click")
		}
		// The whole period: the sum of both events.
		st, _ := b.svc.Stats(ctx, b.shop.ID, engagement.Filter{From: b.day(6), To: b.day(-1), Location: b.loc})
		var sum engagement.Counts
		for k, c := range want {
			if k[1] >= b.day(6).Format(time.DateOnly) {
				sum.Opened += c.Opened
				sum.Clicked += c.Clicked
			}
		}
		if st.Totals != sum || st.Totals.Opened == 0 || st.ByEvent["tier_upgraded"] == (engagement.Counts{}) {
			t.Fatalf("week %+v, want %+v", st, sum)
		}
		if st.RefreshedAt == nil || !st.RefreshedAt.Equal(b.now) || st.Flows != 3 || st.LastError != "" {
			t.Fatalf("refresh state %+v", st)
		}
	})

	t.Run("CleverTapIsUnknown", func(t *testing.T) {
		st, err := b.svc.Stats(ctx, b.shop.ID, engagement.Filter{Integration: forward.KindCleverTap, From: b.day(6), To: b.day(-1), Location: b.loc})
		if err != nil || st.Known || st.Totals != (engagement.Counts{}) {
			t.Fatalf("clevertap %+v %v", st, err)
		}
	})

	t.Run("Cadence", func(t *testing.T) {
		before := len(b.aggregateCalls())
		// At once: every day is fresh; nothing is asked.
		if rep, err := b.svc.Refresh(ctx, b.shop.ID, false); err != nil || !rep.Skipped || len(b.aggregateCalls()) != before {
			t.Fatalf("immediate refresh %+v %v asked Klaviyo", rep, err)
		}
		// "Refresh now" pressed again within a minute of a read asks nothing.
		b.now = b.now.Add(30 * time.Second)
		if rep, err := b.svc.Refresh(ctx, b.shop.ID, true); err != nil || !rep.Skipped || len(b.aggregateCalls()) != before {
			t.Fatalf("forced refresh 30s after a read: %+v %v asked Klaviyo", rep, err)
		}
		// A minute on, it reads today and yesterday again.
		b.now = b.now.Add(time.Minute)
		if rep, err := b.svc.Refresh(ctx, b.shop.ID, true); err != nil || rep.Skipped || len(b.aggregateCalls()) != before+3 {
			t.Fatalf("forced refresh: %+v %v, %d calls", rep, err, len(b.aggregateCalls())-before)
		}
		before = len(b.aggregateCalls())
		// Six hours later: only today and yesterday, which may still change.
		b.now = b.now.Add(6 * time.Hour)
		if _, err := b.svc.Refresh(ctx, b.shop.ID, false); err != nil {
			t.Fatal(err)
		}
		calls := b.aggregateCalls()[before:]
		if len(calls) != 3 || !strings.Contains(rangeOf(calls[0]), b.day(1).Format("2006-01-02T15:04:05")) ||
			!strings.Contains(rangeOf(calls[0]), b.day(-1).Format("2006-01-02T15:04:05")) {
			t.Fatalf("six hours later: %d calls, range %s; want today and yesterday", len(calls), rangeOf(calls[0]))
		}
		// A late open on yesterday is picked up.
		b.kl.RecordEngagement(fake.KlaviyoOpenedEmail, tier, b.day(1).Add(20*time.Hour), 4)
		b.now = b.now.Add(6 * time.Hour)
		before = len(b.aggregateCalls())
		if _, err := b.svc.Refresh(ctx, b.shop.ID, false); err != nil {
			t.Fatal(err)
		}
		st, _ := b.svc.Stats(ctx, b.shop.ID, engagement.Filter{Event: "tier_upgraded", From: b.day(1), To: b.day(0), Location: b.loc})
		if st.Totals.Opened < 4 {
			t.Fatalf("late open not picked up: %+v", st.Totals)
		}
		// Two days on, yesterday and the day before are read once more
		// (now final), then never again.
		b.now = b.now.Add(48 * time.Hour)
		if _, err := b.svc.Refresh(ctx, b.shop.ID, false); err != nil {
			t.Fatal(err)
		}
		b.now = b.now.Add(6 * time.Hour)
		before = len(b.aggregateCalls())
		if _, err := b.svc.Refresh(ctx, b.shop.ID, false); err != nil {
			t.Fatal(err)
		}
		// The day before yesterday, read last time as yesterday, is read
		// once more; nothing older, which is final.
		calls = b.aggregateCalls()[before:]
		if len(calls) != 3 || !strings.Contains(rangeOf(calls[0]), "greater-or-equal(datetime,"+b.day(2).Format("2006-01-02T15:04:05")+")") {
			t.Fatalf("final days asked again: %s", rangeOf(calls[0]))
		}
		// A final day is not rewritten even when the sink changes its mind.
		old := b.day(10)
		b.kl.RecordEngagement(fake.KlaviyoOpenedEmail, pointsA, old.Add(time.Hour), 100)
		if _, err := b.svc.Refresh(ctx, b.shop.ID, true); err != nil {
			t.Fatal(err)
		}
		st, _ = b.svc.Stats(ctx, b.shop.ID, engagement.Filter{Event: "wallet_points_rewarded", From: old, To: old.AddDate(0, 0, 1), Location: b.loc})
		if st.Totals.Opened >= 100 {
			t.Fatalf("final day re-read: %+v", st.Totals)
		}
	})
}

func rangeOf(call map[string]any) string {
	f, _ := json.Marshal(call["filter"])
	return string(f)
}

func TestService_RefreshThrottled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.define("wallet_points_rewarded", "")
	flow := b.kl.AddFlow(fake.KlaviyoFlow{Name: "Points", TriggerMetric: "wallet_points_rewarded"})
	b.kl.RecordEngagement(fake.KlaviyoClickedEmail, flow, b.day(1).Add(time.Hour), 7)

	// The fake answers 429 with Retry-After: 1 to the first request.
	b.kl.ThrottleNext(1, true)
	_, err := b.svc.Refresh(ctx, b.shop.ID, false)
	var te *engagement.ThrottledError
	if !errors.As(err, &te) || te.Wait != time.Second {
		t.Fatalf("refresh under 429: %v, want a ThrottledError of 1s", err)
	}
	st, _ := b.svc.Stats(ctx, b.shop.ID, engagement.Filter{From: b.day(6), To: b.day(-1), Location: b.loc})
	if st.Known || !strings.Contains(st.LastError, "limiting") || st.RefreshedAt != nil {
		t.Fatalf("after the 429: %+v", st)
	}
	throttledAt := b.kl.Requests()[len(b.kl.Requests())-1].At

	// The retry waits out the pause the 429 set for the account, then
	// succeeds: no request reaches Klaviyo inside the pause.
	if _, err := b.svc.Refresh(ctx, b.shop.ID, false); err != nil {
		t.Fatal(err)
	}
	reqs := b.kl.Requests()
	var after int
	for _, r := range reqs {
		if r.At.After(throttledAt) {
			after++
			if r.At.Sub(throttledAt) < 900*time.Millisecond {
				t.Fatalf("request %s %s %v after the 429, inside its Retry-After", r.Method, r.Path, r.At.Sub(throttledAt))
			}
		}
	}
	if after == 0 {
		t.Fatal("no request after the pause")
	}
	st, _ = b.svc.Stats(ctx, b.shop.ID, engagement.Filter{From: b.day(6), To: b.day(-1), Location: b.loc})
	if !st.Known || st.Totals.Clicked != 7 || st.LastError != "" {
		t.Fatalf("after the retry: %+v", st)
	}

	t.Run("LongPauseSendsNothing", func(t *testing.T) {
		if err := b.st.PauseRate(ctx, "klaviyo:"+fakeAccount(t, b)+":metrics", time.Minute); err != nil {
			t.Fatal(err)
		}
		b.now = b.now.Add(7 * time.Hour) // today's numbers are due
		n := len(b.kl.Requests())
		_, err := b.svc.Refresh(ctx, b.shop.ID, false)
		if !errors.As(err, &te) || te.Wait < 30*time.Second {
			t.Fatalf("refresh in a long pause: %v", err)
		}
		if len(b.kl.Requests()) != n {
			t.Fatal("a request was sent during the pause")
		}
	})
}

// fakeAccount is the Klaviyo account id the integration recorded.
func fakeAccount(t *testing.T, b *bundle) string {
	t.Helper()
	in, err := b.st.Integration(context.Background(), b.shop.ID, forward.KindKlaviyo)
	if err != nil || in.AccountID == "" {
		t.Fatalf("integration %+v %v", in, err)
	}
	return in.AccountID
}

func TestService_Stats_OtherShopInvisible(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.define("wallet_points_rewarded", "")
	flow := b.kl.AddFlow(fake.KlaviyoFlow{Name: "Points", TriggerMetric: "wallet_points_rewarded"})
	b.kl.RecordEngagement(fake.KlaviyoOpenedEmail, flow, b.day(1).Add(time.Hour), 3)
	if _, err := b.svc.Refresh(ctx, b.shop.ID, false); err != nil {
		t.Fatal(err)
	}
	other, err := b.st.SaveInstall(ctx, "other-engagement.myshopify.com", store.Tokens{Scope: "read_customers", AccessToken: "sealed"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := b.svc.Stats(ctx, other.ID, engagement.Filter{From: b.day(6), To: b.day(-1), Location: b.loc})
	if err != nil || st.Known || st.Connected {
		t.Fatalf("other shop sees %+v %v", st, err)
	}
	if rep, err := b.svc.Refresh(ctx, other.ID, false); err != nil || !rep.Skipped {
		t.Fatalf("other shop refresh %+v %v", rep, err)
	}
	if _, err := b.st.EngagementRefreshOf(ctx, other.ID, 1); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("other shop refresh row: %v", err)
	}
}
