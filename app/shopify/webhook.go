package shopify

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

// VerifyWebhook checks hmacB64, the X-Shopify-Hmac-Sha256 (or
// Shopify-Hmac-Sha256) header, against the raw request body. Call it before
// parsing anything. The header is base64-decoded and must be exactly 32
// bytes; the comparison is constant time; an empty body is always refused;
// OldAPISecret is tried after APISecret because Shopify may keep signing with
// the old secret for up to an hour after a rotation. Errors wrap ErrInvalidHMAC.
func (a *App) VerifyWebhook(body []byte, hmacB64 string) error {
	secrets, err := a.secrets()
	if err != nil {
		return err
	}
	if len(body) == 0 {
		// A valid signature over nothing proves nothing about a delivery.
		return unauthorized("Invalid webhook signature.", ErrInvalidHMAC, "empty body")
	}
	if hmacB64 == "" {
		return unauthorized("Invalid webhook signature.", ErrInvalidHMAC, "missing hmac header")
	}
	got, ok := ParseWebhookHMAC(hmacB64)
	if !ok {
		return unauthorized("Invalid webhook signature.", ErrInvalidHMAC, "hmac header is not a base64 sha256")
	}
	if !macMatches(secrets, body, got) {
		return unauthorized("Invalid webhook signature.", ErrInvalidHMAC, "hmac mismatch")
	}
	return nil
}

// ParseWebhookHMAC decodes an X-Shopify-Hmac-Sha256 value: the canonical
// standard base64 of 32 bytes and nothing else (Go's decoder skips line
// breaks, so "abc\ndef" would otherwise pass as "abcdef"; the fuzzer found
// it). The intake checks it before reading a body.
func ParseWebhookHMAC(s string) ([]byte, bool) {
	got, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(got) != sha256.Size || base64.StdEncoding.EncodeToString(got) != s {
		return nil, false
	}
	return got, true
}

// SignWebhook returns the base64 HMAC-SHA256 of body under secret, the value
// of X-Shopify-Hmac-Sha256. The webhook CLI command and tests use it.
func SignWebhook(secret string, body []byte) string {
	return base64.StdEncoding.EncodeToString(mac(secret, body))
}

// WebhookHeaders are the delivery headers of a webhook. WebhookID is the
// same on every retry of one delivery (the idempotency key); EventID is the
// same across subscriptions and topics of one event.
type WebhookHeaders struct {
	HMAC        string
	Topic       string // e.g. "orders/create"
	ShopDomain  string // as sent; validate with NormalizeShop
	WebhookID   string
	EventID     string
	APIVersion  string
	Name        string // subscription name from shopify.app.toml
	TriggeredAt time.Time
}

// WebhookHeadersFrom reads the webhook headers of h from either family: the
// classic X-Shopify-* headers or the lowercase shopify-* headers of Shopify's
// Events deliveries. When both are present the X-Shopify-* value wins.
func WebhookHeadersFrom(h http.Header) WebhookHeaders {
	get := func(name string) string {
		if v := header(h, "X-Shopify-"+name); v != "" {
			return v
		}
		return header(h, "Shopify-"+name)
	}
	wh := WebhookHeaders{
		HMAC:       get("Hmac-Sha256"),
		Topic:      get("Topic"),
		ShopDomain: get("Shop-Domain"),
		WebhookID:  get("Webhook-Id"),
		EventID:    get("Event-Id"),
		APIVersion: get("API-Version"),
		Name:       get("Name"),
	}
	if ts := get("Triggered-At"); ts != "" {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			wh.TriggeredAt = t
		}
	}
	return wh
}

// header is h.Get that also finds keys that were not canonicalized, as in a
// header map built by hand with "shopify-hmac-sha256".
func header(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if len(vs) > 0 && strings.EqualFold(k, name) {
			return vs[0]
		}
	}
	return ""
}
