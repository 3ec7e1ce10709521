package shopify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Grant and token types of Shopify's token endpoint (RFC 8693 token exchange).
const (
	grantTokenExchange    = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeIDToken      = "urn:ietf:params:oauth:token-type:id_token"
	tokenTypeOfflineToken = "urn:shopify:params:oauth:token-type:offline-access-token"
)

// maxTokenResponse caps how much of a token endpoint response is read.
const maxTokenResponse = 1 << 20

// AuthorizeURL returns the URL that starts the authorization-code grant for
// an offline token: {origin}/admin/oauth/authorize with client_id, scope,
// redirect_uri and state. No grant_options[] is sent, which is what makes the
// token offline. state must be a fresh, single-use nonce bound to the browser.
func (a *App) AuthorizeURL(shop, state string) (string, error) {
	shop, err := NormalizeShop(shop)
	if err != nil {
		return "", err
	}
	if a.APIKey == "" || a.RedirectURL == "" {
		return "", errors.New("shopify: authorize url: api key and redirect url are required")
	}
	if state == "" {
		return "", errors.New("shopify: authorize url: state is required")
	}
	q := url.Values{
		"client_id":    {a.APIKey},
		"scope":        {a.Scopes},
		"redirect_uri": {a.RedirectURL},
		"state":        {state},
	}
	// Shopify's libraries send spaces as %20, never '+'.
	return a.origin(shop) + "/admin/oauth/authorize?" + strings.ReplaceAll(q.Encode(), "+", "%20"), nil
}

// VerifyCallback checks a query signed by Shopify with "hmac": the OAuth
// callback, and equally the install request and every app-home load. It
// verifies the hmac (also against OldAPISecret), requires the timestamp to be
// within 90 s of a.Now and validates the shop, which it returns normalized.
// The OAuth state and its cookie are checked by the web layer.
func (a *App) VerifyCallback(q url.Values) (shop string, err error) {
	secrets, err := a.secrets()
	if err != nil {
		return "", err
	}
	if len(q["hmac"]) != 1 {
		return "", unauthorized("Invalid request signature.", ErrInvalidHMAC, "hmac missing or repeated")
	}
	got, err := hex.DecodeString(q.Get("hmac"))
	if err != nil || len(got) != sha256.Size {
		return "", unauthorized("Invalid request signature.", ErrInvalidHMAC, "hmac is not a hex sha256")
	}
	msg := adminMessage(q)
	if !macMatches(secrets, []byte(msg), got) {
		return "", unauthorized("Invalid request signature.", ErrInvalidHMAC, "hmac mismatch")
	}
	if err := a.checkTimestamp(q); err != nil {
		return "", err
	}
	return NormalizeShop(q.Get("shop"))
}

// SignQuery returns the hex hmac Shopify puts on an admin query (OAuth
// callback, install, app-home load) signed with secret. The "hmac" and
// "signature" parameters are ignored.
func SignQuery(secret string, q url.Values) string {
	return hex.EncodeToString(mac(secret, []byte(adminMessage(q))))
}

// adminMessage builds the message of an admin hmac the way Shopify's Node and
// Ruby libraries do: every parameter but hmac and signature, sorted by key in
// byte order, repeated values joined with ",", keys and values form-encoded
// with spaces as %20, pairs joined with "&". go-shopify unescapes the message
// instead and disagrees whenever a value needs escaping (a base64 "host").
func adminMessage(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		if k != "hmac" && k != "signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(formEncode(k))
		b.WriteByte('=')
		b.WriteString(formEncode(strings.Join(q[k], ",")))
	}
	return b.String()
}

// formEncode is application/x-www-form-urlencoded as in the WHATWG URL spec
// and Ruby's URI.encode_www_form_component (alphanumerics and "*-._" kept,
// everything else %XX), except that a space becomes %20. Go's url.QueryEscape
// differs on '*' and '~', so it is not used for signed messages.
func formEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '*', c == '-', c == '.', c == '_':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

func mac(secret string, msg []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write(msg)
	return h.Sum(nil)
}

// macMatches reports whether got is the HMAC-SHA256 of msg under any of
// secrets. hmac.Equal compares in constant time so the response time leaks
// nothing about how many leading bytes of a forged signature were right.
func macMatches(secrets []string, msg, got []byte) bool {
	for _, s := range secrets {
		if hmac.Equal(mac(s, msg), got) {
			return true
		}
	}
	return false
}

// checkTimestamp refuses a signed query whose timestamp is missing or more
// than 90 s from now, so a captured signed URL cannot be replayed later.
func (a *App) checkTimestamp(q url.Values) error {
	if len(q["timestamp"]) != 1 {
		return unauthorized("Invalid request signature.", ErrInvalidHMAC, "timestamp missing or repeated")
	}
	ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil {
		return unauthorized("Invalid request signature.", ErrInvalidHMAC, "timestamp is not an integer")
	}
	d := a.now().Unix() - ts
	if d > int64(timestampTolerance/time.Second) || d < -int64(timestampTolerance/time.Second) {
		return unauthorized("Request expired, please reload.", ErrInvalidHMAC, "timestamp outside the 90s tolerance")
	}
	return nil
}

// AccessToken is an Admin API access token as granted by the token endpoint.
// A zero ExpiresAt or RefreshTokenExpiresAt means the token does not expire.
// Its String and GoString methods redact the secrets so that a stray %v in a
// log line cannot leak them.
type AccessToken struct {
	AccessToken           string
	Scope                 string // comma separated granted scopes
	RefreshToken          string
	ExpiresAt             time.Time
	RefreshTokenExpiresAt time.Time
}

