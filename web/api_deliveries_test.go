package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/store"
)

// deliveryKeys are the §6 keys of a delivery.
var deliveryKeys = []string{"id", "event_id", "event", "integration", "status", "attempts", "last_status_code", "last_error", "customer_id", "created_at", "sent_at"}

var statusNames = []string{"sent", "failed", "skipped", "pending", "late"}

// deliveriesFixture is a shop in New York with both sinks connected and
// deliveries in every status: ten events of two kinds to Klaviyo and
// CleverTap, spread over three local days around a DST change, plus two
// from ten days before "now" and one from an hour ago.
type deliveriesFixture struct {
	b      *apiBundle
	sh     *store.Shop
	tok    string
	ny     *time.Location
	cust   testCustomer
	other  testCustomer
	byID   map[int64]deliveryRow
	recent int64 // the delivery created an hour ago
}

type deliveryRow struct {
	kind, status, event string
	created             time.Time
	customer            int64
}

func setupDeliveries(t *testing.T) *deliveriesFixture {
	t.Helper()
	b := setupAPI(t)
	sh := b.install(t, "shop-a.myshopify.com")
	if err := b.st.UpdateShopInfo(context.Background(), sh.ID, "Shop A", "", "USD", "America/New_York"); err != nil {
		t.Fatal(err)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	f := &deliveriesFixture{b: b, sh: sh, tok: b.token(sh.Domain), ny: ny, byID: map[int64]deliveryRow{}}
	b.connectKlaviyo(t, sh, klaviyoKeyA)
	b.connectCleverTap(t, sh, ctAccountA, ctPasscodeA)
	b.define(t, sh, "klaviyo", "wallet_points_rewarded")
	b.define(t, sh, "klaviyo", "coupon_created")
	b.define(t, sh, "clevertap", "wallet_points_rewarded")
	f.cust = b.customer(t, sh, 6_100_000_001, "ada@example.com")
	f.other = b.customer(t, sh, 6_100_000_002, "bob@example.com")

	// 2025-03-09 02:00 is the DST start in New York: that local day is 23 h.
	base := time.Date(2025, 3, 8, 9, 0, 0, 0, ny)
	keys := []string{"wallet_points_rewarded", "coupon_created"}
	i := 0
	for _, c := range []testCustomer{f.cust, f.other} {
		for n := 0; n < 5; n++ {
			key := keys[n%2]
			id := b.emit(t, sh, c, key)[0]
			kinds := []string{"klaviyo"}
			if key == "wallet_points_rewarded" {
				kinds = append(kinds, "clevertap")
			}
			for _, kind := range kinds {
				created := base.Add(time.Duration(i) * 3 * time.Hour)
				status := statusNames[i%len(statusNames)]
				did := b.setDelivery(t, sh, id, kind, status, created)
				f.byID[did] = deliveryRow{kind: kind, status: status, event: key, created: created, customer: c.shopifyID}
				i++
			}
		}
	}
	now := b.clock.Now()
	for _, created := range []time.Time{now.Add(-10 * 24 * time.Hour), now.Add(-10*24*time.Hour - time.Minute)} {
		id := b.emit(t, sh, f.cust, "coupon_created")[0]
		did := b.setDelivery(t, sh, id, "klaviyo", "failed", created)
		f.byID[did] = deliveryRow{kind: "klaviyo", status: "failed", event: "coupon_created", created: created, customer: f.cust.shopifyID}
	}
	id := b.emit(t, sh, f.cust, "coupon_created")[0]
	f.recent = b.setDelivery(t, sh, id, "klaviyo", "sent", now.Add(-time.Hour))
	f.byID[f.recent] = deliveryRow{kind: "klaviyo", status: "sent", event: "coupon_created", created: now.Add(-time.Hour), customer: f.cust.shopifyID}
	return f
}

// count counts the fixture's rows matching keep, per status.
func (f *deliveriesFixture) count(keep func(deliveryRow) bool) map[string]float64 {
	out := map[string]float64{}
	for _, s := range statusNames {
		out[s] = 0
	}
	for _, r := range f.byID {
		if keep(r) {
			out[r.status]++
		}
	}
	return out
}

func (f *deliveriesFixture) list(t *testing.T, query string) []map[string]any {
	t.Helper()
	rec := f.b.call(http.MethodGet, "/api/v1/deliveries?"+query, f.tok, nil)
	requireStatus(t, rec, http.StatusOK)
	return decodeJSON[[]map[string]any](t, rec)
}

func TestAPI_Deliveries(t *testing.T) {
	t.Parallel()
	f := setupDeliveries(t)
	b, tok := f.b, f.tok

	t.Run("ListShape", func(t *testing.T) {
		all := f.list(t, "limit=500")
		if len(all) != len(f.byID) {
			t.Fatalf("list has %d rows, want %d", len(all), len(f.byID))
		}
		prev := int64(1 << 62)
		for _, d := range all {
			requireKeys(t, "delivery", d, deliveryKeys...)
			id := int64(d["id"].(float64))
			if id >= prev {
				t.Errorf("not newest first: %d after %d", id, prev)
			}
			prev = id
			want, ok := f.byID[id]
			if !ok {
				t.Fatalf("unknown delivery %d", id)
			}
			created, _ := time.Parse(time.RFC3339Nano, d["created_at"].(string))
			if d["integration"] != want.kind || d["status"] != want.status || d["event"] != want.event ||
				d["customer_id"] != itoa(want.customer) || !created.Equal(want.created) {
				t.Errorf("delivery %d = %v, want %+v", id, d, want)
			}
			if want.status == "failed" && (d["last_status_code"] != float64(400) || d["last_error"] != "refused") {
				t.Errorf("failed delivery %d = %v", id, d)
			}
			if (want.status == "sent") != (d["sent_at"] != nil) && want.status != "late" {
				t.Errorf("sent_at of %s delivery %d = %v", want.status, id, d["sent_at"])
			}
		}
	})

	t.Run("Filters", func(t *testing.T) {
		for _, tc := range []struct {
			query string
			keep  func(deliveryRow) bool
		}{
			{"status=failed", func(r deliveryRow) bool { return r.status == "failed" }},
			{"integration=clevertap", func(r deliveryRow) bool { return r.kind == "clevertap" }},
			{"event=coupon_created&integration=klaviyo", func(r deliveryRow) bool { return r.event == "coupon_created" && r.kind == "klaviyo" }},
			{"customer_id=" + itoa(f.other.shopifyID), func(r deliveryRow) bool { return r.customer == f.other.shopifyID }},
			{"from=" + url.QueryEscape(time.Date(2025, 3, 9, 0, 0, 0, 0, f.ny).Format(time.RFC3339)) + "&to=2025-03-10T00:00:00-04:00",
				func(r deliveryRow) bool {
					return !r.created.Before(time.Date(2025, 3, 9, 0, 0, 0, 0, f.ny)) && r.created.Before(time.Date(2025, 3, 10, 0, 0, 0, 0, f.ny))
				}},
		} {
			want := 0
			for _, n := range f.count(tc.keep) {
				want += int(n)
			}
			got := f.list(t, tc.query+"&limit=500")
			if len(got) != want || want == 0 {
				t.Errorf("%s: %d rows, want %d", tc.query, len(got), want)
			}
			for _, d := range got {
				if !tc.keep(f.byID[int64(d["id"].(float64))]) {
					t.Errorf("%s: row %v does not match", tc.query, d)
				}
			}
		}
		// An integration the shop has no deliveries for, but valid: empty.
		if got := f.list(t, "status=late&event=tier_upgraded"); len(got) != 0 {
			t.Errorf("empty filter = %v", got)
		}
	})

	t.Run("Paging", func(t *testing.T) {
		all := f.list(t, "limit=500")
		page1 := f.list(t, "limit=3")
		if len(page1) != 3 || page1[0]["id"] != all[0]["id"] || page1[2]["id"] != all[2]["id"] {
			t.Fatalf("page 1 = %v", page1)
		}
		page2 := f.list(t, "limit=3&before="+itoa(int64(page1[2]["id"].(float64))))
		if len(page2) != 3 || page2[0]["id"] != all[3]["id"] {
			t.Errorf("page 2 = %v", page2)
		}
		if got := f.list(t, ""); len(got) != min(50, len(all)) {
			t.Errorf("default page = %d rows", len(got))
		}
	})

	t.Run("BadParams", func(t *testing.T) {
		for _, tc := range []struct{ query, field string }{
			{"status=lost", "status"},
			{"event=points_party", "event"},
			{"integration=mailchimp", "integration"},
			{"customer_id=ada", "customer_id"},
			{"from=yesterday", "from"},
			{"to=2026-13-01T00:00:00Z", "to"},
			{"from=2026-03-09T00:00:00Z&to=2026-03-08T00:00:00Z", "from"},
			{"limit=0", "limit"},
			{"limit=501", "limit"},
			{"limit=ten", "limit"},
			{"before=-1", "before"},
		} {
			query, field := tc.query, tc.field
			t.Run(query, func(t *testing.T) {
				requireAPIError(t, b.call(http.MethodGet, "/api/v1/deliveries?"+query, tok, nil), http.StatusUnprocessableEntity, "invalid", field)
			})
		}
	})

	t.Run("RetryOne", func(t *testing.T) {
		var failed, sent int64
		for id, r := range f.byID {
			if r.status == "failed" && r.kind == "clevertap" {
				failed = id
			}
			if r.status == "sent" && id != f.recent {
				sent = id
			}
		}
		rec := b.call(http.MethodPost, "/api/v1/deliveries/"+itoa(failed)+"/retry", tok, nil)
		requireStatus(t, rec, http.StatusOK)
		d := decodeJSON[map[string]any](t, rec)
		requireKeys(t, "retried delivery", d, deliveryKeys...)
		if d["id"] != float64(failed) || d["status"] != "pending" || d["attempts"] != float64(0) {
			t.Errorf("retried = %v", d)
		}
		if got := b.deliveryStatus(t, failed); got != "pending" {
			t.Errorf("stored status = %q", got)
		}
		requireAPIError(t, b.call(http.MethodPost, "/api/v1/deliveries/"+itoa(failed)+"/retry", tok, nil), http.StatusConflict, "conflict", "")
		requireAPIError(t, b.call(http.MethodPost, "/api/v1/deliveries/"+itoa(sent)+"/retry", tok, nil), http.StatusConflict, "conflict", "")
		if got := b.deliveryStatus(t, sent); got != "sent" {
			t.Errorf("sent delivery now %q", got)
		}
		requireAPIError(t, b.call(http.MethodPost, "/api/v1/deliveries/987654321/retry", tok, nil), http.StatusNotFound, "not_found", "")
		requireAPIError(t, b.call(http.MethodPost, "/api/v1/deliveries/abc/retry", tok, nil), http.StatusUnprocessableEntity, "invalid", "id")
		f.byID[failed] = deliveryRow{kind: "clevertap", status: "pending", event: f.byID[failed].event, created: f.byID[failed].created, customer: f.byID[failed].customer}
	})

	t.Run("RetryAll", func(t *testing.T) {
		requireAPIError(t, b.call(http.MethodPost, "/api/v1/deliveries/retry?status=sent", tok, nil), http.StatusUnprocessableEntity, "invalid", "status")
		requireAPIError(t, b.call(http.MethodPost, "/api/v1/deliveries/retry?integration=mailchimp", tok, nil), http.StatusUnprocessableEntity, "invalid", "integration")

		want := f.count(func(r deliveryRow) bool { return r.kind == "klaviyo" })
		rec := b.call(http.MethodPost, "/api/v1/deliveries/retry?integration=klaviyo", tok, nil)
		requireStatus(t, rec, http.StatusOK)
		got := decodeJSON[map[string]any](t, rec)
		if got["retried"] != want["failed"]+want["skipped"] || want["failed"] == 0 || len(got) != 1 {
			t.Errorf("retry all = %v, want %v", got, want["failed"]+want["skipped"])
		}
		if left := f.list(t, "integration=klaviyo&status=failed"); len(left) != 0 {
			t.Errorf("klaviyo failed left: %v", left)
		}
		// CleverTap's skipped deliveries were not in the filter.
		ctSkipped := f.count(func(r deliveryRow) bool { return r.kind == "clevertap" })["skipped"]
		if left := f.list(t, "integration=clevertap&status=skipped"); float64(len(left)) != ctSkipped || ctSkipped == 0 {
			t.Errorf("clevertap skipped = %d, want %v untouched", len(left), ctSkipped)
		}
		// Nothing left to retry there.
		rec = b.call(http.MethodPost, "/api/v1/deliveries/retry?integration=klaviyo&status=failed", tok, nil)
		requireStatus(t, rec, http.StatusOK)
		if got := decodeJSON[map[string]any](t, rec); got["retried"] != float64(0) {
			t.Errorf("second retry all = %v", got)
		}
	})
}

func TestAPI_Stats(t *testing.T) {
	t.Parallel()
	f := setupDeliveries(t)
	b, tok := f.b, f.tok

	stats := func(t *testing.T, query string) map[string]any {
		t.Helper()
		rec := b.call(http.MethodGet, "/api/v1/stats?"+query, tok, nil)
		requireStatus(t, rec, http.StatusOK)
		s := decodeJSON[map[string]any](t, rec)
		requireKeys(t, "stats", s, "totals", "buckets")
		requireKeys(t, "totals", s["totals"].(map[string]any), statusNames...)
		return s
	}
	// reconcile checks totals against the delivery list of the same filter
	// and against the sum of the buckets.
	reconcile := func(t *testing.T, s map[string]any, listQuery string) {
		t.Helper()
		fromList := map[string]float64{}
		for _, d := range f.list(t, listQuery+"&limit=500") {
			fromList[d["status"].(string)]++
		}
		sums := map[string]float64{}
		for _, bk := range s["buckets"].([]any) {
			m := bk.(map[string]any)
			requireKeys(t, "bucket", m, append([]string{"start"}, statusNames...)...)
			for _, st := range statusNames {
				sums[st] += m[st].(float64)
			}
		}
		totals := s["totals"].(map[string]any)
		for _, st := range statusNames {
			if totals[st] != fromList[st] || sums[st] != fromList[st] {
				t.Errorf("%s: totals %v, buckets %v, deliveries %v", st, totals[st], sums[st], fromList[st])
			}
		}
		// by_event: per integration and event, from the same list.
		pairs := map[string]float64{}
		for _, d := range f.list(t, listQuery+"&limit=500") {
			pairs[d["integration"].(string)+"/"+d["event"].(string)+"/"+d["status"].(string)]++
		}
		seen := map[string]float64{}
		for _, pe := range s["by_event"].([]any) {
			m := pe.(map[string]any)
			requireKeys(t, "by_event", m, "integration", "event", "totals")
			for st, n := range m["totals"].(map[string]any) {
				if n.(float64) > 0 {
					seen[m["integration"].(string)+"/"+m["event"].(string)+"/"+st] = n.(float64)
				}
			}
		}
		if fmt.Sprint(seen) != fmt.Sprint(pairs) {
			t.Errorf("by_event %v, deliveries %v", seen, pairs)
		}
	}

	t.Run("DaysInShopZone", func(t *testing.T) {
		from, to := "2025-03-08T00:00:00-05:00", "2025-03-11T00:00:00-04:00"
		q := "from=" + url.QueryEscape(from) + "&to=" + url.QueryEscape(to)
		s := stats(t, q+"&bucket=day")
		reconcile(t, s, q)
		buckets := s["buckets"].([]any)
		wantStarts := []string{"2025-03-08T00:00:00-05:00", "2025-03-09T00:00:00-05:00", "2025-03-10T00:00:00-04:00"}
		if len(buckets) != len(wantStarts) {
			t.Fatalf("buckets = %v", buckets)
		}
		for i, w := range wantStarts {
			if got := buckets[i].(map[string]any)["start"]; got != w {
				t.Errorf("bucket %d start = %v, want %s", i, got, w)
			}
		}
		// Per day, from the rows themselves.
		for i := range wantStarts {
			start, _ := time.Parse(time.RFC3339, wantStarts[i])
			end := time.Date(start.In(f.ny).Year(), start.In(f.ny).Month(), start.In(f.ny).Day()+1, 0, 0, 0, 0, f.ny)
			want := f.count(func(r deliveryRow) bool { return !r.created.Before(start) && r.created.Before(end) })
			for _, st := range statusNames {
				if got := buckets[i].(map[string]any)[st]; got != want[st] {
					t.Errorf("day %s %s = %v, want %v", wantStarts[i], st, got, want[st])
				}
			}
		}
		if s["totals"].(map[string]any)["failed"] == float64(0) {
			t.Error("no failed deliveries counted")
		}
	})

	t.Run("HoursAndFilters", func(t *testing.T) {
		q := "from=2025-03-08T00:00:00-05:00&to=2025-03-09T00:00:00-05:00&integration=klaviyo&event=wallet_points_rewarded"
		s := stats(t, q+"&bucket=hour")
		if n := len(s["buckets"].([]any)); n != 24 {
			t.Errorf("hour buckets = %d", n)
		}
		reconcile(t, s, q)
		total := 0.0
		for _, v := range s["totals"].(map[string]any) {
			total += v.(float64)
		}
		if total == 0 {
			t.Error("filtered stats counted nothing")
		}
	})

	t.Run("DefaultsLastSevenDays", func(t *testing.T) {
		s := stats(t, "")
		totals := s["totals"].(map[string]any)
		// Only the delivery of an hour ago is inside the last 7 days.
		for _, st := range statusNames {
			want := 0.0
			if st == "sent" {
				want = 1
			}
			if totals[st] != want {
				t.Errorf("default %s = %v, want %v", st, totals[st], want)
			}
		}
		buckets := s["buckets"].([]any)
		if len(buckets) != 8 { // the partial local day 7 days ago through today
			t.Errorf("default buckets = %d", len(buckets))
		}
		first, _ := time.Parse(time.RFC3339, buckets[0].(map[string]any)["start"].(string))
		if l := first.In(f.ny); l.Hour() != 0 || l.Minute() != 0 || b.clock.Now().Sub(first) > 8*24*time.Hour || b.clock.Now().Sub(first) < 7*24*time.Hour {
			t.Errorf("first bucket starts %v", first)
		}
	})

	t.Run("BadParams", func(t *testing.T) {
		for _, tc := range []struct{ query, field string }{
			{"bucket=week", "bucket"},
			{"integration=mailchimp", "integration"},
			{"event=points_party", "event"},
			{"from=last-week", "from"},
			{"to=now", "to"},
			{"from=2026-03-09T00:00:00Z&to=2026-03-08T00:00:00Z", "from"},
			{"from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&bucket=hour", "bucket"},
		} {
			query, field := tc.query, tc.field
			t.Run(query, func(t *testing.T) {
				requireAPIError(t, b.call(http.MethodGet, "/api/v1/stats?"+query, tok, nil), http.StatusUnprocessableEntity, "invalid", field)
			})
		}
	})
}
