package shopify_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/shopify"
)

// Reference §6 vectors (secret "hush", timestamp 1317327555).
const (
	proxyQuery         = "extra=1&extra=2&shop=shop-name.myshopify.com&path_prefix=%2Fapps%2Fawesome_reviews&timestamp=1317327555"
	proxySignature     = "a9718877bea71c2484f91608a7eaea1532bdf71f5c56825065fa4ccabe549ef3"
	proxyCustomerSig   = "4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb"
	proxyTimestamp     = 1317327555
	proxyCustomerQuery = proxyQuery + "&logged_in_customer_id=1"
)

func TestSignProxy(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, query, want string }{
		{"Vector", proxyQuery, proxySignature},
		{"VectorWithCustomer", proxyCustomerQuery, proxyCustomerSig},
		{"SignatureExcluded", proxyQuery + "&signature=" + proxyCustomerSig, proxySignature},
		// The message is "extra=1,2path_prefix=/apps/awesome_reviewsshop=...timestamp=...".
		{"DecodedValuesNoSeparator", proxyQuery, hexHMAC(vectorSecret, "extra=1,2path_prefix=/apps/awesome_reviewsshop=shop-name.myshopify.comtimestamp=1317327555")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := shopify.SignProxy(vectorSecret, mustQuery(t, tt.query)); got != tt.want {
				t.Fatalf("SignProxy = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestApp_VerifyProxy(t *testing.T) {
	t.Parallel()
	at := time.Unix(proxyTimestamp, 0)
	// resigned adds raw's own valid signature, so that only the check under
	// test can reject it.
	resigned := func(raw string) string {
		return raw + "&signature=" + shopify.SignProxy(vectorSecret, mustQuery(t, raw))
	}
	tests := []struct {
		name              string
		query             string
		now               time.Time
		secret, oldSecret string
		want              shopify.ProxyRequest
		wantErr           error
	}{
		{name: "Vector", query: proxyQuery + "&signature=" + proxySignature, now: at,
			want: shopify.ProxyRequest{Shop: "shop-name.myshopify.com", PathPrefix: "/apps/awesome_reviews"}},
		{name: "VectorWithCustomer", query: proxyCustomerQuery + "&signature=" + proxyCustomerSig, now: at,
			want: shopify.ProxyRequest{Shop: "shop-name.myshopify.com", LoggedInCustomerID: "1", PathPrefix: "/apps/awesome_reviews"}},
		{name: "GuestEmptyCustomer", query: resigned(proxyQuery + "&logged_in_customer_id="), now: at,
			want: shopify.ProxyRequest{Shop: "shop-name.myshopify.com", PathPrefix: "/apps/awesome_reviews"}},
		{name: "Within90s", query: proxyQuery + "&signature=" + proxySignature, now: at.Add(90 * time.Second),
			want: shopify.ProxyRequest{Shop: "shop-name.myshopify.com", PathPrefix: "/apps/awesome_reviews"}},
		{name: "OldSecretFallback", query: proxyQuery + "&signature=" + proxySignature, now: at, secret: "rotated", oldSecret: vectorSecret,
			want: shopify.ProxyRequest{Shop: "shop-name.myshopify.com", PathPrefix: "/apps/awesome_reviews"}},

		{name: "StaleTimestamp", query: proxyQuery + "&signature=" + proxySignature, now: at.Add(91 * time.Second), wantErr: shopify.ErrInvalidHMAC},
		{name: "FutureTimestamp", query: proxyQuery + "&signature=" + proxySignature, now: at.Add(-91 * time.Second), wantErr: shopify.ErrInvalidHMAC},
		{name: "CustomerAddedUnsigned", query: proxyCustomerQuery + "&signature=" + proxySignature, now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "CustomerChanged", query: proxyQuery + "&logged_in_customer_id=2&signature=" + proxyCustomerSig, now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "ExtraValueDropped", query: "extra=1&shop=shop-name.myshopify.com&path_prefix=%2Fapps%2Fawesome_reviews&timestamp=1317327555&signature=" + proxySignature, now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "AdminHMACInsteadOfSignature", query: proxyQuery + "&hmac=" + proxySignature, now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "MissingSignature", query: proxyQuery, now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "TruncatedSignature", query: proxyQuery + "&signature=" + proxySignature[:60], now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "WrongSecret", query: proxyQuery + "&signature=" + proxySignature, now: at, secret: "other", wantErr: shopify.ErrInvalidHMAC},
		{name: "DuplicateShop", query: resigned(proxyQuery + "&shop=evil-shop.myshopify.com"), now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "DuplicateTimestamp", query: resigned(proxyQuery + "&timestamp=1317327556"), now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "DuplicateHMAC", query: resigned(proxyQuery + "&hmac=a&hmac=b"), now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "DuplicateSignature", query: resigned(proxyQuery) + "&signature=" + proxySignature, now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "DuplicateCustomer", query: resigned(proxyCustomerQuery + "&logged_in_customer_id=2"), now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "DuplicateGuestAndCustomer", query: resigned(proxyQuery + "&logged_in_customer_id=&logged_in_customer_id=7"), now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "DuplicatePathPrefix", query: resigned(proxyQuery + "&path_prefix=%2Fapps%2Fother"), now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "CustomerNotDigits", query: resigned(proxyQuery + "&logged_in_customer_id=1%20OR%201"), now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "CustomerGID", query: resigned(proxyQuery + "&logged_in_customer_id=gid%3A%2F%2Fshopify%2FCustomer%2F1"), now: at, wantErr: shopify.ErrInvalidHMAC},
		{name: "SignedLookalikeShop", query: resigned("shop=a.myshopify.com.evil.com&timestamp=1317327555"), now: at, wantErr: shopify.ErrInvalidShop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			secret := tt.secret
			if secret == "" {
				secret = vectorSecret
			}
			a := &shopify.App{APISecret: secret, OldAPISecret: tt.oldSecret, Now: fixedClock(tt.now)}
			got, err := a.VerifyProxy(mustQuery(t, tt.query))
			if tt.wantErr != nil {
				code := app.EUNAUTHORIZED
				if tt.wantErr == shopify.ErrInvalidShop {
					code = app.EBADREQUEST
				}
				requireErrorIs(t, err, tt.wantErr, code)
				return
			}
			if err != nil {
				t.Fatalf("VerifyProxy error: %v", err)
			}
			if got != tt.want {
				t.Fatalf("VerifyProxy = %+v, want %+v", got, tt.want)
			}
		})
	}

	t.Run("RepeatedOtherParamSigned", func(t *testing.T) {
		t.Parallel()
		// Repeats of other parameters are legitimate ("extra" in the vector).
		a := &shopify.App{APISecret: vectorSecret, Now: fixedClock(at)}
		q := mustQuery(t, proxyQuery)
		q.Add("extra", "3")
		q.Set("signature", shopify.SignProxy(vectorSecret, q))
		if _, err := a.VerifyProxy(q); err != nil {
			t.Fatalf("VerifyProxy error: %v", err)
		}
		q.Set("extra", "9")
		if _, err := a.VerifyProxy(url.Values(q)); err == nil {
			t.Fatal("VerifyProxy accepted a changed repeated value")
		}
	})
}
