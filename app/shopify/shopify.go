// Package shopify is Perkbridge's own small Shopify client: OAuth and token
// exchange with expiring offline tokens, ID (session) token validation,
// webhook and app-proxy signature checks, a GraphQL Admin API client with
// cost-based throttling shared per shop, and the REST-shaped webhook payload
// types.
//
// It mirrors the names of github.com/bold-commerce/go-shopify where they fit,
// but follows Shopify's own Node and Ruby libraries where the two differ: the
// admin HMAC message is percent-encoded with %20 for spaces, signed queries
// older than 90 s are refused, shop domains are validated with an anchored
// expression, and both webhook header families are read.
//
// The package imports only the standard library, app and golang-jwt.
package shopify

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/perkbridge/perkbridge/app"
)

// DefaultVersion is the Admin API version used when App.Version is empty.
const DefaultVersion = "2026-10"

// DefaultShopOrigin is the origin template used when App.ShopOrigin is empty.
// "{shop}" is replaced by the validated myshopify domain.
const DefaultShopOrigin = "https://{shop}"

// timestampTolerance is how far a signed query's timestamp may be from now.
// Shopify's Node library refuses anything further (HMAC_TIMESTAMP_PERMITTED_
// CLOCK_TOLERANCE_SEC), which bounds how long a leaked signed URL stays usable.
const timestampTolerance = 90 * time.Second

// defaultHTTPTimeout is the timeout of the HTTP client used when
// App.HTTPClient is nil; go-shopify uses the same.
const defaultHTTPTimeout = 10 * time.Second

// Sentinel errors. Verification failures are returned as *app.Error values
// with a user-safe message that wrap one of these, so both errors.Is and
// app.ErrorCode work on them.
var (
	// ErrInvalidShop reports a shop that is not a plain *.myshopify.com domain.
	ErrInvalidShop = errors.New("shopify: invalid shop domain")
	// ErrInvalidHMAC reports a bad, missing or stale hmac or signature on a
	// query, or a bad webhook signature.
	ErrInvalidHMAC = errors.New("shopify: invalid hmac")
	// ErrInvalidIDToken reports an ID (session) token that failed validation.
	ErrInvalidIDToken = errors.New("shopify: invalid id token")
	// ErrInvalidSubjectToken is matched (errors.Is) by an *OAuthError for the
	// token endpoint's 400 invalid_subject_token: fetch a fresh ID token.
	ErrInvalidSubjectToken = errors.New("shopify: invalid subject token")
	// ErrUnauthorized reports an Admin API 401 that persisted after one forced
	// token refresh.
	ErrUnauthorized = errors.New("shopify: unauthorized")
	// ErrShopUnavailable is wrapped by *ShopUnavailableError (402 frozen,
	// 423 locked): stop calling the shop until the merchant fixes it.
	ErrShopUnavailable = errors.New("shopify: shop unavailable")
)

// App holds the credentials and settings of our Shopify app. Use it through
// a pointer and do not copy it after first use: it keeps the per-shop
// throttling state shared by all clients it creates.
type App struct {
	APIKey    string // client id
	APISecret string // client secret; signs HMACs and ID tokens
	// OldAPISecret is the previous secret during a rotation. Shopify may
	// keep signing with it for a while, so HMAC and JWT checks fall back to it.
	OldAPISecret string
	Scopes       string // comma separated, e.g. "read_customers,write_discounts"
	RedirectURL  string // OAuth callback
	Version      string // Admin API version, DefaultVersion when empty
	// ShopOrigin is the origin template of a shop's endpoints, DefaultShopOrigin
	// when empty. Tests point it at a fake: "http://127.0.0.1:PORT/{shop}".
	ShopOrigin string
	HTTPClient *http.Client     // nil: a client with a 10 s timeout
	Now        func() time.Time // nil: time.Now

	mu            sync.Mutex
	buckets       map[string]*bucket // per-shop cost estimate, see bucketFor
	defaultClient *http.Client
}

