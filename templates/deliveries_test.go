package templates_test

import (
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/templates"
)

func TestDeliveriesPage(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	v := templates.DeliveriesView{
		Shell: shell(false),
		Filter: templates.DeliveryFilter{
			Action: "/app/deliveries", ClearURL: "/app/deliveries?shop=a", Status: "skipped", Statuses: templates.DeliveryStatuses(),
			Events: []templates.Option{{Value: "wallet_points_rewarded", Label: "wallet_points_rewarded"}}, Event: "wallet_points_rewarded",
			Integrations: []templates.Option{{Value: "klaviyo", Label: "Klaviyo"}}, Integration: "klaviyo", Customer: "7003",
			From: "2026-11-01", To: "2026-11-23",
		},
		Rows: []templates.DeliveryRow{
			{ID: 41, Event: "wallet_points_rewarded", IntegrationLabel: "Klaviyo", CustomerID: "7003", CustomerURL: "/app/customers/7003",
				Status: "skipped", Explanation: "Not sent: customer has no email address (phone-only customer).", CreatedAt: at, RetryURL: "/app/deliveries/41/retry"},
			{ID: 40, Event: "wallet_points_rewarded", IntegrationLabel: "Klaviyo", CustomerID: "7001", Status: "failed", Attempts: 8,
				StatusCode: "400", Response: `{"errors":[{"detail":"<bad>"}]}`, Error: "Klaviyo refused the event", CreatedAt: at, RetryURL: "/app/deliveries/40/retry"},
			{ID: 39, Event: "wallet_points_rewarded", IntegrationLabel: "CleverTap", CustomerID: "7001", Status: "sent", Attempts: 1,
				StatusCode: "200", Response: `{"status":"success"}`, PossiblyDuplicated: true, CreatedAt: at},
		},
		RetryAllURL: "/app/deliveries/retry?status=skipped", RetryAllLabel: "Retry all skipped",
		OlderURL: "/app/deliveries?before=39",
	}
	d := render(t, templates.DeliveriesPage(v))
	rows := d.Find(`[data-testid="delivery-row"]`)
	if rows.Length() != 3 {
		t.Fatalf("rows = %d", rows.Length())
	}
	skipped := rows.Eq(0)
	if got := text(skipped.Find(`[data-testid="delivery-explanation"]`)); got != "Not sent: customer has no email address (phone-only customer)." {
		t.Errorf("skipped explanation = %q", got)
	}
	if a, _ := skipped.Find(`[data-testid="retry-form"]`).Attr("action"); a != "/app/deliveries/41/retry" {
		t.Errorf("retry action = %q", a)
	}
	if href, _ := skipped.Find(`[data-testid="delivery-customer"]`).Attr("href"); href != "/app/customers/7003" {
		t.Errorf("customer link = %q", href)
	}
	failed := rows.Eq(1)
	if got := text(failed.Find(`[data-testid="delivery-status-code"]`)); got != "400" {
		t.Errorf("status code = %q", got)
	}
	if got := failed.Find(`[data-testid="delivery-response"]`).Text(); got != `{"errors":[{"detail":"<bad>"}]}` {
		t.Errorf("excerpt = %q (must be text, not markup)", got)
	}
	if got := text(failed.Find(`[data-testid="delivery-attempts"]`)); got != "8" {
		t.Errorf("attempts = %q", got)
	}
	if got := text(failed.Find(`[data-testid="status-badge"]`)); got != "Failed" {
		t.Errorf("badge = %q", got)
	}
	sent := rows.Eq(2)
	if sent.Find(`[data-testid="retry-form"]`).Length() != 0 {
		t.Error("a sent delivery offers a retry")
	}
	if sent.Find(`[data-testid="delivery-duplicate"]`).Length() != 1 {
		t.Error("possibly duplicated not shown")
	}
	if got := text(d.Find(`[data-testid="retry-all"]`)); got != "Retry all skipped" {
		t.Errorf("retry all = %q", got)
	}
	if a, _ := d.Find(`[data-testid="retry-all-form"]`).Attr("action"); a != "/app/deliveries/retry?status=skipped" {
		t.Errorf("retry all action = %q", a)
	}
	if href, _ := d.Find(`[data-testid="older-link"]`).Attr("href"); href != "/app/deliveries?before=39" {
		t.Errorf("older = %q", href)
	}
	filter := d.Find(`[data-testid="delivery-filter"]`)
	for sel, want := range map[string]string{"#filter-status": "skipped", "#filter-event": "wallet_points_rewarded", "#filter-integration": "klaviyo"} {
		if got, _ := filter.Find(sel + " option[selected]").Attr("value"); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	for sel, want := range map[string]string{"#filter-customer": "7003", "#filter-from": "2026-11-01", "#filter-to": "2026-11-23"} {
		if got, _ := filter.Find(sel).Attr("value"); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	requireLabels(t, d, filter)

	// A bad filter is shown beside its field, with no table.
	v.Rows, v.RetryAllURL, v.OlderURL = nil, "", ""
	v.Errors = templates.FieldErrors{"customer_id": "Enter a Shopify customer ID."}
	d = render(t, templates.DeliveriesPage(v))
	if got := text(d.Find(`#filter-customer-error`)); got != "Enter a Shopify customer ID." {
		t.Errorf("customer error = %q", got)
	}
	if d.Find(`[data-testid="deliveries-empty"]`).Length() != 1 || d.Find(`[data-testid="retry-all-form"]`).Length() != 0 {
		t.Error("empty state")
	}
	if !strings.Contains(text(d.Find("main")), "No deliveries match.") {
		t.Error("empty text")
	}
}
