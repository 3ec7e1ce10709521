package shopify

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
)

// ProxyRequest is what a verified app-proxy query says about its storefront
// request.
type ProxyRequest struct {
	Shop string // normalized
	// LoggedInCustomerID is the storefront customer's id, "" for a guest.
	// Trust it only because the signature covered it.
	LoggedInCustomerID string
	PathPrefix         string // e.g. "/apps/loyalty"
}

// VerifyProxy checks the "signature" Shopify adds to app-proxy requests
// (a different algorithm from the admin hmac, see SignProxy), refuses a query
// that repeats any parameter Shopify adds itself (proxyParams), requires the
// timestamp to be within 90 s of a.Now, validates the shop and requires
// logged_in_customer_id to be empty (a guest) or a customer id (digits).
// Errors wrap ErrInvalidHMAC, or ErrInvalidShop.
func (a *App) VerifyProxy(q url.Values) (ProxyRequest, error) {
	secrets, err := a.secrets()
	if err != nil {
		return ProxyRequest{}, err
	}
	// Values are joined with "," before signing, so a repeated parameter
	// could smuggle a second value under a valid signature (a second
	// logged_in_customer_id, a second shop) while q.Get reads the first:
	// Shopify never repeats its own parameters, so a repeat is refused. The
	// storefront's own parameters may repeat (Shopify's documented example
	// forwards extra=1&extra=2); they carry no authority.
	for _, k := range proxyParams {
		if len(q[k]) > 1 {
			return ProxyRequest{}, unauthorized("Invalid request signature.", ErrInvalidHMAC, "repeated "+k+" parameter")
		}
	}
	got, err := hex.DecodeString(q.Get("signature"))
	// Canonical lower-case hex only, as Shopify sends it (the fuzzer found
	// an upper-case spelling of a valid signature accepted).
	if err != nil || len(got) != sha256.Size || hex.EncodeToString(got) != q.Get("signature") {
		return ProxyRequest{}, unauthorized("Invalid request signature.", ErrInvalidHMAC, "signature missing or not a hex sha256")
	}
	if !macMatches(secrets, []byte(proxyMessage(q)), got) {
		return ProxyRequest{}, unauthorized("Invalid request signature.", ErrInvalidHMAC, "signature mismatch")
	}
	if err := a.checkTimestamp(q); err != nil {
		return ProxyRequest{}, err
	}
	shop, err := NormalizeShop(q.Get("shop"))
	if err != nil {
		return ProxyRequest{}, err
	}
	if id := q.Get("logged_in_customer_id"); id != "" && (len(id) > 20 || !allDigits(id)) {
		return ProxyRequest{}, unauthorized("Invalid request signature.", ErrInvalidHMAC, "logged_in_customer_id is not a customer id")
	}
	return ProxyRequest{
		Shop:               shop,
		LoggedInCustomerID: q.Get("logged_in_customer_id"),
		PathPrefix:         q.Get("path_prefix"),
	}, nil
}

// SignProxy returns the hex "signature" of an app-proxy query under secret,
// ignoring any "signature" parameter already in q.
func SignProxy(secret string, q url.Values) string {
	return hex.EncodeToString(mac(secret, []byte(proxyMessage(q))))
}

// proxyMessage builds the app-proxy message as Shopify documents it: every
// parameter but signature as "key=value" with the decoded value (repeated
// values joined with ","), the pairs sorted as strings and concatenated with
// no separator.
func proxyMessage(q url.Values) string {
	pairs := make([]string, 0, len(q))
	for k, vs := range q {
		if k != "signature" {
			pairs = append(pairs, k+"="+strings.Join(vs, ","))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "")
}

// proxyParams are the parameters Shopify's app proxy adds to a request.
var proxyParams = []string{"shop", "logged_in_customer_id", "path_prefix", "timestamp", "signature", "hmac"}
