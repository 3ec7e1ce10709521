package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/program"
)

// account sends a customer account extension's request: the session token
// as a bearer header (none when token is ""), JSON in and out, from
// Shopify's extension origin.
func (b *apiBundle) account(t *testing.T, method, path, token string, body any) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	h := []string{"Origin", "https://extensions.shopifycdn.com", "Content-Type", "application/json"}
	if token != "" {
		h = append(h, "Authorization", "Bearer "+token)
	}
	return b.send(method, "/account/api/v1"+path, r, h...)
}

// requireAccountAnswer checks what every answer of the door carries: CORS
// for any origin and no caching.
func requireAccountAnswer(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("%s: Access-Control-Allow-Origin = %q, want *", what, got)
	}
	if got := rec.Header().Get("Cache-Control"); got != "private, no-store" {
		t.Errorf("%s: Cache-Control = %q", what, got)
	}
}

// TestAccountAPI_TokenDoor: the storefront JSON API answers the customer
// account extension for a valid customer account session token only, with
// the same handlers as the app proxy; the customer is the token's sub and
// the shop its dest, so another shop's customer id finds nothing.
func TestAccountAPI_TokenDoor(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	shA := b.install(t, "shop-a.myshopify.com")
	shB := b.install(t, "shop-b.myshopify.com")
	gone := b.install(t, "gone.myshopify.com")
	if err := b.st.MarkUninstalled(context.Background(), gone.ID); err != nil {
		t.Fatal(err)
	}
	settings := program.Defaults()
	settings.Referral.Enabled = true
	if err := b.loyalty.SaveProgram(context.Background(), shA.ID, settings); err != nil {
		t.Fatal(err)
	}
	const ada, grace = 5_400_000_001, 5_400_000_002
	b.customer(t, shA, ada, "ada@example.com")
	b.customer(t, shA, grace, "grace@example.com")
	requireStatus(t, b.call(http.MethodPost, "/api/v1/customers/"+itoa(ada)+"/points", b.token(shA.Domain),
		map[string]any{"points": 700, "reason": "Welcome"}), http.StatusOK)
	b.applyOrder(t, shA, "orders/paid", 6101, ada, map[int64]string{11: "Lamp"})
	adaTok := b.fake.MintCustomerAccountToken(shA.Domain, ada, 5*time.Minute)

	// A valid token: the member's own balance, private, readable cross-origin.
	rec := b.account(t, http.MethodGet, "/member", adaTok, nil)
	requireStatus(t, rec, http.StatusOK)
	requireAccountAnswer(t, "member", rec)
	m := decodeJSON[map[string]any](t, rec)
	requireKeys(t, "member", m, "shopify_customer_id", "points_balance", "spendable_points", "pending_points", "tier", "expiring", "referral_url")
	if m["shopify_customer_id"] != itoa(ada) || m["points_balance"] != float64(710) ||
		!strings.HasPrefix(m["referral_url"].(string), "https://shop-a.myshopify.com/apps/loyalty/r/") {
		t.Fatalf("member = %v", m)
	}
	// Tier progress: $10 of the $500 that reach Silver (the default program).
	if m["next_tier"] != "silver" || m["next_tier_threshold"] != float64(50000) || m["amount_to_next_tier"] != float64(49000) || m["tier_metric"] != "amount_spent" {
		t.Errorf("tier progress = %v / %v to %v (%v)", m["amount_to_next_tier"], m["next_tier_threshold"], m["next_tier"], m["tier_metric"])
	}

	// One implementation, two doors: a redemption made through the
	// extension is the proxy's too, and the same request_id through the
	// other door answers the same redemption without spending again.
	rec = b.account(t, http.MethodPost, "/redemptions", adaTok, map[string]any{"reward_id": "amount-5", "request_id": "tap-1"})
	requireStatus(t, rec, http.StatusCreated)
	requireAccountAnswer(t, "redeem", rec)
	red := decodeJSON[map[string]any](t, rec)
	if red["status"] != "pending" || red["points_spent"] != float64(500) {
		t.Fatalf("redeem = %v", red)
	}
	res, _ := b.proxyAPI(t, http.MethodPost, "/redemptions", shA.Domain, itoa(ada), map[string]any{"reward_id": "amount-5", "request_id": "tap-1"})
	if again := res.json(t); res.code != http.StatusOK && res.code != http.StatusCreated || again["id"] != red["id"] {
		t.Fatalf("same request through the proxy = %d %v, want redemption %v", res.code, again, red["id"])
	}
	rid := itoa(int64(red["id"].(float64)))
	rec = b.account(t, http.MethodGet, "/redemptions/"+rid, adaTok, nil)
	requireStatus(t, rec, http.StatusOK)
	if got := decodeJSON[map[string]any](t, rec); got["id"] != red["id"] {
		t.Fatalf("poll = %v", got)
	}
	rec = b.account(t, http.MethodGet, "/redemptions", adaTok, nil)
	if list := decodeJSON[[]map[string]any](t, rec); rec.Code != http.StatusOK || len(list) != 1 || list[0]["id"] != red["id"] {
		t.Fatalf("redemptions = %d %s", rec.Code, rec.Body.String())
	}
	rec = b.account(t, http.MethodGet, "/activity", adaTok, nil)
	if list := decodeJSON[[]map[string]any](t, rec); rec.Code != http.StatusOK || len(list) != 3 || list[0]["points"] != float64(-500) {
		t.Fatalf("activity = %d %s", rec.Code, rec.Body.String())
	}
	rec = b.account(t, http.MethodGet, "/member", adaTok, nil)
	if m := decodeJSON[map[string]any](t, rec); m["points_balance"] != float64(210) {
		t.Fatalf("after one redemption (two doors) balance = %v, want 210", m["points_balance"])
	}
	rec = b.account(t, http.MethodPut, "/birthday", adaTok, map[string]any{"month": 4, "day": 31})
	requireAPIError(t, rec, http.StatusUnprocessableEntity, app.EINVALID, "day")
	requireAccountAnswer(t, "bad birthday", rec)
	rec = b.account(t, http.MethodPut, "/birthday", adaTok, map[string]any{"month": 4, "day": 30})
	requireStatus(t, rec, http.StatusOK)

	// Referring a friend through the extension: the friend's code comes back.
	rec = b.account(t, http.MethodPost, "/referrals", adaTok, map[string]any{"email": "friend@example.com"})
	requireStatus(t, rec, http.StatusCreated)
	if ref := decodeJSON[map[string]any](t, rec); ref["code"] == "" || ref["first_order_only"] != true {
		t.Fatalf("referral = %v", ref)
	}
	// A path the door does not serve answers in the JSON error shape.
	requireAPIError(t, b.account(t, http.MethodGet, "/nothing-here", adaTok, nil), http.StatusNotFound, app.ENOTFOUND, "")

	// Another customer of the same shop cannot see Ada's redemption.
	graceTok := b.fake.MintCustomerAccountToken(shA.Domain, grace, 5*time.Minute)
	requireAPIError(t, b.account(t, http.MethodGet, "/redemptions/"+rid, graceTok, nil), http.StatusNotFound, app.ENOTFOUND, "")

	// Ada's customer id in a token of shop B reads shop B's data: nothing
	// of shop A's, and shop A's redemption and order are 404 there.
	crossTok := b.fake.MintCustomerAccountToken(shB.Domain, ada, 5*time.Minute)
	rec = b.account(t, http.MethodGet, "/member", crossTok, nil)
	if m := decodeJSON[map[string]any](t, rec); rec.Code != http.StatusOK || m["points_balance"] != float64(0) || m["referral_url"] != "" {
		t.Fatalf("shop B member with shop A's id = %d %v", rec.Code, m)
	}
	requireAPIError(t, b.account(t, http.MethodGet, "/redemptions/"+rid, crossTok, nil), http.StatusNotFound, app.ENOTFOUND, "")
	requireAPIError(t, b.account(t, http.MethodGet, "/orders/6101", crossTok, nil), http.StatusNotFound, app.ENOTFOUND, "")
	if rec := b.account(t, http.MethodGet, "/redemptions", crossTok, nil); strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Fatalf("shop B redemptions with shop A's id = %s", rec.Body.String())
	}

	// A token without sub: no customer is signed in.
	guestTok := b.fake.MintCustomerAccountToken(shA.Domain, 0, 5*time.Minute)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/member"}, {http.MethodPost, "/redemptions"}, {http.MethodGet, "/redemptions"},
		{http.MethodGet, "/activity"}, {http.MethodGet, "/orders/6101"}, {http.MethodPut, "/birthday"}, {http.MethodPost, "/referrals"},
	} {
		rec := b.account(t, tc.method, tc.path, guestTok, map[string]any{"reward_id": "amount-5", "request_id": "g", "month": 1, "day": 1, "email": "f@example.com"})
		requireAPIError(t, rec, http.StatusUnauthorized, app.EUNAUTHORIZED, "")
		requireAccountAnswer(t, "guest "+tc.path, rec)
	}
	rec = b.account(t, http.MethodGet, "/rewards", guestTok, nil)
	requireStatus(t, rec, http.StatusOK)
	for _, r := range decodeJSON[[]map[string]any](t, rec) {
		if r["affordable"] != false {
			t.Errorf("a guest can afford %v", r)
		}
	}

	// Refused tokens: 401 in the error shape, CORS still set, nothing read.
	otherApp := fake.NewShopify(fake.ShopifyOptions{APIKey: "another-app", APISecret: testAPISecret, Now: b.clock.Now})
	otherSecret := fake.NewShopify(fake.ShopifyOptions{APIKey: testAPIKey, APISecret: "not-the-secret", Now: b.clock.Now})
	for name, tok := range map[string]string{
		"Missing":         "",
		"Expired":         b.fake.MintCustomerAccountToken(shA.Domain, ada, -time.Minute),
		"WrongAudience":   otherApp.MintCustomerAccountToken(shA.Domain, ada, 5*time.Minute),
		"ForgedSignature": otherSecret.MintCustomerAccountToken(shA.Domain, ada, 5*time.Minute),
		"UnknownShop":     b.fake.MintCustomerAccountToken("never-installed.myshopify.com", ada, 5*time.Minute),
		"UninstalledShop": b.fake.MintCustomerAccountToken(gone.Domain, ada, 5*time.Minute),
		"AdminIDToken":    b.token(shA.Domain),
		"NotAJWT":         "not.a.jwt",
	} {
		rec := b.account(t, http.MethodGet, "/member", tok, nil)
		requireAPIError(t, rec, http.StatusUnauthorized, app.EUNAUTHORIZED, "")
		if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("%s: 401 without CORS (%q): the extension could not read why", name, got)
		}
		if strings.Contains(rec.Body.String(), "points_balance") {
			t.Errorf("%s: answered member data: %s", name, rec.Body.String())
		}
	}
	// Nor is a customer's token an admin session.
	requireInvalidSession(t, b.api(http.MethodGet, "/api/v1/customers/"+itoa(ada), adaTok))

	// The CORS preflight needs no token and allows what the extension sends.
	rec = b.send(http.MethodOptions, "/account/api/v1/redemptions", nil,
		"Origin", "https://extensions.shopifycdn.com", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "authorization,content-type")
	requireStatus(t, rec, http.StatusNoContent)
	h := rec.Header()
	if h.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "PUT") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Fatalf("preflight headers = %v", h)
	}
}

