package fake_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/fake"
)

const (
	klaviyoKey    = "pk_0123456789abcdef0123456789abcdef01"
	klaviyoNarrow = "pk_eventsonly0000000000000000000000"
)

type klaviyoBundle struct {
	fake  *fake.Klaviyo
	srv   *httptest.Server
	clock *clock
}

func setupKlaviyo(t *testing.T, mutate ...func(*fake.KlaviyoOptions)) *klaviyoBundle {
	t.Helper()
	c := newClock()
	opts := fake.KlaviyoOptions{Now: c.Now, Keys: []fake.KlaviyoKey{
		{Key: klaviyoKey, Scopes: []string{"events:write", "profiles:write", "accounts:read"}},
		{Key: klaviyoNarrow, Scopes: []string{"events:write"}},
	}}
	for _, m := range mutate {
		m(&opts)
	}
	f := fake.NewKlaviyo(opts)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &klaviyoBundle{fake: f, srv: srv, clock: c}
}

func klaviyoHeaders(extra ...string) []string {
	h := []string{"Authorization: Klaviyo-API-Key " + klaviyoKey, "revision: 2026-07-15",
		"Content-Type: application/vnd.api+json", "Accept: application/vnd.api+json"}
	return append(h, extra...)
}

func (b *klaviyoBundle) post(t *testing.T, path string, body any, headers ...string) response {
	t.Helper()
	if headers == nil {
		headers = klaviyoHeaders()
	}
	return do(t, "POST", b.srv.URL+path, body, headers...)
}

// event returns a valid Create Event body (sinks.md §1.2 example).
func event(mutate ...func(attrs map[string]any)) map[string]any {
	attrs := map[string]any{
		"metric": map[string]any{"data": map[string]any{"type": "metric", "attributes": map[string]any{"name": "Loyalty Points Earned"}}},
		"profile": map[string]any{"data": map[string]any{"type": "profile", "attributes": map[string]any{
			"email": "sarah.mason@example.com", "external_id": "shopify:7293847561",
			"properties": map[string]any{"loyalty_points_balance": 1250, "loyalty_tier": "Gold"},
		}}},
		"properties": map[string]any{"points": 50, "reason": "order", "order_id": "5544332211"},
		"time":       "2026-11-23T11:03:11+00:00",
		"unique_id":  "example.myshopify.com:points_earned:ledger_98765",
		"value":      5.5, "value_currency": "USD",
	}
	for _, m := range mutate {
		m(attrs)
	}
	return map[string]any{"data": map[string]any{"type": "event", "attributes": attrs}}
}

func profileAttrs(attrs map[string]any) map[string]any {
	return attrs["profile"].(map[string]any)["data"].(map[string]any)["attributes"].(map[string]any)
}

func TestKlaviyo_CreateEvent(t *testing.T) {
	t.Parallel()
	b := setupKlaviyo(t)
	r := b.post(t, "/api/events/", event()) // trailing slash, as Segment sends it
	if r.Status != 202 || len(r.Body) != 0 {
		t.Fatalf("got %d %q", r.Status, r.Body)
	}
	if r.Header.Get("RateLimit-Limit") != "3500" || r.Header.Get("RateLimit-Remaining") != "3499" {
		t.Fatalf("ratelimit headers %v", r.Header)
	}
	r = b.post(t, "/api/events", event(func(a map[string]any) { a["unique_id"] = "u2"; a["backfill"] = true }),
		klaviyoHeaders("Content-Type: application/json")...)
	if r.Status != 202 {
		t.Fatalf("application/json: %d %s", r.Status, r.Body)
	}
	evs := b.fake.Events()
	if len(evs) != 2 {
		t.Fatalf("recorded %d events", len(evs))
	}
	e := evs[0]
	if e.Metric != "Loyalty Points Earned" || e.Profile.Email != "sarah.mason@example.com" || e.Profile.ExternalID != "shopify:7293847561" ||
		e.UniqueID != "example.myshopify.com:points_earned:ledger_98765" || e.Value == nil || *e.Value != 5.5 || e.ValueCurrency != "USD" ||
		!e.Time.Equal(time.Date(2026, 11, 23, 11, 3, 11, 0, time.UTC)) || e.Properties["reason"] != "order" || e.Backfill || e.ProfileID == "" {
		t.Fatalf("event %+v", e)
	}
	if !evs[1].Backfill || evs[1].ProfileID != e.ProfileID {
		t.Fatalf("second event %+v", evs[1])
	}
	if p := b.fake.Profiles(); len(p) != 1 || p[0].Properties["loyalty_tier"] != "Gold" {
		t.Fatalf("profiles %+v", p)
	}
}

