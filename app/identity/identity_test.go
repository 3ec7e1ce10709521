package identity_test

import (
	"testing"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/identity"
)

func TestParseProperty(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    identity.Property
		wantErr bool
	}{
		{"email", identity.Property{Kind: identity.Email}, false},
		{" phone ", identity.Property{Kind: identity.Phone}, false},
		{"customer_id", identity.Property{Kind: identity.CustomerID}, false},
		{"metafield:loyalty.member_id", identity.Property{Kind: identity.Metafield, Namespace: "loyalty", Key: "member_id"}, false},
		{"metafield:$app:loyalty.member-id", identity.Property{Kind: identity.Metafield, Namespace: "$app:loyalty", Key: "member-id"}, false},
		{"", identity.Property{}, true},
		{"Email", identity.Property{}, true},
		{"external_id", identity.Property{}, true},
		{"metafield:", identity.Property{}, true},
		{"metafield:loyalty", identity.Property{}, true},
		{"metafield:loyalty.a.b", identity.Property{}, true},
		{"metafield:.member_id", identity.Property{}, true},
		{"metafield:loyalty.", identity.Property{}, true},
		{`metafield:loy"alty.member_id`, identity.Property{}, true},
		{"metafield:loyalty.member id", identity.Property{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := identity.ParseProperty(tt.in)
			if tt.wantErr {
				if err == nil || app.ErrorCode(err) != app.EINVALID || app.ErrorField(err) != "common_property" {
					t.Fatalf("ParseProperty(%q) = %+v, %v; want a common_property field error", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseProperty(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if again, err := identity.ParseProperty(got.String()); err != nil || again != got {
				t.Fatalf("String() %q does not parse back: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestNormalizePhone(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"+14155550123", "+14155550123"},
		{"+1 (415) 555-0123", "+14155550123"},
		{"0044 20 7946 0958", "+442079460958"},
		{"+33.6.12.34.56.78", "+33612345678"},
		{"4155550123", ""},        // no country code: not guessed
		{"+0415555012", ""},       // country codes never start with 0
		{"+1415", ""},             // too short
		{"+1234567890123456", ""}, // 16 digits: too long
		{"+1 415 555 0123 ext 4", ""},
		{"1+4155550123", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := identity.NormalizePhone(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizePhone(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	mf := func(s string) identity.Property {
		p, err := identity.ParseProperty(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	full := identity.Customer{ShopifyID: 7293847561, Email: " Sarah.Mason@Example.com ", Phone: "+1 415 555 0123",
		Metafields: map[string]string{"loyalty.member_id": "M-42"}}
	phoneOnly := identity.Customer{ShopifyID: 1001, Phone: "+447700900123"}
	emailOnly := identity.Customer{ShopifyID: 1002, Email: "jo@example.com"}
	tests := []struct {
		name       string
		p          identity.Property
		c          identity.Customer
		want       string
		wantReason string
	}{
		{"EmailNormalized", mf("email"), full, "sarah.mason@example.com", ""},
		{"EmailPhoneOnly", mf("email"), phoneOnly, "", "customer has no email address (phone-only customer)"},
		{"EmailNone", mf("email"), identity.Customer{ShopifyID: 3}, "", "customer has no email address"},
		{"EmailInvalid", mf("email"), identity.Customer{Email: "not-an-email"}, "", "customer's email address is not valid"},
		{"PhoneE164", mf("phone"), full, "+14155550123", ""},
		{"PhoneEmailOnly", mf("phone"), emailOnly, "", "customer has no phone number (email-only customer)"},
		{"PhoneNational", mf("phone"), identity.Customer{Phone: "(415) 555-0123"}, "", "customer's phone number is not a valid international number (E.164, e.g. +14155550123)"},
		{"CustomerID", mf("customer_id"), phoneOnly, "1001", ""},
		{"CustomerIDMissing", mf("customer_id"), identity.Customer{}, "", "customer has no Shopify customer id"},
		{"Metafield", mf("metafield:loyalty.member_id"), full, "M-42", ""},
		{"MetafieldUnset", mf("metafield:loyalty.member_id"), emailOnly, "", "metafield loyalty.member_id is not set"},
		{"MetafieldBlank", mf("metafield:loyalty.member_id"), identity.Customer{Metafields: map[string]string{"loyalty.member_id": "  "}}, "", "metafield loyalty.member_id is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, reason := identity.Resolve(tt.p, tt.c)
			if got != tt.want || ok != (tt.want != "") || reason != tt.wantReason {
				t.Fatalf("Resolve = %q, %v, %q; want %q, %q", got, ok, reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestMissing(t *testing.T) {
	t.Parallel()
	mfp, _ := identity.ParseProperty("metafield:loyalty.member_id")
	tests := []struct {
		p    identity.Property
		c    identity.Customer
		want bool
	}{
		{identity.Property{Kind: identity.Email}, identity.Customer{Phone: "+14155550123"}, true},
		{identity.Property{Kind: identity.Email}, identity.Customer{Email: "bad"}, false}, // present, just invalid
		{identity.Property{Kind: identity.Phone}, identity.Customer{Email: "a@b.co"}, true},
		{identity.Property{Kind: identity.CustomerID}, identity.Customer{}, false},
		{mfp, identity.Customer{}, true},
		{mfp, identity.Customer{Metafields: map[string]string{"loyalty.member_id": "x"}}, false},
	}
	for i, tt := range tests {
		if got := tt.p.Missing(tt.c); got != tt.want {
			t.Errorf("%d: %s Missing(%+v) = %v", i, tt.p, tt.c, got)
		}
	}
}

func TestKlaviyo(t *testing.T) {
	t.Parallel()
	mfp, _ := identity.ParseProperty("metafield:loyalty.member_id")
	tests := []struct {
		name         string
		p            identity.Property
		c            identity.Customer
		o            identity.Options
		want         identity.KlaviyoIdentifiers
		wantReason   string
		wantFallback bool
	}{
		{"EmailPhoneStaysOut", identity.Property{Kind: identity.Email},
			identity.Customer{ShopifyID: 1, Email: "A@B.co", Phone: "+1 415 555 0123"}, identity.Options{},
			identity.KlaviyoIdentifiers{Email: "a@b.co"}, "", false},
		{"EmailWithPhoneAlongOptIn", identity.Property{Kind: identity.Email},
			identity.Customer{ShopifyID: 1, Email: "A@B.co", Phone: "+1 415 555 0123"}, identity.Options{SendPhone: true},
			identity.KlaviyoIdentifiers{Email: "a@b.co", PhoneNumber: "+14155550123"}, "", false},
		{"PhoneWithEmailAlong", identity.Property{Kind: identity.Phone},
			identity.Customer{ShopifyID: 1, Email: "a@b.co", Phone: "+14155550123"}, identity.Options{},
			identity.KlaviyoIdentifiers{Email: "a@b.co", PhoneNumber: "+14155550123"}, "", false},
		{"CustomerIDPhoneOnlyOptIn", identity.Property{Kind: identity.CustomerID},
			identity.Customer{ShopifyID: 7293847561, Phone: "+447700900123"}, identity.Options{SendPhone: true},
			identity.KlaviyoIdentifiers{ExternalID: "7293847561", PhoneNumber: "+447700900123"}, "", false},
		{"MetafieldToExternalID", mfp,
			identity.Customer{ShopifyID: 5, Email: "x@y.org", Metafields: map[string]string{"loyalty.member_id": "M-7"}}, identity.Options{},
			identity.KlaviyoIdentifiers{ExternalID: "M-7", Email: "x@y.org"}, "", false},
		{"InvalidExtrasLeftOut", identity.Property{Kind: identity.CustomerID},
			identity.Customer{ShopifyID: 9, Email: "nope", Phone: "555-0123"}, identity.Options{SendPhone: true},
			identity.KlaviyoIdentifiers{ExternalID: "9"}, "", false},
		{"PhoneOnlyWithoutFallback", identity.Property{Kind: identity.Email},
			identity.Customer{ShopifyID: 9, Phone: "+14155550123"}, identity.Options{},
			identity.KlaviyoIdentifiers{}, "customer has no email address (phone-only customer)", false},
		{"PhoneOnlyByFallback", identity.Property{Kind: identity.Email},
			identity.Customer{ShopifyID: 9, Phone: "+1 (415) 555-0123"}, identity.Options{PhoneFallback: true},
			identity.KlaviyoIdentifiers{PhoneNumber: "+14155550123"}, "", true},
		{"MetafieldMissingByFallback", mfp,
			identity.Customer{ShopifyID: 9, Email: "m@n.io", Phone: "+14155550123"}, identity.Options{PhoneFallback: true},
			identity.KlaviyoIdentifiers{PhoneNumber: "+14155550123", Email: "m@n.io"}, "", true},
		{"FallbackNeedsAValidPhone", identity.Property{Kind: identity.Email},
			identity.Customer{ShopifyID: 9, Phone: "555-0123"}, identity.Options{PhoneFallback: true},
			identity.KlaviyoIdentifiers{}, "customer has no email address (phone-only customer)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, reason, fb := identity.Klaviyo(tt.p, tt.c, tt.o)
			if got != tt.want || ok != (tt.wantReason == "") || reason != tt.wantReason || fb != tt.wantFallback {
				t.Fatalf("Klaviyo = %+v, %v, %q, fallback %v; want %+v, %q, %v", got, ok, reason, fb, tt.want, tt.wantReason, tt.wantFallback)
			}
		})
	}
}

func TestCleverTap(t *testing.T) {
	t.Parallel()
	c := identity.Customer{ShopifyID: 42, Email: "Q@Example.com", Phone: "+14155550123"}
	for p, want := range map[identity.Kind]string{identity.Email: "q@example.com", identity.Phone: "+14155550123", identity.CustomerID: "42"} {
		got, ok, _, fb := identity.CleverTap(identity.Property{Kind: p}, c, identity.Options{PhoneFallback: true})
		if !ok || got != want || fb {
			t.Errorf("CleverTap(%s) = %q, %v, fallback %v; want %q", p, got, ok, fb, want)
		}
	}
	// A phone-only customer: skipped unless the merchant opted in.
	phoneOnly := identity.Customer{ShopifyID: 43, Phone: "+14155550199"}
	if _, ok, reason, _ := identity.CleverTap(identity.Property{Kind: identity.Email}, phoneOnly, identity.Options{}); ok || reason == "" {
		t.Errorf("without the fallback: ok %v, %q", ok, reason)
	}
	if got, ok, _, fb := identity.CleverTap(identity.Property{Kind: identity.Email}, phoneOnly, identity.Options{PhoneFallback: true}); !ok || !fb || got != "+14155550199" {
		t.Errorf("with the fallback: %q, %v, %v", got, ok, fb)
	}
}
