package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAPI_TenantIsolation gives shop B one of everything and checks that
// shop A's token can neither see nor change any of it: every answer about
// B's resources is what A would get for a resource that does not exist,
// and B's state is unchanged afterwards (DESIGN.md §8: 404).
func TestAPI_TenantIsolation(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	shA := b.install(t, "shop-a.myshopify.com")
	shB := b.install(t, "shop-b.myshopify.com")
	tokA, tokB := b.token(shA.Domain), b.token(shB.Domain)

	b.connectKlaviyo(t, shB, klaviyoKeyB)
	b.connectCleverTap(t, shB, ctAccountB, ctPasscodeB)
	defB := b.define(t, shB, "klaviyo", "wallet_points_rewarded")
	custB := b.customer(t, shB, 8_800_000_001, "b@example.com")
	requireStatus(t, b.call(http.MethodPost, "/api/v1/customers/"+itoa(custB.shopifyID)+"/points", tokB,
		map[string]any{"points": 900, "reason": "Welcome"}), http.StatusOK)
	evB := b.emit(t, shB, custB, "wallet_points_rewarded")[0]
	delB := b.setDelivery(t, shB, evB, "klaviyo", "failed", time.Now().Add(-time.Hour))
	progB := b.call(http.MethodGet, "/api/v1/program", tokB, nil).Body.String()

	stateB := func(t *testing.T) string {
		t.Helper()
		var sb strings.Builder
		for _, p := range []string{"/api/v1/integrations", "/api/v1/integrations/klaviyo/events", "/api/v1/deliveries",
			"/api/v1/customers/" + itoa(custB.shopifyID), "/api/v1/program"} {
			rec := b.call(http.MethodGet, p, tokB, nil)
			requireStatus(t, rec, http.StatusOK)
			sb.WriteString(rec.Body.String())
		}
		return sb.String()
	}
	before := stateB(t)

	t.Run("Integrations", func(t *testing.T) {
		list := decodeJSON[[]map[string]any](t, b.call(http.MethodGet, "/api/v1/integrations", tokA, nil))
		if list[0]["status"] != "not_connected" || list[1]["status"] != "not_connected" {
			t.Errorf("A sees %v", list)
		}
		if got := decodeJSON[map[string]any](t, b.call(http.MethodGet, "/api/v1/integrations/clevertap", tokA, nil)); got["status"] != "not_connected" || got["account_id"] != nil {
			t.Errorf("A sees clevertap %v", got)
		}
		requireAPIError(t, b.call(http.MethodDelete, "/api/v1/integrations/klaviyo", tokA, nil), 404, "not_found", "")
		requireAPIError(t, b.call(http.MethodDelete, "/api/v1/integrations/clevertap", tokA, nil), 404, "not_found", "")
		// B's passcode is B's: A cannot reuse it with an empty passcode.
		requireAPIError(t, b.call(http.MethodPut, "/api/v1/integrations/clevertap", tokA, map[string]any{
			"common_property": "email", "account_id": ctAccountB, "passcode": "", "region": ctRegion,
		}), 422, "invalid", "passcode")
		requireAPIError(t, b.call(http.MethodPut, "/api/v1/integrations/klaviyo", tokA, map[string]any{"common_property": "email"}), 422, "invalid", "private_api_key")
	})

	t.Run("Events", func(t *testing.T) {
		requireAPIError(t, b.call(http.MethodGet, "/api/v1/integrations/klaviyo/events", tokA, nil), 404, "not_found", "")
		// Even with its own Klaviyo connected, A cannot reach B's definition.
		b.connectKlaviyo(t, shA, klaviyoKeyA)
		rec := b.call(http.MethodGet, "/api/v1/integrations/klaviyo/events", tokA, nil)
		requireStatus(t, rec, http.StatusOK)
		if strings.TrimSpace(rec.Body.String()) != "[]" {
			t.Errorf("A lists %s", rec.Body.String())
		}
		p := "/api/v1/integrations/klaviyo/events/" + itoa(defB)
		requireAPIError(t, b.call(http.MethodPatch, p, tokA, map[string]any{"enabled": false}), 404, "not_found", "")
		requireAPIError(t, b.call(http.MethodDelete, p, tokA, nil), 404, "not_found", "")
	})

	t.Run("Deliveries", func(t *testing.T) {
		rec := b.call(http.MethodGet, "/api/v1/deliveries", tokA, nil)
		requireStatus(t, rec, http.StatusOK)
		if strings.TrimSpace(rec.Body.String()) != "[]" {
			t.Errorf("A lists %s", rec.Body.String())
		}
		if got := b.call(http.MethodGet, "/api/v1/deliveries?customer_id="+itoa(custB.shopifyID), tokA, nil).Body.String(); strings.TrimSpace(got) != "[]" {
			t.Errorf("A lists B's customer's deliveries: %s", got)
		}
		requireAPIError(t, b.call(http.MethodPost, "/api/v1/deliveries/"+itoa(delB)+"/retry", tokA, nil), 404, "not_found", "")
		rec = b.call(http.MethodPost, "/api/v1/deliveries/retry", tokA, nil)
		requireStatus(t, rec, http.StatusOK)
		if got := decodeJSON[map[string]any](t, rec); got["retried"] != float64(0) {
			t.Errorf("A retried %v", got)
		}
		if got := b.deliveryStatus(t, delB); got != "failed" {
			t.Errorf("B's delivery is %q", got)
		}
		s := decodeJSON[map[string]any](t, b.call(http.MethodGet, "/api/v1/stats", tokA, nil))
		for k, v := range s["totals"].(map[string]any) {
			if v != float64(0) {
				t.Errorf("A's stats count %s = %v", k, v)
			}
		}
		// B's own stats do count it: the zero above is isolation, not an empty table.
		s = decodeJSON[map[string]any](t, b.call(http.MethodGet, "/api/v1/stats", tokB, nil))
		if s["totals"].(map[string]any)["failed"] != float64(1) {
			t.Errorf("B's stats = %v", s["totals"])
		}
	})

	t.Run("Customers", func(t *testing.T) {
		p := "/api/v1/customers/" + itoa(custB.shopifyID)
		requireAPIError(t, b.call(http.MethodGet, p, tokA, nil), 404, "not_found", "")
		requireAPIError(t, b.call(http.MethodPost, p+"/points", tokA, map[string]any{"points": 100, "reason": "x"}), 404, "not_found", "")
		requireAPIError(t, b.call(http.MethodPost, p+"/points", tokA, map[string]any{"points": -100, "reason": "x"}), 404, "not_found", "")
		requireAPIError(t, b.call(http.MethodPost, p+"/redeem", tokA, map[string]any{"reward_id": "amount-5"}), 404, "not_found", "")
	})

	t.Run("Program", func(t *testing.T) {
		progA := decodeJSON[map[string]any](t, b.call(http.MethodGet, "/api/v1/program", tokA, nil))
		progA["signup_points"] = 7
		requireStatus(t, b.call(http.MethodPut, "/api/v1/program", tokA, progA), http.StatusOK)
		if got := decodeJSON[map[string]any](t, b.call(http.MethodGet, "/api/v1/program", tokA, nil)); got["signup_points"] != float64(7) {
			t.Errorf("A's program = %v", got["signup_points"])
		}
		if got := b.call(http.MethodGet, "/api/v1/program", tokB, nil).Body.String(); got != progB {
			t.Errorf("B's program changed:\n%s\n%s", progB, got)
		}
	})

	if after := stateB(t); after != before {
		t.Errorf("B's state changed:\nbefore %s\nafter  %s", before, after)
	}
}
