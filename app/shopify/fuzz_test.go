package shopify_test

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/shopify"
)

// Fuzz targets for everything that reads what Shopify, or anyone posing as
// it, sends. Each asserts a property, not just "no panic": a verifier says
// yes only to input signed with the secret. `go test` runs the seeds;
// `make fuzz` (and CI, briefly) searches for more.

func FuzzVerifyWebhook(f *testing.F) {
	f.Add([]byte(webhookQuotedBody), webhookQuotedHMAC)
	f.Add([]byte(webhookPlainBody), webhookPlainHMAC)
	f.Add([]byte{}, webhookEmptyHMAC)
	f.Add([]byte(`{"id":1}`), "")
	f.Add([]byte(`{"id":1}`), "not base64 !!")
	a := &shopify.App{APISecret: vectorSecret}
	f.Fuzz(func(t *testing.T, body []byte, mac string) {
		if a.VerifyWebhook(body, mac) == nil && mac != shopify.SignWebhook(vectorSecret, body) {
			t.Fatalf("accepted %q for a body it does not sign", mac)
		}
	})
}

func FuzzVerifyProxy(f *testing.F) {
	f.Add(proxyQuery + "&signature=" + proxySignature)
	f.Add(proxyCustomerQuery + "&signature=" + proxyCustomerSig)
	f.Add(proxyQuery + "&logged_in_customer_id=1&logged_in_customer_id=2&signature=00")
	f.Add("shop=a.myshopify.com.evil.com&timestamp=1317327555&signature=zz")
	a := &shopify.App{APISecret: vectorSecret, Now: fixedClock(time.Unix(proxyTimestamp, 0))}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		pr, err := a.VerifyProxy(q)
		if err != nil {
			return
		}
		if q.Get("signature") != shopify.SignProxy(vectorSecret, q) {
			t.Fatalf("accepted an unsigned query %q", raw)
		}
		for _, k := range []string{"shop", "logged_in_customer_id", "path_prefix", "timestamp", "signature"} {
			if len(q[k]) > 1 {
				t.Fatalf("accepted a repeated %s in %q", k, raw)
			}
		}
		for _, c := range pr.LoggedInCustomerID {
			if c < '0' || c > '9' {
				t.Fatalf("accepted customer %q", pr.LoggedInCustomerID)
			}
		}
	})
}

func FuzzVerifyCallback(f *testing.F) {
	f.Add(vectorQuery + "&hmac=" + vectorHMAC)
	f.Add(vectorQuery + "&hmac=" + vectorHMAC + "&hmac=" + vectorHMAC)
	f.Add("shop=x&hmac=00")
	a := &shopify.App{APISecret: vectorSecret, Now: fixedClock(time.Unix(vectorTimestamp, 0))}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		shop, err := a.VerifyCallback(q)
		if err != nil {
			return
		}
		if len(q["hmac"]) != 1 || len(q["shop"]) != 1 {
			t.Fatalf("accepted a repeated hmac or shop: %q", raw)
		}
		if _, err := shopify.NormalizeShop(shop); err != nil {
			t.Fatalf("accepted shop %q: %v", shop, err)
		}
	})
}

func FuzzVerifyIDToken(f *testing.F) {
	f.Add(jwtVector)
	f.Add(jwtVector[:len(jwtVector)-1] + "F") // the same signature, trailing bits set: not canonical
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.eyJhdWQiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiJ9.")
	f.Add("")
	a := &shopify.App{APIKey: jwtAPIKey, APISecret: vectorSecret, Now: fixedClock(time.Unix(jwtNBF+10, 0))}
	f.Fuzz(func(t *testing.T, token string) {
		tok, err := a.VerifyIDToken(token)
		if err != nil {
			return
		}
		if token != jwtVector {
			t.Fatalf("accepted a token other than the signed vector: %q (%+v)", token, tok)
		}
	})
}

// FuzzVerifyCustomerAccountToken: only the one token signed with the
// secret is accepted, and what it yields is a shop and a customer id, never
// anything the fuzzer made up.
func FuzzVerifyCustomerAccountToken(f *testing.F) {
	a := &shopify.App{APIKey: jwtAPIKey, APISecret: vectorSecret, Now: fixedClock(time.Unix(jwtNBF+10, 0))}
	signed := accountVector
	f.Add(signed)
	f.Add(signed[:len(signed)-1] + "B")
	f.Add(jwtVector)
	f.Add("eyJhbGciOiJub25lIn0.eyJhdWQiOiIwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZiJ9.")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		tok, err := a.VerifyCustomerAccountToken(token)
		if err != nil {
			return
		}
		if token != signed || tok.Shop != "test-shop.myshopify.com" || tok.CustomerID != 7001 {
			t.Fatalf("accepted a token other than the signed vector: %q (%+v)", token, tok)
		}
	})
}

// FuzzDecodePayloads: any body a webhook may carry decodes into our
// payload types or fails cleanly (the custom decoders of money and note
// attributes included), and a decoded order's ids survive a round trip.
func FuzzDecodePayloads(f *testing.F) {
	f.Add([]byte(`{"id":820982911946154508,"total_price":"10.00","note_attributes":[{"name":"a","value":1}],"customer":{"id":1}}`))
	f.Add([]byte(`{"id":1,"order_id":2,"refund_line_items":[{"line_item_id":3,"quantity":1,"subtotal":9.99}],"transactions":[{"amount":"1e400","kind":"refund"}]}`))
	f.Add([]byte(`{"customer":{"id":1,"email":"a@b.c"},"orders_to_redact":[1,2]}`))
	f.Add([]byte(`{"total_price":{"amount":"1"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var o shopify.Order
		if json.Unmarshal(body, &o) == nil {
			again, err := json.Marshal(o)
			if err != nil {
				t.Fatalf("a decoded order does not encode: %v", err)
			}
			var o2 shopify.Order
			if err := json.Unmarshal(again, &o2); err != nil || o2.ID != o.ID {
				t.Fatalf("order round trip: %v, id %d → %d", err, o.ID, o2.ID)
			}
		}
		var r shopify.Refund
		_ = json.Unmarshal(body, &r)
		var c shopify.Customer
		_ = json.Unmarshal(body, &c)
		var cr shopify.CustomersRedact
		_ = json.Unmarshal(body, &cr)
	})
}
