package web_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
)

// programKeys are the top-level keys of program.Settings.
var programKeys = []string{"points_per_currency_unit", "earn_base", "earn_on", "minimum_order_minor", "signup_points",
	"birthday_points", "review_points", "review_request_days", "pending_days", "guest_points_days", "expiry_months", "reminder_days",
	"unused_nudge", "rewards", "referral", "tiers"}

func TestAPI_Program(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	sh := b.install(t, "shop-a.myshopify.com")
	tok := b.token(sh.Domain)

	rec := b.call(http.MethodGet, "/api/v1/program", tok, nil)
	requireStatus(t, rec, http.StatusOK)
	defaults := decodeJSON[map[string]any](t, rec)
	requireKeys(t, "program", defaults, programKeys...)
	if defaults["signup_points"] != float64(100) || defaults["points_per_currency_unit"] != "1" {
		t.Errorf("defaults = %v", defaults)
	}

	t.Run("SaveReplaces", func(t *testing.T) {
		next := cloneJSON(t, defaults)
		next["signup_points"] = 250
		next["points_per_currency_unit"] = "1.5"
		next["reminder_days"] = []int{14, 3}
		rec := b.call(http.MethodPut, "/api/v1/program", tok, next)
		requireStatus(t, rec, http.StatusOK)
		saved := decodeJSON[map[string]any](t, rec)
		if saved["signup_points"] != float64(250) || saved["points_per_currency_unit"] != "1.5" ||
			!reflect.DeepEqual(saved["reminder_days"], []any{float64(14), float64(3)}) {
			t.Errorf("saved = %v", saved)
		}
		got := decodeJSON[map[string]any](t, b.call(http.MethodGet, "/api/v1/program", tok, nil))
		if !reflect.DeepEqual(got, saved) {
			t.Errorf("GET after PUT = %v, want %v", got, saved)
		}
	})

	t.Run("InvalidIs422WithEveryField", func(t *testing.T) {
		before := b.call(http.MethodGet, "/api/v1/program", tok, nil).Body.String()
		bad := cloneJSON(t, defaults)
		bad["signup_points"] = -5
		bad["reminder_days"] = []int{1, 7}
		tiers := bad["tiers"].(map[string]any)
		levels := tiers["levels"].([]any)
		levels[1].(map[string]any)["threshold"] = 0
		rec := b.call(http.MethodPut, "/api/v1/program", tok, bad)
		e := requireAPIError(t, rec, http.StatusUnprocessableEntity, "invalid", "signup_points")
		fields, ok := e["fields"].(map[string]any)
		if !ok || len(fields) < 3 {
			t.Fatalf("fields = %v", e["fields"])
		}
		if fields["signup_points"] != e["message"] {
			t.Errorf("fields[signup_points] = %v, message %v", fields["signup_points"], e["message"])
		}
		var sawReminder, sawTier bool
		for k, v := range fields {
			if msg, _ := v.(string); msg == "" {
				t.Errorf("field %s has no message", k)
			}
			switch {
			case len(k) >= len("reminder_days") && k[:len("reminder_days")] == "reminder_days":
				sawReminder = true
			case len(k) >= len("tiers.levels") && k[:len("tiers.levels")] == "tiers.levels":
				sawTier = true
			}
		}
		if !sawReminder || !sawTier {
			t.Errorf("fields = %v, want reminder_days… and tiers.levels…", fields)
		}
		if after := b.call(http.MethodGet, "/api/v1/program", tok, nil).Body.String(); after != before {
			t.Errorf("invalid PUT changed the program:\n%s\n%s", before, after)
		}
	})

	t.Run("BadBodies", func(t *testing.T) {
		withUnknown := cloneJSON(t, defaults)
		withUnknown["points_per_dollar"] = 3
		nestedUnknown := cloneJSON(t, defaults)
		nestedUnknown["tiers"].(map[string]any)["colour"] = "gold"
		wrongType := cloneJSON(t, defaults)
		wrongType["signup_points"] = "lots"
		badDecimal := cloneJSON(t, defaults)
		badDecimal["points_per_currency_unit"] = "one"
		for _, tc := range []struct {
			name   string
			body   any
			status int
			code   string
			field  string
		}{
			{"Malformed", `{"signup_points": 1`, 400, "bad_request", ""},
			{"UnknownField", withUnknown, 400, "bad_request", "points_per_dollar"},
			{"NestedUnknownField", nestedUnknown, 400, "bad_request", "colour"},
			{"WrongType", wrongType, 422, "invalid", "signup_points"},
			{"BadDecimal", badDecimal, 400, "bad_request", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				requireAPIError(t, b.call(http.MethodPut, "/api/v1/program", tok, tc.body), tc.status, tc.code, tc.field)
			})
		}
	})
}

// cloneJSON deep-copies a decoded JSON object.
func cloneJSON(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
