package shopify_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/shopify"
)

// Reference §4.2 vectors (secret "hush").
const (
	webhookQuotedBody = `"my secret message"`
	webhookQuotedHMAC = "hMTq0K2x7oyOjoBwGYeTj5oxfnaVYXzbanUG9aajpKI="
	webhookPlainBody  = `my secret message`
	webhookPlainHMAC  = "7/WDe43pNWxHoCMD7ukeWbZMtWEMfYQy8wPrdA6jiwc="
	webhookEmptyHMAC  = "ZAZ6P4c14f6v798OCPYCodtdf9g8Z+GfthdfCgyhUYg=" // sent with an empty body
)

func TestSignWebhook(t *testing.T) {
	t.Parallel()
	tests := []struct{ body, want string }{
		{webhookQuotedBody, webhookQuotedHMAC},
		{webhookPlainBody, webhookPlainHMAC},
	}
	for _, tt := range tests {
		if got := shopify.SignWebhook(vectorSecret, []byte(tt.body)); got != tt.want {
			t.Errorf("SignWebhook(%q) = %s, want %s", tt.body, got, tt.want)
		}
	}
}

func TestApp_VerifyWebhook(t *testing.T) {
	t.Parallel()
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	tests := []struct {
		name              string
		body, hmac        string
		secret, oldSecret string
		wantErr           bool
	}{
		{name: "QuotedVector", body: webhookQuotedBody, hmac: webhookQuotedHMAC},
		{name: "PlainVector", body: webhookPlainBody, hmac: webhookPlainHMAC},
		{name: "OldSecretFallback", body: webhookPlainBody, hmac: webhookPlainHMAC, secret: "rotated", oldSecret: vectorSecret},

		{name: "EmptyBodyVector", body: "", hmac: webhookEmptyHMAC, wantErr: true},
		// Even the true HMAC of an empty body is refused.
		{name: "EmptyBodyWithItsValidHMAC", body: "", hmac: shopify.SignWebhook(vectorSecret, nil), wantErr: true},
		{name: "VectorsSwapped", body: webhookPlainBody, hmac: webhookQuotedHMAC, wantErr: true},
		{name: "BodyChanged", body: webhookPlainBody + " ", hmac: webhookPlainHMAC, wantErr: true},
		{name: "MissingHeader", body: webhookPlainBody, hmac: "", wantErr: true},
		{name: "NotBase64", body: webhookPlainBody, hmac: "not base64!", wantErr: true},
		{name: "HexInsteadOfBase64", body: webhookPlainBody, hmac: strings.Repeat("ab", 32), wantErr: true},
		{name: "ShortMAC", body: webhookPlainBody, hmac: short, wantErr: true},
		{name: "WrongSecret", body: webhookPlainBody, hmac: webhookPlainHMAC, secret: "other", wantErr: true},
		{name: "WrongSecretAndOldSecret", body: webhookPlainBody, hmac: webhookPlainHMAC, secret: "a", oldSecret: "b", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			secret := tt.secret
			if secret == "" {
				secret = vectorSecret
			}
			a := &shopify.App{APISecret: secret, OldAPISecret: tt.oldSecret}
			err := a.VerifyWebhook([]byte(tt.body), tt.hmac)
			if tt.wantErr {
				requireErrorIs(t, err, shopify.ErrInvalidHMAC, app.EUNAUTHORIZED)
				return
			}
			if err != nil {
				t.Fatalf("VerifyWebhook error: %v", err)
			}
		})
	}
}

func TestWebhookHeadersFrom(t *testing.T) {
	t.Parallel()
	want := shopify.WebhookHeaders{
		HMAC:        webhookPlainHMAC,
		Topic:       "orders/create",
		ShopDomain:  "a.myshopify.com",
		WebhookID:   "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
		EventID:     "98880550-7158-44d4-b7cd-2c97c8a091b5",
		APIVersion:  "2026-10",
		Name:        "loyalty-orders",
		TriggeredAt: time.Date(2026, 11, 23, 18, 0, 27, 877041743, time.UTC),
	}
	values := map[string]string{
		"Hmac-Sha256":  want.HMAC,
		"Topic":        want.Topic,
		"Shop-Domain":  want.ShopDomain,
		"Webhook-Id":   want.WebhookID,
		"Event-Id":     want.EventID,
		"API-Version":  want.APIVersion,
		"Name":         want.Name,
		"Triggered-At": "2026-11-23T18:00:27.877041743Z",
	}
	build := func(prefix string, raw bool) http.Header {
		h := http.Header{}
		for k, v := range values {
			if raw {
				// A map built by hand keeps its lowercase keys.
				h[strings.ToLower(prefix+k)] = []string{v}
			} else {
				h.Set(prefix+k, v)
			}
		}
		return h
	}
	tests := []struct {
		name string
		h    http.Header
	}{
		{"XShopifyFamily", build("X-Shopify-", false)},
		{"ShopifyFamily", build("shopify-", false)},
		{"ShopifyFamilyRawLowercaseKeys", build("shopify-", true)},
		{"XShopifyFamilyRawLowercaseKeys", build("x-shopify-", true)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := shopify.WebhookHeadersFrom(tt.h)
			if !got.TriggeredAt.Equal(want.TriggeredAt) {
				t.Errorf("TriggeredAt = %v, want %v", got.TriggeredAt, want.TriggeredAt)
			}
			got.TriggeredAt = want.TriggeredAt
			if got != want {
				t.Errorf("WebhookHeadersFrom = %+v, want %+v", got, want)
			}
		})
	}

	t.Run("XShopifyWinsOverShopify", func(t *testing.T) {
		t.Parallel()
		h := http.Header{}
		h.Set("Shopify-Topic", "events/topic")
		h.Set("X-Shopify-Topic", "orders/paid")
		if got := shopify.WebhookHeadersFrom(h).Topic; got != "orders/paid" {
			t.Errorf("Topic = %q, want orders/paid", got)
		}
	})

	t.Run("Missing", func(t *testing.T) {
		t.Parallel()
		got := shopify.WebhookHeadersFrom(http.Header{"X-Shopify-Triggered-At": {"yesterday"}})
		if got != (shopify.WebhookHeaders{}) {
			t.Errorf("WebhookHeadersFrom = %+v, want zero", got)
		}
	})
}