// TestAccountAPI_Order: the order status block's route answers what one
// order did to the signed-in customer's points (earned, reversed, pending
// until when), and 404 for an order that is not that customer's.
func TestAccountAPI_Order(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	sh := b.install(t, "shop-a.myshopify.com")
	ctx := context.Background()
	const ada, grace = 5_500_000_001, 5_500_000_002
	b.applyOrder(t, sh, "orders/paid", 7001, ada, map[int64]string{11: "Lamp"})
	settings, _, err := b.st.ProgramSettings(ctx, sh.ID)
	if err != nil {
		t.Fatal(err)
	}
	settings.PendingDays = 14
	if err := b.loyalty.SaveProgram(ctx, sh.ID, settings); err != nil {
		t.Fatal(err)
	}
	b.applyOrder(t, sh, "orders/paid", 7002, ada, map[int64]string{12: "Rug"})
	b.applyOrder(t, sh, "orders/paid", 7003, grace, map[int64]string{13: "Vase"})
	settings.EarnOn = program.EarnOnFulfilled
	if err := b.loyalty.SaveProgram(ctx, sh.ID, settings); err != nil {
		t.Fatal(err)
	}
	b.applyOrder(t, sh, "orders/paid", 7004, ada, map[int64]string{14: "Chair"})
	adaTok := b.fake.MintCustomerAccountToken(sh.Domain, ada, 5*time.Minute)

	order := func(id string) map[string]any {
		t.Helper()
		rec := b.account(t, http.MethodGet, "/orders/"+id, adaTok, nil)
		requireStatus(t, rec, http.StatusOK)
		requireAccountAnswer(t, "order "+id, rec)
		v := decodeJSON[map[string]any](t, rec)
		requireKeys(t, "order", v, "order_id", "order_name", "status", "points_earned", "points_reversed", "pending_points")
		return v
	}
	if v := order("7001"); v["status"] != "earned" || v["points_earned"] != float64(10) || v["pending_points"] != float64(0) ||
		v["order_name"] != "#7001" || v["order_id"] != "7001" || v["available_at"] != nil {
		t.Errorf("earned order = %v", v)
	}
	v := order("7002")
	wantAt := b.clock.Now().Add(14 * 24 * time.Hour)
	at, _ := time.Parse(time.RFC3339, asString(v["available_at"]))
	if v["status"] != "pending" || v["points_earned"] != float64(10) || v["pending_points"] != float64(10) || !at.Equal(wantAt) {
		t.Errorf("pending order = %v, want 10 pending until %s", v, wantAt.Format(time.RFC3339))
	}
	if v := order("7004"); v["status"] != "awaiting" || v["points_earned"] != float64(0) {
		t.Errorf("order not yet fulfilled = %v, want awaiting with nothing earned", v)
	}

	// Grace's order, an order the app never saw and a malformed id.
	requireAPIError(t, b.account(t, http.MethodGet, "/orders/7003", adaTok, nil), http.StatusNotFound, app.ENOTFOUND, "")
	requireAPIError(t, b.account(t, http.MethodGet, "/orders/9999", adaTok, nil), http.StatusNotFound, app.ENOTFOUND, "")
	requireAPIError(t, b.account(t, http.MethodGet, "/orders/gid:7001", adaTok, nil), http.StatusUnprocessableEntity, app.EINVALID, "order_id")
	// Grace herself sees her order; a customer the app never saw has none.
	graceTok := b.fake.MintCustomerAccountToken(sh.Domain, grace, 5*time.Minute)
	requireStatus(t, b.account(t, http.MethodGet, "/orders/7003", graceTok, nil), http.StatusOK)
	strangerTok := b.fake.MintCustomerAccountToken(sh.Domain, 5_500_000_099, 5*time.Minute)
	requireAPIError(t, b.account(t, http.MethodGet, "/orders/7001", strangerTok, nil), http.StatusNotFound, app.ENOTFOUND, "")
	var n int64
	if err := b.db.Gorm.Raw("SELECT count(*) FROM customers WHERE shop_id = ? AND shopify_id = ?", sh.ID, 5_500_000_099).Scan(&n).Error; err != nil || n != 0 {
		t.Errorf("a stranger's read created %d customer rows (%v)", n, err)
	}
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}
