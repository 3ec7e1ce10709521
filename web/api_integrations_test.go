package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// integrationKeys are the §6 keys of an integration.
var integrationKeys = []string{"kind", "status", "status_reason", "common_property"}

func TestAPI_IntegrationsConnect(t *testing.T) {
	t.Parallel()

	t.Run("KlaviyoActive", func(t *testing.T) {
		t.Parallel()
		b := setupAPI(t)
		sh := b.install(t, "shop-a.myshopify.com")
		tok := b.token(sh.Domain)

		v := b.connectKlaviyo(t, sh, klaviyoKeyA)
		requireKeys(t, "integration", v, integrationKeys...)
		if v["kind"] != "klaviyo" || v["common_property"] != "email" || v["status_reason"] != "" {
			t.Errorf("integration = %v", v)
		}
		if hint, _ := v["credentials_hint"].(string); !strings.HasSuffix(hint, klaviyoKeyA[len(klaviyoKeyA)-4:]) {
			t.Errorf("credentials_hint = %q", hint)
		}
		rec := b.call(http.MethodGet, "/api/v1/integrations", tok, nil)
		requireStatus(t, rec, http.StatusOK)
		if strings.Contains(rec.Body.String(), klaviyoKeyA) {
			t.Fatalf("list shows the key: %s", rec.Body.String())
		}
		list := decodeJSON[[]map[string]any](t, rec)
		if len(list) != 2 || list[0]["kind"] != "clevertap" || list[0]["status"] != "not_connected" ||
			list[1]["kind"] != "klaviyo" || list[1]["status"] != "active" {
			t.Errorf("list = %v", list)
		}
		for _, in := range list {
			requireKeys(t, "listed integration", in, integrationKeys...)
		}
		rec = b.call(http.MethodGet, "/api/v1/integrations/klaviyo", tok, nil)
		requireStatus(t, rec, http.StatusOK)
		if got := decodeJSON[map[string]any](t, rec); got["status"] != "active" {
			t.Errorf("show = %v", got)
		}
		requireAPIError(t, b.call(http.MethodGet, "/api/v1/integrations/mailchimp", tok, nil), http.StatusNotFound, "not_found", "")
	})

	t.Run("KlaviyoRejectedKeyIs422AndSaved", func(t *testing.T) {
		t.Parallel()
		b := setupAPI(t)
		sh := b.install(t, "shop-a.myshopify.com")
		tok := b.token(sh.Domain)

		rec := b.call(http.MethodPut, "/api/v1/integrations/klaviyo", tok,
			map[string]any{"common_property": "email", "private_api_key": "pk_not_a_known_key_000"})
		e := requireAPIError(t, rec, http.StatusUnprocessableEntity, "invalid", "private_api_key")
		if msg := e["message"].(string); !strings.Contains(msg, "Klaviyo rejected the private API key") {
			t.Errorf("message = %q", msg)
		}
		in, ok := e["integration"].(map[string]any)
		if !ok || in["status"] != "not_connected" || in["status_reason"] != e["message"] {
			t.Errorf("error integration = %v", e["integration"])
		}
		// The state is saved as the service left it, reason included.
		list := decodeJSON[[]map[string]any](t, b.call(http.MethodGet, "/api/v1/integrations", tok, nil))
		if list[1]["status"] != "not_connected" || list[1]["status_reason"] != e["message"] || list[1]["common_property"] != "email" {
			t.Errorf("list = %v", list)
		}
	})

	t.Run("CleverTapWrongRegionThenRight", func(t *testing.T) {
		t.Parallel()
		b := setupAPI(t)
		sh := b.install(t, "shop-a.myshopify.com")
		tok := b.token(sh.Domain)

		rec := b.call(http.MethodPut, "/api/v1/integrations/clevertap", tok, map[string]any{
			"common_property": "phone", "account_id": ctAccountA, "passcode": ctPasscodeA, "region": "sg1",
		})
		e := requireAPIError(t, rec, http.StatusUnprocessableEntity, "invalid", "region")
		want := "Invalid credentials for region sg1 (Singapore). These credentials work in in1 (India): choose that server prefix."
		if e["message"] != want {
			t.Errorf("message = %q, want %q", e["message"], want)
		}
		if fields, _ := e["fields"].(map[string]any); fields["region"] != want {
			t.Errorf("fields = %v", e["fields"])
		}
		if in, _ := e["integration"].(map[string]any); in["status"] != "not_connected" || in["region"] != "sg1" || in["account_id"] != ctAccountA {
			t.Errorf("error integration = %v", e["integration"])
		}

		// The passcode was kept: only the region changes.
		rec = b.call(http.MethodPut, "/api/v1/integrations/clevertap", tok, map[string]any{
			"common_property": "phone", "account_id": ctAccountA, "passcode": "", "region": "in1",
		})
		requireStatus(t, rec, http.StatusOK)
		v := decodeJSON[map[string]any](t, rec)
		requireKeys(t, "integration", v, append(integrationKeys, "region")...)
		if v["status"] != "active" || v["region"] != "in1" || v["status_reason"] != "" || v["common_property"] != "phone" {
			t.Errorf("integration = %v", v)
		}
		if strings.Contains(rec.Body.String(), ctPasscodeA) {
			t.Errorf("answer shows the passcode: %s", rec.Body.String())
		}
	})

	t.Run("CleverTapWrongPasscode", func(t *testing.T) {
		t.Parallel()
		b := setupAPI(t)
		sh := b.install(t, "shop-a.myshopify.com")
		rec := b.call(http.MethodPut, "/api/v1/integrations/clevertap", b.token(sh.Domain), map[string]any{
			"common_property": "email", "account_id": ctAccountA, "passcode": "WRONG-PASS", "region": "in1",
		})
		e := requireAPIError(t, rec, http.StatusUnprocessableEntity, "invalid", "passcode")
		if msg := e["message"].(string); !strings.Contains(msg, "CleverTap rejected the Account ID or passcode") {
			t.Errorf("message = %q", msg)
		}
	})

	t.Run("InputErrors", func(t *testing.T) {
		t.Parallel()
		b := setupAPI(t)
		sh := b.install(t, "shop-a.myshopify.com")
		tok := b.token(sh.Domain)
		ct := func(extra map[string]any) map[string]any {
			m := map[string]any{"common_property": "email", "account_id": ctAccountA, "passcode": ctPasscodeA, "region": "in1"}
			for k, v := range extra {
				m[k] = v
			}
			return m
		}
		for _, tc := range []struct {
			name, path string
			body       any
			status     int
			code       string
			field      string
		}{
			{"MalformedJSON", "/api/v1/integrations/klaviyo", `{"common_property": "email",`, 400, "bad_request", ""},
			{"NotJSON", "/api/v1/integrations/klaviyo", `common_property=email`, 400, "bad_request", ""},
			{"EmptyBody", "/api/v1/integrations/klaviyo", "", 400, "bad_request", ""},
			{"TwoValues", "/api/v1/integrations/klaviyo", `{"common_property":"email"} {}`, 400, "bad_request", ""},
			{"Array", "/api/v1/integrations/klaviyo", `[]`, 400, "bad_request", ""},
			{"UnknownField", "/api/v1/integrations/klaviyo", map[string]any{"common_property": "email", "api_key": "pk_x"}, 400, "bad_request", "api_key"},
			{"WrongType", "/api/v1/integrations/klaviyo", map[string]any{"common_property": 5}, 422, "invalid", "common_property"},
			{"BadCommonProperty", "/api/v1/integrations/klaviyo", map[string]any{"common_property": "fax", "private_api_key": klaviyoKeyA}, 422, "invalid", "common_property"},
			{"NotAKlaviyoKey", "/api/v1/integrations/klaviyo", map[string]any{"common_property": "email", "private_api_key": "sk_123456789"}, 422, "invalid", "private_api_key"},
			{"MissingKlaviyoKey", "/api/v1/integrations/klaviyo", map[string]any{"common_property": "email"}, 422, "invalid", "private_api_key"},
			{"UnknownRegion", "/api/v1/integrations/clevertap", ct(map[string]any{"region": "mars1"}), 422, "invalid", "region"},
			{"MissingAccount", "/api/v1/integrations/clevertap", ct(map[string]any{"account_id": ""}), 422, "invalid", "account_id"},
			{"MissingPasscode", "/api/v1/integrations/clevertap", ct(map[string]any{"passcode": ""}), 422, "invalid", "passcode"},
			{"UnknownKind", "/api/v1/integrations/mailchimp", map[string]any{"common_property": "email"}, 404, "not_found", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rec := b.call(http.MethodPut, tc.path, tok, tc.body)
				e := requireAPIError(t, rec, tc.status, tc.code, tc.field)
				if tc.status == 422 {
					if fields, _ := e["fields"].(map[string]any); fields[tc.field] != e["message"] {
						t.Errorf("fields = %v", e["fields"])
					}
				}
			})
		}
		// None of that connected anything.
		list := decodeJSON[[]map[string]any](t, b.call(http.MethodGet, "/api/v1/integrations", tok, nil))
		if list[0]["status"] != "not_connected" || list[1]["status"] != "not_connected" {
			t.Errorf("list = %v", list)
		}
	})

	t.Run("BodyOverCap", func(t *testing.T) {
		t.Parallel()
		b := setupAPI(t)
		sh := b.install(t, "shop-a.myshopify.com")
		body := `{"common_property":"email","private_api_key":"` + strings.Repeat("k", 1<<20) + `"}`
		requireAPIError(t, b.call(http.MethodPut, "/api/v1/integrations/klaviyo", b.token(sh.Domain), body), http.StatusRequestEntityTooLarge, "too_large", "")
	})

	t.Run("Disconnect", func(t *testing.T) {
		t.Parallel()
		b := setupAPI(t)
		sh := b.install(t, "shop-a.myshopify.com")
		tok := b.token(sh.Domain)
		b.connectKlaviyo(t, sh, klaviyoKeyA)
		b.define(t, sh, "klaviyo", "wallet_points_rewarded")

		rec := b.call(http.MethodDelete, "/api/v1/integrations/klaviyo", tok, nil)
		requireStatus(t, rec, http.StatusNoContent)
		if rec.Body.Len() != 0 {
			t.Errorf("204 body = %q", rec.Body.String())
		}
		list := decodeJSON[[]map[string]any](t, b.call(http.MethodGet, "/api/v1/integrations", tok, nil))
		if list[1]["kind"] != "klaviyo" || list[1]["status"] != "not_connected" {
			t.Errorf("after delete: %v", list)
		}
		requireAPIError(t, b.call(http.MethodDelete, "/api/v1/integrations/klaviyo", tok, nil), http.StatusNotFound, "not_found", "")
		requireAPIError(t, b.call(http.MethodDelete, "/api/v1/integrations/mailchimp", tok, nil), http.StatusNotFound, "not_found", "")
		// Its definitions went with it: reconnecting starts clean.
		b.connectKlaviyo(t, sh, klaviyoKeyA)
		rec = b.call(http.MethodGet, "/api/v1/integrations/klaviyo/events", tok, nil)
		requireStatus(t, rec, http.StatusOK)
		if strings.TrimSpace(rec.Body.String()) != "[]" {
			t.Errorf("events after reconnect = %s", rec.Body.String())
		}
	})
}

