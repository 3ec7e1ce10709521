package web_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/templates"
)

// beginOAuth runs GET /auth for shop and returns the state cookie and the
// state sent to Shopify.
func beginOAuth(t *testing.T, b *testBundle, shop string) (*http.Cookie, string) {
	t.Helper()
	rec := b.get("/auth?shop="+url.QueryEscape(shop), "User-Agent", "Mozilla/5.0")
	loc := location(t, rec)
	ck := cookieNamed(rec, "shopify_app_state")
	if ck == nil {
		t.Fatalf("no state cookie; headers %v", rec.Header())
	}
	return ck, loc.Query().Get("state")
}

// callbackQuery is the query Shopify sends to the callback, signed with
// secret.
func callbackQuery(b *testBundle, shop, code, state string, ts time.Time, secret string) url.Values {
	q := url.Values{
		"code":      {code},
		"shop":      {shop},
		"state":     {state},
		"timestamp": {strconv.FormatInt(ts.Unix(), 10)},
		"host":      {base64.RawStdEncoding.EncodeToString([]byte("admin.shopify.com/store/" + strings.TrimSuffix(shop, ".myshopify.com")))},
	}
	q.Set("hmac", shopify.SignQuery(secret, q))
	return q
}

func callback(b *testBundle, q url.Values, ck *http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/auth/callback?"+q.Encode(), nil)
	if ck != nil {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	return b.do(req)
}

func TestAuth_OAuth(t *testing.T) {
	t.Parallel()

	t.Run("BeginSetsStateCookieAndRedirectsToAuthorize", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rec := b.get("/auth?shop=Shop-A.myshopify.com", "User-Agent", "Mozilla/5.0")
		loc := location(t, rec)
		wantPrefix := strings.ReplaceAll(b.cfg.ShopOrigin, "{shop}", "shop-a.myshopify.com") + "/admin/oauth/authorize"
		if got := loc.Scheme + "://" + loc.Host + loc.Path; got != wantPrefix {
			t.Errorf("authorize URL = %s, want %s", got, wantPrefix)
		}
		q := loc.Query()
		if q.Get("client_id") != testAPIKey || q.Get("scope") != b.cfg.Scopes || q.Get("redirect_uri") != testAppURL+"/auth/callback" {
			t.Errorf("authorize query = %v", q)
		}
		if len(q.Get("state")) != 64 {
			t.Errorf("state %q is not 32 random bytes in hex", q.Get("state"))
		}
		if q.Has("grant_options[]") {
			t.Error("asked for an online token")
		}
		ck := cookieNamed(rec, "shopify_app_state")
		if ck == nil {
			t.Fatal("no state cookie")
		}
		if ck.Path != "/auth/callback" || ck.MaxAge != 60 || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode {
			t.Errorf("cookie = %+v", ck)
		}
		if !strings.HasPrefix(ck.Value, q.Get("state")+".") {
			t.Errorf("cookie %q does not carry the state %q", ck.Value, q.Get("state"))
		}
		// A second begin gets a fresh nonce.
		_, state2 := beginOAuth(t, b, "shop-a.myshopify.com")
		if state2 == q.Get("state") {
			t.Error("state reused")
		}
	})

	t.Run("BeginRefusesBotsAndBadShops", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rec := b.get("/auth?shop=shop-a.myshopify.com", "User-Agent", "Googlebot/2.1 (+http://www.google.com/bot.html)")
		requireStatus(t, rec, http.StatusGone)
		if cookieNamed(rec, "shopify_app_state") != nil {
			t.Error("bot got a state cookie")
		}
		for _, shop := range []string{"evil.com", "a.myshopify.com.evil.com", "", "https://a.myshopify.com"} {
			rec := b.get("/auth?shop="+url.QueryEscape(shop), "User-Agent", "Mozilla/5.0")
			requireStatus(t, rec, http.StatusBadRequest)
			if rec.Header().Get("Location") != "" || cookieNamed(rec, "shopify_app_state") != nil {
				t.Errorf("shop %q: redirected or got a cookie", shop)
			}
		}
	})

	t.Run("BeginInsideTheIframeExitsItFirst", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		loc := location(t, b.get("/auth?shop=shop-a.myshopify.com&embedded=1", "User-Agent", "Mozilla/5.0"))
		if loc.Path != "/auth/exit-iframe" || loc.Query().Get("exitIframe") != "/auth?shop=shop-a.myshopify.com" {
			t.Errorf("redirect = %s", loc)
		}
	})

	t.Run("CallbackInstallsTheShop", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		const shop = "shop-a.myshopify.com"
		ck, state := beginOAuth(t, b, shop)
		rec := callback(b, callbackQuery(b, shop, b.fake.IssueAuthCode(shop), state, b.clock.Now(), testAPISecret), ck)
		loc := location(t, rec)
		if loc.String() != "https://shop-a.myshopify.com/admin/apps/"+testAPIKey {
			t.Errorf("redirect = %s", loc)
		}
		sh, err := b.st.ShopByDomain(context.Background(), shop)
		if err != nil || sh.State != "active" || sh.AccessToken == "" {
			t.Fatalf("shop = %+v, %v", sh, err)
		}
		if cleared := cookieNamed(rec, "shopify_app_state"); cleared == nil || cleared.MaxAge >= 0 {
			t.Errorf("state cookie not cleared: %+v", cleared)
		}
	})

	t.Run("CallbackRefusals", func(t *testing.T) {
		t.Parallel()
		const shop = "shop-a.myshopify.com"
		cases := []struct {
			name   string
			status int
			mutate func(b *testBundle, q url.Values, ck *http.Cookie) (url.Values, *http.Cookie)
		}{
			{"TamperedHMAC", http.StatusUnauthorized, func(b *testBundle, q url.Values, ck *http.Cookie) (url.Values, *http.Cookie) {
				q.Set("code", q.Get("code")+"x") // the hmac no longer covers the query
				return q, ck
			}},
			{"WrongSecret", http.StatusUnauthorized, func(b *testBundle, q url.Values, ck *http.Cookie) (url.Values, *http.Cookie) {
				return callbackQuery(b, shop, q.Get("code"), q.Get("state"), b.clock.Now(), "guess"), ck
			}},
			{"MissingStateCookie", http.StatusBadRequest, func(b *testBundle, q url.Values, ck *http.Cookie) (url.Values, *http.Cookie) {
				return q, nil
			}},
			{"MismatchedState", http.StatusBadRequest, func(b *testBundle, q url.Values, ck *http.Cookie) (url.Values, *http.Cookie) {
				return callbackQuery(b, shop, q.Get("code"), strings.Repeat("ab", 32), b.clock.Now(), testAPISecret), ck
			}},
			{"ForgedStateCookie", http.StatusBadRequest, func(b *testBundle, q url.Values, ck *http.Cookie) (url.Values, *http.Cookie) {
				nonce := strings.Repeat("cd", 32)
				forged := &http.Cookie{Name: ck.Name, Value: nonce + "." + strconv.FormatInt(b.clock.Now().Add(time.Minute).Unix(), 10) + "." + strings.Repeat("0", 64)}
				return callbackQuery(b, shop, q.Get("code"), nonce, b.clock.Now(), testAPISecret), forged
			}},
			{"StaleTimestamp", http.StatusUnauthorized, func(b *testBundle, q url.Values, ck *http.Cookie) (url.Values, *http.Cookie) {
				return callbackQuery(b, shop, q.Get("code"), q.Get("state"), b.clock.Now().Add(-5*time.Minute), testAPISecret), ck
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t)
				ck, state := beginOAuth(t, b, shop)
				q := callbackQuery(b, shop, b.fake.IssueAuthCode(shop), state, b.clock.Now(), testAPISecret)
				q, ck = tc.mutate(b, q, ck)
				rec := callback(b, q, ck)
				requireStatus(t, rec, tc.status)
				if n := b.shopCount(t, shop); n != 0 {
					t.Errorf("shop rows = %d, want none", n)
				}
			})
		}
	})

	t.Run("StateCookieExpiresAfterAMinute", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		const shop = "shop-a.myshopify.com"
		ck, state := beginOAuth(t, b, shop)
		b.clock.Advance(61 * time.Second) // the browser would have dropped it; a replay must fail too
		rec := callback(b, callbackQuery(b, shop, b.fake.IssueAuthCode(shop), state, b.clock.Now(), testAPISecret), ck)
		requireStatus(t, rec, http.StatusBadRequest)
		if n := b.shopCount(t, shop); n != 0 {
			t.Errorf("shop rows = %d", n)
		}
	})
}

