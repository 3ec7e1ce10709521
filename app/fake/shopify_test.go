package fake_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/perkbridge/perkbridge/app/fake"
)

const (
	testShop   = "test-shop.myshopify.com"
	testKey    = "0123456789abcdef0123456789abcdef"
	testSecret = "hush"
)

type shopifyBundle struct {
	fake  *fake.Shopify
	srv   *httptest.Server
	clock *clock
	base  string // http://127.0.0.1:PORT/test-shop.myshopify.com
}

func setupShopify(t *testing.T) *shopifyBundle {
	t.Helper()
	c := newClock()
	f := fake.NewShopify(fake.ShopifyOptions{APIKey: testKey, APISecret: testSecret, Now: c.Now})
	f.InstallShop(testShop)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &shopifyBundle{fake: f, srv: srv, clock: c, base: srv.URL + "/" + testShop}
}

func (b *shopifyBundle) token(t *testing.T, body any) response {
	t.Helper()
	return do(t, "POST", b.base+"/admin/oauth/access_token", body, "Content-Type: application/json", "Accept: application/json")
}

func (b *shopifyBundle) graphql(t *testing.T, token, query string, vars map[string]any) response {
	t.Helper()
	return do(t, "POST", b.base+"/admin/api/2026-10/graphql.json", map[string]any{"query": query, "variables": vars},
		"Content-Type: application/json", "X-Shopify-Access-Token: "+token)
}

