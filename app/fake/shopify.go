package fake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// ShopifyAPIVersion is the Admin API version the fake pins for webhooks and
// reports by default (reference shopify.md §0.2, §7.2).
const ShopifyAPIVersion = "2026-10"

// shopifyVersions are the stable versions served as of 2026-11; any other
// version in the path answers 404 (reference §7.2).
var shopifyVersions = map[string]bool{"2026-01": true, "2026-04": true, "2026-07": true, "2026-10": true}

// Grant and token type URNs of the token endpoint (reference §1.7, §2).
const (
	shopifyTokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	shopifyIDTokenType     = "urn:ietf:params:oauth:token-type:id_token"
	shopifyOfflineType     = "urn:shopify:params:oauth:token-type:offline-access-token"
	shopifyOnlineType      = "urn:shopify:params:oauth:token-type:online-access-token"
	shopifyDefaultScope    = "read_customers,write_customers,read_orders,write_discounts"
	shopifyRefreshGrace    = 30 * 24 * time.Hour // reference §1.7: the old refresh token lives on until used, max 30 days
	shopifyIDTokenLeeway   = 10 * time.Second    // reference §3.1
	shopifyMaxSingleCost   = 1000                // reference §7.4 (verify for 2026)
	shopifyMutationCost    = 10
	shopifyInvalidTokenMsg = "[API] Invalid API key or access token (unrecognized login or wrong password)"
)

// ShopifyOptions configure a fake Shopify.
type ShopifyOptions struct {
	APIKey    string           // the app's client_id; the aud of ID tokens
	APISecret string           // the client secret: signs ID tokens and webhooks
	Now       func() time.Time // the clock; default time.Now

	// RestoreRate and MaxAvailable shape the per-shop GraphQL cost bucket
	// (reference §7.4). Defaults 100 points/s and 2000 points.
	RestoreRate, MaxAvailable float64

	// AccessTokenTTL and RefreshTokenTTL bound expiring offline tokens
	// (reference §0.1, §1.7). Defaults 3600 s and 90 days.
	AccessTokenTTL, RefreshTokenTTL time.Duration

	// Scope is the granted scope string echoed by the token endpoint.
	// Default "read_customers,write_customers,read_orders,write_discounts".
	Scope string

	// HTTPClient sends webhooks; default http.DefaultClient.
	HTTPClient *http.Client
}

// ShopifyCustomer is a customer of a fake shop, as the GraphQL Admin API
// serves it.
type ShopifyCustomer struct {
	ID                  int64
	Email, Phone        string
	FirstName, LastName string
	Metafields          map[string]string // "namespace.key" -> value
	// NumberOfOrders is what Shopify counts for the customer (SetOrderCount).
	NumberOfOrders int
	// DefaultAddress is the customer's default address, nil when none.
	DefaultAddress *ShopifyAddress
}

// ShopifyDiscount is a discount created through discountCodeBasicCreate.
type ShopifyDiscount struct {
	ID                     string // gid://shopify/DiscountCodeNode/N
	Title, Code            string
	StartsAt, EndsAt       string // as sent (ISO 8601); EndsAt may be ""
	CustomerIDs            []string
	UsageLimit             int // 0 when unlimited
	AppliesOncePerCustomer bool
	Input                  map[string]any // the DiscountCodeBasicInput as received
	CreatedAt              time.Time

	// CustomerSegmentIDs are the segments of context.customerSegments.add:
	// only their members may use the code.
	CustomerSegmentIDs []string

	// Uses counts the orders that used the code (UseDiscount); Shopify
	// reports it as asyncUsageCount.
	Uses int
}

// ShopifyTokens is an expiring offline token pair (reference §1.5, §1.7).
type ShopifyTokens struct {
	AccessToken      string
	AccessExpiresAt  time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
	Scope            string
}

// ShopifyWebhook describes one webhook delivery (reference §4.1). Empty
// WebhookID and EventID get fresh UUIDs; a zero TriggeredAt is the fake's
// Now; an empty APIVersion is ShopifyAPIVersion.
type ShopifyWebhook struct {
	Shop, Topic string
	Body        []byte
	WebhookID   string
	EventID     string
	TriggeredAt time.Time
	APIVersion  string
	Name        string // X-Shopify-Name, sent only when set
}

