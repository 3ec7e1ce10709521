package templates_test

import (
	"strconv"
	"testing"

	"github.com/perkbridge/perkbridge/templates"
)

// TestChart_Grouped: opens and clicks are drawn side by side from the axis,
// not stacked: each series' bar starts at the baseline and the scale is the
// largest single value.
func TestChart_Grouped(t *testing.T) {
	t.Parallel()
	c := templates.Chart{
		ID: "engagement-chart", Title: "Opens and clicks", Summary: "8 opens and 3 clicks.", BucketHeader: "Day", Grouped: true,
		Series: []templates.ChartSeries{{Key: "opened", Label: "Opened"}, {Key: "clicked", Label: "Clicked"}},
		Buckets: []templates.ChartBucket{
			{Label: "Mon 2", Full: "Monday 2 November 2026", Values: []int64{8, 3}},
			{Label: "Tue 3", Full: "Tuesday 3 November 2026", Values: []int64{0, 0}},
		},
	}
	d := render(t, templates.StatsPage(templates.StatsView{Shell: shell(false), Engagement: templates.EngagementPanel{
		Klaviyo: true, Known: true, Opened: 8, Clicked: 3, RefreshedAt: "3 Dec 2026, 14:05", RefreshURL: "/app/stats/engagement/refresh", Chart: c,
	}}))
	opened := d.Find(`[data-testid="engagement-chart-svg"] rect[data-series="opened"]`)
	clicked := d.Find(`[data-testid="engagement-chart-svg"] rect[data-series="clicked"]`)
	if opened.Length() != 1 || clicked.Length() != 1 {
		t.Fatalf("segments: %d opened, %d clicked", opened.Length(), clicked.Length())
	}
	f := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
	oy, oh := f(opened.AttrOr("y", "")), f(opened.AttrOr("height", ""))
	cy, ch := f(clicked.AttrOr("y", "")), f(clicked.AttrOr("height", ""))
	ox, ow, cx := f(opened.AttrOr("x", "")), f(opened.AttrOr("width", "")), f(clicked.AttrOr("x", ""))
	if oy+oh != cy+ch {
		t.Errorf("bars do not share the baseline: opened ends at %v, clicked at %v", oy+oh, cy+ch)
	}
	if cx < ox+ow {
		t.Errorf("clicked (x %v) overlaps opened (x %v, width %v)", cx, ox, ow)
	}
	if oh/ch < 2.6 || oh/ch > 2.7 {
		t.Errorf("heights %v and %v are not 8:3", oh, ch)
	}
	if got := text(d.Find(`[data-testid="stats-total-opened"] [data-testid="count"]`)); got != "8" {
		t.Errorf("opened total = %q", got)
	}
	if got := text(d.Find(`[data-testid="engagement-refreshed"]`)); got == "" || d.Find(`[data-testid="engagement-refresh-form"]`).AttrOr("action", "") != "/app/stats/engagement/refresh" {
		t.Errorf("refreshed %q, refresh form %q", got, d.Find(`[data-testid="engagement-refresh-form"]`).AttrOr("action", ""))
	}
}

// TestStatsPage_EngagementUnknown: no Klaviyo numbers yet and CleverTap
// only: no totals, dashes and "n/a" in the table, CleverTap's note.
func TestStatsPage_EngagementUnknown(t *testing.T) {
	t.Parallel()
	row := func(kind string, e templates.RowEngagement) templates.StatsRow {
		return templates.StatsRow{Integration: kind, IntegrationLabel: kind, Event: "wallet_points_rewarded", Total: 1, Engagement: e}
	}
	d := render(t, templates.StatsPage(templates.StatsView{Shell: shell(false),
		Rows:       []templates.StatsRow{row("clevertap", templates.RowEngagement{NotAvailable: true}), row("klaviyo", templates.RowEngagement{})},
		Engagement: templates.EngagementPanel{CleverTap: true, CleverTapURL: "https://in1.dashboard.clevertap.com/"},
	}))
	if d.Find(`[data-testid="stats-total-opened"]`).Length() != 0 || d.Find(`[data-testid="engagement-refresh-form"]`).Length() != 0 {
		t.Error("opens or a refresh button without Klaviyo")
	}
	if got := text(d.Find(`[data-testid="stats-row"][data-integration="clevertap"] [data-testid="stats-cell-opened"]`)); got != "n/a" {
		t.Errorf("clevertap opened = %q", got)
	}
	if got := text(d.Find(`[data-testid="stats-row"][data-integration="klaviyo"] [data-testid="stats-cell-clicked"]`)); got != "–" {
		t.Errorf("klaviyo clicked before a refresh = %q", got)
	}
	if href := d.Find(`[data-testid="engagement-clevertap"] a`).AttrOr("href", ""); href != "https://in1.dashboard.clevertap.com/" {
		t.Errorf("CleverTap link = %q", href)
	}
}
