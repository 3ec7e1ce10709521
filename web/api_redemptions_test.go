package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
)

// storeCreditReward is a program reward paid as Shopify store credit.
var storeCreditReward = map[string]any{"id": "credit-5", "name": "5.00 store credit", "points_cost": 500,
	"discount_type": "store_credit", "value": "5.00", "expires_after_days": 60}

// addStoreCreditReward adds storeCreditReward to the shop's program through
// PUT /api/v1/program.
func addStoreCreditReward(t *testing.T, b *apiBundle, tok string) {
	t.Helper()
	prog := decodeJSON[map[string]any](t, b.call(http.MethodGet, "/api/v1/program", tok, nil))
	prog["rewards"] = append(prog["rewards"].([]any), storeCreditReward)
	requireStatus(t, b.call(http.MethodPut, "/api/v1/program", tok, prog), http.StatusOK)
}

// TestAPI_ProgramStoreCreditReward: a store credit reward is saved and read
// back with its amount as a decimal string; one without a lifetime, with a
// zero or over-precise amount or with a minimum subtotal is 422 on the
// field.
func TestAPI_ProgramStoreCreditReward(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	sh := b.install(t, "shop-a.myshopify.com")
	tok := b.token(sh.Domain)
	addStoreCreditReward(t, b, tok)
	prog := decodeJSON[map[string]any](t, b.call(http.MethodGet, "/api/v1/program", tok, nil))
	rewards := prog["rewards"].([]any)
	last := rewards[len(rewards)-1].(map[string]any)
	if last["discount_type"] != "store_credit" || last["value"] != "5" || last["expires_after_days"] != float64(60) {
		t.Fatalf("saved reward %v", last)
	}
	i := itoa(int64(len(rewards) - 1))
	for _, tc := range []struct {
		name  string
		edit  func(r map[string]any)
		field string
	}{
		{"NoLifetime", func(r map[string]any) { r["expires_after_days"] = 0 }, "rewards[" + i + "].expires_after_days"},
		{"ZeroAmount", func(r map[string]any) { r["value"] = "0" }, "rewards[" + i + "].value"},
		{"FourDecimals", func(r map[string]any) { r["value"] = "5.0001" }, "rewards[" + i + "].value"},
		{"MinimumSubtotal", func(r map[string]any) { r["min_subtotal_minor"] = 1000 }, "rewards[" + i + "].min_subtotal_minor"},
		{"UnknownType", func(r map[string]any) { r["discount_type"] = "gift_card" }, "rewards[" + i + "].discount_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := cloneJSON(t, prog)
			tc.edit(bad["rewards"].([]any)[len(rewards)-1].(map[string]any))
			requireAPIError(t, b.call(http.MethodPut, "/api/v1/program", tok, bad), http.StatusUnprocessableEntity, "invalid", tc.field)
		})
	}
}