// Shopify is a fake Shopify: the OAuth token endpoint (authorization code,
// token exchange, refresh) and a subset of the GraphQL Admin API with cost
// throttling, per shop. It implements http.Handler. The zero value is not
// usable; call NewShopify.
type Shopify struct {
	opts ShopifyOptions
	now  func() time.Time

	mu       sync.Mutex
	shops    map[string]*shopifyShop
	access   map[string]*shopifyAccess
	refresh  map[string]*shopifyRefresh
	requests map[string][]Request
	nextID   int64
	changed  signal
}

type shopifyShop struct {
	domain     string
	installed  bool
	codes      map[string]bool // unused authorization codes
	customers  []*ShopifyCustomer
	available  float64
	lastLeak   time.Time
	failStatus int
	failN      int
	// loseN answers that run (their effects happen) but never reach the
	// caller: the caller sees loseStatus, as after a gateway timeout.
	loseStatus int
	loseN      int
	// refuseDiscounts is the user error the next discount creations get.
	refuseDiscounts []string
	discounts       []ShopifyDiscount
	segments        []ShopifySegment
	orders          []*ShopifyOrder
	themes          []*ShopifyTheme
	noThemeAccess   bool
	// Store credit (shopify_storecredit.go).
	currency       string // "" is USD
	refuseCredits  []creditRefusal
	creditAccounts []*shopifyCreditAccount
	credits        []*ShopifyStoreCredit
	noStoreCredit  bool
}

type shopifyAccess struct {
	shop    string
	expires time.Time // zero: a legacy non-expiring token
}

type shopifyRefresh struct {
	shop       string
	expires    time.Time
	parent     string   // the refresh token this one replaced
	children   []string // tokens issued by using this one
	used       bool
	replacedAt time.Time
}

// NewShopify returns a fake Shopify with no shops.
func NewShopify(opts ShopifyOptions) *Shopify {
	opts.RestoreRate = orDefault(opts.RestoreRate, 100)
	opts.MaxAvailable = orDefault(opts.MaxAvailable, 2000)
	opts.AccessTokenTTL = orDefault(opts.AccessTokenTTL, time.Hour)
	opts.RefreshTokenTTL = orDefault(opts.RefreshTokenTTL, 90*24*time.Hour)
	opts.Scope = orDefault(opts.Scope, shopifyDefaultScope)
	return &Shopify{
		opts:     opts,
		now:      nowFunc(opts.Now),
		shops:    map[string]*shopifyShop{},
		access:   map[string]*shopifyAccess{},
		refresh:  map[string]*shopifyRefresh{},
		requests: map[string][]Request{},
		nextID:   1,
	}
}

// normalizeShop lower-cases a shop domain and appends .myshopify.com to a
// bare handle.
func normalizeShop(shop string) string {
	shop = strings.ToLower(strings.TrimSpace(shop))
	shop = strings.TrimPrefix(shop, "https://")
	shop = strings.TrimSuffix(shop, "/")
	if shop != "" && !strings.Contains(shop, ".") {
		shop += ".myshopify.com"
	}
	return shop
}

// shopLocked returns the state of shop, creating it (not installed).
func (f *Shopify) shopLocked(shop string) *shopifyShop {
	s, ok := f.shops[shop]
	if !ok {
		s = &shopifyShop{domain: shop, codes: map[string]bool{}, available: f.opts.MaxAvailable, lastLeak: f.now()}
		f.shops[shop] = s
	}
	return s
}

// InstallShop makes shop known with the app installed.
func (f *Shopify) InstallShop(shop string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shopLocked(normalizeShop(shop)).installed = true
}

// UninstallShop uninstalls the app from shop and revokes all its tokens and
// codes; the shop then answers 404 until installed again (reference §4.7).
func (f *Shopify) UninstallShop(shop string) {
	shop = normalizeShop(shop)
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shopLocked(shop)
	s.installed = false
	s.codes = map[string]bool{}
	for tok, a := range f.access {
		if a.shop == shop {
			delete(f.access, tok)
		}
	}
	for tok, r := range f.refresh {
		if r.shop == shop {
			delete(f.refresh, tok)
		}
	}
}

// IssueAuthCode returns a single-use authorization code for shop, as
// Shopify appends it to the OAuth callback once the merchant approves the
// install; approving installs the app (reference §1.3).
func (f *Shopify) IssueAuthCode(shop string) string {
	code := randomHex(16)
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shopLocked(normalizeShop(shop))
	s.installed = true
	s.codes[code] = true
	return code
}