func TestKlaviyo_Rejections(t *testing.T) {
	t.Parallel()
	big := map[string]any{}
	for i := range 301 {
		big["p"+strconv.Itoa(i)] = i
	}
	cases := []struct {
		name    string
		path    string
		method  string
		body    any
		headers []string
		status  int
		code    string
		pointer string // source.pointer, or source.parameter when it starts with "?"
		detail  string // substring of detail
	}{
		{"NoAuth", "/api/events", "POST", event(), []string{"revision: 2026-07-15", "Content-Type: application/json"}, 401, "not_authenticated", "/data/", "Klaviyo-API-Key"},
		{"BearerScheme", "/api/events", "POST", event(), []string{"Authorization: Bearer " + klaviyoKey, "revision: 2026-07-15", "Content-Type: application/json"}, 401, "not_authenticated", "/data/", ""},
		{"UnknownKey", "/api/events", "POST", event(), []string{"Authorization: Klaviyo-API-Key pk_nope", "revision: 2026-07-15", "Content-Type: application/json"}, 401, "not_authenticated", "/data/", ""},
		{"MissingRevision", "/api/events", "POST", event(), []string{"Authorization: Klaviyo-API-Key " + klaviyoKey, "Content-Type: application/json"}, 400, "invalid", "?revision", "revision"},
		{"MalformedRevision", "/api/events", "POST", event(), klaviyoHeaders("revision: latest"), 400, "invalid", "?revision", ""},
		{"UndocumentedRevision", "/api/events", "POST", event(), klaviyoHeaders("revision: 2026-05-01"), 404, "not_found", "?revision", "No valid revisions found for method"},
		{"RevisionBeforeOperation", "/api/event-bulk-create-jobs", "POST", bulk(1, 1), klaviyoHeaders("revision: 2024-02-15"), 404, "not_found", "?revision", "No valid revisions found for method"},
		{"MissingScope", "/api/profile-import", "POST", profileBody("a@example.com", ""), []string{"Authorization: Klaviyo-API-Key " + klaviyoNarrow, "revision: 2026-07-15", "Content-Type: application/json"}, 403, "permission_denied", "/data/", "profiles:write"},
		{"TextPlain", "/api/events", "POST", event(), klaviyoHeaders("Content-Type: text/plain"), 415, "unsupported_media_type", "", ""},
		{"InvalidJSON", "/api/events", "POST", `{"data":`, nil, 400, "parse_error", "/data/", ""},
		{"UnknownPath", "/api/nope", "POST", event(), nil, 404, "not_found", "", ""},
		{"WrongMethod", "/api/events", "GET", nil, nil, 405, "method_not_allowed", "", ""},
		{"MissingMetric", "/api/events", "POST", event(func(a map[string]any) { delete(a, "metric") }), nil, 400, "invalid", "/data/attributes/metric", "missing"},
		{"WrongType", "/api/events", "POST", map[string]any{"data": map[string]any{"type": "events", "attributes": event()["data"].(map[string]any)["attributes"]}}, nil, 400, "invalid", "/data/type", ""},
		{"MissingProfileAttributes", "/api/events", "POST", event(func(a map[string]any) {
			a["profile"] = map[string]any{"data": map[string]any{"type": "profile", "id": "01ABC"}}
		}), nil, 400, "invalid", "/data/attributes/profile/data/attributes", ""},
		{"TooManyProperties", "/api/events", "POST", event(func(a map[string]any) { a["properties"] = big }), nil, 400, "invalid", "/data/attributes/properties", "300"},
		{"StringOver100KB", "/api/events", "POST", event(func(a map[string]any) {
			a["properties"] = map[string]any{"html": strings.Repeat("x", 100<<10+1)}
		}), nil, 400, "invalid", "/data/attributes/properties/html", "100 KB"},
		{"NestedTooDeep", "/api/events", "POST", event(func(a map[string]any) {
			var v any = "leaf"
			for range 11 {
				v = map[string]any{"n": v}
			}
			a["properties"] = map[string]any{"deep": v}
		}), nil, 400, "invalid", "", "nested"},
		{"TimeBefore2000", "/api/events", "POST", event(func(a map[string]any) { a["time"] = "1999-12-31T23:59:59Z" }), nil, 400, "invalid", "/data/attributes/time", "2000"},
		{"TimeOverAYearAhead", "/api/events", "POST", event(func(a map[string]any) { a["time"] = "2027-12-01T00:00:00Z" }), nil, 400, "invalid", "/data/attributes/time", "1 year"},
		{"MetricName128", "/api/events", "POST", event(func(a map[string]any) {
			a["metric"] = map[string]any{"data": map[string]any{"type": "metric", "attributes": map[string]any{"name": strings.Repeat("m", 128)}}}
		}), nil, 400, "invalid", "/data/attributes/metric/data/attributes/name", "128"},
		{"NoIdentifier", "/api/events", "POST", event(func(a map[string]any) {
			a["profile"] = map[string]any{"data": map[string]any{"type": "profile", "attributes": map[string]any{"first_name": "Sarah"}}}
		}), nil, 400, "invalid", "/data/attributes/profile/data/attributes", "identifier"},
		{"PhoneNotE164", "/api/events", "POST", event(func(a map[string]any) { profileAttrs(a)["phone_number"] = "514-555-1234" }), nil, 400, "invalid", "/data/attributes/profile/data/attributes/phone_number", ""},
		{"BodyOver5MB", "/api/events", "POST", event(func(a map[string]any) {
			props := map[string]any{}
			for i := range 60 {
				props["s"+strconv.Itoa(i)] = strings.Repeat("y", 90<<10)
			}
			a["properties"] = props
		}), nil, 400, "invalid", "/data", "payload"},
		{"BackfillBeforeItExisted", "/api/events", "POST", event(func(a map[string]any) { a["backfill"] = true }), klaviyoHeaders("revision: 2026-01-15"), 400, "invalid", "/data/attributes/backfill", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupKlaviyo(t)
			headers := tc.headers
			if headers == nil {
				headers = klaviyoHeaders()
			}
			r := do(t, tc.method, b.srv.URL+tc.path, tc.body, headers...)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			m := r.JSON(t)
			if path(m, "errors", 0, "code") != tc.code || path(m, "errors", 0, "status") != float64(tc.status) ||
				path(m, "errors", 0, "id") == nil || path(m, "errors", 0, "title") == nil {
				t.Fatalf("body %s", r.Body)
			}
			if p, ok := strings.CutPrefix(tc.pointer, "?"); ok {
				if path(m, "errors", 0, "source", "parameter") != p {
					t.Fatalf("parameter: %s", r.Body)
				}
			} else if tc.pointer != "" && path(m, "errors", 0, "source", "pointer") != tc.pointer {
				t.Fatalf("pointer %v, want %s: %s", path(m, "errors", 0, "source", "pointer"), tc.pointer, r.Body)
			}
			if d, _ := path(m, "errors", 0, "detail").(string); !strings.Contains(d, tc.detail) {
				t.Fatalf("detail %q lacks %q", d, tc.detail)
			}
			if r.Header.Get("Content-Type") != "application/vnd.api+json" {
				t.Fatalf("content type %q", r.Header.Get("Content-Type"))
			}
			if n := len(b.fake.Events()); n != 0 {
				t.Fatalf("recorded %d events", n)
			}
		})
	}
}

