package templates_test

import (
	"strings"
	"testing"

	"github.com/perkbridge/perkbridge/templates"
)

func statsChart() templates.Chart {
	return templates.Chart{
		ID: "stats-chart", Title: "Deliveries of all events to every integration", Summary: "3 sent, 1 failed.", BucketHeader: "Day",
		Series: []templates.ChartSeries{{Key: "sent", Label: "Sent"}, {Key: "failed", Label: "Failed"}},
		Buckets: []templates.ChartBucket{
			{Label: "Mon 2", Full: "Monday 2 November 2026", Values: []int64{2, 1}},
			{Label: "Tue 3", Full: "Tuesday 3 November 2026", Values: []int64{0, 0}},
			{Label: "Wed 4", Full: "Wednesday 4 November 2026", Values: []int64{1, 0}},
		},
	}
}

func TestStatsPage(t *testing.T) {
	t.Parallel()
	cell := func(status string, n int64) templates.StatCell {
		return templates.StatCell{Status: status, Count: n, URL: "/app/deliveries?status=" + status}
	}
	v := templates.StatsView{
		Shell: shell(false),
		Filter: templates.StatsFilter{
			Action: "/app/stats", Hidden: []templates.Param{{Name: "shop", Value: "shop-a.myshopify.com"}},
			Range: "custom", Ranges: []templates.Option{{Value: "7d", Label: "Last 7 days"}, {Value: "custom", Label: "Custom dates"}},
			From: "2026-11-05", To: "2026-11-01", Integrations: []templates.Option{{Value: "clevertap", Label: "CleverTap"}},
			Events: []templates.Option{{Value: "wallet_points_rewarded", Label: "wallet_points_rewarded"}},
			Errors: templates.FieldErrors{"to": "The last day must not be before the first."},
		},
		RangeLabel: "Last 7 days, by day · times in Europe/Berlin",
		Totals:     []templates.StatCell{cell("sent", 3), cell("late", 0), cell("pending", 0), cell("failed", 1), cell("skipped", 0)},
		Chart:      statsChart(),
		Rows: []templates.StatsRow{{Integration: "clevertap", IntegrationLabel: "CleverTap", Event: "wallet_points_rewarded", Total: 4,
			Cells: []templates.StatCell{cell("sent", 3), cell("late", 0), cell("pending", 0), cell("failed", 1), cell("skipped", 0)}}},
	}
	d := render(t, templates.StatsPage(v))
	if got := text(d.Find(`[data-testid="stats-total-sent"] [data-testid="count"]`)); got != "3" {
		t.Errorf("sent total = %q", got)
	}
	if href, _ := d.Find(`[data-testid="stats-total-failed"] a`).Attr("href"); href != "/app/deliveries?status=failed" {
		t.Errorf("failed link = %q", href)
	}
	if got := text(d.Find(`#stats-to-error`)); got != "The last day must not be before the first." {
		t.Errorf("to error = %q", got)
	}
	if v, _ := d.Find(`[data-testid="stats-filter"] input[type="hidden"][name="shop"]`).Attr("value"); v != "shop-a.myshopify.com" {
		t.Errorf("hidden shop = %q", v)
	}
	row := d.Find(`[data-testid="stats-row"]`)
	if href, _ := row.Find(`[data-testid="stats-cell-failed"] a`).Attr("href"); href != "/app/deliveries?status=failed" {
		t.Errorf("row failed link = %q", href)
	}
	if row.Find(`[data-testid="stats-cell-late"] a`).Length() != 0 {
		t.Error("a zero count is a link")
	}
	requireLabels(t, d, d.Find(`[data-testid="stats-filter"]`))

	// The chart: fixed size, accessible name, a bar per bucket and a table.
	svg := d.Find(`[data-testid="stats-chart-svg"]`)
	for attr, want := range map[string]string{"role": "img", "width": "720", "height": "200", "viewBox": "0 0 720 200"} {
		if got, _ := svg.Attr(attr); got != want {
			t.Errorf("svg %s = %q, want %q", attr, got, want)
		}
	}
	if label, _ := svg.Attr("aria-label"); label != "Deliveries of all events to every integration. 3 sent, 1 failed." {
		t.Errorf("aria-label = %q", label)
	}
	if got := svg.ChildrenFiltered("title").Text(); got != "Deliveries of all events to every integration" {
		t.Errorf("title = %q", got)
	}
	if n := svg.Find(`g.bar`).Length(); n != 3 {
		t.Errorf("bars = %d", n)
	}
	if n := svg.Find(`rect[data-series="sent"]`).Length(); n != 2 {
		t.Errorf("sent segments = %d (empty ones are not drawn)", n)
	}
	if n := svg.Find(`rect[data-series="failed"]`).Length(); n != 1 {
		t.Errorf("failed segments = %d", n)
	}
	if got := svg.Find(`g.bar`).Eq(0).ChildrenFiltered("title").Text(); got != "Monday 2 November 2026: 2 Sent, 1 Failed" {
		t.Errorf("bar tooltip = %q", got)
	}
	table := d.Find(`[data-testid="stats-chart-table"]`)
	if n := table.Find("tbody tr").Length(); n != 3 {
		t.Errorf("table rows = %d", n)
	}
	first := table.Find("tbody tr").Eq(0)
	if got := text(first.Find("th")) + "|" + text(first.Find("td").Eq(0)) + "|" + text(first.Find("td").Eq(1)); got != "Monday 2 November 2026|2|1" {
		t.Errorf("first table row = %q", got)
	}
	if d.Find(".chart-empty").Length() != 0 {
		t.Error("empty message on a chart with data")
	}

	// An empty period says so instead of drawing nothing.
	v.Chart.Buckets = []templates.ChartBucket{{Label: "Mon 2", Full: "Monday", Values: []int64{0, 0}}}
	v.Rows = nil
	d = render(t, templates.StatsPage(v))
	if !strings.Contains(d.Find(".chart-empty").Text(), "Nothing in this period") {
		t.Error("no empty message")
	}
	if d.Find(`[data-testid="stats-rows-empty"]`).Length() != 1 {
		t.Error("no empty rows message")
	}
}
