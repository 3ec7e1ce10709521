package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/forward"
)

// TestAPI_StatsEngagement: GET /api/v1/stats carries opened and clicked
// where known (Klaviyo, once read), per day bucket and in the totals, and
// when they were read; CleverTap and hour buckets have none.
func TestAPI_StatsEngagement(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	ctx := context.Background()
	sh := b.install(t, "shop-a.myshopify.com")
	if err := b.st.UpdateShopInfo(ctx, sh.ID, "Shop A", "", "USD", "America/New_York"); err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	tok := b.token(sh.Domain)
	b.connectKlaviyo(t, sh, klaviyoKeyA)
	b.connectCleverTap(t, sh, ctAccountA, ctPasscodeA)
	b.define(t, sh, "klaviyo", "wallet_points_rewarded")
	b.define(t, sh, "klaviyo", "tier_upgraded")
	points := b.kl.AddFlow(fake.KlaviyoFlow{Name: "Points", TriggerMetric: "wallet_points_rewarded"})
	tier := b.kl.AddFlow(fake.KlaviyoFlow{Name: "Tier", TriggerMetric: "tier_upgraded"})
	now := b.clock.Now().In(ny)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, ny)
	// Per local day: opens and clicks recorded on the flows.
	want := map[string][2]int64{}
	record := func(metric, flow string, daysAgo, n int) {
		at := today.AddDate(0, 0, -daysAgo).Add(time.Hour)
		b.kl.RecordEngagement(metric, flow, at, n)
		w := want[at.Format(time.DateOnly)]
		if metric == fake.KlaviyoOpenedEmail {
			w[0] += int64(n)
		} else {
			w[1] += int64(n)
		}
		want[at.Format(time.DateOnly)] = w
	}
	record(fake.KlaviyoOpenedEmail, points, 0, 3)
	record(fake.KlaviyoOpenedEmail, tier, 2, 5)
	record(fake.KlaviyoClickedEmail, points, 2, 2)
	record(fake.KlaviyoClickedSMS, tier, 5, 1)

	from, to := today.AddDate(0, 0, -6), today.AddDate(0, 0, 1)
	q := "from=" + url.QueryEscape(from.Format(time.RFC3339)) + "&to=" + url.QueryEscape(to.Format(time.RFC3339))
	get := func(t *testing.T, query string) map[string]any {
		t.Helper()
		rec := b.call(http.MethodGet, "/api/v1/stats?"+query, tok, nil)
		requireStatus(t, rec, http.StatusOK)
		return decodeJSON[map[string]any](t, rec)
	}

	s := get(t, q)
	if _, ok := s["totals"].(map[string]any)["opened"]; ok || s["engagement_refreshed_at"] != nil {
		t.Fatalf("before any refresh: %v", s)
	}
	if _, ok := s["engagement_refreshed_at"]; !ok {
		t.Fatal("engagement_refreshed_at missing")
	}
	if _, err := b.engagement.Refresh(ctx, sh.ID, false); err != nil {
		t.Fatal(err)
	}

	s = get(t, q+"&bucket=day")
	requireKeys(t, "totals", s["totals"].(map[string]any), append(statusNames, "opened", "clicked")...)
	var sum [2]int64
	for _, bk := range s["buckets"].([]any) {
		m := bk.(map[string]any)
		start, _ := time.Parse(time.RFC3339, m["start"].(string))
		w := want[start.In(ny).Format(time.DateOnly)]
		if m["opened"] != float64(w[0]) || m["clicked"] != float64(w[1]) {
			t.Errorf("bucket %s: opened %v clicked %v, fake recorded %v", m["start"], m["opened"], m["clicked"], w)
		}
		sum[0] += w[0]
		sum[1] += w[1]
	}
	totals := s["totals"].(map[string]any)
	if totals["opened"] != float64(sum[0]) || totals["clicked"] != float64(sum[1]) || sum[0] != 8 || sum[1] != 3 {
		t.Errorf("totals opened %v clicked %v, want %v", totals["opened"], totals["clicked"], sum)
	}
	if at, _ := time.Parse(time.RFC3339, s["engagement_refreshed_at"].(string)); !at.Equal(b.clock.Now()) {
		t.Errorf("engagement_refreshed_at = %v", s["engagement_refreshed_at"])
	}

	t.Run("OneEvent", func(t *testing.T) {
		s := get(t, q+"&event=tier_upgraded")
		if tot := s["totals"].(map[string]any); tot["opened"] != float64(5) || tot["clicked"] != float64(1) {
			t.Errorf("tier_upgraded totals %v", tot)
		}
	})
	t.Run("CleverTapUnknown", func(t *testing.T) {
		s := get(t, q+"&integration=clevertap")
		if _, ok := s["totals"].(map[string]any)["opened"]; ok {
			t.Errorf("clevertap totals carry opens: %v", s["totals"])
		}
		for _, bk := range s["buckets"].([]any) {
			if _, ok := bk.(map[string]any)["opened"]; ok {
				t.Fatalf("clevertap bucket carries opens: %v", bk)
			}
		}
	})
	t.Run("HourBucketsHaveNone", func(t *testing.T) {
		s := get(t, "from="+url.QueryEscape(today.Format(time.RFC3339))+"&to="+url.QueryEscape(to.Format(time.RFC3339))+"&bucket=hour")
		for _, bk := range s["buckets"].([]any) {
			if _, ok := bk.(map[string]any)["opened"]; ok {
				t.Fatalf("hour bucket carries opens: %v", bk)
			}
		}
		if tot := s["totals"].(map[string]any); tot["opened"] != float64(3) {
			t.Errorf("today's totals %v, want the day's 3 opens", tot)
		}
	})
}

