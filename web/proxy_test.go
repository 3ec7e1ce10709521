package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/shopify"
)

// proxyQuery is the query Shopify adds to an app-proxy request, signed.
func proxyQuery(shop, customer string, ts time.Time, secret string) url.Values {
	q := url.Values{
		"shop":                  {shop},
		"logged_in_customer_id": {customer},
		"path_prefix":           {"/apps/loyalty"},
		"timestamp":             {strconv.FormatInt(ts.Unix(), 10)},
	}
	q.Set("signature", shopify.SignProxy(secret, q))
	return q
}

func TestProxy(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sh := b.install(t, "shop-a.myshopify.com")

	rec := b.get("/proxy/ping?" + proxyQuery(sh.Domain, "1001", b.clock.Now(), testAPISecret).Encode())
	requireStatus(t, rec, http.StatusOK)
	got := decodeJSON[map[string]string](t, rec)
	if got["shop"] != sh.Domain || got["logged_in_customer_id"] != "1001" {
		t.Errorf("ping = %v", got)
	}

	tampered := proxyQuery(sh.Domain, "1001", b.clock.Now(), testAPISecret)
	tampered.Set("logged_in_customer_id", "1002") // someone else's account
	for name, q := range map[string]url.Values{
		"Tampered":    tampered,
		"WrongSecret": proxyQuery(sh.Domain, "1001", b.clock.Now(), "guess"),
		"Stale":       proxyQuery(sh.Domain, "1001", b.clock.Now().Add(-10*time.Minute), testAPISecret),
		"Unsigned":    {"shop": {sh.Domain}, "logged_in_customer_id": {"1001"}},
	} {
		rec := b.get("/proxy/ping?"+q.Encode(), "Accept", "application/json")
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s: status = %d", name, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "1002") {
			t.Errorf("%s: customer reflected", name)
		}
	}

	rec = b.get("/proxy/ping?"+proxyQuery("not-installed.myshopify.com", "", b.clock.Now(), testAPISecret).Encode(), "Accept", "application/json")
	requireStatus(t, rec, http.StatusNotFound)
}
