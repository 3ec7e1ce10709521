package web_test

import (
	"net/http"
	"testing"
)

// customerKeys are the §6 keys of a customer, ledgerKeys of its entries.
var (
	customerKeys = []string{"shopify_customer_id", "email", "phone", "points_balance", "tier", "ledger"}
	ledgerKeys   = []string{"points", "kind", "reason", "order_id", "created_at"}
)

func TestAPI_CustomerPoints(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	sh := b.install(t, "shop-a.myshopify.com")
	tok := b.token(sh.Domain)
	c := b.customer(t, sh, 5_200_000_001, "ada@example.com")
	path := "/api/v1/customers/" + itoa(c.shopifyID)

	show := func(t *testing.T) map[string]any {
		t.Helper()
		rec := b.call(http.MethodGet, path, tok, nil)
		requireStatus(t, rec, http.StatusOK)
		v := decodeJSON[map[string]any](t, rec)
		requireKeys(t, "customer", v, customerKeys...)
		return v
	}
	v := show(t)
	if v["shopify_customer_id"] != itoa(c.shopifyID) || v["email"] != "ada@example.com" || v["points_balance"] != float64(0) ||
		len(v["ledger"].([]any)) != 0 {
		t.Errorf("new customer = %v", v)
	}

	rec := b.call(http.MethodPost, path+"/points", tok, map[string]any{"points": 700, "reason": "Goodwill"}, "Idempotency-Key", "req-1")
	requireStatus(t, rec, http.StatusOK)
	v = decodeJSON[map[string]any](t, rec)
	requireKeys(t, "adjusted customer", v, customerKeys...)
	ledger := v["ledger"].([]any)
	if v["points_balance"] != float64(700) || len(ledger) != 1 {
		t.Fatalf("after credit = %v", v)
	}
	e := ledger[0].(map[string]any)
	requireKeys(t, "ledger entry", e, ledgerKeys...)
	if e["points"] != float64(700) || e["kind"] != "adjust" || e["reason"] != "Goodwill" || e["order_id"] != "" || e["actor"] != testUserActor {
		t.Errorf("ledger entry = %v", e)
	}

	// The same Idempotency-Key adjusts once.
	rec = b.call(http.MethodPost, path+"/points", tok, map[string]any{"points": 700, "reason": "Goodwill"}, "Idempotency-Key", "req-1")
	requireStatus(t, rec, http.StatusOK)
	if v := show(t); v["points_balance"] != float64(700) || len(v["ledger"].([]any)) != 1 {
		t.Errorf("replayed credit applied again: %v", v)
	}
	// Without a key every request applies.
	for range 2 {
		requireStatus(t, b.call(http.MethodPost, path+"/points", tok, map[string]any{"points": 50, "reason": "Survey"}), http.StatusOK)
	}
	rec = b.call(http.MethodPost, path+"/points", tok, map[string]any{"points": -300, "reason": "Correction"})
	requireStatus(t, rec, http.StatusOK)
	v = show(t)
	ledger = v["ledger"].([]any)
	if v["points_balance"] != float64(500) || len(ledger) != 4 || ledger[0].(map[string]any)["points"] != float64(-300) ||
		ledger[0].(map[string]any)["reason"] != "Correction" {
		t.Errorf("after debit = %v", v)
	}

	for _, tc := range []struct {
		name    string
		path    string
		body    any
		headers []string
		status  int
		code    string
		field   string
	}{
		{"ZeroPoints", path + "/points", map[string]any{"points": 0, "reason": "x"}, nil, 422, "invalid", "points"},
		{"MissingReason", path + "/points", map[string]any{"points": 10}, nil, 422, "invalid", "reason"},
		{"BlankReason", path + "/points", map[string]any{"points": 10, "reason": "  "}, nil, 422, "invalid", "reason"},
		{"DebitBelowBalance", path + "/points", map[string]any{"points": -501, "reason": "Too much"}, nil, 422, "invalid", "points"},
		{"TooMany", path + "/points", map[string]any{"points": 100_000_000, "reason": "x"}, nil, 422, "invalid", "points"},
		{"PointsNotNumber", path + "/points", map[string]any{"points": "10", "reason": "x"}, nil, 422, "invalid", "points"},
		{"FractionalPoints", path + "/points", map[string]any{"points": 1.5, "reason": "x"}, nil, 422, "invalid", "points"},
		{"UnknownField", path + "/points", map[string]any{"points": 10, "reason": "x", "note": "y"}, nil, 400, "bad_request", "note"},
		{"Malformed", path + "/points", `{"points": 10,`, nil, 400, "bad_request", ""},
		{"BadIdempotencyKey", path + "/points", map[string]any{"points": 10, "reason": "x"}, []string{"Idempotency-Key", "caf\u00e9"}, 422, "invalid", "idempotency_key"},
		{"UnknownCustomer", "/api/v1/customers/5200000999/points", map[string]any{"points": 10, "reason": "x"}, nil, 404, "not_found", ""},
		{"BadCustomerID", "/api/v1/customers/ada/points", map[string]any{"points": 10, "reason": "x"}, nil, 422, "invalid", "shopify_customer_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireAPIError(t, b.call(http.MethodPost, tc.path, tok, tc.body, tc.headers...), tc.status, tc.code, tc.field)
		})
	}
	if v := show(t); v["points_balance"] != float64(500) || len(v["ledger"].([]any)) != 4 {
		t.Errorf("a refused adjustment changed the customer: %v", v)
	}
	requireAPIError(t, b.call(http.MethodGet, "/api/v1/customers/5200000999", tok, nil), http.StatusNotFound, "not_found", "")
}

