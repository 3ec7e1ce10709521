package shopify

import (
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// customerGIDPrefix starts the sub claim of a signed-in customer's token.
const customerGIDPrefix = "gid://shopify/Customer/"

// CustomerAccountToken is a validated session token of a customer account
// UI extension (shopify.sessionToken.get(), sent as "Authorization: Bearer
// ..."). Shopify documents its claims as dest (the shop's myshopify
// domain), aud (the app's client id), exp (5 minutes after iat), nbf, iat,
// jti, and sub, the customer's GID, present only when a customer is signed
// in and the app has access to protected customer data.
type CustomerAccountToken struct {
	Shop string // from dest, normalized
	// CustomerID is the numeric id of the signed-in customer (sub), 0 when
	// the token carries none.
	CustomerID int64
	JTI        string
	ExpiresAt  time.Time
}

// accountClaims are the claims of a customer account session token.
type accountClaims struct {
	jwt.RegisteredClaims
	Dest string `json:"dest"`
}

// VerifyCustomerAccountToken validates a customer account UI extension's
// session token with the checks every session token gets (parseSessionJWT:
// HS256 with the app secret, aud, exp required, exp and nbf with leeway,
// strict decoding), then requires dest to be a shop: the bare
// "{handle}.myshopify.com" Shopify documents for extension tokens, or the
// "https://{handle}.myshopify.com" of admin ID tokens, nothing else. A sub,
// when present, must be a customer GID with a canonical positive id; no
// iss is required, as extension tokens carry none. An admin ID token is
// refused by its sub (a staff user id, not a customer GID); this token is
// refused by VerifyIDToken for its lack of iss. Errors wrap
// ErrInvalidIDToken.
func (a *App) VerifyCustomerAccountToken(token string) (*CustomerAccountToken, error) {
	var claims *accountClaims
	if err := a.parseSessionJWT(token, func() jwt.Claims { claims = &accountClaims{}; return claims }); err != nil {
		return nil, err
	}
	shop, err := shopOfExtensionDest(claims.Dest)
	if err != nil {
		return nil, unauthorized("Invalid session token.", ErrInvalidIDToken, "dest is not a shop")
	}
	t := &CustomerAccountToken{Shop: shop, JTI: claims.ID}
	if claims.Subject != "" {
		if t.CustomerID, err = customerIDOfGID(claims.Subject); err != nil {
			return nil, unauthorized("Invalid session token.", ErrInvalidIDToken, "sub is not a customer")
		}
	}
	if claims.ExpiresAt != nil {
		t.ExpiresAt = claims.ExpiresAt.Time
	}
	return t, nil
}

// shopOfExtensionDest returns the shop of an extension token's dest: the
// exact lower-case myshopify domain, or that domain as an https origin.
func shopOfExtensionDest(dest string) (string, error) {
	if strings.Contains(dest, "://") {
		return shopFromDest(dest)
	}
	shop, err := NormalizeShop(dest)
	if err != nil {
		return "", err
	}
	// NormalizeShop lower-cases and maps the admin form; dest must already
	// be the exact domain.
	if shop != dest {
		return "", ErrInvalidShop
	}
	return shop, nil
}

// customerIDOfGID parses "gid://shopify/Customer/{id}": digits only, no
// leading zero, a positive int64.
func customerIDOfGID(gid string) (int64, error) {
	digits, ok := strings.CutPrefix(gid, customerGIDPrefix)
	if !ok || digits == "" || !allDigits(digits) {
		return 0, ErrInvalidIDToken
	}
	id, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != digits {
		return 0, ErrInvalidIDToken
	}
	return id, nil
}