// MintIDToken returns an ID (session) token for a staff user of shop, an
// HS256 JWT signed with the API secret carrying the claims of reference
// §3.1, valid from Now for ttl.
func (f *Shopify) MintIDToken(shop string, userID int64, ttl time.Duration) string {
	shop = normalizeShop(shop)
	now := f.now()
	claims := jwt.MapClaims{
		"iss":  "https://" + shop + "/admin",
		"dest": "https://" + shop,
		"aud":  f.opts.APIKey,
		"sub":  strconv.FormatInt(userID, 10),
		"exp":  now.Add(ttl).Unix(),
		"nbf":  now.Unix(),
		"iat":  now.Unix(),
		"jti":  uuid.NewString(),
		"sid":  randomHex(16),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(f.opts.APISecret))
	if err != nil {
		panic(fmt.Sprintf("fake: sign id token: %v", err)) // HS256 with a []byte key cannot fail
	}
	return tok
}

// AddCustomer adds (or replaces, by ID) a customer of shop.
func (f *Shopify) AddCustomer(shop string, c ShopifyCustomer) {
	c.Metafields = copyStringMap(c.Metafields)
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shopLocked(normalizeShop(shop))
	for i, old := range s.customers {
		if old.ID == c.ID {
			s.customers[i] = &c
			return
		}
	}
	s.customers = append(s.customers, &c)
}

// Customer returns the current state of a customer of shop (metafields
// included), and whether it exists.
func (f *Shopify) Customer(shop string, id int64) (ShopifyCustomer, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.shopLocked(normalizeShop(shop)).customers {
		if c.ID == id {
			cp := *c
			cp.Metafields = copyStringMap(c.Metafields)
			return cp, true
		}
	}
	return ShopifyCustomer{}, false
}

// SetAvailable sets the points currently available in shop's cost bucket,
// e.g. 0 to drain it; it then refills at RestoreRate (reference §7.4).
func (f *Shopify) SetAvailable(shop string, points float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shopLocked(normalizeShop(shop))
	s.available = points
	s.lastLeak = f.now()
}

// FailNext makes the next n Admin API (GraphQL) calls to shop answer status
// with a Shopify-style body, before authentication is checked. The token
// endpoint is not affected.
func (f *Shopify) FailNext(shop string, status int, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shopLocked(normalizeShop(shop))
	s.failStatus, s.failN = status, n
}

// LoseNextAnswer makes the next n Admin API calls to shop run, with all
// their effects, and then answer status instead of their result: what a
// client sees when the gateway times out after Shopify did the work.
func (f *Shopify) LoseNextAnswer(shop string, status int, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shopLocked(normalizeShop(shop))
	s.loseStatus, s.loseN = status, n
}

// RefuseNextDiscount makes the next discountCodeBasicCreate of shop answer
// a user error with message (code INVALID, on basicCodeDiscount), creating
// nothing, as Shopify does for input it will not accept.
func (f *Shopify) RefuseNextDiscount(shop, message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shopLocked(normalizeShop(shop))
	s.refuseDiscounts = append(s.refuseDiscounts, message)
}

// Requests returns every HTTP request routed to shop, accepted or not, in
// arrival order.
func (f *Shopify) Requests(shop string) []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.requests[normalizeShop(shop)]...)
}

// WaitForRequests blocks until shop has received at least n requests or
// ctx is done.
func (f *Shopify) WaitForRequests(ctx context.Context, shop string, n int) error {
	shop = normalizeShop(shop)
	return waitFor(ctx, &f.mu, &f.changed, func() bool { return len(f.requests[shop]) >= n })
}

// DiscountCodes returns the discounts created in shop by
// discountCodeBasicCreate.
func (f *Shopify) DiscountCodes(shop string) []ShopifyDiscount {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ShopifyDiscount(nil), f.shopLocked(normalizeShop(shop)).discounts...)
}

// ValidAccessToken returns a currently valid offline access token of shop,
// issuing an expiring one (and installing the shop) if none is valid. It
// is for seeding tests and demo mode.
func (f *Shopify) ValidAccessToken(shop string) string {
	shop = normalizeShop(shop)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shopLocked(shop).installed = true
	now := f.now()
	best, bestExp := "", time.Time{}
	for tok, a := range f.access {
		if a.shop != shop || (!a.expires.IsZero() && !now.Before(a.expires)) {
			continue
		}
		if a.expires.IsZero() {
			return tok
		}
		if a.expires.After(bestExp) {
			best, bestExp = tok, a.expires
		}
	}
	if best != "" {
		return best
	}
	return f.issueLocked(shop, true, "").AccessToken
}