// String describes t without its secrets.
func (t AccessToken) String() string {
	return fmt.Sprintf("shopify.AccessToken{Scope:%q ExpiresAt:%s RefreshTokenExpiresAt:%s}",
		t.Scope, t.ExpiresAt.Format(time.RFC3339), t.RefreshTokenExpiresAt.Format(time.RFC3339))
}

// GoString describes t without its secrets, for %#v.
func (t AccessToken) GoString() string { return t.String() }

// ExpiresWithin reports whether t expires within d of now. Refresh before
// that point (Shopify's templates use 5 minutes) rather than on a 401.
func (t AccessToken) ExpiresWithin(now time.Time, d time.Duration) bool {
	return !t.ExpiresAt.IsZero() && !now.Add(d).Before(t.ExpiresAt)
}

// OAuthError is an error answer of the token endpoint
// ({"error":"invalid_subject_token","error_description":"..."}).
type OAuthError struct {
	Status      int    // HTTP status
	Code        string // "error", e.g. "invalid_subject_token", "invalid_grant"; may be empty
	Description string // "error_description"
}

// Error implements the error interface.
func (e *OAuthError) Error() string {
	s := fmt.Sprintf("shopify: token endpoint: status %d", e.Status)
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Description != "" {
		s += ": " + e.Description
	}
	return s
}

// Is makes errors.Is(err, ErrInvalidSubjectToken) true for a 400
// invalid_subject_token, the answer to an expired or forged ID token.
func (e *OAuthError) Is(target error) bool {
	return target == ErrInvalidSubjectToken && e.Status == http.StatusBadRequest && e.Code == "invalid_subject_token"
}

// ExchangeCode trades an authorization code from the OAuth callback for an
// expiring offline access token.
func (a *App) ExchangeCode(ctx context.Context, shop, code string) (*AccessToken, error) {
	t, err := a.requestToken(ctx, shop, map[string]string{
		"code":     code,
		"expiring": "1",
	})
	if err != nil {
		return nil, fmt.Errorf("shopify: exchange code: %w", err)
	}
	return t, nil
}

// ExchangeIDToken trades an ID (session) token for an expiring offline access
// token (token exchange). Validate the ID token with VerifyIDToken first, as
// Shopify's libraries do; the shop is the token's destination. An expired or
// rejected ID token yields an error matching ErrInvalidSubjectToken.
func (a *App) ExchangeIDToken(ctx context.Context, shop, idToken string) (*AccessToken, error) {
	t, err := a.requestToken(ctx, shop, map[string]string{
		"grant_type":           grantTokenExchange,
		"subject_token":        idToken,
		"subject_token_type":   tokenTypeIDToken,
		"requested_token_type": tokenTypeOfflineToken,
		"expiring":             "1",
	})
	if err != nil {
		return nil, fmt.Errorf("shopify: exchange id token: %w", err)
	}
	return t, nil
}

// RefreshToken trades a refresh token for a new access token and a new
// refresh token. Refresh tokens rotate on every use: persist the returned
// pair atomically and serialize refreshes per shop.
func (a *App) RefreshToken(ctx context.Context, shop, refreshToken string) (*AccessToken, error) {
	t, err := a.requestToken(ctx, shop, map[string]string{
		"grant_type":    "refresh_token",
		"refresh_token": refreshToken,
	})
	if err != nil {
		return nil, fmt.Errorf("shopify: refresh token: %w", err)
	}
	return t, nil
}

// requestToken posts a grant to {origin}/admin/oauth/access_token. Errors
// never include the request or response body: both carry secrets.
func (a *App) requestToken(ctx context.Context, shop string, grant map[string]string) (*AccessToken, error) {
	shop, err := NormalizeShop(shop)
	if err != nil {
		return nil, err
	}
	if a.APIKey == "" || a.APISecret == "" {
		return nil, errors.New("api key and secret are required")
	}
	grant["client_id"] = a.APIKey
	grant["client_secret"] = a.APISecret
	body, err := json.Marshal(grant)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.origin(shop)+"/admin/oauth/access_token", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := a.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		oe := &OAuthError{Status: resp.StatusCode}
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(raw, &e) == nil {
			oe.Code, oe.Description = e.Error, e.Description
		}
		return nil, oe
	}
	var tr struct {
		AccessToken           string  `json:"access_token"`
		Scope                 string  `json:"scope"`
		ExpiresIn             float64 `json:"expires_in"`
		RefreshToken          string  `json:"refresh_token"`
		RefreshTokenExpiresIn float64 `json:"refresh_token_expires_in"`
	}
	if err := json.Unmarshal(raw, &tr); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	if tr.AccessToken == "" {
		return nil, errors.New("response has no access_token")
	}
	now := a.now()
	t := &AccessToken{AccessToken: tr.AccessToken, Scope: tr.Scope, RefreshToken: tr.RefreshToken}
	if tr.ExpiresIn > 0 {
		t.ExpiresAt = now.Add(time.Duration(tr.ExpiresIn * float64(time.Second)))
	}
	if tr.RefreshTokenExpiresIn > 0 {
		t.RefreshTokenExpiresAt = now.Add(time.Duration(tr.RefreshTokenExpiresIn * float64(time.Second)))
	}
	return t, nil
}