func TestAPI_CustomerRedeem(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	sh := b.install(t, "shop-a.myshopify.com")
	tok := b.token(sh.Domain)
	c := b.customer(t, sh, 5_300_000_001, "ada@example.com")
	path := "/api/v1/customers/" + itoa(c.shopifyID)
	requireStatus(t, b.call(http.MethodPost, path+"/points", tok, map[string]any{"points": 1200, "reason": "Seed"}), http.StatusOK)

	// amount-5 is a default reward costing 500 points.
	rec := b.call(http.MethodPost, path+"/redeem", tok, map[string]any{"reward_id": "amount-5"}, "Idempotency-Key", "click-1")
	requireStatus(t, rec, http.StatusCreated)
	coupon := decodeJSON[map[string]any](t, rec)
	requireKeys(t, "coupon", coupon, "id", "code", "reward_id", "points_spent", "status", "discount_type", "discount_value")
	if coupon["reward_id"] != "amount-5" || coupon["points_spent"] != float64(500) || coupon["code"] == "" || coupon["shopify_customer_id"] != itoa(c.shopifyID) {
		t.Errorf("coupon = %v", coupon)
	}
	// A double click buys one coupon.
	rec = b.call(http.MethodPost, path+"/redeem", tok, map[string]any{"reward_id": "amount-5"}, "Idempotency-Key", "click-1")
	requireStatus(t, rec, http.StatusCreated)
	if again := decodeJSON[map[string]any](t, rec); again["code"] != coupon["code"] || again["id"] != coupon["id"] {
		t.Errorf("replay = %v, want %v", again, coupon)
	}
	balance := func() any {
		return decodeJSON[map[string]any](t, b.call(http.MethodGet, path, tok, nil))["points_balance"]
	}
	if got := balance(); got != float64(700) {
		t.Errorf("balance = %v, want 700", got)
	}
	requireAPIError(t, b.call(http.MethodPost, path+"/redeem", tok, map[string]any{"reward_id": "percent-15"}), 422, "invalid", "reward_id")
	requireAPIError(t, b.call(http.MethodPost, path+"/redeem", tok, map[string]any{"reward_id": "free-car"}), 422, "invalid", "reward_id")
	requireAPIError(t, b.call(http.MethodPost, path+"/redeem", tok, map[string]any{}), 422, "invalid", "reward_id")
	requireAPIError(t, b.call(http.MethodPost, path+"/redeem", tok, map[string]any{"reward": "amount-5"}), 400, "bad_request", "reward")
	requireAPIError(t, b.call(http.MethodPost, "/api/v1/customers/5300000999/redeem", tok, map[string]any{"reward_id": "amount-5"}), 404, "not_found", "")
	if got := balance(); got != float64(700) {
		t.Errorf("balance after refusals = %v, want 700", got)
	}
}