// IssueOfflineToken installs shop and issues a fresh expiring offline token
// pair, as a completed token exchange would; for seeding a token store.
func (f *Shopify) IssueOfflineToken(shop string) ShopifyTokens {
	shop = normalizeShop(shop)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shopLocked(shop).installed = true
	return f.issueLocked(shop, true, "")
}

// issueLocked mints an access token, plus a refresh token when expiring.
func (f *Shopify) issueLocked(shop string, expiring bool, parent string) ShopifyTokens {
	now := f.now()
	t := ShopifyTokens{AccessToken: "shpat_" + randomHex(16), Scope: f.opts.Scope}
	a := &shopifyAccess{shop: shop}
	if expiring {
		a.expires = now.Add(f.opts.AccessTokenTTL)
		t.AccessExpiresAt = a.expires
		// [INFERRED] the shprt_ prefix for refresh tokens.
		t.RefreshToken = "shprt_" + randomHex(16)
		t.RefreshExpiresAt = now.Add(f.opts.RefreshTokenTTL)
		f.refresh[t.RefreshToken] = &shopifyRefresh{shop: shop, expires: t.RefreshExpiresAt, parent: parent}
	}
	f.access[t.AccessToken] = a
	return t
}

// ServeHTTP routes by the first path segment (/{shop}/admin/...) or by a
// {shop}.myshopify.com Host header with a path under /admin.
func (f *Shopify) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	shop, rest, ok := shopifyRoute(r)
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if !ok {
		shopifyError(w, http.StatusNotFound, "Not Found")
		return
	}
	f.mu.Lock()
	f.requests[shop] = append(f.requests[shop], newRequest(r, body, f.now()))
	f.changed.notify()
	s, known := f.shops[shop]
	installed := known && s.installed
	f.mu.Unlock()
	if !installed {
		// An unknown shop or one without the app answers 404.
		shopifyError(w, http.StatusNotFound, "Not Found")
		return
	}
	switch {
	case rest == "/admin/oauth/access_token" && r.Method == http.MethodPost:
		f.serveToken(w, r, shop, body)
	case strings.HasPrefix(rest, "/admin/api/") && strings.HasSuffix(rest, "/graphql.json"):
		version := strings.TrimSuffix(strings.TrimPrefix(rest, "/admin/api/"), "/graphql.json")
		if !shopifyVersions[version] || r.Method != http.MethodPost {
			shopifyError(w, http.StatusNotFound, "Not Found")
			return
		}
		f.serveGraphQL(w, r, shop, version, body)
	default:
		shopifyError(w, http.StatusNotFound, "Not Found")
	}
}

// shopifyRoute extracts the shop and the /admin/... path of r.
func shopifyRoute(r *http.Request) (shop, rest string, ok bool) {
	p := r.URL.Path
	if host := hostOnly(r.Host); strings.HasSuffix(host, ".myshopify.com") && strings.HasPrefix(p, "/admin") {
		return host, p, true
	}
	seg, after, found := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if !found || seg == "" || !strings.HasPrefix(after, "admin") {
		return "", "", false
	}
	return normalizeShop(seg), "/" + after, true
}

// shopifyError answers Shopify's plain {"errors": "..."} body.
func shopifyError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, "application/json; charset=utf-8", map[string]string{"errors": msg})
}

// oauthError answers an OAuth error body (reference §1.5, §2).
func oauthError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, http.StatusBadRequest, "application/json; charset=utf-8",
		map[string]string{"error": code, "error_description": desc})
}

