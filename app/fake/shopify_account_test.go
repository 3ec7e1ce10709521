package fake_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/perkbridge/perkbridge/app/fake"
)

// TestShopify_MintCustomerAccountToken: the token carries the claims
// Shopify documents for customer account UI extensions (bare dest, aud,
// exp five minutes on, nbf, iat, jti, sub only for a signed-in customer,
// no iss, no sid) and is signed HS256 with the app secret.
func TestShopify_MintCustomerAccountToken(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_767_225_600, 0)
	f := fake.NewShopify(fake.ShopifyOptions{APIKey: "key-1", APISecret: "secret-1", Now: func() time.Time { return now }})
	parse := func(tok string) jwt.MapClaims {
		t.Helper()
		claims := jwt.MapClaims{}
		_, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return now })).
			ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return []byte("secret-1"), nil })
		if err != nil {
			t.Fatalf("parse %q: %v", tok, err)
		}
		return claims
	}
	c := parse(f.MintCustomerAccountToken("Shop-A.myshopify.com", 7001, 5*time.Minute))
	if c["dest"] != "shop-a.myshopify.com" || c["aud"] != "key-1" || c["sub"] != "gid://shopify/Customer/7001" ||
		c["exp"] != float64(now.Add(5*time.Minute).Unix()) || c["nbf"] != float64(now.Unix()) || c["iat"] != float64(now.Unix()) || c["jti"] == "" {
		t.Errorf("claims = %v", c)
	}
	for _, k := range []string{"iss", "sid"} {
		if _, ok := c[k]; ok {
			t.Errorf("claim %s present: %v", k, c)
		}
	}
	if c := parse(f.MintCustomerAccountToken("shop-a.myshopify.com", 0, time.Minute)); c["sub"] != nil {
		t.Errorf("signed-out token has sub %v", c["sub"])
	}
}
