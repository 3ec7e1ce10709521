package fake

import (
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// MintCustomerAccountToken returns the session token a customer account UI
// extension gets from shopify.sessionToken.get() on shop, as Shopify
// documents its claims: an HS256 JWT signed with the API secret carrying
// dest (the bare myshopify domain), aud (the client id), exp, nbf, iat,
// jti, and sub = "gid://shopify/Customer/{customerID}" only when a customer
// is signed in (customerID > 0). It has no iss and no sid, unlike an admin
// ID token. Valid from Now for ttl (Shopify's are 5 minutes).
func (f *Shopify) MintCustomerAccountToken(shop string, customerID int64, ttl time.Duration) string {
	now := f.now()
	claims := jwt.MapClaims{
		"dest": normalizeShop(shop),
		"aud":  f.opts.APIKey,
		"exp":  now.Add(ttl).Unix(),
		"nbf":  now.Unix(),
		"iat":  now.Unix(),
		"jti":  uuid.NewString(),
	}
	if customerID > 0 {
		claims["sub"] = "gid://shopify/Customer/" + strconv.FormatInt(customerID, 10)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(f.opts.APISecret))
	if err != nil {
		panic(fmt.Sprintf("fake: sign customer account token: %v", err)) // HS256 with a []byte key cannot fail
	}
	return tok
}