func TestShopify_AuthorizationCode(t *testing.T) {
	t.Parallel()

	t.Run("Expiring", func(t *testing.T) {
		t.Parallel()
		b := setupShopify(t)
		code := b.fake.IssueAuthCode(testShop)
		r := b.token(t, map[string]string{"client_id": testKey, "client_secret": testSecret, "code": code, "expiring": "1"})
		if r.Status != 200 {
			t.Fatalf("status %d %s", r.Status, r.Body)
		}
		m := r.JSON(t)
		if m["expires_in"] != 3600.0 || m["refresh_token_expires_in"] != 7776000.0 || m["access_token"] == "" || m["refresh_token"] == "" || m["scope"] == "" {
			t.Fatalf("body %s", r.Body)
		}
		if g := b.graphql(t, m["access_token"].(string), "{ shop { name } }", nil); g.Status != 200 {
			t.Fatalf("graphql with new token: %d %s", g.Status, g.Body)
		}
	})

	t.Run("LegacyNonExpiringFormEncoded", func(t *testing.T) {
		t.Parallel()
		b := setupShopify(t)
		code := b.fake.IssueAuthCode(testShop)
		r := do(t, "POST", b.base+"/admin/oauth/access_token", "client_id="+testKey+"&client_secret="+testSecret+"&code="+code,
			"Content-Type: application/x-www-form-urlencoded")
		m := r.JSON(t)
		if r.Status != 200 || len(m) != 2 || m["access_token"] == nil || m["scope"] == nil {
			t.Fatalf("got %d %s, want {access_token, scope}", r.Status, r.Body)
		}
	})

	t.Run("WrongSecret", func(t *testing.T) {
		t.Parallel()
		b := setupShopify(t)
		code := b.fake.IssueAuthCode(testShop)
		r := b.token(t, map[string]string{"client_id": testKey, "client_secret": "nope", "code": code})
		if r.Status != 400 || r.JSON(t)["error"] != "invalid_client" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})

	t.Run("ReusedCode", func(t *testing.T) {
		t.Parallel()
		b := setupShopify(t)
		code := b.fake.IssueAuthCode(testShop)
		req := map[string]string{"client_id": testKey, "client_secret": testSecret, "code": code}
		if r := b.token(t, req); r.Status != 200 {
			t.Fatalf("first use: %d %s", r.Status, r.Body)
		}
		r := b.token(t, req)
		want := `{"error":"invalid_request","error_description":"The authorization code was not found or was already used"}`
		if r.Status != 400 || string(r.Body) != want {
			t.Fatalf("got %d %s, want 400 %s", r.Status, r.Body, want)
		}
	})

	t.Run("UnknownShop", func(t *testing.T) {
		t.Parallel()
		b := setupShopify(t)
		r := do(t, "POST", b.srv.URL+"/other.myshopify.com/admin/oauth/access_token", map[string]string{"client_id": testKey}, "Content-Type: application/json")
		if r.Status != 404 || string(r.Body) != `{"errors":"Not Found"}` {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
}

func exchangeBody(idToken string) map[string]string {
	return map[string]string{
		"client_id": testKey, "client_secret": testSecret,
		"grant_type":           "urn:ietf:params:oauth:grant-type:token-exchange",
		"subject_token":        idToken,
		"subject_token_type":   "urn:ietf:params:oauth:token-type:id_token",
		"requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
		"expiring":             "1",
	}
}

func TestShopify_TokenExchange(t *testing.T) {
	t.Parallel()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		b := setupShopify(t)
		r := b.token(t, exchangeBody(b.fake.MintIDToken(testShop, 42, time.Minute)))
		if r.Status != 200 || r.JSON(t)["refresh_token"] == nil {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})

	t.Run("MintedClaims", func(t *testing.T) {
		t.Parallel()
		b := setupShopify(t)
		raw := b.fake.MintIDToken(testShop, 42, time.Minute)
		claims := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return []byte(testSecret), nil },
			jwt.WithTimeFunc(b.clock.Now), jwt.WithValidMethods([]string{"HS256"}))
		if err != nil {
			t.Fatal(err)
		}
		if claims["iss"] != "https://"+testShop+"/admin" || claims["dest"] != "https://"+testShop || claims["aud"] != testKey ||
			claims["sub"] != "42" || claims["jti"] == nil || claims["sid"] == nil || claims["nbf"] == nil || claims["iat"] == nil {
			t.Fatalf("claims %v", claims)
		}
	})

	cases := []struct {
		name  string
		token func(b *shopifyBundle) string
	}{
		{"Expired", func(b *shopifyBundle) string {
			tok := b.fake.MintIDToken(testShop, 42, time.Minute)
			b.clock.Add(2 * time.Minute) // past exp + 10 s leeway
			return tok
		}},
		{"BadSignature", func(b *shopifyBundle) string {
			return fake.NewShopify(fake.ShopifyOptions{APIKey: testKey, APISecret: "other", Now: b.clock.Now}).MintIDToken(testShop, 42, time.Minute)
		}},
		{"WrongAudience", func(b *shopifyBundle) string {
			return fake.NewShopify(fake.ShopifyOptions{APIKey: "other", APISecret: testSecret, Now: b.clock.Now}).MintIDToken(testShop, 42, time.Minute)
		}},
		{"OtherShop", func(b *shopifyBundle) string {
			return b.fake.MintIDToken("other.myshopify.com", 42, time.Minute)
		}},
		{"Garbage", func(*shopifyBundle) string { return "not.a.jwt" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupShopify(t)
			r := b.token(t, exchangeBody(tc.token(b)))
			m := r.JSON(t)
			if r.Status != 400 || m["error"] != "invalid_subject_token" || m["error_description"] == "" {
				t.Fatalf("got %d %s", r.Status, r.Body)
			}
		})
	}

	t.Run("MigrateNonExpiring", func(t *testing.T) {
		t.Parallel()
		b := setupShopify(t)
		r := b.token(t, map[string]string{"client_id": testKey, "client_secret": testSecret, "code": b.fake.IssueAuthCode(testShop)})
		old := r.JSON(t)["access_token"].(string)
		mig := b.token(t, map[string]string{
			"client_id": testKey, "client_secret": testSecret,
			"grant_type":           "urn:ietf:params:oauth:grant-type:token-exchange",
			"subject_token":        old,
			"subject_token_type":   "urn:shopify:params:oauth:token-type:offline-access-token",
			"requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
			"expiring":             "1",
		})
		if mig.Status != 200 || mig.JSON(t)["refresh_token"] == nil {
			t.Fatalf("migrate: %d %s", mig.Status, mig.Body)
		}
		if g := b.graphql(t, old, "{ shop { name } }", nil); g.Status != 401 {
			t.Fatalf("old token still works: %d", g.Status)
		}
	})
}

