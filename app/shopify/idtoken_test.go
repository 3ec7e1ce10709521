package shopify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/shopify"
)

// Reference §3.1 self-made vector: secret "hush", nbf 1767225600, exp 1767225660.
const (
	jwtVector = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL3Rlc3Qtc2hvcC5teXNob3BpZnkuY29tL2FkbWluIiwiZGVzdCI6Imh0dHBzOi8vdGVzdC1zaG9wLm15c2hvcGlmeS5jb20iLCJhdWQiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiIsInN1YiI6IjQyIiwiZXhwIjoxNzY3MjI1NjYwLCJuYmYiOjE3NjcyMjU2MDAsImlhdCI6MTc2NzIyNTYwMCwianRpIjoiMDAwMDAwMDAtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAwIiwic2lkIjoiYWJjMTIzIn0.Z0u4j4ZQoiiXTy4T14djFpuHuS44CijEbYvaFNJ9frE"
	jwtAPIKey = "0123456789abcdef0123456789abcdef"
	jwtNBF    = 1767225600
	jwtExp    = 1767225660
)

// vectorClaims returns the claims of jwtVector, to tamper with.
func vectorClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss":  "https://test-shop.myshopify.com/admin",
		"dest": "https://test-shop.myshopify.com",
		"aud":  jwtAPIKey,
		"sub":  "42",
		"exp":  jwtExp,
		"nbf":  jwtNBF,
		"iat":  jwtNBF,
		"jti":  "00000000-0000-4000-8000-000000000000",
		"sid":  "abc123",
	}
}

// signJWT signs claims with method and key using the jwt library.
func signJWT(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign jwt: %v", err)
	}
	return s
}

// forgeJWT builds a token with an arbitrary header, HMAC-SHA256-signed with
// secret (or unsigned when secret is ""), as an attacker would.
func forgeJWT(t *testing.T, header map[string]any, claims jwt.MapClaims, secret string) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(header) + "." + enc(claims)
	if secret == "" {
		return input + "."
	}
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func TestApp_VerifyIDToken(t *testing.T) {
	t.Parallel()
	inside := time.Unix(jwtNBF+30, 0)
	with := func(mod func(jwt.MapClaims)) string {
		c := vectorClaims()
		mod(c)
		return signJWT(t, jwt.SigningMethodHS256, []byte(vectorSecret), c)
	}
	tests := []struct {
		name      string
		token     string
		now       time.Time
		secret    string
		oldSecret string
		wantErr   bool
	}{
		{name: "Vector", token: jwtVector, now: inside},
		{name: "RegeneratedVector", token: signJWT(t, jwt.SigningMethodHS256, []byte(vectorSecret), vectorClaims()), now: inside},
		{name: "ExpiredWithinLeeway", token: jwtVector, now: time.Unix(jwtExp+9, 0)},
		{name: "NotYetValidWithinLeeway", token: jwtVector, now: time.Unix(jwtNBF-9, 0)},
		{name: "OldSecretFallback", token: jwtVector, now: inside, secret: "rotated", oldSecret: vectorSecret},

		{name: "ExpiredBeyondLeeway", token: jwtVector, now: time.Unix(jwtExp+11, 0), wantErr: true},
		{name: "NotYetValidBeyondLeeway", token: jwtVector, now: time.Unix(jwtNBF-11, 0), wantErr: true},
		{name: "WrongAudience", token: with(func(c jwt.MapClaims) { c["aud"] = "another-app" }), now: inside, wantErr: true},
		{name: "MissingAudience", token: with(func(c jwt.MapClaims) { delete(c, "aud") }), now: inside, wantErr: true},
		{name: "MissingExp", token: with(func(c jwt.MapClaims) { delete(c, "exp") }), now: inside, wantErr: true},
		{name: "BadSignature", token: signJWT(t, jwt.SigningMethodHS256, []byte("not-the-secret"), vectorClaims()), now: inside, wantErr: true},
		{name: "WrongSecretAndOldSecret", token: jwtVector, now: inside, secret: "a", oldSecret: "b", wantErr: true},
		{name: "TamperedPayload", token: tamperPayload(t, jwtVector), now: inside, wantErr: true},
		{name: "AlgHS512", token: signJWT(t, jwt.SigningMethodHS512, []byte(vectorSecret), vectorClaims()), now: inside, wantErr: true},
		{name: "AlgNone", token: forgeJWT(t, map[string]any{"alg": "none", "typ": "JWT"}, vectorClaims(), ""), now: inside, wantErr: true},
		{name: "AlgRS256SignedWithSecret", token: forgeJWT(t, map[string]any{"alg": "RS256", "typ": "JWT"}, vectorClaims(), vectorSecret), now: inside, wantErr: true},
		{name: "DestLookalike", token: with(func(c jwt.MapClaims) {
			c["dest"] = "https://test-shop.myshopify.com.evil.com"
			c["iss"] = "https://test-shop.myshopify.com.evil.com/admin"
		}), now: inside, wantErr: true},
		{name: "DestQueryLookalike", token: with(func(c jwt.MapClaims) {
			c["dest"] = "https://evil.com?x.myshopify.com"
			c["iss"] = "https://evil.com?x.myshopify.com/admin"
		}), now: inside, wantErr: true},
		{name: "DestHTTP", token: with(func(c jwt.MapClaims) {
			c["dest"] = "http://test-shop.myshopify.com"
			c["iss"] = "http://test-shop.myshopify.com/admin"
		}), now: inside, wantErr: true},
		{name: "DestWithPath", token: with(func(c jwt.MapClaims) { c["dest"] = "https://test-shop.myshopify.com/evil" }), now: inside, wantErr: true},
		{name: "IssNotDest", token: with(func(c jwt.MapClaims) { c["iss"] = "https://other-shop.myshopify.com/admin" }), now: inside, wantErr: true},
		{name: "IssMissing", token: with(func(c jwt.MapClaims) { delete(c, "iss") }), now: inside, wantErr: true},
		{name: "Garbage", token: "not.a.jwt", now: inside, wantErr: true},
		{name: "Empty", token: "", now: inside, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			secret := tt.secret
			if secret == "" {
				secret = vectorSecret
			}
			a := &shopify.App{APIKey: jwtAPIKey, APISecret: secret, OldAPISecret: tt.oldSecret, Now: fixedClock(tt.now)}
			got, err := a.VerifyIDToken(tt.token)
			if tt.wantErr {
				requireErrorIs(t, err, shopify.ErrInvalidIDToken, app.EUNAUTHORIZED)
				return
			}
			if err != nil {
				t.Fatalf("VerifyIDToken error: %v", err)
			}
			want := shopify.IDToken{
				Shop:      "test-shop.myshopify.com",
				UserID:    "42",
				SessionID: "abc123",
				JTI:       "00000000-0000-4000-8000-000000000000",
				ExpiresAt: time.Unix(jwtExp, 0),
			}
			if !got.ExpiresAt.Equal(want.ExpiresAt) {
				t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, want.ExpiresAt)
			}
			got.ExpiresAt = want.ExpiresAt
			if *got != want {
				t.Errorf("VerifyIDToken = %+v, want %+v", *got, want)
			}
		})
	}
}

// tamperPayload swaps the payload of token for one with sub "1", keeping
// the original signature.
func tamperPayload(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	c := vectorClaims()
	c["sub"] = "1"
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
}