// parseTokenParams accepts a JSON or form-encoded body (reference §1.5:
// Shopify's libraries send JSON; form posts are accepted too).
func parseTokenParams(r *http.Request, body []byte) (map[string]string, error) {
	out := map[string]string{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	trimmed := bytes.TrimSpace(body)
	if ct == "application/json" || (ct == "" && len(trimmed) > 0 && trimmed[0] == '{') {
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, err
		}
		for k, v := range m {
			switch v := v.(type) {
			case string:
				out[k] = v
			case json.Number:
				out[k] = v.String()
			case bool:
				if v {
					out[k] = "1"
				} else {
					out[k] = "0"
				}
			case nil:
			default:
				b, _ := json.Marshal(v)
				out[k] = string(b)
			}
		}
		return out, nil
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	for k := range vals {
		out[k] = vals.Get(k)
	}
	for k, v := range r.URL.Query() { // Shopify also reads query parameters
		if _, ok := out[k]; !ok && len(v) > 0 {
			out[k] = v[0]
		}
	}
	return out, nil
}

// serveToken implements POST /admin/oauth/access_token: the authorization
// code grant (reference §1.5), token exchange (§2, and the migration of a
// non-expiring token, §1.7) and refresh (§1.7).
func (f *Shopify) serveToken(w http.ResponseWriter, r *http.Request, shop string, body []byte) {
	p, err := parseTokenParams(r, body)
	if err != nil {
		oauthError(w, "invalid_request", "The request is missing a required parameter, includes an unsupported parameter value, or is otherwise malformed.")
		return
	}
	// Client authentication comes first for every grant. [INFERRED] the
	// description is Doorkeeper's default wording.
	if p["client_id"] != f.opts.APIKey || !hmac.Equal([]byte(p["client_secret"]), []byte(f.opts.APISecret)) {
		oauthError(w, "invalid_client", "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.")
		return
	}
	expiring := p["expiring"] == "1" || p["expiring"] == "true"
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shopLocked(shop)
	switch grant := p["grant_type"]; {
	case grant == "" || grant == "authorization_code":
		code := p["code"]
		if code == "" || !s.codes[code] {
			oauthError(w, "invalid_request", "The authorization code was not found or was already used")
			return
		}
		delete(s.codes, code) // single use
		f.writeTokensLocked(w, f.issueLocked(shop, expiring, ""), expiring)
	case grant == shopifyTokenExchange:
		f.exchangeLocked(w, shop, p, expiring)
	case grant == "refresh_token":
		f.refreshLocked(w, shop, p["refresh_token"])
	default:
		oauthError(w, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server.")
	}
}

func (f *Shopify) writeTokensLocked(w http.ResponseWriter, t ShopifyTokens, expiring bool) {
	if !expiring {
		// Legacy non-expiring offline token (reference §1.5).
		writeJSON(w, http.StatusOK, "application/json; charset=utf-8", struct {
			AccessToken string `json:"access_token"`
			Scope       string `json:"scope"`
		}{t.AccessToken, t.Scope})
		return
	}
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", struct {
		AccessToken           string `json:"access_token"`
		Scope                 string `json:"scope"`
		ExpiresIn             int64  `json:"expires_in"`
		RefreshToken          string `json:"refresh_token"`
		RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in"`
	}{t.AccessToken, t.Scope, int64(f.opts.AccessTokenTTL / time.Second), t.RefreshToken, int64(f.opts.RefreshTokenTTL / time.Second)})
}

// exchangeLocked implements token exchange (reference §2): an ID token for
// an offline token, or (§1.7) a non-expiring offline token for an expiring
// pair.
func (f *Shopify) exchangeLocked(w http.ResponseWriter, shop string, p map[string]string, expiring bool) {
	switch p["requested_token_type"] {
	case shopifyOfflineType:
	case shopifyOnlineType:
		// [INFERRED] online tokens are outside the fake's subset.
		oauthError(w, "invalid_request", "Online access tokens are not supported by this fake")
		return
	default:
		oauthError(w, "invalid_request", "The requested_token_type is missing or unsupported")
		return
	}
	switch p["subject_token_type"] {
	case shopifyIDTokenType:
		if reason := f.checkIDToken(p["subject_token"], shop); reason != "" {
			oauthError(w, "invalid_subject_token", reason)
			return
		}
		f.writeTokensLocked(w, f.issueLocked(shop, expiring, ""), expiring)
	case shopifyOfflineType:
		a, ok := f.access[p["subject_token"]]
		if !ok || a.shop != shop || !a.expires.IsZero() {
			oauthError(w, "invalid_subject_token", "The subject token is not a valid non-expiring offline access token for this shop")
			return
		}
		delete(f.access, p["subject_token"]) // migrated: the old token stops working
		f.writeTokensLocked(w, f.issueLocked(shop, true, ""), true)
	default:
		oauthError(w, "invalid_request", "The subject_token_type is missing or unsupported")
	}
}

// checkIDToken validates an ID token as Shopify does (reference §3.1): HS256
// with the secret, aud == API key, exp/nbf with 10 s leeway, dest == shop.
// It returns "" when valid, else the reason.
func (f *Shopify) checkIDToken(raw, shop string) string {
	if raw == "" {
		return "The subject token is missing"
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return []byte(f.opts.APISecret), nil },
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithAudience(f.opts.APIKey),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(shopifyIDTokenLeeway),
		jwt.WithTimeFunc(f.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "The subject token has expired"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "The subject token signature is invalid"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "The subject token audience does not match the client"
	case err != nil:
		return "The subject token is invalid: " + err.Error()
	}
	dest, _ := claims["dest"].(string)
	if normalizeShop(dest) != shop {
		return "The subject token was issued for another shop"
	}
	return ""
}

