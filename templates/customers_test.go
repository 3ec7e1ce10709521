package templates_test

import (
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/templates"
)

func TestCustomersPage(t *testing.T) {
	t.Parallel()
	v := templates.CustomersView{
		Shell: shell(false), Action: "/app/customers", Query: "ada", Searched: true,
		Rows: []templates.CustomerRow{{ShopifyID: "7001", Name: "Ada Lovelace", Email: "ada@example.com", Phone: "+14155550101", URL: "/app/customers/7001"}},
	}
	d := render(t, templates.CustomersPage(v))
	if href, _ := d.Find(`[data-testid="customer-link"]`).Attr("href"); href != "/app/customers/7001" {
		t.Errorf("link = %q", href)
	}
	if v, _ := d.Find(`#customer-q`).Attr("value"); v != "ada" {
		t.Errorf("query = %q", v)
	}
	requireLabels(t, d, d.Find(`[data-testid="customer-search"]`))
	v.Rows = nil
	d = render(t, templates.CustomersPage(v))
	if got := text(d.Find(`[data-testid="customers-empty"]`)); got != "No customer matches “ada”." {
		t.Errorf("empty = %q", got)
	}
}

func TestCustomerPage(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	exp := at.AddDate(1, 0, 0)
	v := templates.CustomerDetailView{
		Shell: shell(false), BackURL: "/app/customers", ShopifyID: "7001", Name: "Ada Lovelace", Email: "ada@example.com",
		Balance: 1554, Spendable: 1500, Pending: 54, Tier: "Silver", NextTier: "Gold", ToNextTier: "USD 95.05",
		NextExpiryAt: &exp, NextExpiryPoints: 100,
		Lots:   []templates.LotRow{{Points: 404, Remaining: 350, CreatedAt: at, ExpiresAt: &exp, State: "open"}},
		Ledger: []templates.LedgerRow{{CreatedAt: at, Kind: "adjust", Reason: "Goodwill", Points: 50, Actor: "user:42"}, {CreatedAt: at, Kind: "redeem", Reason: "reward", Points: -54}},
		Events: []templates.CustomerEvent{{ID: "e1", Event: "wallet_points_rewarded", OccurredAt: at, Summary: "points 404 · reason order",
			Deliveries: []templates.DeliveryBrief{{IntegrationLabel: "Klaviyo", Status: "skipped", Detail: "customer has no email address", URL: "/d"}}}},
		DeliveriesURL: "/app/deliveries?customer_id=7001",
		Adjust: templates.AdjustForm{Action: "/app/customers/7001/points", Points: "abc", Reason: "", Key: "key-1",
			Errors: templates.FieldErrors{"points": "Enter a whole number of points, such as 100 or -50.", "reason": "Say why, for the ledger."}},
	}
	d := render(t, templates.CustomerPage(v))
	for sel, want := range map[string]string{
		`[data-testid="customer-name"]`:        "Ada Lovelace",
		`[data-testid="customer-balance"]`:     "1,554",
		`[data-testid="customer-tier"]`:        "Silver",
		`[data-testid="customer-next-expiry"]`: "100",
		`[data-testid="customer-phone"]`:       "—",
	} {
		if got := text(d.Find(sel)); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if !strings.Contains(text(d.Find("main")), "USD 95.05 to Gold") {
		t.Error("gap to the next tier")
	}
	pts := d.Find(`[data-testid="ledger-points"]`)
	if text(pts.Eq(0)) != "+50" || text(pts.Eq(1)) != "-54" || !pts.Eq(1).HasClass("neg") {
		t.Errorf("ledger points = %q %q", text(pts.Eq(0)), text(pts.Eq(1)))
	}
	ev := d.Find(`[data-testid="customer-event"]`)
	if text(ev.Find("a")) != "Klaviyo" || text(ev.Find(`[data-testid="status-badge"]`)) != "Skipped" || !strings.Contains(text(ev), "customer has no email address") {
		t.Errorf("event = %q", text(ev))
	}
	form := d.Find(`[data-testid="adjust-form"]`)
	if v, _ := form.Find(`input[name="idempotency_key"]`).Attr("value"); v != "key-1" {
		t.Errorf("idempotency key = %q", v)
	}
	if got := text(form.Find(`#adjust-points-error`)); !strings.Contains(got, "whole number") {
		t.Errorf("points error = %q", got)
	}
	if got := text(form.Find(`#adjust-reason-error`)); got != "Say why, for the ledger." {
		t.Errorf("reason error = %q", got)
	}
	if v, _ := form.Find(`#adjust-points`).Attr("value"); v != "abc" {
		t.Errorf("points kept = %q", v)
	}
	requireLabels(t, d, form)
}