func TestAPI_Events(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	sh := b.install(t, "shop-a.myshopify.com")
	tok := b.token(sh.Domain)

	// Not connected, or no such kind: 404.
	requireAPIError(t, b.call(http.MethodGet, "/api/v1/integrations/klaviyo/events", tok, nil), http.StatusNotFound, "not_found", "")
	requireAPIError(t, b.call(http.MethodPost, "/api/v1/integrations/klaviyo/events", tok, map[string]any{"event": "coupon_created"}), http.StatusNotFound, "not_found", "")
	requireAPIError(t, b.call(http.MethodGet, "/api/v1/integrations/mailchimp/events", tok, nil), http.StatusNotFound, "not_found", "")

	b.connectKlaviyo(t, sh, klaviyoKeyA)
	rec := b.call(http.MethodPost, "/api/v1/integrations/klaviyo/events", tok, map[string]any{
		"event": "wallet_points_rewarded", "channels": []string{"pos", "online_store"}, "name": "Points Earned",
	})
	requireStatus(t, rec, http.StatusCreated)
	d := decodeJSON[map[string]any](t, rec)
	requireKeys(t, "definition", d, "id", "event", "channels", "name", "enabled")
	id, _ := d["id"].(float64)
	if id <= 0 || d["event"] != "wallet_points_rewarded" || d["name"] != "Points Earned" || d["enabled"] != true ||
		strings.Join(toStrings(d["channels"]), ",") != "online_store,pos" {
		t.Errorf("created = %v", d)
	}
	path := "/api/v1/integrations/klaviyo/events/" + itoa(int64(id))

	// Defaults: every channel (an empty array, not null), the key as name.
	rec = b.call(http.MethodPost, "/api/v1/integrations/klaviyo/events", tok, map[string]any{"event": "coupon_created"})
	requireStatus(t, rec, http.StatusCreated)
	if c := decodeJSON[map[string]any](t, rec); c["name"] != "coupon_created" || c["channels"] == nil || len(toStrings(c["channels"])) != 0 {
		t.Errorf("defaults = %v", c)
	}

	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"Duplicate", map[string]any{"event": "wallet_points_rewarded"}, 409, "conflict", ""},
		{"UnknownEvent", map[string]any{"event": "points_party"}, 422, "invalid", "event"},
		{"UnknownChannel", map[string]any{"event": "tier_upgraded", "channels": []string{"fax"}}, 422, "invalid", "channels"},
		{"ChannelsOnNonOrderEvent", map[string]any{"event": "tier_upgraded", "channels": []string{"pos"}}, 422, "invalid", "channels"},
		{"NameTooLong", map[string]any{"event": "tier_upgraded", "name": strings.Repeat("n", 200)}, 422, "invalid", "name"},
		{"UnknownField", map[string]any{"event": "tier_upgraded", "enabled": false}, 400, "bad_request", "enabled"},
		{"ChannelsNotArray", map[string]any{"event": "tier_upgraded", "channels": "pos"}, 422, "invalid", "channels"},
		{"Malformed", `{"event":`, 400, "bad_request", ""},
	} {
		t.Run("Create"+tc.name, func(t *testing.T) {
			requireAPIError(t, b.call(http.MethodPost, "/api/v1/integrations/klaviyo/events", tok, tc.body), tc.status, tc.code, tc.field)
		})
	}

	rec = b.call(http.MethodPatch, path, tok, map[string]any{"enabled": false, "name": "Points!"})
	requireStatus(t, rec, http.StatusOK)
	if p := decodeJSON[map[string]any](t, rec); p["enabled"] != false || p["name"] != "Points!" || len(toStrings(p["channels"])) != 2 {
		t.Errorf("patched = %v", p)
	}
	requireAPIError(t, b.call(http.MethodPatch, path, tok, map[string]any{"event": "coupon_created"}), 400, "bad_request", "event")
	requireAPIError(t, b.call(http.MethodPatch, path, tok, map[string]any{"channels": []string{"fax"}}), 422, "invalid", "channels")
	requireAPIError(t, b.call(http.MethodPatch, "/api/v1/integrations/klaviyo/events/abc", tok, map[string]any{}), 422, "invalid", "id")
	requireAPIError(t, b.call(http.MethodPatch, "/api/v1/integrations/klaviyo/events/987654", tok, map[string]any{}), 404, "not_found", "")
	// The definition belongs to Klaviyo: under CleverTap it does not exist.
	b.connectCleverTap(t, sh, ctAccountA, ctPasscodeA)
	requireAPIError(t, b.call(http.MethodPatch, "/api/v1/integrations/clevertap/events/"+itoa(int64(id)), tok, map[string]any{"enabled": true}), 404, "not_found", "")

	rec = b.call(http.MethodGet, "/api/v1/integrations/klaviyo/events", tok, nil)
	requireStatus(t, rec, http.StatusOK)
	list := decodeJSON[[]map[string]any](t, rec)
	if len(list) != 2 {
		t.Fatalf("list = %v", list)
	}
	var found map[string]any
	for _, d := range list {
		requireKeys(t, "listed definition", d, "id", "event", "channels", "name", "enabled")
		if d["id"] == id {
			found = d
		}
	}
	if found == nil || found["enabled"] != false || found["name"] != "Points!" {
		t.Errorf("listed = %v", list)
	}

	requireStatus(t, b.call(http.MethodDelete, path, tok, nil), http.StatusNoContent)
	requireAPIError(t, b.call(http.MethodDelete, path, tok, nil), http.StatusNotFound, "not_found", "")
	if list := decodeJSON[[]map[string]any](t, b.call(http.MethodGet, "/api/v1/integrations/klaviyo/events", tok, nil)); len(list) != 1 || list[0]["event"] != "coupon_created" {
		t.Errorf("after delete = %v", list)
	}
}

func toStrings(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