func TestShopify_Refresh(t *testing.T) {
	t.Parallel()

	refresh := func(t *testing.T, b *shopifyBundle, rt string) response {
		t.Helper()
		return b.token(t, map[string]string{"client_id": testKey, "client_secret": testSecret, "grant_type": "refresh_token", "refresh_token": rt})
	}

	t.Run("RotationAndGrace", func(t *testing.T) {
		t.Parallel()
		b := setupShopify(t)
		tok := b.fake.IssueOfflineToken(testShop)
		r1 := tok.RefreshToken

		a := refresh(t, b, r1)
		if a.Status != 200 {
			t.Fatalf("refresh r1: %d %s", a.Status, a.Body)
		}
		r2 := a.JSON(t)["refresh_token"].(string)
		if r2 == r1 {
			t.Fatal("refresh token not rotated")
		}
		// The response was "lost": r1 stays usable until r2 is used.
		c := refresh(t, b, r1)
		if c.Status != 200 {
			t.Fatalf("r1 during grace: %d %s", c.Status, c.Body)
		}
		r3 := c.JSON(t)["refresh_token"].(string)
		if d := refresh(t, b, r3); d.Status != 200 {
			t.Fatalf("r3: %d %s", d.Status, d.Body)
		}
		for name, rt := range map[string]string{"r1": r1, "r2": r2} {
			if r := refresh(t, b, rt); r.Status != 400 || r.JSON(t)["error"] != "invalid_grant" {
				t.Fatalf("%s after replacement used: %d %s", name, r.Status, r.Body)
			}
		}
	})

	t.Run("Expired", func(t *testing.T) {
		t.Parallel()
		b := setupShopify(t)
		tok := b.fake.IssueOfflineToken(testShop)
		b.clock.Add(91 * 24 * time.Hour)
		if r := refresh(t, b, tok.RefreshToken); r.Status != 400 || r.JSON(t)["error"] != "invalid_grant" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})

	t.Run("Unknown", func(t *testing.T) {
		t.Parallel()
		b := setupShopify(t)
		if r := refresh(t, b, "shprt_nope"); r.Status != 400 || r.JSON(t)["error"] != "invalid_grant" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})

	t.Run("AccessTokenExpires", func(t *testing.T) {
		t.Parallel()
		b := setupShopify(t)
		tok := b.fake.IssueOfflineToken(testShop)
		if g := b.graphql(t, tok.AccessToken, "{ shop { name } }", nil); g.Status != 200 {
			t.Fatalf("fresh token: %d", g.Status)
		}
		b.clock.Add(time.Hour)
		if g := b.graphql(t, tok.AccessToken, "{ shop { name } }", nil); g.Status != 401 {
			t.Fatalf("expired token: %d", g.Status)
		}
		if v := b.fake.ValidAccessToken(testShop); v == tok.AccessToken {
			t.Fatal("ValidAccessToken returned an expired token")
		}
	})
}

