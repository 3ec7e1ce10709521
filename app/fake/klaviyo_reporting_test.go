package fake_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/fake"
)

// aggregate is a valid metric-aggregates body (sinks.md §1.9).
func aggregate(metricID string, mutate ...func(attrs map[string]any)) map[string]any {
	attrs := map[string]any{
		"metric_id": metricID, "measurements": []string{"count", "unique"}, "interval": "day", "timezone": "UTC",
		"filter": []string{"greater-or-equal(datetime,2026-11-01T00:00:00)", "less-than(datetime,2026-11-04T00:00:00)"},
		"by":     []string{"$attributed_flow"},
	}
	for _, m := range mutate {
		m(attrs)
	}
	return map[string]any{"data": map[string]any{"type": "metric-aggregate", "attributes": attrs}}
}

func firstError(t *testing.T, r response) map[string]any {
	t.Helper()
	errs, _ := r.JSON(t)["errors"].([]any)
	if len(errs) == 0 {
		t.Fatalf("no errors in %s", r.Body)
	}
	return errs[0].(map[string]any)
}

// withMetricsRead grants the main test key metrics:read.
func withMetricsRead(o *fake.KlaviyoOptions) {
	o.Keys[0].Scopes = append(o.Keys[0].Scopes, "metrics:read")
}

func TestKlaviyo_Metrics(t *testing.T) {
	t.Parallel()
	b := setupKlaviyo(t, withMetricsRead)
	if r := b.post(t, "/api/events", event()); r.Status != http.StatusAccepted {
		t.Fatalf("event: %d %s", r.Status, r.Body)
	}
	f1 := b.fake.AddFlow(fake.KlaviyoFlow{Name: "Points", TriggerMetric: "Loyalty Points Earned"})
	f2 := b.fake.AddFlow(fake.KlaviyoFlow{Name: "Points 2", TriggerMetric: "Loyalty Points Earned"})
	b.fake.RecordEngagement(fake.KlaviyoOpenedEmail, f1, time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC), 2)

	r := do(t, "GET", b.srv.URL+"/api/metrics/?include=flow-triggers", nil, klaviyoHeaders()...)
	if r.Status != http.StatusOK {
		t.Fatalf("metrics: %d %s", r.Status, r.Body)
	}
	doc := r.JSON(t)
	data := doc["data"].([]any)
	if len(data) != 2 {
		t.Fatalf("metrics %s", r.Body)
	}
	m := data[0].(map[string]any)
	if m["attributes"].(map[string]any)["name"] != "Loyalty Points Earned" || m["id"] != b.fake.MetricID("Loyalty Points Earned") {
		t.Fatalf("first metric %v", m)
	}
	triggers := m["relationships"].(map[string]any)["flow-triggers"].(map[string]any)["data"].([]any)
	if len(triggers) != 2 || triggers[0].(map[string]any)["id"] != f1 || triggers[1].(map[string]any)["id"] != f2 {
		t.Fatalf("flow-triggers %v", triggers)
	}
	if inc := doc["included"].([]any); len(inc) != 2 || inc[0].(map[string]any)["attributes"].(map[string]any)["trigger_type"] != "Metric" {
		t.Fatalf("included %v", inc)
	}

	t.Run("FilterByIntegration", func(t *testing.T) {
		r := do(t, "GET", b.srv.URL+"/api/metrics?filter=equals(integration.name,'Klaviyo')", nil, klaviyoHeaders()...)
		if data := r.JSON(t)["data"].([]any); r.Status != 200 || len(data) != 1 || data[0].(map[string]any)["attributes"].(map[string]any)["name"] != fake.KlaviyoOpenedEmail {
			t.Fatalf("filtered: %d %s", r.Status, r.Body)
		}
	})
	t.Run("FilterNotAllowed", func(t *testing.T) {
		// GET /api/metrics allows integration.name and .category with equals only.
		r := do(t, "GET", b.srv.URL+"/api/metrics?filter=equals(name,'Opened%20Email')", nil, klaviyoHeaders()...)
		if e := firstError(t, r); r.Status != 400 || e["code"] != "invalid" || e["source"].(map[string]any)["parameter"] != "filter" {
			t.Fatalf("filter on name: %d %s", r.Status, r.Body)
		}
	})
	t.Run("UnknownInclude", func(t *testing.T) {
		r := do(t, "GET", b.srv.URL+"/api/metrics?include=flows", nil, klaviyoHeaders()...)
		if r.Status != 400 || !strings.Contains(string(r.Body), "'flows' is not an allowed include") {
			t.Fatalf("include=flows: %d %s", r.Status, r.Body)
		}
	})
	t.Run("MissingScope", func(t *testing.T) {
		r := do(t, "GET", b.srv.URL+"/api/metrics", nil, "Authorization: Klaviyo-API-Key "+klaviyoNarrow, "revision: 2026-07-15")
		if r.Status != 403 {
			t.Fatalf("narrow key: %d %s", r.Status, r.Body)
		}
	})
	t.Run("Pages", func(t *testing.T) {
		for i := 0; i < 210; i++ {
			b.fake.AddFlow(fake.KlaviyoFlow{Name: "x", TriggerMetric: "Metric " + strings.Repeat("x", i%7) + string(rune('A'+i%26)) + strings.Repeat("y", i/26)})
		}
		r := do(t, "GET", b.srv.URL+"/api/metrics", nil, klaviyoHeaders()...)
		doc := r.JSON(t)
		next, _ := doc["links"].(map[string]any)["next"].(string)
		if len(doc["data"].([]any)) != 200 || !strings.HasPrefix(next, "https://a.klaviyo.com/api/metrics/?") {
			t.Fatalf("page 1: %d metrics, next %q", len(doc["data"].([]any)), next)
		}
		r = do(t, "GET", b.srv.URL+strings.TrimPrefix(next, "https://a.klaviyo.com"), nil, klaviyoHeaders()...)
		doc = r.JSON(t)
		if _, more := doc["links"].(map[string]any)["next"]; len(doc["data"].([]any)) != 12 || more {
			t.Fatalf("page 2: %s", r.Body)
		}
	})
}