func (a *App) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *App) version() string {
	if a.Version != "" {
		return a.Version
	}
	return DefaultVersion
}

func (a *App) httpClient() *http.Client {
	if a.HTTPClient != nil {
		return a.HTTPClient
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.defaultClient == nil {
		a.defaultClient = &http.Client{Timeout: defaultHTTPTimeout}
	}
	return a.defaultClient
}

// origin returns the base URL of a shop that has already been normalized.
func (a *App) origin(shop string) string {
	o := a.ShopOrigin
	if o == "" {
		o = DefaultShopOrigin
	}
	return strings.TrimRight(strings.ReplaceAll(o, "{shop}", shop), "/")
}

// bucketFor returns the cost estimate of shop, creating it on first use.
// Shopify's leaky bucket is per app and shop, so every client of the same
// App must draw from one estimate or they would overspend it together.
func (a *App) bucketFor(shop string) *bucket {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.buckets == nil {
		a.buckets = make(map[string]*bucket)
	}
	b, ok := a.buckets[shop]
	if !ok {
		b = newBucket()
		a.buckets[shop] = b
	}
	return b
}

func (a *App) secrets() ([]string, error) {
	if a.APISecret == "" {
		// An empty HMAC key would make every signature forgeable.
		return nil, errors.New("shopify: api secret is not set")
	}
	if a.OldAPISecret != "" && a.OldAPISecret != a.APISecret {
		return []string{a.APISecret, a.OldAPISecret}, nil
	}
	return []string{a.APISecret}, nil
}

// NormalizeShop returns s as a lower-case "{handle}.myshopify.com" domain, or
// an error wrapping ErrInvalidShop. Only that anchored form is accepted
// (Shopify's WEAK_SHOP_VALIDATION check: ^[a-z0-9][a-z0-9-]*\.myshopify\.com$),
// so lookalikes such as "evil.com?x.myshopify.com", "a.myshopify.com.evil.com"
// or anything with a scheme, port, path or userinfo are refused before a shop
// reaches a URL or a header. Like Shopify's Node library it also maps the
// admin form "admin.shopify.com/store/{handle}" to "{handle}.myshopify.com".
func NormalizeShop(s string) (string, error) {
	l, ok := asciiLower(s)
	if h, isAdmin := strings.CutPrefix(l, "admin.shopify.com/store/"); isAdmin && validHandle(h) {
		l = h + ".myshopify.com"
	}
	if h, found := strings.CutSuffix(l, ".myshopify.com"); !ok || !found || !validHandle(h) {
		return "", invalidShop(fmt.Errorf("%w: %q", ErrInvalidShop, s))
	}
	return l, nil
}

// asciiLower lower-cases s and reports whether it was pure ASCII. Non-ASCII
// input is refused rather than folded: strings.ToLower would turn the Kelvin
// sign into "k" and accept a domain nobody typed.
func asciiLower(s string) (string, bool) {
	b := []byte(s)
	for i, c := range b {
		if c >= 0x80 {
			return "", false
		}
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b), true
}

// validHandle reports whether h is one DNS label of [a-z0-9-], not starting
// with '-', of at most 63 characters.
func validHandle(h string) bool {
	if h == "" || len(h) > 63 || h[0] == '-' {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validVersion reports whether v looks like "2026-10" or is "unstable", so a
// misconfigured version can never inject path segments.
func validVersion(v string) bool {
	if v == "unstable" {
		return true
	}
	if len(v) != 7 || v[4] != '-' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if i != 4 && (v[i] < '0' || v[i] > '9') {
			return false
		}
	}
	return true
}

func invalidShop(cause error) error {
	return &app.Error{Code: app.EBADREQUEST, Message: "Invalid shop domain.", Err: cause}
}

// unauthorized marks a failed verification as EUNAUTHORIZED for the web
// layer while keeping the sentinel reachable with errors.Is.
func unauthorized(msg string, sentinel error, detail string) error {
	return &app.Error{Code: app.EUNAUTHORIZED, Message: msg, Err: fmt.Errorf("%w: %s", sentinel, detail)}
}
