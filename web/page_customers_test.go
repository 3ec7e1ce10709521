package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestPageCustomers(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	b.connectCleverTap(t)
	b.createEvent(t, "clevertap", "wallet_points_rewarded")
	b.credit(t, 120)
	ids := b.deliveryIDs(t)
	b.setDelivery(t, ids[0], "sent", 200, "", `{"status":"success"}`, 1)

	for _, q := range []string{"ada", "+1415555", "7001", "Lovelace"} {
		rec, d := b.page(t, pageShop, "/app/customers?q="+url.QueryEscape(q))
		requireStatus(t, rec, http.StatusOK)
		if n := d.Find(`[data-testid="customer-row"]`).Length(); n != 1 {
			t.Errorf("search %q: %d rows", q, n)
		}
	}
	_, d := b.page(t, pageShop, "/app/customers?q=bob")
	if d.Find(`[data-testid="customers-empty"]`).Length() != 1 {
		t.Error("shop B's customer found from shop A")
	}

	_, d = b.page(t, pageShop, "/app/customers?q=ada")
	href, _ := d.Find(`[data-testid="customer-link"]`).Attr("href")
	rec, d := b.page(t, pageShop, href)
	requireStatus(t, rec, http.StatusOK)
	for sel, want := range map[string]string{
		`[data-testid="customer-name"]`:                            "Ada Lovelace",
		`[data-testid="customer-balance"]`:                         "120",
		`[data-testid="customer-shopify-id"]`:                      "7001",
		`[data-testid="ledger-row"] [data-testid="ledger-points"]`: "+120",
	} {
		if got := pageText(d.Find(sel).First()); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if n := d.Find(`[data-testid="lot-row"]`).Length(); n != 1 {
		t.Errorf("lots = %d", n)
	}
	ev := d.Find(`[data-testid="customer-event"][data-event="wallet_points_rewarded"]`)
	if !strings.Contains(pageText(ev), "points 120") || pageText(ev.Find(`[data-testid="status-badge"]`)) != "Sent" {
		t.Errorf("event = %q", pageText(ev))
	}

	// Adjust: invalid input is shown beside its field; the same form twice
	// adjusts once.
	action := formAction(t, d, `[data-testid="adjust-form"]`)
	key, _ := d.Find(`[data-testid="adjust-form"] input[name="idempotency_key"]`).Attr("value")
	if key == "" {
		t.Fatal("no idempotency key")
	}
	rec, d = b.submit(t, pageShop, action, url.Values{"points": {"lots"}, "reason": {""}, "idempotency_key": {key}})
	requireStatus(t, rec, http.StatusUnprocessableEntity)
	if d.Find(`#adjust-points-error`).Length() != 1 || d.Find(`#adjust-reason-error`).Length() != 1 {
		t.Error("adjust errors not shown")
	}
	if v, _ := d.Find(`[data-testid="adjust-form"] input[name="idempotency_key"]`).Attr("value"); v != key {
		t.Errorf("key changed on a failed submit: %q", v)
	}
	rec, d = b.submit(t, pageShop, action, url.Values{"points": {"-500"}, "reason": {"oops"}, "idempotency_key": {key}})
	requireStatus(t, rec, http.StatusUnprocessableEntity)
	if got := pageText(d.Find(`#adjust-points-error`)); !strings.Contains(got, "Not enough points") {
		t.Errorf("debit error = %q", got)
	}
	form := url.Values{"points": {"+30"}, "reason": {"Goodwill"}, "idempotency_key": {key}}
	rec, _ = b.submit(t, pageShop, action, form)
	u := requireRedirect(t, rec, "/app/customers/7001", "adjusted")
	rec, _ = b.submit(t, pageShop, action, form)
	requireStatus(t, rec, http.StatusSeeOther)
	_, d = b.page(t, pageShop, u.Path+"?"+u.RawQuery)
	if got := pageText(d.Find(`[data-testid="customer-balance"]`)); got != "150" {
		t.Errorf("balance after adjusting twice with one key = %q, want 150", got)
	}
	if got := pageText(d.Find(`[data-testid="ledger-row"]`).First()); !strings.Contains(got, "Goodwill") || !strings.Contains(got, "user:42") {
		t.Errorf("newest ledger row = %q", got)
	}

	// Another shop's customer does not exist here.
	rec, _ = b.page(t, pageShop, "/app/customers/"+ftoa(pageOtherCustID))
	requireStatus(t, rec, http.StatusNotFound)
	rec, _ = b.submit(t, pageOtherShop, "/app/customers/7001/points", url.Values{"points": {"10"}, "reason": {"x"}})
	requireStatus(t, rec, http.StatusNotFound)
}

// TestPageCustomer_Birthday: staff see and set a customer's birthday on
// their page; an impossible date is shown beside its field and nothing is
// saved.
func TestPageCustomer_Birthday(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	path := "/app/customers/" + itoa(pageCustomerID)
	_, d := b.page(t, pageShop, path)
	if got := pageText(d.Find(`[data-testid="customer-birthday"]`)); !strings.Contains(got, "Not known") {
		t.Errorf("before: %q", got)
	}
	action := formAction(t, d, `[data-testid="birthday-form"]`)
	rec, d := b.submit(t, pageShop, action, url.Values{"month": {"2"}, "day": {"30"}})
	requireStatus(t, rec, http.StatusUnprocessableEntity)
	if got := pageText(d.Find(`#birthday-day-error`)); !strings.Contains(got, "February has no day 30") {
		t.Errorf("day error = %q", got)
	}
	rec, _ = b.submit(t, pageShop, action, url.Values{"month": {"2"}, "day": {"29"}})
	requireRedirect(t, rec, path, "birthday-saved")
	_, d = b.page(t, pageShop, path)
	if got := pageText(d.Find(`[data-testid="customer-birthday"]`)); !strings.Contains(got, "29 February") || !strings.Contains(got, "set in the app") {
		t.Errorf("after: %q", got)
	}
	if v := d.Find(`[data-testid="birthday-month"] option[selected]`).AttrOr("value", ""); v != "2" {
		t.Errorf("month selected = %q", v)
	}
}