func TestKlaviyo_Dedupe(t *testing.T) {
	t.Parallel()
	b := setupKlaviyo(t)
	for range 2 {
		if r := b.post(t, "/api/events", event()); r.Status != 202 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	}
	if n := len(b.fake.Events()); n != 1 || b.fake.Duplicates() != 1 {
		t.Fatalf("recorded %d, duplicates %d", n, b.fake.Duplicates())
	}
	// Same unique_id on another metric is another event.
	other := event(func(a map[string]any) {
		a["metric"] = map[string]any{"data": map[string]any{"type": "metric", "attributes": map[string]any{"name": "Loyalty Tier Upgraded"}}}
	})
	b.post(t, "/api/events", other)
	// Without unique_id the key is the time to the second.
	noID := func(ts string) map[string]any {
		return event(func(a map[string]any) { delete(a, "unique_id"); a["time"] = ts })
	}
	b.post(t, "/api/events", noID("2026-11-23T10:00:00.100Z"))
	b.post(t, "/api/events", noID("2026-11-23T10:00:00.900Z"))
	b.post(t, "/api/events", noID("2026-11-23T10:00:01Z"))
	if n := len(b.fake.Events()); n != 4 || b.fake.Duplicates() != 2 {
		t.Fatalf("recorded %d, duplicates %d", n, b.fake.Duplicates())
	}
}