func TestShopify_GraphQLAuth(t *testing.T) {
	t.Parallel()
	b := setupShopify(t)
	want := `{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}`
	for name, tok := range map[string]string{"Missing": "", "Unknown": "shpat_nope"} {
		r := b.graphql(t, tok, "{ shop { name } }", nil)
		if r.Status != 401 || string(r.Body) != want {
			t.Errorf("%s: got %d %s", name, r.Status, r.Body)
		}
	}
	// A token of another shop is not valid here.
	other := b.fake.ValidAccessToken("other.myshopify.com")
	if r := b.graphql(t, other, "{ shop { name } }", nil); r.Status != 401 {
		t.Errorf("foreign token: %d", r.Status)
	}
	// Unsupported versions answer 404.
	tok := b.fake.ValidAccessToken(testShop)
	r := do(t, "POST", b.base+"/admin/api/2024-01/graphql.json", map[string]any{"query": "{ shop { name } }"}, "X-Shopify-Access-Token: "+tok)
	if r.Status != 404 {
		t.Errorf("old version: %d %s", r.Status, r.Body)
	}
	r = do(t, "POST", b.base+"/admin/api/2026-07/graphql.json", map[string]any{"query": "{ shop { name } }"}, "X-Shopify-Access-Token: "+tok)
	if r.Status != 200 || r.Header.Get("X-Shopify-API-Version") != "2026-07" {
		t.Errorf("2026-07: %d %q", r.Status, r.Header.Get("X-Shopify-API-Version"))
	}
}

func TestShopify_Uninstall(t *testing.T) {
	t.Parallel()
	b := setupShopify(t)
	tok := b.fake.ValidAccessToken(testShop)
	b.fake.UninstallShop(testShop)
	if r := b.graphql(t, tok, "{ shop { name } }", nil); r.Status != 404 {
		t.Fatalf("uninstalled: %d %s", r.Status, r.Body)
	}
	b.fake.InstallShop(testShop)
	if r := b.graphql(t, tok, "{ shop { name } }", nil); r.Status != 401 {
		t.Fatalf("token revoked by uninstall still works: %d", r.Status)
	}
}

