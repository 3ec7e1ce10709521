package shopify

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// idTokenLeeway is the clock skew allowed on exp and nbf, as in Shopify's
// Node (JWT_PERMITTED_CLOCK_TOLERANCE) and Ruby (JWT_LEEWAY) libraries.
const idTokenLeeway = 10 * time.Second

// IDToken is a validated ID (session) token that App Bridge sends as
// "Authorization: Bearer ..." or as the id_token query parameter.
type IDToken struct {
	Shop      string // from dest, normalized
	UserID    string // sub: the staff user id, numeric for admin tokens
	SessionID string // sid
	JTI       string // jti, unique per token
	ExpiresAt time.Time
}

// idClaims are the claims Shopify puts in an ID token.
type idClaims struct {
	jwt.RegisteredClaims
	Dest string `json:"dest"`
	SID  string `json:"sid"`
}

// VerifyIDToken validates an ID token the way Shopify's libraries do: HS256
// only, keyed with the app secret (then OldAPISecret), exp required, exp and
// nbf with 10 s leeway against a.Now, aud equal to the API key, dest a valid
// shop and iss on the same host as dest. Errors wrap ErrInvalidIDToken.
func (a *App) VerifyIDToken(token string) (*IDToken, error) {
	var claims *idClaims
	if err := a.parseSessionJWT(token, func() jwt.Claims { claims = &idClaims{}; return claims }); err != nil {
		return nil, err
	}
	shop, err := shopFromDest(claims.Dest)
	if err != nil {
		return nil, unauthorized("Invalid session token.", ErrInvalidIDToken, "dest is not a shop")
	}
	if iss, err := url.Parse(claims.Issuer); err != nil || iss.Scheme != "https" || iss.Host != shop || iss.User != nil {
		return nil, unauthorized("Invalid session token.", ErrInvalidIDToken, "iss is not on the dest host")
	}
	t := &IDToken{Shop: shop, UserID: claims.Subject, SessionID: claims.SID, JTI: claims.ID}
	if claims.ExpiresAt != nil {
		t.ExpiresAt = claims.ExpiresAt.Time
	}
	return t, nil
}

// parseSessionJWT checks what every session token Shopify signs for the app
// shares (ID tokens and UI extensions' session tokens): HS256 only, keyed
// with the app secret (then OldAPISecret), exp required, exp and nbf with
// idTokenLeeway against a.Now, aud equal to the API key, canonical
// base64url. fresh returns an empty claims value to decode into for each
// secret tried. Errors are EUNAUTHORIZED wrapping ErrInvalidIDToken.
func (a *App) parseSessionJWT(token string, fresh func() jwt.Claims) error {
	secrets, err := a.secrets()
	if err != nil {
		return err
	}
	if a.APIKey == "" {
		return errors.New("shopify: api key is not set")
	}
	// Pinning the method list is what stops "alg":"none" and the
	// RS256-with-HMAC-key confusion: the header never chooses the algorithm.
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithLeeway(idTokenLeeway),
		jwt.WithAudience(a.APIKey),
		jwt.WithExpirationRequired(),
		// Canonical base64url only: a lenient decoder accepts other
		// spellings of the same signature (trailing bits), as the
		// fuzzer showed for webhook and proxy signatures.
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(a.now),
	)
	for _, secret := range secrets {
		_, err = p.ParseWithClaims(token, fresh(), func(t *jwt.Token) (any, error) {
			return []byte(secret), nil
		})
		// Only a bad signature is worth retrying with the old secret.
		if !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			break
		}
	}
	if err != nil {
		return unauthorized("Invalid session token.", ErrInvalidIDToken, err.Error())
	}
	return nil
}

// shopFromDest returns the shop of a dest claim such as
// "https://test-shop.myshopify.com": https, a valid shop host, nothing else.
func shopFromDest(dest string) (string, error) {
	u, err := url.Parse(dest)
	if err != nil {
		return "", err
	}
	if u.Scheme != "https" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: dest %q", ErrInvalidShop, dest)
	}
	shop, err := NormalizeShop(u.Host)
	if err != nil {
		return "", err
	}
	// NormalizeShop lower-cases; the host must already be that exact shop.
	if shop != u.Host {
		return "", fmt.Errorf("%w: dest %q", ErrInvalidShop, dest)
	}
	return shop, nil
}