// refreshLocked implements the refresh grant (reference §1.7): every use
// rotates the refresh token; the previous one stays usable until its
// replacement is first used, for at most 30 days.
func (f *Shopify) refreshLocked(w http.ResponseWriter, shop, tok string) {
	now := f.now()
	rt, ok := f.refresh[tok]
	if !ok || rt.shop != shop || !now.Before(rt.expires) ||
		(!rt.replacedAt.IsZero() && now.After(rt.replacedAt.Add(shopifyRefreshGrace))) {
		// [INFERRED] Doorkeeper's default description.
		oauthError(w, "invalid_grant", "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.")
		return
	}
	if !rt.used {
		// First use of a replacement: its predecessor, and any other
		// replacement the predecessor issued, stop working. [INFERRED] for
		// the siblings.
		rt.used = true
		if parent, ok := f.refresh[rt.parent]; ok {
			for _, sib := range parent.children {
				if sib != tok {
					delete(f.refresh, sib)
				}
			}
			delete(f.refresh, rt.parent)
		}
	}
	t := f.issueLocked(shop, true, tok)
	rt.children = append(rt.children, t.RefreshToken)
	if rt.replacedAt.IsZero() {
		rt.replacedAt = now
	}
	f.writeTokensLocked(w, t, true)
}

// SignWebhook returns the X-Shopify-Hmac-Sha256 value of body: base64 of
// HMAC-SHA256 keyed with the API secret (reference §4.2).
func (f *Shopify) SignWebhook(body []byte) string {
	return SignShopifyWebhook(f.opts.APISecret, body)
}

// SignShopifyWebhook returns base64(HMAC-SHA256(secret, body)) (reference
// §4.2).
func SignShopifyWebhook(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// NewWebhookRequest builds the POST Shopify would send to url for d, with
// the headers of reference §4.1, without sending it (handy with
// httptest.ResponseRecorder).
func (f *Shopify) NewWebhookRequest(ctx context.Context, url string, d ShopifyWebhook) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.Body))
	if err != nil {
		return nil, fmt.Errorf("fake: new webhook request: %w", err)
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("X-Shopify-Topic", d.Topic)
	h.Set("X-Shopify-Hmac-Sha256", f.SignWebhook(d.Body))
	h.Set("X-Shopify-Shop-Domain", normalizeShop(d.Shop))
	h.Set("X-Shopify-API-Version", orDefault(d.APIVersion, ShopifyAPIVersion))
	h.Set("X-Shopify-Webhook-Id", orDefault(d.WebhookID, uuid.NewString()))
	h.Set("X-Shopify-Event-Id", orDefault(d.EventID, uuid.NewString()))
	at := d.TriggeredAt
	if at.IsZero() {
		at = f.now()
	}
	h.Set("X-Shopify-Triggered-At", at.UTC().Format(time.RFC3339Nano))
	if d.Name != "" {
		h.Set("X-Shopify-Name", d.Name)
	}
	return req, nil
}

// DeliverWebhook POSTs d to url like Shopify and returns the response.
func (f *Shopify) DeliverWebhook(ctx context.Context, url string, d ShopifyWebhook) (*http.Response, error) {
	req, err := f.NewWebhookRequest(ctx, url, d)
	if err != nil {
		return nil, err
	}
	c := f.opts.HTTPClient
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fake: deliver webhook: %w", err)
	}
	return resp, nil
}

// SendWebhook POSTs body to url as a Shopify webhook for shop and topic,
// signed with the API secret, with a new webhook id and event id.
func (f *Shopify) SendWebhook(ctx context.Context, url, shop, topic string, body []byte) (*http.Response, error) {
	return f.DeliverWebhook(ctx, url, ShopifyWebhook{Shop: shop, Topic: topic, Body: body})
}

// SendWebhookWithID is SendWebhook with an explicit X-Shopify-Webhook-Id,
// as a retry of one delivery carries (reference §4.1, §4.3).
func (f *Shopify) SendWebhookWithID(ctx context.Context, url, shop, topic, webhookID string, body []byte) (*http.Response, error) {
	return f.DeliverWebhook(ctx, url, ShopifyWebhook{Shop: shop, Topic: topic, Body: body, WebhookID: webhookID})
}

func copyStringMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