func TestKlaviyo_MetricAggregates(t *testing.T) {
	t.Parallel()
	b := setupKlaviyo(t, withMetricsRead)
	f1 := b.fake.AddFlow(fake.KlaviyoFlow{Name: "Points", TriggerMetric: "wallet_points_rewarded"})
	f2 := b.fake.AddFlow(fake.KlaviyoFlow{Name: "Other", TriggerMetric: "Other"})
	ny, _ := time.LoadLocation("America/New_York")
	b.fake.RecordEngagement(fake.KlaviyoOpenedEmail, f1, time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), 3)
	b.fake.RecordEngagement(fake.KlaviyoOpenedEmail, f1, time.Date(2026, 11, 3, 2, 0, 0, 0, time.UTC), 1) // Nov 2 in New York
	b.fake.RecordEngagement(fake.KlaviyoOpenedEmail, f2, time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), 5)
	opened := b.fake.MetricID(fake.KlaviyoOpenedEmail)
	// query posts one aggregate a second of the fake's clock, under the
	// 3/s burst.
	query := func(body any) response {
		t.Helper()
		b.clock.Add(time.Second)
		return b.post(t, "/api/metric-aggregates", body)
	}

	r := query(aggregate(opened))
	if r.Status != http.StatusOK {
		t.Fatalf("aggregate: %d %s", r.Status, r.Body)
	}
	attrs := r.JSON(t)["data"].(map[string]any)["attributes"].(map[string]any)
	if d := attrs["dates"].([]any); len(d) != 3 || d[0] != "2026-11-01T00:00:00+00:00" {
		t.Fatalf("dates %v", d)
	}
	rows := attrs["data"].([]any)
	if len(rows) != 2 {
		t.Fatalf("rows %v", rows)
	}
	row := rows[0].(map[string]any)
	if dims := row["dimensions"].([]any); dims[0] != min(f1, f2) {
		t.Fatalf("rows not sorted by flow: %v", rows)
	}

	t.Run("TimezoneAndFlowFilter", func(t *testing.T) {
		r := query(aggregate(opened, func(a map[string]any) {
			a["timezone"] = "America/New_York"
			a["filter"] = []string{"greater-or-equal(datetime,2026-11-01T00:00:00)", "less-than(datetime,2026-11-04T00:00:00)", `any($attributed_flow,["` + f1 + `"])`}
		}))
		attrs := r.JSON(t)["data"].(map[string]any)["attributes"].(map[string]any)
		rows := attrs["data"].([]any)
		if r.Status != 200 || len(rows) != 1 {
			t.Fatalf("filtered: %d %s", r.Status, r.Body)
		}
		counts := rows[0].(map[string]any)["measurements"].(map[string]any)["count"].([]any)
		want := []float64{3, 1, 0} // 02:00 UTC on Nov 3 is Nov 2 in New York
		for i, w := range want {
			if counts[i].(float64) != w {
				t.Fatalf("counts %v, want %v", counts, want)
			}
		}
		if d := attrs["dates"].([]any); d[0] != time.Date(2026, 11, 1, 0, 0, 0, 0, ny).Format("2006-01-02T15:04:05-07:00") {
			t.Fatalf("dates %v", d)
		}
	})
	t.Run("SchemaRequiresMetricID", func(t *testing.T) {
		r := query(aggregate(opened, func(a map[string]any) { delete(a, "metric_id") }))
		if e := firstError(t, r); r.Status != 400 || e["code"] != "invalid" || !strings.Contains(e["source"].(map[string]any)["pointer"].(string), "/data/attributes") {
			t.Fatalf("no metric_id: %d %s", r.Status, r.Body)
		}
	})
	t.Run("TimeRangeRequired", func(t *testing.T) {
		r := query(aggregate(opened, func(a map[string]any) {
			a["filter"] = []string{"greater-or-equal(datetime,2026-11-01T00:00:00)"}
		}))
		if e := firstError(t, r); r.Status != 400 || e["source"].(map[string]any)["pointer"] != "/data/attributes/filter" {
			t.Fatalf("open range: %d %s", r.Status, r.Body)
		}
	})
	t.Run("BadTimezone", func(t *testing.T) {
		r := query(aggregate(opened, func(a map[string]any) { a["timezone"] = "Mars/Olympus" }))
		if r.Status != 400 {
			t.Fatalf("timezone: %d %s", r.Status, r.Body)
		}
	})
	t.Run("UnknownMetric", func(t *testing.T) {
		if r := query(aggregate("NOPE00")); r.Status != 404 {
			t.Fatalf("unknown metric: %d %s", r.Status, r.Body)
		}
	})
	t.Run("RateLimit", func(t *testing.T) {
		// 3/s burst from the spec: the clock is frozen, so the fourth call
		// in this second is refused with Retry-After.
		b2 := setupKlaviyo(t, withMetricsRead)
		b2.fake.RecordEngagement(fake.KlaviyoClickedEmail, "F", time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), 1)
		id := b2.fake.MetricID(fake.KlaviyoClickedEmail)
		for i := 0; i < 3; i++ {
			if r := b2.post(t, "/api/metric-aggregates", aggregate(id)); r.Status != 200 || r.Header.Get("RateLimit-Limit") != "60" {
				t.Fatalf("call %d: %d %v", i, r.Status, r.Header)
			}
		}
		r := b2.post(t, "/api/metric-aggregates", aggregate(id))
		if e := firstError(t, r); r.Status != 429 || r.Header.Get("Retry-After") != "1" || e["code"] != "throttled" {
			t.Fatalf("fourth call: %d %v %s", r.Status, r.Header, r.Body)
		}
		b2.clock.Add(time.Second)
		if r := b2.post(t, "/api/metric-aggregates", aggregate(id)); r.Status != 200 {
			t.Fatalf("next second: %d", r.Status)
		}
	})
}