func TestAuth_Entry(t *testing.T) {
	t.Parallel()

	t.Run("ValidIDTokenRendersTheShell", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		const shop = "shop-a.myshopify.com"
		b.fake.InstallShop(shop)
		q := embeddedQuery(shop)
		q.Set("id_token", b.token(shop))
		rec := b.get("/?" + q.Encode())
		requireStatus(t, rec, http.StatusOK)
		if got := strings.Join(frameAncestors(t, rec), " "); got != "https://shop-a.myshopify.com https://admin.shopify.com" {
			t.Errorf("frame-ancestors = %q", got)
		}
		nonce := cspNonce(t, rec)
		d := doc(t, rec)
		if v, _ := d.Find(`head meta[name="shopify-api-key"]`).Attr("content"); v != testAPIKey {
			t.Errorf("shopify-api-key meta = %q", v)
		}
		first := d.Find("head script").First()
		if src, _ := first.Attr("src"); src != templates.AppBridgeSrc {
			t.Errorf("first script in head = %q", src)
		}
		if n, _ := first.Attr("nonce"); n != nonce {
			t.Errorf("App Bridge nonce = %q, CSP nonce %q", n, nonce)
		}
		d.Find("script").Each(func(_ int, s *goquery.Selection) {
			if n, _ := s.Attr("nonce"); n != nonce {
				t.Errorf("script without the nonce: %v", s.Nodes[0].Attr)
			}
		})
		if d.Find(`[data-testid="shop-domain"]`).Text() != shop {
			t.Error("home page not shown")
		}
		if b.shopCount(t, shop) != 1 {
			t.Error("the entry did not install the shop")
		}
	})

	t.Run("EmbeddedWithoutTokenBounces", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		q := embeddedQuery("shop-a.myshopify.com")
		q.Set("locale", "en")
		rec := b.get("/?" + q.Encode())
		loc := location(t, rec)
		if loc.Path != "/auth/session-token" {
			t.Fatalf("redirect = %s", loc)
		}
		if loc.Query().Get("shop") != "shop-a.myshopify.com" || loc.Query().Get("locale") != "en" {
			t.Errorf("bounce lost the query: %v", loc.Query())
		}
		reload, err := url.Parse(loc.Query().Get("shopify-reload"))
		if err != nil || reload.Host != "perkbridge.example.com" || reload.Path != "/" || reload.Query().Get("host") != q.Get("host") || reload.Query().Has("id_token") {
			t.Errorf("shopify-reload = %q", loc.Query().Get("shopify-reload"))
		}
	})

	t.Run("BouncePageLoadsAppBridgeWithTheKey", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		q := embeddedQuery("shop-a.myshopify.com")
		q.Set("shopify-reload", testAppURL+"/?"+embeddedQuery("shop-a.myshopify.com").Encode())
		rec := b.get("/auth/session-token?" + q.Encode())
		requireStatus(t, rec, http.StatusOK)
		s := doc(t, rec).Find(`script[data-api-key]`)
		if key, _ := s.Attr("data-api-key"); key != testAPIKey {
			t.Errorf("data-api-key = %q", key)
		}
		if src, _ := s.Attr("src"); src != "https://cdn.shopify.com/shopifycloud/app-bridge.js" {
			t.Errorf("src = %q", src)
		}
		if n, _ := s.Attr("nonce"); n != cspNonce(t, rec) {
			t.Errorf("nonce = %q", n)
		}
		if got := strings.Join(frameAncestors(t, rec), " "); got != "https://shop-a.myshopify.com https://admin.shopify.com" {
			t.Errorf("frame-ancestors = %q", got)
		}
	})

	t.Run("InvalidShopIsNeverReflected", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		const bad = "evil.example.com"
		for _, target := range []string{
			"/?shop=" + bad,
			"/?embedded=1&shop=" + bad,
			"/auth/session-token?shop=" + bad,
			"/?shop=" + url.QueryEscape("x.myshopify.com https://evil.example.com"),
		} {
			rec := b.get(target)
			requireStatus(t, rec, http.StatusOK)
			if got := strings.Join(frameAncestors(t, rec), " "); got != "'none'" {
				t.Errorf("%s: frame-ancestors = %q", target, got)
			}
			for k, vs := range rec.Header() {
				if strings.Contains(strings.Join(vs, " "), "evil") {
					t.Errorf("%s: header %s reflects the shop: %v", target, k, vs)
				}
			}
			if strings.Contains(rec.Body.String(), "evil") {
				t.Errorf("%s: body reflects the shop", target)
			}
		}
		if doc(t, b.get("/?shop="+bad)).Find(`[data-testid="landing"]`).Length() != 1 {
			t.Error("no landing page")
		}
	})

	t.Run("NotEmbeddedGoesIntoTheAdminOrInstalls", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.install(t, "shop-a.myshopify.com")
		q := embeddedQuery("shop-a.myshopify.com")
		q.Del("embedded")
		if loc := location(t, b.get("/?"+q.Encode())); loc.String() != "https://admin.shopify.com/store/shop-a/apps/"+testAPIKey {
			t.Errorf("installed shop: redirect = %s", loc)
		}
		q.Del("host")
		if loc := location(t, b.get("/?"+q.Encode())); loc.String() != "https://shop-a.myshopify.com/admin/apps/"+testAPIKey {
			t.Errorf("installed shop, no host: redirect = %s", loc)
		}
		// A host that decodes outside Shopify's admin is not followed.
		q.Set("host", base64.RawStdEncoding.EncodeToString([]byte("evil.example.com/admin")))
		if loc := location(t, b.get("/?"+q.Encode())); loc.Host != "shop-a.myshopify.com" {
			t.Errorf("bad host: redirect = %s", loc)
		}
		if loc := location(t, b.get("/?shop=new-shop.myshopify.com")); loc.Path != "/auth" || loc.Query().Get("shop") != "new-shop.myshopify.com" {
			t.Errorf("unknown shop: redirect = %s", loc)
		}
	})

	t.Run("ExitIframeOnlyToThisApp", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rec := b.get("/auth/exit-iframe?shop=shop-a.myshopify.com&exitIframe=" + url.QueryEscape("/auth?shop=shop-a.myshopify.com"))
		requireStatus(t, rec, http.StatusOK)
		if u, _ := doc(t, rec).Find(`[data-testid="exit-script"]`).Attr("data-url"); u != testAppURL+"/auth?shop=shop-a.myshopify.com" {
			t.Errorf("exit url = %q", u)
		}
		for _, target := range []string{"https://evil.example.com/", "//evil.example.com/x", "javascript:alert(1)", `/\evil.example.com`} {
			rec := b.get("/auth/exit-iframe?exitIframe=" + url.QueryEscape(target))
			requireStatus(t, rec, http.StatusUnprocessableEntity)
			if strings.Contains(rec.Body.String(), "evil") {
				t.Errorf("%s reflected", target)
			}
		}
	})
}
