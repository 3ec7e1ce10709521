package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// proxyAPI sends a storefront JSON API request as Shopify forwards it: the
// signed query of shopper customer ("" for a guest) plus the JSON body.
func (b *apiBundle) proxyAPI(t *testing.T, method, path, shop, customer string, body any) (*httpResult, http.Header) {
	t.Helper()
	var r *strings.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = strings.NewReader(string(raw))
	} else {
		r = strings.NewReader("")
	}
	q := proxyQuery(shop, customer, b.clock.Now(), testAPISecret)
	rec := b.send(method, "/proxy/api/v1"+path+"?"+q.Encode(), r, "Content-Type", "application/json")
	return &httpResult{code: rec.Code, body: rec.Body.String()}, rec.Header()
}

type httpResult struct {
	code int
	body string
}

func (h *httpResult) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(h.body), &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, h.body)
	}
	return v
}

func TestProxyAPI_MemberRewardsRedeem(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	sh := b.install(t, "shop-a.myshopify.com")
	tok := b.token(sh.Domain)
	ada := b.customer(t, sh, 5_300_000_001, "ada@example.com")
	grace := b.customer(t, sh, 5_300_000_002, "grace@example.com")
	requireStatus(t, b.call(http.MethodPost, "/api/v1/customers/"+itoa(ada.shopifyID)+"/points", tok,
		map[string]any{"points": 700, "reason": "Welcome"}), http.StatusOK)
	adaID, graceID := itoa(ada.shopifyID), itoa(grace.shopifyID)

	// Guests: member and redemptions are 401; rewards are listed, none affordable.
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/member"}, {http.MethodPost, "/redemptions"}, {http.MethodGet, "/redemptions/1"},
	} {
		res, _ := b.proxyAPI(t, tc.method, tc.path, sh.Domain, "", map[string]any{"reward_id": "amount-5", "request_id": "r"})
		if res.code != http.StatusUnauthorized || !strings.Contains(res.body, `"error"`) {
			t.Errorf("guest %s %s = %d %s", tc.method, tc.path, res.code, res.body)
		}
	}
	res, hdr := b.proxyAPI(t, http.MethodGet, "/rewards", sh.Domain, "", nil)
	if res.code != http.StatusOK || hdr.Get("Cache-Control") != "private, no-store" {
		t.Fatalf("guest rewards = %d %q %s", res.code, hdr.Get("Cache-Control"), res.body)
	}
	var rewards []map[string]any
	json.Unmarshal([]byte(res.body), &rewards)
	if len(rewards) == 0 {
		t.Fatal("no rewards listed")
	}
	for _, r := range rewards {
		requireKeys(t, "reward", r, "id", "name", "points_cost", "discount_type", "discount_value", "affordable")
		if r["affordable"] != false {
			t.Errorf("guest can afford %v", r)
		}
	}

	// A member sees the balance, and what 700 points buy.
	res, hdr = b.proxyAPI(t, http.MethodGet, "/member", sh.Domain, adaID, nil)
	m := res.json(t)
	requireKeys(t, "member", m, "shopify_customer_id", "points_balance", "spendable_points", "pending_points", "tier", "expiring", "referral_url")
	if res.code != 200 || m["points_balance"] != float64(700) || m["spendable_points"] != float64(700) || m["shopify_customer_id"] != adaID ||
		!strings.HasPrefix(m["referral_url"].(string), "https://shop-a.myshopify.com/apps/loyalty/r/") || hdr.Get("Cache-Control") != "private, no-store" {
		t.Fatalf("member = %d %v", res.code, m)
	}
	res, _ = b.proxyAPI(t, http.MethodGet, "/rewards", sh.Domain, adaID, nil)
	json.Unmarshal([]byte(res.body), &rewards)
	for _, r := range rewards {
		if want := r["points_cost"].(float64) <= 700; r["affordable"] != want {
			t.Errorf("reward %v affordable = %v, want %v", r["id"], r["affordable"], want)
		}
	}

	// Redeem: pending until Shopify confirms, so no code yet; the same
	// request_id answers the same redemption and spends nothing more.
	res, _ = b.proxyAPI(t, http.MethodPost, "/redemptions", sh.Domain, adaID, map[string]any{"reward_id": "amount-5", "request_id": "click-1"})
	first := res.json(t)
	if res.code != http.StatusCreated || first["status"] != "pending" || first["points_spent"] != float64(500) || first["code"] != nil {
		t.Fatalf("redeem = %d %v", res.code, first)
	}
	res, _ = b.proxyAPI(t, http.MethodPost, "/redemptions", sh.Domain, adaID, map[string]any{"reward_id": "amount-5", "request_id": "click-1"})
	if again := res.json(t); again["id"] != first["id"] {
		t.Fatalf("same request_id gave another redemption: %v vs %v", again, first)
	}
	res, _ = b.proxyAPI(t, http.MethodGet, "/member", sh.Domain, adaID, nil)
	if m := res.json(t); m["points_balance"] != float64(200) {
		t.Fatalf("after one redemption balance = %v, want 200", m["points_balance"])
	}
	// The same request id from another shopper is that shopper's own request.
	res, _ = b.proxyAPI(t, http.MethodPost, "/redemptions", sh.Domain, graceID, map[string]any{"reward_id": "amount-5", "request_id": "click-1"})
	requireProxyError(t, res, http.StatusUnprocessableEntity, "reward_id")

	// The list shows the pending redemption (no code yet), not Grace's.
	res, _ = b.proxyAPI(t, http.MethodGet, "/redemptions", sh.Domain, adaID, nil)
	var list []map[string]any
	json.Unmarshal([]byte(res.body), &list)
	if res.code != 200 || len(list) != 1 || list[0]["id"] != first["id"] || list[0]["status"] != "pending" || list[0]["code"] != nil {
		t.Fatalf("redemptions = %d %s", res.code, res.body)
	}
	res, _ = b.proxyAPI(t, http.MethodGet, "/redemptions", sh.Domain, graceID, nil)
	if res.code != 200 || strings.TrimSpace(res.body) != "[]" {
		t.Fatalf("Grace's redemptions = %d %s", res.code, res.body)
	}

	rid := itoa(int64(first["id"].(float64)))
	res, _ = b.proxyAPI(t, http.MethodGet, "/redemptions/"+rid, sh.Domain, adaID, nil)
	if got := res.json(t); res.code != 200 || got["id"] != first["id"] || got["status"] != "pending" {
		t.Fatalf("poll = %d %v", res.code, got)
	}
	res, _ = b.proxyAPI(t, http.MethodGet, "/redemptions/"+rid, sh.Domain, graceID, nil)
	requireProxyError(t, res, http.StatusNotFound, "")

	for _, tc := range []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"UnknownReward", map[string]any{"reward_id": "nope", "request_id": "x1"}, http.StatusNotFound, ""},
		{"TooExpensive", map[string]any{"reward_id": "amount-10", "request_id": "x2"}, http.StatusUnprocessableEntity, "reward_id"},
		{"NoRequestID", map[string]any{"reward_id": "amount-5"}, http.StatusUnprocessableEntity, "request_id"},
		{"NoReward", map[string]any{"request_id": "x3"}, http.StatusUnprocessableEntity, "reward_id"},
		{"LongRequestID", map[string]any{"reward_id": "amount-5", "request_id": strings.Repeat("x", 300)}, http.StatusUnprocessableEntity, "request_id"},
	} {
		res, _ := b.proxyAPI(t, http.MethodPost, "/redemptions", sh.Domain, adaID, tc.body)
		requireProxyError(t, res, tc.status, tc.field)
	}
	res, _ = b.proxyAPI(t, http.MethodGet, "/member", sh.Domain, adaID, nil)
	if m := res.json(t); m["points_balance"] != float64(200) {
		t.Fatalf("refused redemptions spent points: balance %v", m["points_balance"])
	}

	// Forged and stale signatures are 401 in JSON, before anything is read.
	forged := proxyQuery(sh.Domain, graceID, b.clock.Now(), testAPISecret)
	forged.Set("logged_in_customer_id", adaID)
	stale := proxyQuery(sh.Domain, adaID, b.clock.Now().Add(-5*time.Minute), testAPISecret)
	for name, q := range map[string]url.Values{"Forged": forged, "Stale": stale} {
		rec := b.get("/proxy/api/v1/member?" + q.Encode())
		if rec.Code != http.StatusUnauthorized || strings.Contains(rec.Body.String(), "points_balance") || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("%s = %d %s", name, rec.Code, rec.Body.String())
		}
	}
}

func requireProxyError(t *testing.T, res *httpResult, status int, field string) {
	t.Helper()
	if res.code != status {
		t.Fatalf("status = %d, want %d: %s", res.code, status, res.body)
	}
	e, _ := res.json(t)["error"].(map[string]any)
	if e == nil || e["message"] == "" {
		t.Fatalf("no error body: %s", res.body)
	}
	if field != "" && e["field"] != field {
		t.Fatalf("field = %v, want %s: %s", e["field"], field, res.body)
	}
}