// TestAPI_CancelRedemption: POST
// /api/v1/customers/{id}/redemptions/{redemption_id}/cancel deletes the
// unused code in Shopify and gives the points back, once however often it
// is called; a pending, used or store credit redemption is 409; another
// customer's or shop's is 404; malformed ids are 422 on their field; no
// token is 401.
func TestAPI_CancelRedemption(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	sh := b.install(t, "shop-a.myshopify.com")
	other := b.install(t, "shop-b.myshopify.com")
	tok, otherTok := b.token(sh.Domain), b.token(other.Domain)
	c := b.customer(t, sh, 5_400_000_001, "ada@example.com")
	b.fake.AddCustomer(sh.Domain, fake.ShopifyCustomer{ID: c.shopifyID, Email: "ada@example.com"})
	addStoreCreditReward(t, b, tok)
	path := "/api/v1/customers/" + itoa(c.shopifyID)
	requireStatus(t, b.call(http.MethodPost, path+"/points", tok, map[string]any{"points": 3000, "reason": "Gift"}), http.StatusOK)
	ctx := context.Background()
	redeem := func(reward string, activate bool) int64 {
		t.Helper()
		rec := b.call(http.MethodPost, path+"/redeem", tok, map[string]any{"reward_id": reward})
		requireStatus(t, rec, http.StatusCreated)
		id := int64(decodeJSON[map[string]any](t, rec)["id"].(float64))
		if activate {
			if err := b.loyalty.CreateCoupon(ctx, sh.ID, id, false); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	balance := func() float64 {
		return decodeJSON[map[string]any](t, b.call(http.MethodGet, path, tok, nil))["points_balance"].(float64)
	}
	cancel := func(id int64) string { return path + "/redemptions/" + itoa(id) + "/cancel" }

	pending := redeem("amount-5", false)
	active := redeem("amount-5", true)
	used := redeem("amount-5", true)
	credit := redeem("credit-5", true)
	if _, ok, err := b.st.RedeemCouponCode(ctx, sh.ID, codeOf(t, b, sh, used), "gid://shopify/Order/1", time.Now()); err != nil || !ok {
		t.Fatalf("marking used: %v %v", ok, err)
	}
	if n := len(b.fake.StoreCredits(sh.Domain)); n != 1 {
		t.Fatalf("%d store credits", n)
	}
	before := balance()

	for range 2 {
		rec := b.call(http.MethodPost, cancel(active), tok, nil)
		requireStatus(t, rec, http.StatusOK)
		v := decodeJSON[map[string]any](t, rec)
		if v["status"] != "cancelled" || v["cancelled_at"] == nil {
			t.Fatalf("cancelled = %v", v)
		}
		if got := balance(); got != before+500 {
			t.Fatalf("balance %v after cancelling, want %v", got, before+500)
		}
	}
	for _, d := range b.fake.DiscountCodes(sh.Domain) {
		if d.Code == codeOf(t, b, sh, active) {
			t.Fatal("the cancelled code still exists in Shopify")
		}
	}

	// The list names every redemption, newest first, with its state.
	rec := b.call(http.MethodGet, path+"/redemptions", tok, nil)
	requireStatus(t, rec, http.StatusOK)
	list := decodeJSON[[]map[string]any](t, rec)
	if len(list) != 4 || list[0]["id"] != float64(credit) || list[0]["discount_type"] != "store_credit" || list[0]["currency"] != "USD" ||
		list[2]["id"] != float64(active) || list[2]["status"] != "cancelled" || list[3]["status"] != "pending" {
		t.Fatalf("redemptions = %v", list)
	}
	requireAPIError(t, b.call(http.MethodGet, path+"/redemptions", otherTok, nil), http.StatusNotFound, "not_found", "")

	for _, tc := range []struct {
		name, path, token string
		status            int
		code, field       string
	}{
		{"Pending", cancel(pending), tok, 409, "conflict", ""},
		{"Used", cancel(used), tok, 409, "conflict", ""},
		{"StoreCredit", cancel(credit), tok, 409, "conflict", ""},
		{"Unknown", cancel(999_999), tok, 404, "not_found", ""},
		{"OtherCustomer", "/api/v1/customers/5400000009/redemptions/" + itoa(active) + "/cancel", tok, 404, "not_found", ""},
		{"OtherShop", cancel(active), otherTok, 404, "not_found", ""},
		{"BadRedemptionID", path + "/redemptions/abc/cancel", tok, 422, "invalid", "redemption_id"},
		{"BadCustomerID", "/api/v1/customers/-4/redemptions/1/cancel", tok, 422, "invalid", "shopify_customer_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireAPIError(t, b.call(http.MethodPost, tc.path, tc.token, nil), tc.status, tc.code, tc.field)
		})
	}
	requireStatus(t, b.call(http.MethodPost, cancel(active), "", nil), http.StatusUnauthorized)
	if got := balance(); got != before+500 {
		t.Fatalf("refused cancellations changed the balance: %v", got)
	}
	if n := len(b.fake.StoreCredits(sh.Domain)); n != 1 {
		t.Fatalf("%d store credits after the refusals", n)
	}
}

func codeOf(t *testing.T, b *apiBundle, sh *store.Shop, id int64) string {
	t.Helper()
	c, err := b.st.Coupon(context.Background(), sh.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return c.Code
}

// TestProxyAPI_StoreCreditRedemption: the storefront lists a store credit
// reward and redeems it like a coupon: 201 pending with discount_type
// store_credit, its amount and currency and no code, then active once
// Shopify credited it (still no code); a refusal is failed with the points
// back and Shopify's reason.
func TestProxyAPI_StoreCreditRedemption(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	sh := b.install(t, "shop-a.myshopify.com")
	tok := b.token(sh.Domain)
	ada := b.customer(t, sh, 5_500_000_001, "ada@example.com")
	b.fake.AddCustomer(sh.Domain, fake.ShopifyCustomer{ID: ada.shopifyID, Email: "ada@example.com"})
	addStoreCreditReward(t, b, tok)
	requireStatus(t, b.call(http.MethodPost, "/api/v1/customers/"+itoa(ada.shopifyID)+"/points", tok,
		map[string]any{"points": 1200, "reason": "Welcome"}), http.StatusOK)
	id := itoa(ada.shopifyID)
	ctx := context.Background()

	res, _ := b.proxyAPI(t, http.MethodGet, "/rewards", sh.Domain, id, nil)
	if res.code != http.StatusOK || !strings.Contains(res.body, `"discount_type":"store_credit"`) || !strings.Contains(res.body, `"id":"credit-5"`) {
		t.Fatalf("rewards = %d %s", res.code, res.body)
	}
	res, _ = b.proxyAPI(t, http.MethodPost, "/redemptions", sh.Domain, id, map[string]any{"reward_id": "credit-5", "request_id": "r1"})
	if res.code != http.StatusCreated {
		t.Fatalf("redeem = %d %s", res.code, res.body)
	}
	v := res.json(t)
	if v["status"] != "pending" || v["discount_type"] != "store_credit" || v["amount"] != "5.00" || v["currency"] != "USD" ||
		v["code"] != nil || v["expires_at"] == nil {
		t.Fatalf("pending redemption = %v", v)
	}
	rid := int64(v["id"].(float64))
	if err := b.loyalty.CreateCoupon(ctx, sh.ID, rid, false); err != nil {
		t.Fatal(err)
	}
	res, _ = b.proxyAPI(t, http.MethodGet, "/redemptions/"+itoa(rid), sh.Domain, id, nil)
	v = res.json(t)
	if res.code != http.StatusOK || v["status"] != "active" || v["code"] != nil || v["amount"] != "5.00" {
		t.Fatalf("active redemption = %d %v", res.code, v)
	}
	credits := b.fake.StoreCredits(sh.Domain)
	if len(credits) != 1 || credits[0].CustomerID != ada.shopifyID || credits[0].Amount.String() != "5" || credits[0].ExpiresAt.IsZero() {
		t.Fatalf("Shopify credits %+v", credits)
	}

	// Shopify refuses the next one: failed, the reason shown, the points back.
	b.fake.RefuseNextStoreCredit(sh.Domain, "CREDIT_LIMIT_EXCEEDED", "The operation would cause the account's credit limit to be exceeded.")
	res, _ = b.proxyAPI(t, http.MethodPost, "/redemptions", sh.Domain, id, map[string]any{"reward_id": "credit-5", "request_id": "r2"})
	rid2 := int64(res.json(t)["id"].(float64))
	if err := b.loyalty.CreateCoupon(ctx, sh.ID, rid2, false); err != nil {
		t.Fatal(err)
	}
	res, _ = b.proxyAPI(t, http.MethodGet, "/redemptions/"+itoa(rid2), sh.Domain, id, nil)
	v = res.json(t)
	if v["status"] != "failed" || !strings.Contains(v["reason"].(string), "credit limit") || strings.Contains(v["reason"].(string), "shopify:") {
		t.Fatalf("refused redemption = %v", v)
	}
	res, _ = b.proxyAPI(t, http.MethodGet, "/member", sh.Domain, id, nil)
	if bal := res.json(t)["points_balance"]; bal != float64(700) {
		t.Fatalf("balance %v, want 700 (one credit spent, the refused one given back)", bal)
	}
	// 700 points buy one more; then too few: 422 on reward_id.
	res, _ = b.proxyAPI(t, http.MethodPost, "/redemptions", sh.Domain, id, map[string]any{"reward_id": "credit-5", "request_id": "r4"})
	if res.code != http.StatusCreated {
		t.Fatalf("a second credit with 700 points = %d %s", res.code, res.body)
	}
	requireProxyError(t, mustProxy(b, t, http.MethodPost, "/redemptions", sh.Domain, id, map[string]any{"reward_id": "credit-5", "request_id": "r5"}), 422, "reward_id")
	if n := len(b.fake.StoreCredits(sh.Domain)); n != 1 {
		t.Fatalf("%d credits in Shopify, want 1", n)
	}
}

func mustProxy(b *apiBundle, t *testing.T, method, path, shop, customer string, body any) *httpResult {
	t.Helper()
	res, _ := b.proxyAPI(t, method, path, shop, customer, body)
	return res
}

// TestPageCustomer_CancelRedemption: the customer page lists the rewards
// bought; an active unused coupon has a cancel form behind a confirm step
// that cancels it (the code deleted in Shopify, the points back) and
// redirects with the outcome; a refused cancellation re-renders the page
// with the reason and 409.
func TestPageCustomer_CancelRedemption(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	b.credit(t, 1500)
	ctx := context.Background()
	c1, err := b.loyalty.Redeem(ctx, b.shop.ID, pageCustomerID, "amount-5")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.loyalty.CreateCoupon(ctx, b.shop.ID, c1.ID, false); err != nil {
		t.Fatal(err)
	}
	pending, err := b.loyalty.Redeem(ctx, b.shop.ID, pageCustomerID, "amount-5")
	if err != nil {
		t.Fatal(err)
	}

	rec, d := b.page(t, pageShop, "/app/customers/7001")
	requireStatus(t, rec, http.StatusOK)
	rows := d.Find(`[data-testid="redemption-row"]`)
	if rows.Length() != 2 {
		t.Fatalf("%d redemption rows", rows.Length())
	}
	if n := d.Find(`[data-testid="redemption-cancel-form"]`).Length(); n != 1 {
		t.Fatalf("%d cancel forms, want 1 (the active coupon only)", n)
	}
	confirm := d.Find(`details.inline-confirm [data-testid="redemption-cancel-form"]`)
	if confirm.Length() != 1 || !strings.Contains(pageText(confirm), c1.Code) {
		t.Fatalf("cancel is not behind a confirm step naming the code: %q", pageText(confirm))
	}
	action := formAction(t, d, `[data-testid="redemption-cancel-form"]`)
	rec, _ = b.submit(t, pageShop, action, url.Values{})
	u := requireRedirect(t, rec, "/app/customers/7001", "redemption-cancelled")
	_, d = b.page(t, pageShop, u.Path+"?"+u.RawQuery)
	if got := pageText(d.Find(`[data-testid="customer-balance"]`)); got != "1,000" {
		t.Errorf("balance after cancelling = %q, want 1,000 (1,500 less the pending coupon)", got)
	}
	if d.Find(`[data-testid="redemption-row"][data-status="cancelled"]`).Length() != 1 {
		t.Error("the cancelled coupon is not shown as cancelled")
	}
	if len(b.fake.DiscountCodes(pageShop)) != 0 {
		t.Error("the code still exists in Shopify")
	}
	// The same form again (a double click) changes nothing more.
	rec, _ = b.submit(t, pageShop, action, url.Values{})
	requireStatus(t, rec, http.StatusSeeOther)
	// A pending one, posted by hand: 409 with the reason on the page.
	pendingAction := strings.Replace(action, "/redemptions/"+itoa(c1.ID)+"/", "/redemptions/"+itoa(pending.ID)+"/", 1)
	rec, d = b.submit(t, pageShop, pendingAction, url.Values{})
	requireStatus(t, rec, http.StatusConflict)
	if got := pageText(d.Find(`[data-testid="redemption-error"]`)); !strings.Contains(got, "still being created") {
		t.Errorf("refusal shown as %q", got)
	}
	// Another shop's customer: 404.
	rec, _ = b.submit(t, pageOtherShop, strings.Replace(pendingAction, "/customers/7001/", "/customers/9001/", 1), url.Values{})
	requireStatus(t, rec, http.StatusNotFound)

	// A store credit is listed with its amount, without a code or a cancel
	// button.
	prog, err := b.loyalty.GetProgram(ctx, b.shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	prog.Rewards = append(prog.Rewards, program.Reward{ID: "credit-5", Name: "Store credit", PointsCost: 500,
		DiscountType: program.DiscountStoreCredit, Value: decimal.NewFromInt(5), ExpiresAfterDays: 30})
	if err := b.loyalty.SaveProgram(ctx, b.shop.ID, prog); err != nil {
		t.Fatal(err)
	}
	b.fake.AddCustomer(pageShop, fake.ShopifyCustomer{ID: pageCustomerID, Email: "ada@example.com"})
	sc, err := b.loyalty.Redeem(ctx, b.shop.ID, pageCustomerID, "credit-5")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.loyalty.CreateCoupon(ctx, b.shop.ID, sc.ID, false); err != nil {
		t.Fatal(err)
	}
	_, d = b.page(t, pageShop, "/app/customers/7001")
	row := d.Find(`[data-testid="redemption-row"][data-status="active"]`)
	if row.Length() != 1 || !strings.Contains(pageText(row), "USD 5.00 store credit") || strings.Contains(pageText(row), sc.Code) ||
		row.Find(`[data-testid="redemption-cancel-form"]`).Length() != 0 {
		t.Errorf("store credit row = %q", pageText(row))
	}
}
