package web_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestPageHome_ProgramAndAttention(t *testing.T) {
	t.Parallel()
	b := setupPages(t)

	// A new shop is shown the first steps and no chart data.
	rec, d := b.page(t, pageShop, "/app")
	requireStatus(t, rec, http.StatusOK)
	// Connect, events, program, the theme's launcher, the storefront.
	if n := d.Find(`[data-testid="setup-step"]`).Length(); n != 5 {
		t.Errorf("setup steps = %d", n)
	}
	if got := pageText(d.Find(`[data-testid="sent-total"]`)); got != "0" {
		t.Errorf("sent total = %q", got)
	}

	b.connectCleverTap(t)
	b.createEvent(t, "clevertap", "wallet_points_rewarded")
	b.credit(t, 300)
	b.credit(t, 200)
	ids := b.deliveryIDs(t)
	b.setDelivery(t, ids[0], "sent", 200, "", "", 1)
	b.setDelivery(t, ids[1], "failed", 500, "CleverTap answered 500", "", 8)
	// CleverTap refuses the passcode from now on: the integration pauses.
	if err := b.db.Gorm.Exec(`UPDATE integrations SET status = 'paused', status_reason = 'CleverTap rejected the passcode (401).' WHERE shop_id = ? AND kind = 'clevertap'`, b.shop.ID).Error; err != nil {
		t.Fatal(err)
	}

	rec, d = b.page(t, pageShop, "/app")
	requireStatus(t, rec, http.StatusOK)
	for sel, want := range map[string]string{
		`[data-testid="points-issued"]`:      "500",
		`[data-testid="points-outstanding"]`: "500",
		`[data-testid="points-redeemed"]`:    "0",
		`[data-testid="sent-total"]`:         "1",
	} {
		if got := pageText(d.Find(sel)); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	attention := pageText(d.Find(`[data-testid="attention"]`))
	for _, want := range []string{"CleverTap is paused", "CleverTap rejected the passcode (401).", "1 deliveries failed in the last 7 days"} {
		if !strings.Contains(attention, want) {
			t.Errorf("attention lacks %q: %s", want, attention)
		}
	}
	svg := d.Find(`[data-testid="sent-chart-svg"]`)
	if n := svg.Find(`rect[data-series="clevertap"]`).Length(); n != 1 {
		t.Errorf("CleverTap bars = %d", n)
	}
	if n := d.Find(`[data-testid="sent-chart-table"] tbody tr`).Length(); n != 7 {
		t.Errorf("chart table rows = %d", n)
	}
	// Two steps done, three to go.
	if n := d.Find(`[data-testid="setup-step"].done`).Length(); n != 2 {
		t.Errorf("done steps = %d", n)
	}

	// Shop B: its own, empty program.
	_, d = b.page(t, pageOtherShop, "/app")
	if got := pageText(d.Find(`[data-testid="points-issued"]`)); got != "0" {
		t.Errorf("shop B issued = %q", got)
	}
	if d.Find(`[data-testid="attention"]`).Length() != 0 {
		t.Error("shop B sees shop A's problems")
	}
}