func TestShopify_HostRouting(t *testing.T) {
	t.Parallel()
	b := setupShopify(t)
	tok := b.fake.ValidAccessToken(testShop)
	req, _ := http.NewRequest("POST", b.srv.URL+"/admin/api/2026-10/graphql.json", strings.NewReader(`{"query":"{ shop { myshopifyDomain } }"}`))
	req.Host = testShop
	req.Header.Set("X-Shopify-Access-Token", tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"myshopifyDomain":"`+testShop+`"`) {
		t.Fatalf("got %d %s", resp.StatusCode, body)
	}
}

func TestShopify_CustomerQuery(t *testing.T) {
	t.Parallel()
	b := setupShopify(t)
	b.fake.AddCustomer(testShop, fake.ShopifyCustomer{
		ID: 624407574, Email: "jane@example.com", Phone: "+15145551234", FirstName: "Jane", LastName: "Doe",
		Metafields: map[string]string{"$app:loyalty.points": "1250", "custom.loyalty_id": "L-77"},
	})
	tok := b.fake.ValidAccessToken(testShop)

	t.Run("MetafieldAliases", func(t *testing.T) {
		r := b.graphql(t, tok, `query Get($id: ID!) {
  customer(id: $id) {
    id legacyResourceId firstName lastName email phone
    defaultEmailAddress { emailAddress }
    defaultPhoneNumber { phoneNumber }
    points: metafield(namespace: "$app:loyalty", key: "points") { value }
    loyaltyId: metafield(namespace: "custom", key: "loyalty_id") { value }
    missing: metafield(namespace: "custom", key: "nope") { value }
  }
}`, map[string]any{"id": "gid://shopify/Customer/624407574"})
		want := compactJSON(t, `{"customer":{"id":"gid://shopify/Customer/624407574","legacyResourceId":"624407574",
 "firstName":"Jane","lastName":"Doe","email":"jane@example.com","phone":"+15145551234",
 "defaultEmailAddress":{"emailAddress":"jane@example.com"},"defaultPhoneNumber":{"phoneNumber":"+15145551234"},
 "points":{"value":"1250"},"loyaltyId":{"value":"L-77"},"missing":null}}`)
		if !strings.Contains(string(r.Body), `"data":`+want) {
			t.Fatalf("got %s\nwant data %s", r.Body, want)
		}
		cost := path(r.JSON(t), "extensions", "cost")
		if path(cost, "requestedQueryCost") != 6.0 || path(cost, "throttleStatus", "maximumAvailable") != 2000.0 {
			t.Fatalf("cost %v", cost)
		}
		if !strings.Contains(string(r.Body), `"maximumAvailable":2000.0`) {
			t.Fatalf("float format: %s", r.Body)
		}
	})

	t.Run("UnknownID", func(t *testing.T) {
		r := b.graphql(t, tok, `{ customer(id: "gid://shopify/Customer/1") { id } }`, nil)
		if !strings.Contains(string(r.Body), `"data":{"customer":null}`) {
			t.Fatalf("got %s", r.Body)
		}
	})

	t.Run("SearchByEmailAndPhone", func(t *testing.T) {
		for _, q := range []string{`email:"jane@example.com"`, `email:jane@example.com`, `phone:"+15145551234"`} {
			r := b.graphql(t, tok, `query($q: String!) { customers(first: 1, query: $q) { edges { node { id } } nodes { id } } }`, map[string]any{"q": q})
			if path(r.JSON(t), "data", "customers", "edges", 0, "node", "id") != "gid://shopify/Customer/624407574" {
				t.Fatalf("%s: %s", q, r.Body)
			}
		}
		r := b.graphql(t, tok, `{ customers(first: 5, query: "email:nobody@example.com") { nodes { id } } }`, nil)
		if !strings.Contains(string(r.Body), `"customers":{"nodes":[]}`) {
			t.Fatalf("no match: %s", r.Body)
		}
	})

	t.Run("Shop", func(t *testing.T) {
		r := b.graphql(t, tok, `{ shop { name email myshopifyDomain currencyCode ianaTimezone __typename } }`, nil)
		if path(r.JSON(t), "data", "shop", "myshopifyDomain") != testShop || path(r.JSON(t), "data", "shop", "__typename") != "Shop" {
			t.Fatalf("got %s", r.Body)
		}
	})

	t.Run("UnknownField", func(t *testing.T) {
		r := b.graphql(t, tok, `{ customer(id: "gid://shopify/Customer/624407574") { id birthday } }`, nil)
		m := r.JSON(t)
		if r.Status != 200 || m["data"] != nil ||
			path(m, "errors", 0, "message") != "Field 'birthday' doesn't exist on type 'Customer'" ||
			path(m, "errors", 0, "extensions", "code") != "undefinedField" {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})

	t.Run("SyntaxError", func(t *testing.T) {
		r := b.graphql(t, tok, `{ customer(id: "x") { id `, nil)
		msg, _ := path(r.JSON(t), "errors", 0, "message").(string)
		if r.Status != 200 || !strings.HasPrefix(msg, "syntax error") || path(r.JSON(t), "errors", 0, "locations") == nil {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})

	t.Run("MissingVariable", func(t *testing.T) {
		r := b.graphql(t, tok, `query($id: ID!) { customer(id: $id) { id } }`, nil)
		if path(r.JSON(t), "errors", 0, "message") != "Variable $id of type ID! was provided invalid value" {
			t.Fatalf("got %s", r.Body)
		}
	})

	t.Run("FragmentsAndTypename", func(t *testing.T) {
		r := b.graphql(t, tok, `query { customer(id: "gid://shopify/Customer/624407574") { ...F __typename } }
fragment F on Customer { firstName }`, nil)
		if !strings.Contains(string(r.Body), `{"customer":{"firstName":"Jane","__typename":"Customer"}}`) {
			t.Fatalf("got %s", r.Body)
		}
	})
}

func TestShopify_DiscountCodeBasicCreate(t *testing.T) {
	t.Parallel()
	b := setupShopify(t)
	tok := b.fake.ValidAccessToken(testShop)
	const m = `mutation CreateReward($input: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $input) {
    codeDiscountNode { id codeDiscount { ... on DiscountCodeBasic { title codes(first: 1) { nodes { code } } } } }
    userErrors { field code message }
  }
}`
	input := map[string]any{
		"title": "Loyalty reward 500 pts", "code": "PB-7K3Q-9XZD", "startsAt": "2026-11-23T00:00:00Z",
		"context":      map[string]any{"customers": map[string]any{"add": []any{"gid://shopify/Customer/624407574"}}},
		"customerGets": map[string]any{"value": map[string]any{"discountAmount": map[string]any{"amount": "5.00"}}, "items": map[string]any{"all": true}},
		"usageLimit":   1,
	}
	r := b.graphql(t, tok, m, map[string]any{"input": input})
	d := path(r.JSON(t), "data", "discountCodeBasicCreate")
	id, _ := path(d, "codeDiscountNode", "id").(string)
	if !strings.HasPrefix(id, "gid://shopify/DiscountCodeNode/") || path(d, "codeDiscountNode", "codeDiscount", "codes", "nodes", 0, "code") != "PB-7K3Q-9XZD" ||
		len(path(d, "userErrors").([]any)) != 0 {
		t.Fatalf("got %s", r.Body)
	}
	if path(r.JSON(t), "extensions", "cost", "requestedQueryCost") != 10.0 {
		t.Fatalf("mutation cost: %s", r.Body)
	}
	got := b.fake.DiscountCodes(testShop)
	if len(got) != 1 || got[0].Code != "PB-7K3Q-9XZD" || got[0].ID != id || got[0].UsageLimit != 1 ||
		len(got[0].CustomerIDs) != 1 || got[0].CustomerIDs[0] != "gid://shopify/Customer/624407574" {
		t.Fatalf("recorded %+v", got)
	}

	// The same code again (case-insensitively) is TAKEN.
	input["code"] = "pb-7k3q-9xzd"
	r = b.graphql(t, tok, m, map[string]any{"input": input})
	d = path(r.JSON(t), "data", "discountCodeBasicCreate")
	if path(d, "codeDiscountNode") != nil || path(d, "userErrors", 0, "code") != "TAKEN" ||
		path(d, "userErrors", 0, "field", 0) != "basicCodeDiscount" || path(d, "userErrors", 0, "field", 1) != "code" {
		t.Fatalf("duplicate: %s", r.Body)
	}
	if len(b.fake.DiscountCodes(testShop)) != 1 {
		t.Fatal("duplicate recorded")
	}
}

func TestShopify_MetafieldsSet(t *testing.T) {
	t.Parallel()
	b := setupShopify(t)
	b.fake.AddCustomer(testShop, fake.ShopifyCustomer{ID: 7, Email: "a@example.com"})
	tok := b.fake.ValidAccessToken(testShop)
	r := b.graphql(t, tok, `mutation($m: [MetafieldsSetInput!]!) { metafieldsSet(metafields: $m) { metafields { key value } userErrors { field message code } } }`,
		map[string]any{"m": []any{map[string]any{"ownerId": "gid://shopify/Customer/7", "namespace": "$app:loyalty", "key": "points", "type": "number_integer", "value": "40"}}})
	if path(r.JSON(t), "data", "metafieldsSet", "metafields", 0, "value") != "40" {
		t.Fatalf("got %s", r.Body)
	}
	if c, _ := b.fake.Customer(testShop, 7); c.Metafields["$app:loyalty.points"] != "40" {
		t.Fatalf("customer %+v", c)
	}
}

func TestShopify_Throttle(t *testing.T) {
	t.Parallel()
	b := setupShopify(t)
	b.fake.AddCustomer(testShop, fake.ShopifyCustomer{ID: 1, Email: "a@example.com"})
	tok := b.fake.ValidAccessToken(testShop)
	b.fake.SetAvailable(testShop, 35)
	q := `{ customers(first: 100) { nodes { id defaultEmailAddress { emailAddress } } } }` // 2 + 100×2 = 202
	r := b.graphql(t, tok, q, nil)
	want := compactJSON(t, `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED","documentation":"https://shopify.dev/api/usage/rate-limits"}}],
 "extensions":{"cost":{"requestedQueryCost":202,"actualQueryCost":null,
   "throttleStatus":{"maximumAvailable":2000.0,"currentlyAvailable":35.0,"restoreRate":100.0}}}}`)
	if r.Status != 200 || string(r.Body) != want {
		t.Fatalf("got %d %s\nwant %s", r.Status, r.Body, want)
	}
	// After (202-35)/100 s the bucket holds enough; the unused part is refunded.
	b.clock.Add(1700 * time.Millisecond)
	r = b.graphql(t, tok, q, nil)
	cost := path(r.JSON(t), "extensions", "cost")
	if r.Status != 200 || path(cost, "actualQueryCost") != 4.0 || path(cost, "throttleStatus", "currentlyAvailable") != 201.0 {
		t.Fatalf("got %s", r.Body)
	}
}

func TestShopify_FailNext(t *testing.T) {
	t.Parallel()
	b := setupShopify(t)
	tok := b.fake.ValidAccessToken(testShop)
	b.fake.FailNext(testShop, 503, 2)
	for i := range 2 {
		if r := b.graphql(t, tok, "{ shop { name } }", nil); r.Status != 503 {
			t.Fatalf("call %d: %d", i, r.Status)
		}
	}
	if r := b.graphql(t, tok, "{ shop { name } }", nil); r.Status != 200 {
		t.Fatalf("after faults: %d", r.Status)
	}
	if n := len(b.fake.Requests(testShop)); n != 3 {
		t.Fatalf("recorded %d requests, want 3", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := b.fake.WaitForRequests(ctx, testShop, 3); err != nil {
		t.Fatal(err)
	}
}

func TestShopify_SendWebhook(t *testing.T) {
	t.Parallel()
	b := setupShopify(t)
	got := make(chan *http.Request, 1)
	var body []byte
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		got <- r
	}))
	defer recv.Close()
	payload := []byte(`{"id":820982911946154508,"email":"jon@example.com"}`)
	resp, err := b.fake.SendWebhookWithID(context.Background(), recv.URL+"/webhooks", testShop, "orders/paid", "wh-1", payload)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := <-got
	m := hmac.New(sha256.New, []byte(testSecret))
	m.Write(body)
	if want := base64.StdEncoding.EncodeToString(m.Sum(nil)); r.Header.Get("X-Shopify-Hmac-Sha256") != want {
		t.Fatalf("hmac %q, want %q", r.Header.Get("X-Shopify-Hmac-Sha256"), want)
	}
	if string(body) != string(payload) || r.Header.Get("X-Shopify-Topic") != "orders/paid" || r.Header.Get("X-Shopify-Shop-Domain") != testShop ||
		r.Header.Get("X-Shopify-API-Version") != "2026-10" || r.Header.Get("X-Shopify-Webhook-Id") != "wh-1" ||
		r.Header.Get("X-Shopify-Event-Id") == "" || r.Header.Get("X-Shopify-Triggered-At") == "" {
		t.Fatalf("headers %v", r.Header)
	}
	// The documented test vector (reference §4.2).
	if got := fake.SignShopifyWebhook("hush", []byte(`"my secret message"`)); got != "hMTq0K2x7oyOjoBwGYeTj5oxfnaVYXzbanUG9aajpKI=" {
		t.Fatalf("vector: %s", got)
	}
}

func TestShopify_QueryFeatures(t *testing.T) {
	t.Parallel()
	b := setupShopify(t)
	for i := int64(1); i <= 3; i++ {
		b.fake.AddCustomer(testShop, fake.ShopifyCustomer{ID: i, Email: "c" + strconv.FormatInt(i, 10) + "@example.com", Phone: "+1514555000" + strconv.FormatInt(i, 10)})
	}
	tok := b.fake.ValidAccessToken(testShop)

	t.Run("Pagination", func(t *testing.T) {
		r := b.graphql(t, tok, `{ customers(first: 2) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`, nil)
		m := r.JSON(t)
		if path(m, "data", "customers", "pageInfo", "hasNextPage") != true || len(path(m, "data", "customers", "edges").([]any)) != 2 {
			t.Fatalf("%s", r.Body)
		}
		after := path(m, "data", "customers", "pageInfo", "endCursor").(string)
		r = b.graphql(t, tok, `query($after: String) { customers(first: 2, after: $after) { nodes { id } pageInfo { hasNextPage hasPreviousPage } } }`, map[string]any{"after": after})
		m = r.JSON(t)
		if path(m, "data", "customers", "nodes", 0, "id") != "gid://shopify/Customer/3" || path(m, "data", "customers", "pageInfo", "hasNextPage") != false ||
			path(m, "data", "customers", "pageInfo", "hasPreviousPage") != true {
			t.Fatalf("%s", r.Body)
		}
	})

	t.Run("CustomerByIdentifier", func(t *testing.T) {
		r := b.graphql(t, tok, `query($i: CustomerIdentifierInput!) { customerByIdentifier(identifier: $i) { id } }`,
			map[string]any{"i": map[string]any{"phoneNumber": "+15145550002"}})
		if path(r.JSON(t), "data", "customerByIdentifier", "id") != "gid://shopify/Customer/2" {
			t.Fatalf("%s", r.Body)
		}
	})

	t.Run("Directives", func(t *testing.T) {
		r := b.graphql(t, tok, `query($with: Boolean!) { shop { name @include(if: $with) email @skip(if: true) myshopifyDomain } }`, map[string]any{"with": false})
		if !strings.Contains(string(r.Body), `"data":{"shop":{"myshopifyDomain":"test-shop.myshopify.com"}}`) {
			t.Fatalf("%s", r.Body)
		}
	})

	t.Run("OperationName", func(t *testing.T) {
		body := map[string]any{"query": `query A { shop { name } } query B { shop { email } }`, "operationName": "B"}
		r := do(t, "POST", b.base+"/admin/api/2026-10/graphql.json", body, "Content-Type: application/json", "X-Shopify-Access-Token: "+tok)
		if !strings.Contains(string(r.Body), `"data":{"shop":{"email":`) {
			t.Fatalf("%s", r.Body)
		}
		delete(body, "operationName")
		r = do(t, "POST", b.base+"/admin/api/2026-10/graphql.json", body, "Content-Type: application/json", "X-Shopify-Access-Token: "+tok)
		if path(r.JSON(t), "errors", 0, "message") != "An operation name is required" {
			t.Fatalf("%s", r.Body)
		}
	})

	t.Run("MaxCostExceeded", func(t *testing.T) {
		r := b.graphql(t, tok, `{ customers(first: 600) { nodes { id defaultEmailAddress { emailAddress } } } }`, nil)
		if path(r.JSON(t), "errors", 0, "extensions", "code") != "MAX_COST_EXCEEDED" {
			t.Fatalf("%s", r.Body)
		}
	})
}

func TestShopify_SendWebhookDefaults(t *testing.T) {
	t.Parallel()
	b := setupShopify(t)
	got := make(chan http.Header, 2)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header }))
	defer recv.Close()
	for range 2 {
		resp, err := b.fake.SendWebhook(context.Background(), recv.URL, "test-shop", "app/uninstalled", []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	h1, h2 := <-got, <-got
	if h1.Get("X-Shopify-Webhook-Id") == "" || h1.Get("X-Shopify-Webhook-Id") == h2.Get("X-Shopify-Webhook-Id") ||
		h1.Get("X-Shopify-Shop-Domain") != testShop || h1.Get("X-Shopify-Triggered-At") != "2026-11-23T12:00:00Z" {
		t.Fatalf("headers %v / %v", h1, h2)
	}
}
