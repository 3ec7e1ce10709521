package referral_test

import (
	"strings"
	"testing"

	"github.com/perkbridge/perkbridge/app/referral"
)

func TestNewCode(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 2000 {
		c := referral.NewCode()
		if n, ok := referral.NormalizeCode(c); !ok || n != c {
			t.Fatalf("NewCode() = %q does not normalize to itself", c)
		}
		if seen[c] {
			t.Fatalf("NewCode() repeated %q", c)
		}
		seen[c] = true
	}
}

func TestNormalizeCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"ABCD2345", "ABCD2345", true},
		{" abcd2345 ", "ABCD2345", true},
		{"ABCD234", "ABCD234", false},     // short
		{"ABCD23456", "ABCD23456", false}, // long
		{"ABCD0345", "ABCD0345", false},   // look-alike 0 is not in the alphabet
		{"ABCD-345", "ABCD-345", false},
		{"", "", false},
	} {
		got, ok := referral.NormalizeCode(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizeCode(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	if got := referral.URL("shop-a.myshopify.com", "ABCD2345"); got != "https://shop-a.myshopify.com/apps/loyalty/r/ABCD2345" {
		t.Errorf("URL = %q", got)
	}
	if got := referral.URL("shop-a.myshopify.com", ""); got != "" {
		t.Errorf("URL without code = %q", got)
	}
}

func TestNewFriendCouponCode(t *testing.T) {
	t.Parallel()
	c := referral.NewFriendCouponCode()
	if !strings.HasPrefix(c, referral.FriendCouponPrefix) || len(c) != len("PBF-XXXX-XXXX") || c[8] != '-' {
		t.Errorf("NewFriendCouponCode() = %q", c)
	}
	if c == referral.NewFriendCouponCode() {
		t.Error("two friend codes are equal")
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"Jane@Example.com", "jane@example.com", true},
		{"  jane.doe+shop@mail.example.co.uk ", "jane.doe+shop@mail.example.co.uk", true},
		{"jane", "jane", false},
		{"jane@", "jane@", false},
		{"@example.com", "@example.com", false},
		{"jane@localhost", "jane@localhost", false},
		{"jane@example.", "jane@example.", false},
		{"jane@.example.com", "jane@.example.com", false},
		{"Jane <jane@example.com>", "jane <jane@example.com>", false},
		{"a@b.c,d@e.f", "a@b.c,d@e.f", false},
		{"", "", false},
		{strings.Repeat("a", 250) + "@x.io", strings.Repeat("a", 250) + "@x.io", false},
	} {
		got, ok := referral.NormalizeEmail(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if !referral.SameEmail("JANE@example.com ", "jane@EXAMPLE.com") {
		t.Error("SameEmail: case and spaces should not matter")
	}
	if referral.SameEmail("", "") {
		t.Error("SameEmail: empty addresses match")
	}
}

func TestSameEmail_Aliases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"JOHN+x@Example.com", "john@example.com", true},
		{"john+shop+2@example.com", "John@Example.com", true},
		{"j.o.h.n@gmail.com", "john@googlemail.com", true},
		{"J.Ohn+promo@GMAIL.com", "john@gmail.com", true},
		{"j.ohn@example.com", "john@example.com", false}, // dots matter outside Gmail
		{"john@example.com", "john@example.org", false},
		{"+x@example.com", "@example.com", false},
		{"not-an-email", "not-an-email", false},
	} {
		if got := referral.SameEmail(tc.a, tc.b); got != tc.same {
			t.Errorf("SameEmail(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}

func TestSamePhone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"+1 (514) 555-1234", "+15145551234", true},
		{"0015145551234", "+1 514 555 1234", true},
		{"514-555-1234", "514-555-1234", false}, // no country code: never compared
		{"+15145551234", "+15145551235", false},
		{"", "", false},
	} {
		if got := referral.SamePhone(tc.a, tc.b); got != tc.same {
			t.Errorf("SamePhone(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}

func TestSameAddress(t *testing.T) {
	t.Parallel()
	home := referral.Address{Address1: "12 Main St.", City: "Ottawa", Zip: "K1A 0B1", CountryCode: "CA"}
	for _, tc := range []struct {
		name string
		b    referral.Address
		same bool
	}{
		{"Identical", home, true},
		{"CaseSpacesPunctuation", referral.Address{Address1: "12  MAIN st", City: "ottawa", Zip: "k1a0b1", CountryCode: "ca"}, true},
		{"OtherFlat", referral.Address{Address1: "12 Main St.", Address2: "Apt 3", City: "Ottawa", Zip: "K1A 0B1", CountryCode: "CA"}, false},
		{"OtherStreet", referral.Address{Address1: "14 Main St.", City: "Ottawa", Zip: "K1A 0B1", CountryCode: "CA"}, false},
		{"NoZip", referral.Address{Address1: "12 Main St.", City: "Ottawa", CountryCode: "CA"}, false},
	} {
		if got := referral.SameAddress(home, tc.b); got != tc.same {
			t.Errorf("%s: SameAddress = %v, want %v", tc.name, got, tc.same)
		}
	}
	if referral.SameAddress(referral.Address{}, referral.Address{}) {
		t.Error("empty addresses match")
	}
}

func TestMaskEmail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"grace@example.com": "g***@example.com", "x": "***", "é@example.com": "é***@example.com"} {
		if got := referral.MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClientKey(t *testing.T) {
	t.Parallel()
	a := referral.ClientKey("shop-a.myshopify.com", "203.0.113.7")
	if a == "" || strings.Contains(a, "203.0.113.7") || a != referral.ClientKey("shop-a.myshopify.com", " 203.0.113.7 ") {
		t.Fatalf("key %q", a)
	}
	if a == referral.ClientKey("shop-a.myshopify.com", "203.0.113.8") || a == referral.ClientKey("shop-b.myshopify.com", "203.0.113.7") {
		t.Fatal("different clients or shops share a key")
	}
	if referral.ClientKey("s", "2001:db8:1:2:aaaa::1") != referral.ClientKey("s", "2001:db8:1:2:bbbb::9") {
		t.Fatal("one IPv6 /64 has several keys")
	}
	if referral.ClientKey("s", "2001:db8:1:2::1") == referral.ClientKey("s", "2001:db8:1:3::1") {
		t.Fatal("two IPv6 /64 share a key")
	}
	if referral.ClientKey("s", "unknown") != "" {
		t.Fatal("junk has a key")
	}
}
