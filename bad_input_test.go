package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"

	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/webhooks"
)

// badInputTables are the tables whose row counts witness that a refused
// request wrote nothing (no partial writes).
var badInputTables = []string{"shops", "webhooks", "customers", "loyalty_accounts", "ledger_entries", "coupons",
	"programs", "integrations", "referrals", "data_requests"}

// TestBadInput_Table is DESIGN.md §8's bad-input list as one table, run
// against the real program (serve) with fake Shopify and Klaviyo: each case
// states its input, the answer and what the database holds afterwards,
// counted in every table that could take a partial write.
func TestBadInput_Table(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewURL(t)
	const key, secret, shop, other = "bad-api-key", "bad-api-secret", "bad-input.myshopify.com", "neighbour.myshopify.com"
	sf := fake.NewShopify(fake.ShopifyOptions{APIKey: key, APISecret: secret})
	sf.InstallShop(shop)
	sf.InstallShop(other)
	fs := httptest.NewServer(sf)
	t.Cleanup(fs.Close)
	kl := fake.NewKlaviyo(fake.KlaviyoOptions{Keys: []fake.KlaviyoKey{{Key: "pk_good_0123456789abcdef0123456789"}}, DisableRateLimits: true})
	ks := httptest.NewServer(kl)
	t.Cleanup(ks.Close)
	base, out := mustRun(t, []string{"serve"}, map[string]string{
		"DATABASE_URL": dbURL, "SHOPIFY_API_KEY": key, "SHOPIFY_API_SECRET": secret,
		"APP_URL": "http://localhost", "ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"SHOPIFY_SHOP_ORIGIN": fs.URL + "/{shop}", "KLAVIYO_API_ORIGIN": ks.URL, "LOG_FORMAT": "text",
	})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(req *http.Request) (*http.Response, string) {
		t.Helper()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	installed := func(s string) {
		resp, body := do(mustReq(t, http.MethodGet, base+"/?embedded=1&shop="+s+"&id_token="+sf.MintIDToken(s, 1, time.Minute), nil))
		if resp.StatusCode != 200 {
			t.Fatalf("install %s: %d %s\n%s", s, resp.StatusCode, body, out.String())
		}
	}
	installed(shop)
	installed(other)
	counts := func() map[string]int64 {
		m := map[string]int64{}
		for _, tb := range badInputTables {
			var n int64
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+tb).Scan(&n); err != nil {
				t.Fatal(err)
			}
			m[tb] = n
		}
		return m
	}
	waitProcessed := func(webhookID string) {
		waitFor(t, webhookID+" settled", func() bool {
			var n int
			conn.QueryRow(ctx, "SELECT count(*) FROM webhooks WHERE webhook_id = $1 AND status <> 'pending'", webhookID).Scan(&n)
			return n == 1
		})
	}

	// Seed: a member with 600 points in the shop, and one in the neighbour.
	webhook := func(s, topic, id string, body []byte, mac string) *http.Request {
		req := mustReq(t, http.MethodPost, base+"/webhooks", body)
		req.Header.Set("Content-Type", "application/json")
		if mac != "-" {
			if mac == "" {
				mac = shopify.SignWebhook(secret, body)
			}
			req.Header.Set("X-Shopify-Hmac-Sha256", mac)
		}
		for k, v := range map[string]string{"X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": s, "X-Shopify-Webhook-Id": id} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		return req
	}
	customer := func(id int64, email string) []byte {
		now := time.Now().UTC().Format(time.RFC3339)
		return []byte(fmt.Sprintf(`{"id":%d,"admin_graphql_api_id":"gid://shopify/Customer/%d","email":%q,"state":"enabled","created_at":%q,"updated_at":%q}`, id, id, email, now, now))
	}
	for _, c := range []struct {
		s  string
		id int64
	}{{shop, 6001}, {other, 7001}} {
		if resp, body := do(webhook(c.s, "customers/create", fmt.Sprint("seed-", c.id), customer(c.id, fmt.Sprintf("m%d@example.com", c.id)), "")); resp.StatusCode != 200 {
			t.Fatalf("seed: %d %s", resp.StatusCode, body)
		}
		waitProcessed(fmt.Sprint("seed-", c.id))
	}
	// And an order of the member's, and a second customer of the shop, for
	// the customer account door's order route.
	paid, err := webhooks.Sample("orders/paid")
	if err != nil {
		t.Fatal(err)
	}
	var ord map[string]any
	dec := json.NewDecoder(bytes.NewReader(paid))
	dec.UseNumber()
	if err := dec.Decode(&ord); err != nil {
		t.Fatal(err)
	}
	const orderID = 8_800_000_001
	ord["id"], ord["admin_graphql_api_id"], ord["name"] = orderID, fmt.Sprint("gid://shopify/Order/", orderID), "#8801"
	ordCustomer := ord["customer"].(map[string]any)
	ordCustomer["id"], ordCustomer["admin_graphql_api_id"], ordCustomer["email"] = 6001, "gid://shopify/Customer/6001", "m6001@example.com"
	paid, _ = json.Marshal(ord)
	for id, body := range map[string][]byte{"seed-order": paid, "seed-6002": customer(6002, "m6002@example.com")} {
		topic := "orders/paid"
		if id == "seed-6002" {
			topic = "customers/create"
		}
		if resp, b := do(webhook(shop, topic, id, body, "")); resp.StatusCode != 200 {
			t.Fatalf("seed %s: %d %s", id, resp.StatusCode, b)
		}
		waitProcessed(id)
	}
	tok := sf.MintIDToken(shop, 42, 10*time.Minute)
	api := func(method, path string, body string) *http.Request {
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, base+path, r)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	if resp, body := do(api(http.MethodPost, "/api/v1/customers/6001/points", `{"points":500,"reason":"seed"}`)); resp.StatusCode != 200 {
		t.Fatalf("seed points: %d %s", resp.StatusCode, body)
	}
	proxy := func(method, path string, q url.Values, body string) *http.Request {
		req := mustReq(t, method, base+"/proxy"+path+"?"+q.Encode(), []byte(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		return req
	}
	signed := func(customer string, ts time.Time) url.Values {
		q := url.Values{"shop": {shop}, "logged_in_customer_id": {customer}, "path_prefix": {"/apps/loyalty"}, "timestamp": {strconv.FormatInt(ts.Unix(), 10)}}
		q.Set("signature", shopify.SignProxy(secret, q))
		return q
	}
	resigned := func(q url.Values) url.Values {
		q.Del("signature")
		q.Set("signature", shopify.SignProxy(secret, q))
		return q
	}
	// OAuth: /auth sets the state cookie and sends the browser to Shopify.
	jar, _ := cookiejar.New(nil)
	oauth := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: client.CheckRedirect}
	freshState := func() string {
		begin, err := oauth.Get(base + "/auth?shop=" + shop)
		if err != nil {
			t.Fatal(err)
		}
		begin.Body.Close()
		loc, _ := url.Parse(begin.Header.Get("Location"))
		state := loc.Query().Get("state")
		if state == "" {
			t.Fatalf("/auth did not redirect with a state: %d %s", begin.StatusCode, begin.Header.Get("Location"))
		}
		return state
	}
	callback := func(edit func(q url.Values)) *http.Request {
		// The state cookie is single use: each callback gets a fresh one.
		q := url.Values{"code": {"code-1"}, "shop": {shop}, "state": {freshState()}, "timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}}
		q.Set("hmac", shopify.SignQuery(secret, q))
		edit(q)
		return mustReq(t, http.MethodGet, base+"/auth/callback?"+q.Encode(), nil)
	}
	forged := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	otherApp := fake.NewShopify(fake.ShopifyOptions{APIKey: "some-other-app", APISecret: secret})
	otherSecret := fake.NewShopify(fake.ShopifyOptions{APIKey: key, APISecret: "not-the-secret"})
	big := bytes.Repeat([]byte("x"), 9<<20)

	// The customer account extension's door: a customer account session
	// token as the bearer header.
	account := func(method, path, token, body string) *http.Request {
		req := mustReq(t, method, base+"/account/api/v1"+path, []byte(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "https://extensions.shopifycdn.com")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return req
	}
	customerTok := func(s string, id int64, ttl time.Duration) string { return sf.MintCustomerAccountToken(s, id, ttl) }
	oddSub := func(sub string) string {
		now := time.Now()
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"dest": shop, "aud": key, "sub": sub,
			"exp": now.Add(time.Minute).Unix(), "nbf": now.Unix(), "iat": now.Unix(), "jti": "odd"}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	type tc struct {
		name   string
		req    func() *http.Request
		client *http.Client
		status int
		// body must contain this; delta is the change in table counts
		// (none for almost every case: nothing written).
		body  string
		delta map[string]int64
		after func(t *testing.T)
	}
	cases := []tc{
		// Webhooks.
		{name: "webhook without a signature", req: func() *http.Request { return webhook(shop, "orders/paid", "w1", []byte(`{}`), "-") }, status: 401},
		{name: "webhook with a forged signature", req: func() *http.Request { return webhook(shop, "orders/paid", "w2", []byte(`{}`), forged) }, status: 401},
		{name: "webhook signed for another body", req: func() *http.Request {
			return webhook(shop, "orders/paid", "w3", []byte(`{"id":2}`), shopify.SignWebhook(secret, []byte(`{"id":1}`)))
		}, status: 401},
		{name: "webhook signature not base64", req: func() *http.Request { return webhook(shop, "orders/paid", "w4", []byte(`{}`), "%%%") }, status: 401},
		{name: "webhook signed with another app's secret", req: func() *http.Request {
			return webhook(shop, "orders/paid", "w5", []byte(`{}`), shopify.SignWebhook("guess", []byte(`{}`)))
		}, status: 401},
		{name: "webhook without a topic", req: func() *http.Request { return webhook(shop, "", "w6", []byte(`{}`), "") }, status: 400},
		{name: "webhook without a webhook id", req: func() *http.Request { return webhook(shop, "orders/paid", "", []byte(`{}`), "") }, status: 400},
		{name: "webhook from a domain that is not a shop", req: func() *http.Request { return webhook("evil.example.com", "orders/paid", "w7", []byte(`{}`), "") }, status: 400},
		{name: "webhook body over 8 MiB", req: func() *http.Request { return webhook(shop, "orders/paid", "w8", big, "") }, status: 413},
		{name: "signed malformed JSON is kept, failed with the reason", req: func() *http.Request {
			return webhook(shop, "orders/paid", "w9", []byte(`{"id": 1, "line_items": [`), "")
		}, status: 200, delta: map[string]int64{"webhooks": 1}, after: func(t *testing.T) {
			var status, reason string
			conn.QueryRow(ctx, "SELECT status, last_error FROM webhooks WHERE webhook_id = 'w9'").Scan(&status, &reason)
			if status != "failed" || !strings.Contains(reason, "malformed JSON") {
				t.Errorf("stored as %s (%s)", status, reason)
			}
		}},
		{name: "webhook of an unknown shop is recorded, no effect", req: func() *http.Request {
			return webhook("never-installed.myshopify.com", "customers/create", "w10", customer(9, "x@example.com"), "")
		}, status: 200, delta: map[string]int64{"webhooks": 1}},
		{name: "duplicate webhook id has no second effect", req: func() *http.Request {
			return webhook(shop, "customers/create", "seed-6001", customer(6001, "m6001@example.com"), "")
		}, status: 200},

		// OAuth.
		{name: "OAuth begin for a domain that is not a shop", req: func() *http.Request { return mustReq(t, http.MethodGet, base+"/auth?shop=evil.example.com", nil) }, status: 400},
		{name: "OAuth callback without the state cookie", req: func() *http.Request { return callback(func(url.Values) {}) }, status: 400, body: "expired"},
		{name: "OAuth callback with a stale timestamp", client: oauth, req: func() *http.Request {
			return callback(func(q url.Values) {
				q.Set("timestamp", strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10))
				q.Del("hmac")
				q.Set("hmac", shopify.SignQuery(secret, q))
			})
		}, status: 401},
		{name: "OAuth callback with a tampered hmac", client: oauth, req: func() *http.Request { return callback(func(q url.Values) { q.Set("hmac", strings.Repeat("0", 64)) }) }, status: 401},
		{name: "OAuth callback for another shop than signed", client: oauth, req: func() *http.Request { return callback(func(q url.Values) { q.Set("shop", other) }) }, status: 401},

		// ID tokens on the JSON API.
		{name: "API without a session token", req: func() *http.Request {
			r := api(http.MethodGet, "/api/v1/customers/6001", "")
			r.Header.Del("Authorization")
			return r
		}, status: 401},
		{name: "API with an expired ID token", req: func() *http.Request {
			r := api(http.MethodGet, "/api/v1/customers/6001", "")
			r.Header.Set("Authorization", "Bearer "+sf.MintIDToken(shop, 42, -2*time.Minute))
			return r
		}, status: 401},
		{name: "API with a token signed by another secret", req: func() *http.Request {
			r := api(http.MethodGet, "/api/v1/customers/6001", "")
			r.Header.Set("Authorization", "Bearer "+otherSecret.MintIDToken(shop, 42, time.Minute))
			return r
		}, status: 401},
		{name: "API with another app's token", req: func() *http.Request {
			r := api(http.MethodGet, "/api/v1/customers/6001", "")
			r.Header.Set("Authorization", "Bearer "+otherApp.MintIDToken(shop, 42, time.Minute))
			return r
		}, status: 401},
		{name: "API with a token that is not a JWT", req: func() *http.Request {
			r := api(http.MethodGet, "/api/v1/customers/6001", "")
			r.Header.Set("Authorization", "Bearer not.a.jwt")
			return r
		}, status: 401},
		{name: "shop A's token on shop B's customer", req: func() *http.Request { return api(http.MethodGet, "/api/v1/customers/7001", "") }, status: 404},
		{name: "shop A's token adjusting shop B's customer", req: func() *http.Request {
			return api(http.MethodPost, "/api/v1/customers/7001/points", `{"points":10,"reason":"x"}`)
		}, status: 404},

		// JSON admin API input.
		{name: "zero points", req: func() *http.Request {
			return api(http.MethodPost, "/api/v1/customers/6001/points", `{"points":0,"reason":"x"}`)
		}, status: 422, body: `"field":"points"`},
		{name: "points without a reason", req: func() *http.Request { return api(http.MethodPost, "/api/v1/customers/6001/points", `{"points":5}`) }, status: 422, body: `"field":"reason"`},
		{name: "debit beyond the balance", req: func() *http.Request {
			return api(http.MethodPost, "/api/v1/customers/6001/points", `{"points":-100000,"reason":"x"}`)
		}, status: 422},
		{name: "malformed JSON body", req: func() *http.Request { return api(http.MethodPost, "/api/v1/customers/6001/points", `{"points":`) }, status: 400},
		{name: "program with a negative rate", req: func() *http.Request {
			return api(http.MethodPut, "/api/v1/program", `{"points_per_currency_unit":"-1","earn_on":"paid"}`)
		}, status: 422, body: "points_per_currency_unit"},
		{name: "birthday on 30 February", req: func() *http.Request {
			return api(http.MethodPut, "/api/v1/customers/6001/birthday", `{"month":2,"day":30}`)
		}, status: 422, body: `"field":"day"`},
		{name: "customer that does not exist", req: func() *http.Request { return api(http.MethodGet, "/api/v1/customers/999999", "") }, status: 404},
		{name: "customer id that is not a number", req: func() *http.Request { return api(http.MethodGet, "/api/v1/customers/abc", "") }, status: 422},
		{name: "API body over 1 MiB", req: func() *http.Request {
			return api(http.MethodPut, "/api/v1/program", `{"x":"`+strings.Repeat("a", 2<<20)+`"}`)
		}, status: 413},
		{name: "Klaviyo connected with a wrong key stays unconnected with the reason", req: func() *http.Request {
			return api(http.MethodPut, "/api/v1/integrations/klaviyo", `{"common_property":"email","private_api_key":"pk_wrong_0123456789abcdef012345678"}`)
		}, status: 422, delta: map[string]int64{"integrations": 1}, after: func(t *testing.T) {
			var status, reason string
			conn.QueryRow(ctx, "SELECT status, status_reason FROM integrations WHERE kind = 'klaviyo'").Scan(&status, &reason)
			if status != "not_connected" || reason == "" {
				t.Errorf("integration %s (%q)", status, reason)
			}
		}},
		{name: "an integration kind that does not exist", req: func() *http.Request { return api(http.MethodPut, "/api/v1/integrations/mailchimp", `{}`) }, status: 404},

		// App proxy (storefront).
		{name: "proxy call without a signature", req: func() *http.Request {
			q := signed("6001", time.Now())
			q.Del("signature")
			return proxy(http.MethodGet, "/api/v1/member", q, "")
		}, status: 401},
		{name: "proxy call for another customer than signed", req: func() *http.Request {
			q := signed("6001", time.Now())
			q.Set("logged_in_customer_id", "6002")
			return proxy(http.MethodGet, "/api/v1/member", q, "")
		}, status: 401},
		{name: "proxy call older than 90 s", req: func() *http.Request {
			return proxy(http.MethodGet, "/api/v1/member", signed("6001", time.Now().Add(-3*time.Minute)), "")
		}, status: 401},
		{name: "proxy call repeating the customer", req: func() *http.Request {
			q := signed("6001", time.Now())
			q.Add("logged_in_customer_id", "7001")
			return proxy(http.MethodGet, "/api/v1/member", resigned(q), "")
		}, status: 401},
		{name: "proxy customer that is not digits", req: func() *http.Request {
			return proxy(http.MethodGet, "/api/v1/member", signed("6001 OR 1=1", time.Now()), "")
		}, status: 401},
		{name: "guest asking for member data", req: func() *http.Request { return proxy(http.MethodGet, "/api/v1/member", signed("", time.Now()), "") }, status: 401},
		{name: "guest redeeming", req: func() *http.Request {
			return proxy(http.MethodPost, "/api/v1/redemptions", signed("", time.Now()), `{"reward_id":"amount-5","request_id":"g"}`)
		}, status: 401},
		{name: "redeeming a reward that does not exist", req: func() *http.Request {
			return proxy(http.MethodPost, "/api/v1/redemptions", signed("6001", time.Now()), `{"reward_id":"yacht","request_id":"r1"}`)
		}, status: 404},
		{name: "redeeming beyond the spendable points", req: func() *http.Request {
			return proxy(http.MethodPost, "/api/v1/redemptions", signed("6001", time.Now()), `{"reward_id":"percent-15","request_id":"r2"}`)
		}, status: 422, body: `"field":"reward_id"`},
		{name: "redeeming without a request id", req: func() *http.Request {
			return proxy(http.MethodPost, "/api/v1/redemptions", signed("6001", time.Now()), `{"reward_id":"amount-5"}`)
		}, status: 422, body: `"field":"request_id"`},
		{name: "storefront birthday on 31 April", req: func() *http.Request {
			return proxy(http.MethodPut, "/api/v1/birthday", signed("6001", time.Now()), `{"month":4,"day":31}`)
		}, status: 422, body: `"field":"day"`},
		// Customer account tokens (the customer account extension).
		{name: "account call without a session token", req: func() *http.Request { return account(http.MethodGet, "/member", "", "") }, status: 401},
		{name: "account call with an expired customer account token", req: func() *http.Request {
			return account(http.MethodGet, "/member", customerTok(shop, 6001, -2*time.Minute), "")
		}, status: 401},
		{name: "account call with another app's customer account token", req: func() *http.Request {
			return account(http.MethodGet, "/member", otherApp.MintCustomerAccountToken(shop, 6001, time.Minute), "")
		}, status: 401},
		{name: "account call with a customer account token signed by another secret", req: func() *http.Request {
			return account(http.MethodPost, "/redemptions", otherSecret.MintCustomerAccountToken(shop, 6001, time.Minute), `{"reward_id":"amount-5","request_id":"f1"}`)
		}, status: 401},
		{name: "account call with a customer account token of a shop without the app", req: func() *http.Request {
			return account(http.MethodGet, "/member", customerTok("never-installed.myshopify.com", 6001, time.Minute), "")
		}, status: 401},
		{name: "account call with a sub that is not a customer GID", req: func() *http.Request {
			return account(http.MethodGet, "/member", oddSub("gid://shopify/Customer/6001 OR 1=1"), "")
		}, status: 401},
		{name: "account call with an admin ID token", req: func() *http.Request { return account(http.MethodGet, "/member", tok, "") }, status: 401},
		{name: "customer account token on the admin API", req: func() *http.Request {
			r := api(http.MethodGet, "/api/v1/customers/6001", "")
			r.Header.Set("Authorization", "Bearer "+customerTok(shop, 6001, time.Minute))
			return r
		}, status: 401},
		{name: "customer account token without a customer redeeming", req: func() *http.Request {
			return account(http.MethodPost, "/redemptions", customerTok(shop, 0, time.Minute), `{"reward_id":"amount-5","request_id":"g2"}`)
		}, status: 401},
		{name: "customer account token redeeming beyond the spendable points", req: func() *http.Request {
			return account(http.MethodPost, "/redemptions", customerTok(shop, 6001, time.Minute), `{"reward_id":"percent-15","request_id":"a1"}`)
		}, status: 422, body: `"field":"reward_id"`},
		{name: "neighbour's customer account token spending this shop's member's points", req: func() *http.Request {
			return account(http.MethodPost, "/redemptions", customerTok(other, 6001, time.Minute), `{"reward_id":"amount-5","request_id":"a2"}`)
		}, status: 422, body: `"field":"reward_id"`},
		{name: "customer account token asking for another customer's order", req: func() *http.Request {
			return account(http.MethodGet, fmt.Sprint("/orders/", orderID), customerTok(shop, 6002, time.Minute), "")
		}, status: 404, after: func(t *testing.T) {
			// The order is there, and its own customer sees it.
			resp, body := do(account(http.MethodGet, fmt.Sprint("/orders/", orderID), customerTok(shop, 6001, time.Minute), ""))
			if resp.StatusCode != 200 || !strings.Contains(body, `"order_name":"#8801"`) {
				t.Errorf("the order's own customer: %d %s", resp.StatusCode, body)
			}
		}},
		{name: "neighbour's customer account token asking for this shop's order", req: func() *http.Request {
			return account(http.MethodGet, fmt.Sprint("/orders/", orderID), customerTok(other, 6001, time.Minute), "")
		}, status: 404},
		{name: "customer account order id that is not a number", req: func() *http.Request {
			return account(http.MethodGet, "/orders/1%20OR%201=1", customerTok(shop, 6001, time.Minute), "")
		}, status: 422, body: `"field":"order_id"`},
		{name: "account body over 16 KiB", req: func() *http.Request {
			return account(http.MethodPost, "/redemptions", customerTok(shop, 6001, time.Minute), `{"reward_id":"`+strings.Repeat("a", 20<<10)+`"}`)
		}, status: 413},

		{name: "proxy call for a shop without the app", req: func() *http.Request {
			q := url.Values{"shop": {"never-installed.myshopify.com"}, "logged_in_customer_id": {"1"}, "path_prefix": {"/apps/loyalty"}, "timestamp": {strconv.FormatInt(time.Now().Unix(), 10)}}
			q.Set("signature", shopify.SignProxy(secret, q))
			return proxy(http.MethodGet, "/api/v1/member", q, "")
		}, status: 404},
	}
	balance := func() int64 {
		var b int64
		conn.QueryRow(ctx, "SELECT points_balance FROM loyalty_accounts a JOIN customers c ON c.id = a.customer_id WHERE c.shopify_id = 6001").Scan(&b)
		return b
	}
	seeded := balance()
	if seeded < 500 {
		t.Fatalf("seeded balance %d", seeded)
	}
	if len(cases) < 40 {
		t.Fatalf("%d cases; the table promises at least 40", len(cases))
	}
	for _, c := range cases {
		before := counts()
		cl := client
		if c.client != nil {
			cl = c.client
		}
		resp, err := cl.Do(c.req())
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), c.body) {
			t.Errorf("%s: %d, want %d (body %q): %s", c.name, resp.StatusCode, c.status, c.body, truncateString(string(b), 300))
			continue
		}
		if resp.StatusCode == 401 && strings.HasPrefix(c.name, "API") {
			if resp.Header.Get("X-Shopify-Retry-Invalid-Session-Request") != "1" {
				t.Errorf("%s: 401 without X-Shopify-Retry-Invalid-Session-Request", c.name)
			}
		}
		if strings.Contains(c.name, "webhook") && c.status == 200 {
			// Let the worker settle it before counting what it wrote.
			if id := c.req().Header.Get("X-Shopify-Webhook-Id"); id != "" {
				waitProcessed(id)
			}
		}
		after := counts()
		for _, tb := range badInputTables {
			if got, want := after[tb]-before[tb], c.delta[tb]; got != want {
				t.Errorf("%s: %s changed by %d rows, want %d", c.name, tb, got, want)
			}
		}
		if c.after != nil {
			c.after(t)
		}
	}
	// The seeded member's points are where the seed left them.
	if got := balance(); got != seeded {
		t.Errorf("balance %d after the bad input, want the seeded %d", got, seeded)
	}
}

func mustReq(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func truncateString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
