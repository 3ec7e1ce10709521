package shopify_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/shopify"
)

// accountVector is accountClaims signed with vectorSecret ("hush"), made
// outside the jwt library (Python's hmac over the compact JSON).
const accountVector = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiIsImRlc3QiOiJ0ZXN0LXNob3AubXlzaG9waWZ5LmNvbSIsImV4cCI6MTc2NzIyNTkwMCwiaWF0IjoxNzY3MjI1NjAwLCJqdGkiOiI2Yzk5Mjg3OC1kYmFmLTQ4ZDEtYmI5ZC02ZDliNTk4MTRmZDEiLCJuYmYiOjE3NjcyMjU2MDAsInN1YiI6ImdpZDovL3Nob3BpZnkvQ3VzdG9tZXIvNzAwMSJ9.of3BBk4Kn74fBaas8o2jgyWiy9PhLr_P09M7mBBIEFk"

// accountClaims are a customer account session token's claims as Shopify
// documents them: bare dest, aud, exp five minutes on, nbf, iat, jti and
// the signed-in customer's GID. No iss, no sid.
func accountClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"dest": "test-shop.myshopify.com",
		"aud":  jwtAPIKey,
		"sub":  "gid://shopify/Customer/7001",
		"exp":  jwtNBF + 300,
		"nbf":  jwtNBF,
		"iat":  jwtNBF,
		"jti":  "6c992878-dbaf-48d1-bb9d-6d9b59814fd1",
	}
}

func TestApp_VerifyCustomerAccountToken(t *testing.T) {
	t.Parallel()
	inside := time.Unix(jwtNBF+30, 0)
	with := func(mod func(jwt.MapClaims)) string {
		c := accountClaims()
		mod(c)
		return signJWT(t, jwt.SigningMethodHS256, []byte(vectorSecret), c)
	}
	valid := with(func(jwt.MapClaims) {})
	tests := []struct {
		name     string
		token    string
		now      time.Time
		customer int64 // wanted CustomerID when valid
		wantErr  bool
	}{
		{name: "Vector", token: accountVector, now: inside, customer: 7001},
		{name: "Documented", token: valid, now: inside, customer: 7001},
		{name: "SignedOut", token: with(func(c jwt.MapClaims) { delete(c, "sub") }), now: inside},
		{name: "DestAsOrigin", token: with(func(c jwt.MapClaims) { c["dest"] = "https://test-shop.myshopify.com" }), now: inside, customer: 7001},
		{name: "ExpiredWithinLeeway", token: valid, now: time.Unix(jwtNBF+300+9, 0), customer: 7001},

		{name: "ExpiredBeyondLeeway", token: valid, now: time.Unix(jwtNBF+300+11, 0), wantErr: true},
		{name: "NotYetValid", token: valid, now: time.Unix(jwtNBF-11, 0), wantErr: true},
		{name: "WrongAudience", token: with(func(c jwt.MapClaims) { c["aud"] = "another-app" }), now: inside, wantErr: true},
		{name: "MissingExp", token: with(func(c jwt.MapClaims) { delete(c, "exp") }), now: inside, wantErr: true},
		{name: "ForgedSignature", token: signJWT(t, jwt.SigningMethodHS256, []byte("not-the-secret"), accountClaims()), now: inside, wantErr: true},
		{name: "AlgNone", token: forgeJWT(t, map[string]any{"alg": "none", "typ": "JWT"}, accountClaims(), ""), now: inside, wantErr: true},
		{name: "OtherLastCharacter", token: accountVector[:len(accountVector)-1] + flipLast(accountVector), now: inside, wantErr: true},
		{name: "DestMissing", token: with(func(c jwt.MapClaims) { delete(c, "dest") }), now: inside, wantErr: true},
		{name: "DestNotAShop", token: with(func(c jwt.MapClaims) { c["dest"] = "evil.example.com" }), now: inside, wantErr: true},
		{name: "DestLookalike", token: with(func(c jwt.MapClaims) { c["dest"] = "test-shop.myshopify.com.evil.com" }), now: inside, wantErr: true},
		{name: "DestUpperCase", token: with(func(c jwt.MapClaims) { c["dest"] = "Test-Shop.myshopify.com" }), now: inside, wantErr: true},
		{name: "DestAdminForm", token: with(func(c jwt.MapClaims) { c["dest"] = "admin.shopify.com/store/test-shop" }), now: inside, wantErr: true},
		{name: "DestHTTP", token: with(func(c jwt.MapClaims) { c["dest"] = "http://test-shop.myshopify.com" }), now: inside, wantErr: true},
		{name: "SubStaffUser", token: with(func(c jwt.MapClaims) { c["sub"] = "42" }), now: inside, wantErr: true},
		{name: "SubOtherResource", token: with(func(c jwt.MapClaims) { c["sub"] = "gid://shopify/Order/7001" }), now: inside, wantErr: true},
		{name: "SubLeadingZero", token: with(func(c jwt.MapClaims) { c["sub"] = "gid://shopify/Customer/07001" }), now: inside, wantErr: true},
		{name: "SubZero", token: with(func(c jwt.MapClaims) { c["sub"] = "gid://shopify/Customer/0" }), now: inside, wantErr: true},
		{name: "SubOverflow", token: with(func(c jwt.MapClaims) { c["sub"] = "gid://shopify/Customer/99999999999999999999" }), now: inside, wantErr: true},
		{name: "SubWithSuffix", token: with(func(c jwt.MapClaims) { c["sub"] = "gid://shopify/Customer/7001?x=1" }), now: inside, wantErr: true},
		// An admin ID token is not a customer's: its sub is a staff user.
		{name: "AdminIDToken", token: jwtVector, now: time.Unix(jwtNBF+10, 0), wantErr: true},
		{name: "Garbage", token: "not.a.jwt", now: inside, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := &shopify.App{APIKey: jwtAPIKey, APISecret: vectorSecret, Now: fixedClock(tt.now)}
			got, err := a.VerifyCustomerAccountToken(tt.token)
			if tt.wantErr {
				requireErrorIs(t, err, shopify.ErrInvalidIDToken, app.EUNAUTHORIZED)
				return
			}
			if err != nil {
				t.Fatalf("VerifyCustomerAccountToken: %v", err)
			}
			want := shopify.CustomerAccountToken{Shop: "test-shop.myshopify.com", CustomerID: tt.customer,
				JTI: "6c992878-dbaf-48d1-bb9d-6d9b59814fd1", ExpiresAt: time.Unix(jwtNBF+300, 0)}
			if !got.ExpiresAt.Equal(want.ExpiresAt) {
				t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, want.ExpiresAt)
			}
			got.ExpiresAt = want.ExpiresAt
			if *got != want {
				t.Errorf("token = %+v, want %+v", *got, want)
			}
		})
	}

	// And the other way round: a customer account token opens no admin
	// session (it has no iss).
	a := &shopify.App{APIKey: jwtAPIKey, APISecret: vectorSecret, Now: fixedClock(inside)}
	if _, err := a.VerifyIDToken(with(func(c jwt.MapClaims) { c["dest"] = "https://test-shop.myshopify.com" })); err == nil {
		t.Error("a customer account token was accepted as an admin ID token")
	}
}

// flipLast returns another base64url character for the last one of s: the
// same signature with other trailing bits, or a different one.
func flipLast(s string) string {
	if s[len(s)-1] == 'A' {
		return "B"
	}
	return "A"
}
