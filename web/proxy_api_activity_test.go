package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestProxyAPI_Activity: the storefront's recent activity is the signed-in
// shopper's own ledger, newest first and at most 20 entries, with order
// names; a manual adjustment never shows the merchant's note; a guest is
// 401; the answer is private and never cached.
func TestProxyAPI_Activity(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	sh := b.install(t, "shop-a.myshopify.com")
	tok := b.token(sh.Domain)
	const ada, grace = 5_300_000_001, 5_300_000_002
	b.applyOrder(t, sh, "orders/paid", 5001, ada, map[int64]string{11: "Lamp"})
	note := "Internal: shopper was rude on the phone"
	requireStatus(t, b.call(http.MethodPost, "/api/v1/customers/"+itoa(ada)+"/points", tok,
		map[string]any{"points": 250, "reason": note}), http.StatusOK)
	b.applyOrder(t, sh, "orders/paid", 5002, grace, map[int64]string{12: "Rug"})

	activity := func(customer string) (*httpResult, []map[string]any) {
		t.Helper()
		res, hdr := b.proxyAPI(t, http.MethodGet, "/activity", sh.Domain, customer, nil)
		if cc := hdr.Get("Cache-Control"); cc != "private, no-store" {
			t.Errorf("Cache-Control = %q", cc)
		}
		var list []map[string]any
		if res.code == http.StatusOK {
			if err := json.Unmarshal([]byte(res.body), &list); err != nil {
				t.Fatalf("activity is not a JSON list: %v: %s", err, res.body)
			}
		}
		return res, list
	}

	res, _ := activity("")
	requireProxyError(t, res, http.StatusUnauthorized, "")

	res, list := activity(itoa(ada))
	if res.code != http.StatusOK || len(list) != 2 {
		t.Fatalf("activity = %d %s, want the adjustment and the order", res.code, res.body)
	}
	for _, e := range list {
		requireKeys(t, "activity entry", e, "points", "kind", "reason", "created_at")
	}
	if e := list[0]; e["points"] != float64(250) || e["kind"] != "adjust" || e["reason"] != "manual" || e["order_name"] != nil {
		t.Errorf("newest entry = %v, want the manual +250", e)
	}
	if e := list[1]; e["points"] != float64(10) || e["kind"] != "earn" || e["reason"] != "order" || e["order_name"] != "#5001" {
		t.Errorf("older entry = %v, want +10 for order #5001", e)
	}
	if strings.Contains(res.body, "rude") || strings.Contains(res.body, "#5002") {
		t.Errorf("activity shows the merchant's note or another shopper's order: %s", res.body)
	}

	// A shopper the app has never seen has no activity yet.
	if res, list := activity("5300000099"); res.code != http.StatusOK || len(list) != 0 || strings.TrimSpace(res.body) != "[]" {
		t.Errorf("unknown shopper = %d %s, want []", res.code, res.body)
	}

	// Twenty newer entries push the order out: at most 20, newest first.
	for i := 1; i <= 20; i++ {
		requireStatus(t, b.call(http.MethodPost, "/api/v1/customers/"+itoa(ada)+"/points", tok,
			map[string]any{"points": i, "reason": fmt.Sprintf("bonus %d", i)}), http.StatusOK)
	}
	_, list = activity(itoa(ada))
	if len(list) != 20 {
		t.Fatalf("activity has %d entries, want 20", len(list))
	}
	for i, e := range list {
		if want := float64(20 - i); e["points"] != want {
			t.Fatalf("entry %d = %v, want %v points (newest first)", i, e, want)
		}
	}
}