// bulk returns a bulk body with profiles × perProfile events.
func bulk(profiles, perProfile int) map[string]any {
	var items []any
	for p := range profiles {
		var evs []any
		for e := range perProfile {
			evs = append(evs, map[string]any{"type": "event", "attributes": map[string]any{
				"metric":     map[string]any{"data": map[string]any{"type": "metric", "attributes": map[string]any{"name": "Loyalty Points Expiring"}}},
				"properties": map[string]any{"points_expiring": 300},
				"time":       "2026-11-20T00:00:00+00:00",
				"unique_id":  "u-" + strconv.Itoa(p) + "-" + strconv.Itoa(e),
			}})
		}
		items = append(items, map[string]any{"type": "event-bulk-create", "attributes": map[string]any{
			"profile": map[string]any{"data": map[string]any{"type": "profile", "attributes": map[string]any{"email": "p" + strconv.Itoa(p) + "@example.com"}}},
			"events":  map[string]any{"data": evs},
		}})
	}
	return map[string]any{"data": map[string]any{"type": "event-bulk-create-job", "attributes": map[string]any{"events-bulk-create": map[string]any{"data": items}}}}
}

func bulkEvents(body map[string]any, item int) []any {
	items := path(body, "data", "attributes", "events-bulk-create", "data").([]any)
	return path(items[item], "attributes", "events", "data").([]any)
}

func TestKlaviyo_BulkCreateEvents(t *testing.T) {
	t.Parallel()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		b := setupKlaviyo(t)
		r := b.post(t, "/api/event-bulk-create-jobs/", bulk(2, 3))
		if r.Status != 202 || len(r.Body) != 0 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		evs := b.fake.Events()
		if len(evs) != 6 || !evs[0].Bulk || evs[5].Profile.Email != "p1@example.com" {
			t.Fatalf("events %+v", evs)
		}
		if r.Header.Get("RateLimit-Limit") != "150" {
			t.Fatalf("bulk steady limit header %q", r.Header.Get("RateLimit-Limit"))
		}
	})

	t.Run("Over1000", func(t *testing.T) {
		t.Parallel()
		b := setupKlaviyo(t)
		r := b.post(t, "/api/event-bulk-create-jobs", bulk(1, 1001))
		if r.Status != 400 || path(r.JSON(t), "errors", 0, "source", "pointer") != "/data/attributes/events-bulk-create/data" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})

	t.Run("DuplicateUniqueIDRejectsAll", func(t *testing.T) {
		t.Parallel()
		b := setupKlaviyo(t)
		body := bulk(2, 2)
		evs := bulkEvents(body, 1)
		evs[1].(map[string]any)["attributes"].(map[string]any)["unique_id"] = "u-1-0"
		r := b.post(t, "/api/event-bulk-create-jobs", body)
		want := "/data/attributes/events-bulk-create/data/1/attributes/events/data/1/attributes/unique_id"
		if r.Status != 400 || path(r.JSON(t), "errors", 0, "source", "pointer") != want {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if n := len(b.fake.Events()); n != 0 {
			t.Fatalf("processed %d events of a rejected request", n)
		}
	})

	t.Run("ItemPointer", func(t *testing.T) {
		t.Parallel()
		b := setupKlaviyo(t)
		body := bulk(3, 1)
		items := path(body, "data", "attributes", "events-bulk-create", "data").([]any)
		path(items[2], "attributes", "profile", "data").(map[string]any)["attributes"] = map[string]any{"phone_number": "12"}
		r := b.post(t, "/api/event-bulk-create-jobs", body)
		want := "/data/attributes/events-bulk-create/data/2/attributes/profile/data/attributes/phone_number"
		if r.Status != 400 || path(r.JSON(t), "errors", 0, "source", "pointer") != want || len(b.fake.Events()) != 0 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})
}

