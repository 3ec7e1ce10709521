package web_test

import (
	"net/http"
	"testing"
	"time"
)

// TestBirthday_AdminAndStorefront: staff set a birthday through the JSON
// admin API, shoppers their own through the storefront API, once a year;
// impossible dates are 422 with the field; and a birthday set on the
// storefront pays birthday_reward on the day, in the shop's time zone.
func TestBirthday_AdminAndStorefront(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	sh := b.install(t, "shop-a.myshopify.com")
	tok := b.token(sh.Domain)
	ada := b.customer(t, sh, 5_400_000_001, "ada@example.com")
	grace := b.customer(t, sh, 5_400_000_002, "grace@example.com")
	adaID, graceID := itoa(ada.shopifyID), itoa(grace.shopifyID)
	admin := "/api/v1/customers/" + adaID + "/birthday"

	for _, tc := range []struct {
		name   string
		path   string
		body   any
		status int
		code   string
		field  string
	}{
		{"MonthThirteen", admin, map[string]any{"month": 13, "day": 1}, 422, "invalid", "month"},
		{"FebruaryThirty", admin, map[string]any{"month": 2, "day": 30}, 422, "invalid", "day"},
		{"DayZero", admin, map[string]any{"month": 5, "day": 0}, 422, "invalid", "day"},
		{"NoDay", admin, map[string]any{"month": 5}, 422, "invalid", "day"},
		{"NotJSON", admin, "{", 400, "bad_request", ""},
		{"UnknownCustomer", "/api/v1/customers/999/birthday", map[string]any{"month": 5, "day": 4}, 404, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := b.call(http.MethodPut, tc.path, tok, tc.body)
			requireAPIError(t, rec, tc.status, tc.code, tc.field)
		})
	}
	// Staff may set and correct it as often as needed; 29 February exists.
	for _, d := range []map[string]any{{"month": 5, "day": 4}, {"month": 2, "day": 29}} {
		rec := b.call(http.MethodPut, admin, tok, d)
		requireStatus(t, rec, http.StatusOK)
		if got := decodeJSON[map[string]any](t, rec); got["month"] != float64(d["month"].(int)) || got["day"] != float64(d["day"].(int)) {
			t.Fatalf("answer %v for %v", got, d)
		}
	}

	// The storefront: a guest is 401; a member sets it, sees it, may not
	// change it again within a year, and the same date again is fine.
	res, _ := b.proxyAPI(t, http.MethodPut, "/birthday", sh.Domain, "", map[string]any{"month": 3, "day": 3})
	requireProxyError(t, res, http.StatusUnauthorized, "")
	res, _ = b.proxyAPI(t, http.MethodPut, "/birthday", sh.Domain, graceID, map[string]any{"month": 2, "day": 31})
	requireProxyError(t, res, http.StatusUnprocessableEntity, "day")
	res, _ = b.proxyAPI(t, http.MethodPut, "/birthday", sh.Domain, graceID, map[string]any{"month": 3, "day": 3})
	if res.code != http.StatusOK {
		t.Fatalf("set = %d %s", res.code, res.body)
	}
	res, _ = b.proxyAPI(t, http.MethodPut, "/birthday", sh.Domain, graceID, map[string]any{"month": 3, "day": 3})
	if res.code != http.StatusOK {
		t.Fatalf("same date again = %d %s", res.code, res.body)
	}
	res, _ = b.proxyAPI(t, http.MethodPut, "/birthday", sh.Domain, graceID, map[string]any{"month": 3, "day": 4})
	requireProxyError(t, res, http.StatusConflict, "")
	res, _ = b.proxyAPI(t, http.MethodGet, "/member", sh.Domain, graceID, nil)
	if bd, _ := res.json(t)["birthday"].(map[string]any); bd["month"] != float64(3) || bd["day"] != float64(3) {
		t.Fatalf("member birthday = %v", res.json(t)["birthday"])
	}
	// A year on, the change is allowed.
	b.clock.Advance(366 * 24 * time.Hour)
	res, _ = b.proxyAPI(t, http.MethodPut, "/birthday", sh.Domain, graceID, map[string]any{"month": 3, "day": 4})
	if res.code != http.StatusOK {
		t.Fatalf("change after a year = %d %s", res.code, res.body)
	}

	// From the storefront to the event: on 4 March in the shop's zone
	// Grace gets birthday_reward, once.
	loc := sh.Location()
	day := time.Date(b.clock.Now().In(loc).Year()+1, time.March, 4, 9, 0, 0, 0, loc)
	for range 2 {
		if _, err := b.loyalty.GrantBirthdays(t.Context(), sh.ID, day); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	b.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM loyalty_events WHERE shop_id = $1 AND key = 'birthday_reward' AND shopify_customer_id = $2`,
		sh.ID, grace.shopifyID).Scan(&n)
	if n != 1 {
		t.Fatalf("%d birthday_reward events for Grace, want 1", n)
	}
}
