package klaviyo_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/klaviyo"
)

const reportKey = "pk_report000000000000000000000000000" // metrics:read only

func withReportKey(o *fake.KlaviyoOptions) {
	o.Keys = append(o.Keys, fake.KlaviyoKey{Key: reportKey, Scopes: []string{"metrics:read"}})
}

func TestClient_Metrics(t *testing.T) {
	t.Parallel()
	b := setup(t, withReportKey)
	// 205 metrics: two pages of GET /api/metrics, the second through the
	// next link, which names Klaviyo's host and must be followed on ours.
	var flows []string
	for i := 0; i < 205; i++ {
		flows = append(flows, b.fake.AddFlow(fake.KlaviyoFlow{Name: fmt.Sprintf("Flow %d", i), TriggerMetric: fmt.Sprintf("metric %03d", i)}))
	}
	extra := b.fake.AddFlow(fake.KlaviyoFlow{Name: "Second on 204", TriggerMetric: "metric 204"})
	pages := 0
	m, err := b.client(reportKey).Metrics(context.Background(), func(context.Context) error { pages++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if pages != 2 || len(m.Metrics) != 205 || len(m.Flows) != 206 {
		t.Fatalf("%d pages, %d metrics, %d flows", pages, len(m.Metrics), len(m.Flows))
	}
	last, ok := m.ByName("metric 204")
	if !ok || len(last.FlowIDs) != 2 || last.FlowIDs[0] != flows[204] || last.FlowIDs[1] != extra || m.Flows[extra].TriggerType != "Metric" {
		t.Fatalf("metric 204 = %+v, flows %+v", last, m.Flows[extra])
	}

	t.Run("MissingScope", func(t *testing.T) {
		_, err := b.client(eventsKey).Metrics(context.Background(), nil)
		var ae *klaviyo.APIError
		if !errors.As(err, &ae) || !ae.MissingScope() {
			t.Fatalf("events-only key: %v", err)
		}
	})
}

func TestClient_MetricAggregate(t *testing.T) {
	t.Parallel()
	b := setup(t, withReportKey)
	ny, _ := time.LoadLocation("America/New_York")
	f1 := b.fake.AddFlow(fake.KlaviyoFlow{Name: "A", TriggerMetric: "wallet_points_rewarded"})
	f2 := b.fake.AddFlow(fake.KlaviyoFlow{Name: "B", TriggerMetric: "other"})
	b.fake.RecordEngagement(fake.KlaviyoClickedEmail, f1, time.Date(2026, 11, 2, 3, 0, 0, 0, time.UTC), 2) // Nov 1 in New York
	b.fake.RecordEngagement(fake.KlaviyoClickedEmail, f1, time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC), 1)
	b.fake.RecordEngagement(fake.KlaviyoClickedEmail, f2, time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC), 9)
	agg, err := b.client(reportKey).MetricAggregate(context.Background(), klaviyo.AggregateQuery{
		MetricID: b.fake.MetricID(fake.KlaviyoClickedEmail),
		From:     time.Date(2026, 11, 1, 0, 0, 0, 0, ny), To: time.Date(2026, 11, 3, 0, 0, 0, 0, ny),
		Timezone: "America/New_York", FlowIDs: []string{f1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(agg.Dates) != 2 || !agg.Dates[0].Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, ny)) {
		t.Fatalf("dates %v", agg.Dates)
	}
	if got := agg.ByFlow[f1]; len(got) != 2 || got[0] != 2 || got[1] != 1 || len(agg.ByFlow) != 1 {
		t.Fatalf("by flow %v", agg.ByFlow)
	}

	t.Run("Throttled", func(t *testing.T) {
		b.fake.ThrottleNext(1, true)
		_, err := b.client(reportKey).MetricAggregate(context.Background(), klaviyo.AggregateQuery{
			MetricID: b.fake.MetricID(fake.KlaviyoClickedEmail), From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
		})
		var ae *klaviyo.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests || ae.RetryAfter != time.Second {
			t.Fatalf("throttled: %v", err)
		}
	})
}
