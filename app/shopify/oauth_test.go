package shopify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/shopify"
)

// Reference §1.3 test vectors: secret "hush", timestamp 1337178173 (2012).
const (
	vectorSecret    = "hush"
	vectorTimestamp = 1337178173
	vectorQuery     = "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com&timestamp=1337178173"
	vectorHMAC      = "4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20"
	vectorHMACState = "7db6973c2aff68295ebcf354c2ce528a6b09aef1146baafccc2e0b369fff5f6d"
	vectorSignature = "11813d1e7bbf4629edcda0628a3f7a20"
)

// mustQuery parses a raw query string.
func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("parse query %q: %v", raw, err)
	}
	return q
}

// hexHMAC is an independent HMAC-SHA256 for tests that build messages by hand.
func hexHMAC(secret, msg string) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(msg))
	return hex.EncodeToString(h.Sum(nil))
}

func TestSignQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, query, want string
	}{
		{"Vector", vectorQuery, vectorHMAC},
		{"VectorWithState", vectorQuery + "&state=abcd", vectorHMACState},
		{"SignatureAndHMACExcluded", vectorQuery + "&signature=" + vectorSignature + "&hmac=ffff", vectorHMAC},
		{"Unsorted", "timestamp=1337178173&shop=some-shop.myshopify.com&code=0907a61c0c8d55e99db179b68161bc00", vectorHMAC},
		// Shopify signs spaces as %20, not '+', and escapes '=' and '/' of a base64 host.
		{"SpaceAsPercent20", "a=b+c&shop=x.myshopify.com", hexHMAC("hush", "a=b%20c&shop=x.myshopify.com")},
		{"EscapedHost", "host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYQ%3D%3D&shop=x.myshopify.com", hexHMAC("hush", "host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYQ%3D%3D&shop=x.myshopify.com")},
		// Node's URLSearchParams leaves '*' alone and escapes '~'.
		{"StarAndTilde", "a=*~", hexHMAC("hush", "a=*%7E")},
		{"RepeatedKeyJoined", "a=1&a=2", hexHMAC("hush", "a=1%2C2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := shopify.SignQuery(vectorSecret, mustQuery(t, tt.query)); got != tt.want {
				t.Fatalf("SignQuery = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestApp_VerifyCallback(t *testing.T) {
	t.Parallel()
	at := time.Unix(vectorTimestamp, 0)
	// signed returns raw plus a valid hmac for it under "hush".
	signed := func(raw string) string {
		return raw + "&hmac=" + shopify.SignQuery(vectorSecret, mustQuery(t, raw))
	}
	tests := []struct {
		name      string
		query     string
		secret    string
		oldSecret string
		now       time.Time
		wantErr   error // nil: valid
	}{
		{name: "Vector", query: vectorQuery + "&hmac=" + vectorHMAC, now: at},
		{name: "VectorWithSignatureParam", query: vectorQuery + "&hmac=" + vectorHMAC + "&signature=" + vectorSignature, now: at},
		{name: "VectorWithState", query: vectorQuery + "&state=abcd&hmac=" + vectorHMACState, now: at},
		{name: "UpperCaseHex", query: vectorQuery + "&hmac=" + strings.ToUpper(vectorHMAC), now: at},
		{name: "Within90sAhead", query: vectorQuery + "&hmac=" + vectorHMAC, now: at.Add(90 * time.Second)},
		{name: "Within90sBehind", query: vectorQuery + "&hmac=" + vectorHMAC, now: at.Add(-90 * time.Second)},
		{name: "OldSecretFallback", query: vectorQuery + "&hmac=" + vectorHMAC, secret: "rotated", oldSecret: vectorSecret, now: at},

		{name: "StaleTimestamp", query: vectorQuery + "&hmac=" + vectorHMAC, now: at.Add(91 * time.Second), wantErr: shopify.ErrInvalidHMAC},
		{name: "FutureTimestamp", query: vectorQuery + "&hmac=" + vectorHMAC, now: at.Add(-91 * time.Second), wantErr: shopify.ErrInvalidHMAC},
		{name: "ChangedCode", query: strings.Replace(vectorQuery, "code=0907", "code=1907", 1) + "&hmac=" + vectorHMAC, now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "ChangedShop", query: strings.Replace(vectorQuery, "some-shop", "other-shop", 1) + "&hmac=" + vectorHMAC, now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "AddedParam", query: vectorQuery + "&extra=1&hmac=" + vectorHMAC, now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "StateNotSigned", query: vectorQuery + "&state=abcd&hmac=" + vectorHMAC, now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "WrongSecret", query: vectorQuery + "&hmac=" + vectorHMAC, secret: "other", now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "WrongSecretAndOldSecret", query: vectorQuery + "&hmac=" + vectorHMAC, secret: "other", oldSecret: "older", now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "MissingHMAC", query: vectorQuery, now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "RepeatedHMAC", query: vectorQuery + "&hmac=" + vectorHMAC + "&hmac=" + vectorHMAC, now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "NotHex", query: vectorQuery + "&hmac=zz" + vectorHMAC[2:], now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "Truncated", query: vectorQuery + "&hmac=" + vectorHMAC[:62], now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "MissingTimestamp", query: signed("code=1&shop=some-shop.myshopify.com"), now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "BadTimestamp", query: signed("code=1&shop=some-shop.myshopify.com&timestamp=soon"), now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "SignedLookalikeShop", query: signed("code=1&shop=evil.com%3Fx.myshopify.com&timestamp=1337178173"), now: at, wantErr: shopify.ErrInvalidShop},
		{name: "SignedNoShop", query: signed("code=1&timestamp=1337178173"), now: at, wantErr: shopify.ErrInvalidShop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			secret := tt.secret
			if secret == "" {
				secret = vectorSecret
			}
			a := &shopify.App{APIKey: "key", APISecret: secret, OldAPISecret: tt.oldSecret, Now: fixedClock(tt.now)}
			shop, err := a.VerifyCallback(mustQuery(t, tt.query))
			if tt.wantErr != nil {
				code := app.EUNAUTHORIZED
				if tt.wantErr == shopify.ErrInvalidShop {
					code = app.EBADREQUEST
				}
				requireErrorIs(t, err, tt.wantErr, code)
				return
			}
			if err != nil {
				t.Fatalf("VerifyCallback error: %v", err)
			}
			if shop != "some-shop.myshopify.com" {
				t.Fatalf("shop = %q, want some-shop.myshopify.com", shop)
			}
		})
	}

	t.Run("EmptySecretRefused", func(t *testing.T) {
		t.Parallel()
		a := &shopify.App{Now: fixedClock(at)}
		// The hmac of the message under an empty key must not verify.
		q := mustQuery(t, vectorQuery)
		q.Set("hmac", shopify.SignQuery("", q))
		if _, err := a.VerifyCallback(q); err == nil {
			t.Fatal("VerifyCallback with an empty secret succeeded")
		}
	})
}

func TestApp_AuthorizeURL(t *testing.T) {
	t.Parallel()
	a := &shopify.App{
		APIKey:      "0123456789abcdef0123456789abcdef",
		APISecret:   "hush",
		Scopes:      "read_customers,write_discounts",
		RedirectURL: "https://app.example.com/auth/callback",
	}

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		raw, err := a.AuthorizeURL("Some-Shop.myshopify.com", "nonce 1")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(raw, "+") {
			t.Errorf("url %q encodes a space as '+', want %%20", raw)
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if u.Scheme != "https" || u.Host != "some-shop.myshopify.com" || u.Path != "/admin/oauth/authorize" {
			t.Errorf("url = %s, want https://some-shop.myshopify.com/admin/oauth/authorize", raw)
		}
		want := url.Values{
			"client_id":    {a.APIKey},
			"scope":        {a.Scopes},
			"redirect_uri": {a.RedirectURL},
			"state":        {"nonce 1"},
		}
		if got := u.Query(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("query = %v, want %v (no grant_options: offline token)", got, want)
		}
	})

	t.Run("ShopOrigin", func(t *testing.T) {
		t.Parallel()
		b := &shopify.App{APIKey: "k", RedirectURL: "https://x/cb", ShopOrigin: "http://127.0.0.1:9/{shop}"}
		raw, err := b.AuthorizeURL("a.myshopify.com", "s")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(raw, "http://127.0.0.1:9/a.myshopify.com/admin/oauth/authorize?") {
			t.Errorf("url = %s", raw)
		}
	})

	t.Run("ErrInvalidShop", func(t *testing.T) {
		t.Parallel()
		_, err := a.AuthorizeURL("a.myshopify.com.evil.com", "s")
		requireErrorIs(t, err, shopify.ErrInvalidShop, app.EBADREQUEST)
	})

	t.Run("ErrStateRequired", func(t *testing.T) {
		t.Parallel()
		if _, err := a.AuthorizeURL("a.myshopify.com", ""); err == nil {
			t.Fatal("AuthorizeURL without state succeeded")
		}
	})
}

func TestAccessToken(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tok := shopify.AccessToken{
		AccessToken:  "shpat_secret_access",
		RefreshToken: "shprt_secret_refresh",
		Scope:        "read_customers",
		ExpiresAt:    now.Add(time.Hour),
	}

	t.Run("FormattingRedactsSecrets", func(t *testing.T) {
		t.Parallel()
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			for _, v := range []any{tok, &tok} {
				if s := fmt.Sprintf(verb, v); strings.Contains(s, "secret") {
					t.Errorf("Sprintf(%q) = %s, leaks a token", verb, s)
				}
			}
		}
	})

	t.Run("ExpiresWithin", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name string
			tok  shopify.AccessToken
			now  time.Time
			d    time.Duration
			want bool
		}{
			{"Fresh", tok, now, 5 * time.Minute, false},
			{"InsideMargin", tok, now.Add(56 * time.Minute), 5 * time.Minute, true},
			{"Expired", tok, now.Add(2 * time.Hour), 0, true},
			{"NonExpiring", shopify.AccessToken{AccessToken: "x"}, now.Add(1000 * time.Hour), time.Hour, false},
		}
		for _, tt := range tests {
			if got := tt.tok.ExpiresWithin(tt.now, tt.d); got != tt.want {
				t.Errorf("%s: ExpiresWithin = %v, want %v", tt.name, got, tt.want)
			}
		}
	})
}

func TestOAuthError_Is(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *shopify.OAuthError
		want bool
	}{
		{&shopify.OAuthError{Status: 400, Code: "invalid_subject_token"}, true},
		{&shopify.OAuthError{Status: 400, Code: "invalid_grant"}, false},
		{&shopify.OAuthError{Status: 401, Code: "invalid_subject_token"}, false},
	}
	for _, tt := range tests {
		wrapped := fmt.Errorf("shopify: exchange id token: %w", tt.err)
		if got := errors.Is(wrapped, shopify.ErrInvalidSubjectToken); got != tt.want {
			t.Errorf("errors.Is(%v, ErrInvalidSubjectToken) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