func profileBody(email, phone string) map[string]any {
	attrs := map[string]any{"email": email, "external_id": "shopify:1", "properties": map[string]any{"loyalty_points_balance": 1250, "loyalty_tier": "Gold"}}
	if phone != "" {
		attrs["phone_number"] = phone
	}
	if email == "" {
		delete(attrs, "email")
		delete(attrs, "external_id")
	}
	return map[string]any{"data": map[string]any{"type": "profile", "attributes": attrs}}
}

func TestKlaviyo_ProfileImport(t *testing.T) {
	t.Parallel()
	b := setupKlaviyo(t)
	r := b.post(t, "/api/profile-import", profileBody("sarah@example.com", ""))
	if r.Status != 201 || path(r.JSON(t), "data", "type") != "profile" || path(r.JSON(t), "data", "attributes", "properties", "loyalty_tier") != "Gold" {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	id := path(r.JSON(t), "data", "id").(string)
	// Update: first_name set, null clears organization, absent fields stay.
	b.post(t, "/api/profile-import", map[string]any{"data": map[string]any{"type": "profile", "attributes": map[string]any{
		"email": "sarah@example.com", "organization": "Acme", "first_name": "Sarah"}}})
	r = b.post(t, "/api/profile-import", map[string]any{"data": map[string]any{"type": "profile", "attributes": map[string]any{
		"email": "sarah@example.com", "organization": nil, "properties": map[string]any{"loyalty_tier": "Platinum"}}}})
	m := r.JSON(t)
	if r.Status != 200 || path(m, "data", "id") != id || path(m, "data", "attributes", "organization") != nil ||
		path(m, "data", "attributes", "first_name") != "Sarah" || path(m, "data", "attributes", "external_id") != "shopify:1" ||
		path(m, "data", "attributes", "properties", "loyalty_tier") != "Platinum" || path(m, "data", "attributes", "properties", "loyalty_points_balance") != 1250.0 {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	// Email of one profile and phone of another: 409 duplicate_profile.
	other := b.post(t, "/api/profile-import", profileBody("", "+15005550006"))
	otherID := path(other.JSON(t), "data", "id")
	r = b.post(t, "/api/profile-import", map[string]any{"data": map[string]any{"type": "profile", "attributes": map[string]any{
		"email": "sarah@example.com", "phone_number": "+15005550006"}}})
	if r.Status != 409 || path(r.JSON(t), "errors", 0, "code") != "duplicate_profile" || path(r.JSON(t), "errors", 0, "meta", "duplicate_profile_id") != otherID {
		t.Fatalf("conflict: %d %s", r.Status, r.Body)
	}
	if n := len(b.fake.Profiles()); n != 2 {
		t.Fatalf("%d profiles", n)
	}
}

func TestKlaviyo_Accounts(t *testing.T) {
	t.Parallel()
	b := setupKlaviyo(t)
	r := do(t, "GET", b.srv.URL+"/api/accounts/", nil, klaviyoHeaders()...)
	if r.Status != 200 || path(r.JSON(t), "data", 0, "type") != "account" || path(r.JSON(t), "data", 0, "attributes", "public_api_key") != "AbC123" {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	b.clock.Add(time.Second)
	r = do(t, "GET", b.srv.URL+"/api/accounts", nil, "Authorization: Klaviyo-API-Key "+klaviyoNarrow, "revision: 2026-07-15")
	if r.Status != 403 || path(r.JSON(t), "errors", 0, "code") != "permission_denied" {
		t.Fatalf("no accounts:read: %d %s", r.Status, r.Body)
	}
}

func TestKlaviyo_RateLimits(t *testing.T) {
	t.Parallel()

	t.Run("AccountsBurstAndSteady", func(t *testing.T) {
		t.Parallel()
		b := setupKlaviyo(t)
		get := func() response { return do(t, "GET", b.srv.URL+"/api/accounts", nil, klaviyoHeaders()...) }
		if r := get(); r.Status != 200 {
			t.Fatalf("first: %d", r.Status)
		}
		r := get() // burst 1/s
		want := `"detail":"Request was throttled. Expected available in 1 second."`
		if r.Status != 429 || r.Header.Get("Retry-After") != "1" || !strings.Contains(string(r.Body), want) ||
			path(r.JSON(t), "errors", 0, "code") != "throttled" {
			t.Fatalf("burst: %d %v %s", r.Status, r.Header, r.Body)
		}
		for i := range 14 { // steady 15/m
			b.clock.Add(time.Second)
			if r := get(); r.Status != 200 {
				t.Fatalf("call %d: %d", i+2, r.Status)
			}
		}
		b.clock.Add(time.Second)
		r = get()
		// The clock is at 12:00:15; the minute window resets in 45 s.
		if r.Status != 429 || r.Header.Get("Retry-After") != "45" {
			t.Fatalf("steady: %d %q %s", r.Status, r.Header.Get("Retry-After"), r.Body)
		}
		b.clock.Add(45 * time.Second)
		if r := get(); r.Status != 200 {
			t.Fatalf("after reset: %d", r.Status)
		}
	})

	t.Run("EventsBurst350", func(t *testing.T) {
		t.Parallel()
		b := setupKlaviyo(t)
		for i := range 350 {
			if r := b.post(t, "/api/events", event(func(a map[string]any) { a["unique_id"] = strconv.Itoa(i) })); r.Status != 202 {
				t.Fatalf("event %d: %d %s", i, r.Status, r.Body)
			}
		}
		if r := b.post(t, "/api/events", event()); r.Status != 429 || r.Header.Get("Retry-After") != "1" {
			t.Fatalf("351st: %d %s", r.Status, r.Body)
		}
		// Another account has its own limits.
		h := klaviyoHeaders("Authorization: Klaviyo-API-Key " + klaviyoNarrow)
		if r := b.post(t, "/api/events", event(), h...); r.Status != 202 {
			t.Fatalf("other account: %d", r.Status)
		}
	})

	t.Run("OmitRetryAfter", func(t *testing.T) {
		t.Parallel()
		b := setupKlaviyo(t, func(o *fake.KlaviyoOptions) { o.OmitRetryAfter = true })
		do(t, "GET", b.srv.URL+"/api/accounts", nil, klaviyoHeaders()...)
		r := do(t, "GET", b.srv.URL+"/api/accounts", nil, klaviyoHeaders()...)
		if r.Status != 429 || r.Header.Get("Retry-After") != "" || !strings.Contains(string(r.Body), "Expected available in 1 second.") {
			t.Fatalf("%d %v %s", r.Status, r.Header, r.Body)
		}
	})
}

func TestKlaviyo_Faults(t *testing.T) {
	t.Parallel()

	t.Run("FailNext", func(t *testing.T) {
		t.Parallel()
		b := setupKlaviyo(t)
		b.fake.FailNext(503, 2)
		for range 2 {
			if r := b.post(t, "/api/events", event()); r.Status != 503 || path(r.JSON(t), "errors", 0, "status") != 503.0 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
		}
		if r := b.post(t, "/api/events", event()); r.Status != 202 {
			t.Fatalf("after: %d", r.Status)
		}
		if n := len(b.fake.Requests()); n != 3 {
			t.Fatalf("%d requests", n)
		}
	})

	t.Run("ThrottleStorm", func(t *testing.T) {
		t.Parallel()
		b := setupKlaviyo(t)
		b.fake.ThrottleNext(3, true)
		for range 3 {
			if r := b.post(t, "/api/events", event()); r.Status != 429 || r.Header.Get("Retry-After") == "" {
				t.Fatalf("%d %v", r.Status, r.Header)
			}
		}
		b.fake.ThrottleNext(2, false)
		for range 2 {
			if r := b.post(t, "/api/events", event()); r.Status != 429 || r.Header.Get("Retry-After") != "" {
				t.Fatalf("without Retry-After: %d %v", r.Status, r.Header)
			}
		}
		if r := b.post(t, "/api/events", event()); r.Status != 202 {
			t.Fatalf("after storm: %d", r.Status)
		}
	})

	t.Run("HTMLForbidden", func(t *testing.T) {
		t.Parallel()
		b := setupKlaviyo(t)
		b.fake.HTMLForbiddenNext(1)
		r := b.post(t, "/api/events", event())
		if r.Status != 403 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || r.Header.Get("cf-mitigated") != "challenge" ||
			!strings.Contains(string(r.Body), "<html") {
			t.Fatalf("%d %v %s", r.Status, r.Header, r.Body)
		}
		if r := b.post(t, "/api/events", event()); r.Status != 202 {
			t.Fatalf("after: %d", r.Status)
		}
	})

	t.Run("SlowTimesOut", func(t *testing.T) {
		t.Parallel()
		b := setupKlaviyo(t)
		b.fake.SetSlow(2 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", b.srv.URL+"/api/events", strings.NewReader(`{}`))
		_, err := http.DefaultClient.Do(req)
		if err == nil {
			t.Fatal("slow request did not time out")
		}
		b.fake.SetSlow(0)
		if r := b.post(t, "/api/events", event()); r.Status != 202 {
			t.Fatalf("after: %d", r.Status)
		}
	})
}

func TestKlaviyo_WaitForEvents(t *testing.T) {
	t.Parallel()
	b := setupKlaviyo(t)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- b.fake.WaitForEvents(ctx, 2)
	}()
	b.post(t, "/api/events", event(func(a map[string]any) { a["unique_id"] = "a" }))
	b.post(t, "/api/events", event(func(a map[string]any) { a["unique_id"] = "b" }))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := b.fake.WaitForEvents(ctx, 3); err == nil {
		t.Fatal("waited for an event that never came")
	}
}

func TestKlaviyo_KeysAndFaultBodies(t *testing.T) {
	t.Parallel()
	b := setupKlaviyo(t)
	b.fake.RevokeKey(klaviyoKey)
	if r := b.post(t, "/api/events", event()); r.Status != 401 {
		t.Fatalf("revoked: %d", r.Status)
	}
	b.fake.AddKey(fake.KlaviyoKey{Key: klaviyoKey}) // no scopes: full access
	if r := b.post(t, "/api/profile-import", profileBody("x@example.com", "")); r.Status != 201 {
		t.Fatalf("full-access key: %d %s", r.Status, r.Body)
	}
	for _, status := range []int{500, 502, 401, 403, 429} {
		b.fake.FailNext(status, 1)
		r := b.post(t, "/api/events", event())
		if r.Status != status || path(r.JSON(t), "errors", 0, "status") != float64(status) {
			t.Fatalf("%d: %d %s", status, r.Status, r.Body)
		}
	}
	b.fake.SetOmitRetryAfter(true)
	b.fake.FailNext(429, 1)
	if r := b.post(t, "/api/events", event()); r.Header.Get("Retry-After") != "" {
		t.Fatal("Retry-After not omitted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := b.fake.WaitForRequests(ctx, len(b.fake.Requests())); err != nil {
		t.Fatal(err)
	}
}