// TestPageStats_Engagement: the Stats page shows opens and clicks per
// event after "Refresh now", with when they were read and a chart per day;
// CleverTap rows say it cannot report them.
func TestPageStats_Engagement(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	ctx := context.Background()
	if v, err := b.forward.ConnectKlaviyo(ctx, b.shop.ID, forward.KlaviyoInput{CommonProperty: "email", PrivateAPIKey: pageKlaviyoKey}); err != nil || v.Status != "active" {
		t.Fatalf("connect: %+v %v", v, err)
	}
	b.connectCleverTap(t)
	b.createEvent(t, "klaviyo", "wallet_points_rewarded")
	b.createEvent(t, "clevertap", "wallet_points_rewarded")
	b.credit(t, 10)
	loc := b.shop.Location()
	now := b.clock.Now().In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	flow := b.kl.AddFlow(fake.KlaviyoFlow{Name: "Points earned", TriggerMetric: "wallet_points_rewarded"})
	b.kl.RecordEngagement(fake.KlaviyoOpenedEmail, flow, today.AddDate(0, 0, -1).Add(9*time.Hour), 4)
	b.kl.RecordEngagement(fake.KlaviyoClickedEmail, flow, today.Add(time.Minute), 2)

	rec, d := b.page(t, pageShop, "/app/stats")
	requireStatus(t, rec, http.StatusOK)
	panel := d.Find(`[data-testid="engagement-panel"]`)
	if !strings.Contains(pageText(panel.Find(`[data-testid="engagement-refreshed"]`)), "Not read from Klaviyo yet") {
		t.Errorf("before refresh: %q", pageText(panel))
	}
	if d.Find(`[data-testid="stats-total-opened"]`).Length() != 0 {
		t.Error("opens shown before they were read")
	}
	kl := d.Find(`[data-testid="stats-row"][data-integration="klaviyo"]`)
	if got := pageText(kl.Find(`[data-testid="stats-cell-opened"]`)); got != "–" {
		t.Errorf("klaviyo row opened before refresh = %q", got)
	}
	if !strings.Contains(pageText(panel.Find(`[data-testid="engagement-clevertap"]`)), "CleverTap does not report opens and clicks per triggering event") {
		t.Errorf("no CleverTap note: %q", pageText(panel))
	}

	rec, _ = b.submit(t, pageShop, formAction(t, d, `[data-testid="engagement-refresh-form"]`), url.Values{})
	requireRedirect(t, rec, "/app/stats", "engagement-refresh")
	b.mu.Lock()
	refreshed := len(b.refreshes) == 1 && b.refreshes[0] == b.shop.ID
	b.mu.Unlock()
	if !refreshed {
		t.Fatalf("refreshes %v", b.refreshes)
	}

	_, d = b.page(t, pageShop, "/app/stats")
	for id, want := range map[string]string{"stats-total-opened": "4", "stats-total-clicked": "2"} {
		if got := pageText(d.Find(`[data-testid="` + id + `"] [data-testid="count"]`)); got != want {
			t.Errorf("%s = %q, want %s", id, got, want)
		}
	}
	kl = d.Find(`[data-testid="stats-row"][data-integration="klaviyo"]`)
	ct := d.Find(`[data-testid="stats-row"][data-integration="clevertap"]`)
	if pageText(kl.Find(`[data-testid="stats-cell-opened"]`)) != "4" || pageText(kl.Find(`[data-testid="stats-cell-clicked"]`)) != "2" ||
		pageText(ct.Find(`[data-testid="stats-cell-opened"]`)) != "n/a" {
		t.Errorf("rows: klaviyo %q, clevertap %q", pageText(kl), pageText(ct))
	}
	if got := pageText(d.Find(`[data-testid="engagement-refreshed"]`)); !strings.Contains(got, "Last refreshed "+b.clock.Now().In(loc).Format("2 Jan 2006, 15:04")) {
		t.Errorf("refreshed = %q", got)
	}
	svg := d.Find(`[data-testid="engagement-chart-svg"]`)
	if n := svg.Find(`g.bar`).Length(); n != 7 {
		t.Errorf("engagement bars = %d, want 7", n)
	}
	if label, _ := svg.Attr("aria-label"); !strings.Contains(label, "4 opens and 2 clicks") {
		t.Errorf("aria-label %q", label)
	}
	if n := svg.Find(`rect[data-series="opened"]`).Length(); n != 1 {
		t.Errorf("opened segments = %d", n)
	}

	// By hour: the totals cover whole days, and the page says so.
	_, d = b.page(t, pageShop, "/app/stats?range=24h")
	if d.Find(`[data-testid="engagement-hour-note"]`).Length() != 1 || d.Find(`[data-testid="engagement-chart-svg"]`).Length() != 0 {
		t.Error("24h view: no hour note, or a daily chart")
	}
	// Only CleverTap: no Klaviyo numbers, only the note.
	_, d = b.page(t, pageShop, "/app/stats?integration=clevertap")
	if d.Find(`[data-testid="stats-total-opened"]`).Length() != 0 || d.Find(`[data-testid="engagement-clevertap"]`).Length() != 1 {
		t.Error("clevertap view shows Klaviyo opens or lacks the note")
	}
	// Shop B sees none of it.
	_, d = b.page(t, pageOtherShop, "/app/stats")
	if d.Find(`[data-testid="engagement-panel"]`).Length() != 0 {
		t.Error("shop B sees an engagement panel")
	}
}
