// Package referral holds the rules of the refer-a-friend program: member
// referral codes and URLs, the friend's discount code, and who may be
// referred. It is pure: no I/O, no clock; randomness comes from crypto/rand.
package referral

import (
	"crypto/rand"
	"net/mail"
	"strings"
)

// ProxyPath is where the app proxy is mounted on the storefront
// (shopify.app.toml [app_proxy] prefix "apps", subpath "loyalty").
const ProxyPath = "/apps/loyalty"

// CodeLength is the length of a member's referral code.
const CodeLength = 8

// alphabet has no look-alike characters (0/O, 1/I/L): codes are read
// aloud and typed. 31 symbols, so an 8-character code holds 39.6 bits.
const alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// randomString returns n symbols of alphabet, uniformly: bytes at or above
// the largest multiple of len(alphabet) are drawn again, so no symbol is
// likelier than another.
func randomString(n int) string {
	const limit = 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+8)
	for len(out) < n {
		_, _ = rand.Read(buf) // never fails (Go 1.24+: it crashes the program instead)
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// NewCode returns a fresh member referral code: CodeLength random symbols.
// Short enough to share, too many (8.5e11) to enumerate members by
// guessing; uniqueness per shop is the store's constraint, and the caller
// draws again on a collision.
func NewCode() string {
	return randomString(CodeLength)
}

// NormalizeCode returns a code as stored (upper case, trimmed) and whether
// it can be a referral code at all, so that junk never reaches the
// database.
func NormalizeCode(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) != CodeLength {
		return s, false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(alphabet, s[i]) < 0 {
			return s, false
		}
	}
	return s, true
}

// URL returns a member's referral URL: the storefront page of the app
// proxy on the shop's myshopify domain (Shopify redirects it to the
// primary domain).
func URL(shopDomain, code string) string {
	if shopDomain == "" || code == "" {
		return ""
	}
	return "https://" + shopDomain + ProxyPath + "/r/" + code
}

// FriendCouponPrefix starts every friend discount code. Reward coupons
// start "PB-", so the two kinds can never collide in the shop's discount
// codes, and a code tells which table holds it.
const FriendCouponPrefix = "PBF-"

// NewFriendCouponCode returns a friend discount code "PBF-XXXX-XXXX"
// (39.6 random bits).
func NewFriendCouponCode() string {
	r := randomString(8)
	return FriendCouponPrefix + r[:4] + "-" + r[4:]
}

// MaxEmailLen is the longest email address accepted (RFC 5321 path limit).
const MaxEmailLen = 254

// NormalizeEmail returns a friend's email address as stored and compared
// (trimmed, lower case) and whether it is a plain, deliverable-looking
// address: local@domain with a dot in the domain, no display name, no
// comments or angle brackets.
func NormalizeEmail(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || len(s) > MaxEmailLen {
		return s, false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return s, false
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	if at < 1 || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return s, false
	}
	return s, true
}

// SameEmail reports whether two addresses are the same person's, as far as
// referrals go: equal after NormalizeEmail. Empty addresses never match.
func SameEmail(a, b string) bool {
	a, _ = NormalizeEmail(a)
	b, _ = NormalizeEmail(b)
	return a != "" && a == b
}
