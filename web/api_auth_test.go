package web_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAPI_EveryRouteNeedsASession walks every /api/v1 route the server
// registered (so a route added later is covered too) and sends it without
// a token, with a malformed one and with an expired one: each is the 401
// that makes App Bridge retry, and nothing runs.
func TestAPI_EveryRouteNeedsASession(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	sh := b.install(t, "shop-a.myshopify.com")
	expired := b.fake.MintIDToken(sh.Domain, 42, time.Minute)
	b.clock.Advance(10 * time.Minute)

	names := map[string]bool{}
	var n int
	for _, r := range b.e.Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Method == http.MethodOptions || strings.HasSuffix(r.Path, "*") {
			continue
		}
		names[r.Name] = true
		n++
		target := strings.NewReplacer(":kind", "klaviyo", ":id", "1", ":shopify_customer_id", "1").Replace(r.Path)
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			for _, auth := range []string{"", "Bearer", "Bearer not-a-jwt", "Bearer " + expired} {
				var headers []string
				if auth != "" {
					headers = []string{"Authorization", auth}
				}
				body := strings.NewReader(`{}`)
				requireInvalidSession(t, b.send(r.Method, target, body, append(headers, "Content-Type", "application/json")...))
			}
		})
	}
	for _, want := range []string{
		"api.integrations.list", "api.integrations.show", "api.integrations.connect", "api.integrations.disconnect",
		"api.events.list", "api.events.create", "api.events.update", "api.events.delete",
		"api.stats.show", "api.deliveries.list", "api.deliveries.retry", "api.deliveries.retry_all",
		"api.program.show", "api.program.save",
		"api.customers.show", "api.customers.points", "api.customers.redeem",
	} {
		if !names[want] {
			t.Errorf("route %s is not registered under /api/v1", want)
		}
	}
	if n < 17 {
		t.Errorf("walked %d routes", n)
	}
	// Nothing above reached a handler: no integration was touched.
	list := decodeJSON[[]map[string]any](t, b.call(http.MethodGet, "/api/v1/integrations", b.token(sh.Domain), nil))
	if !slices.ContainsFunc(list, func(m map[string]any) bool { return m["kind"] == "klaviyo" && m["status"] == "not_connected" }) {
		t.Errorf("integrations = %v", list)
	}
}
