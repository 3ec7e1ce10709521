// Package referral holds the rules of the refer-a-friend program: member
// referral codes and URLs, the friend's discount code, and who may be
// referred. It is pure: no I/O, no clock; randomness comes from crypto/rand.
package referral

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/mail"
	"strings"
	"unicode"

	"github.com/perkbridge/perkbridge/app/identity"
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

// CanonicalEmail returns the mailbox an address delivers to, as far as
// referral fraud goes: NormalizeEmail, then the "+tag" of the local part
// dropped (every large provider delivers john+x@ to john@), and for Gmail
// (gmail.com, googlemail.com) the dots of the local part dropped and the
// domain made gmail.com, since Gmail ignores them. "" for an address that
// is not one.
func CanonicalEmail(s string) string {
	s, ok := NormalizeEmail(s)
	if !ok {
		return ""
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	if domain == "googlemail.com" {
		domain = "gmail.com"
	}
	if domain == "gmail.com" {
		local = strings.ReplaceAll(local, ".", "")
	}
	if local == "" {
		return ""
	}
	return local + "@" + domain
}

// SameEmail reports whether two addresses are the same person's, as far as
// referrals go: the same CanonicalEmail (case, "+" aliases and Gmail dots
// ignored). Empty or malformed addresses never match.
func SameEmail(a, b string) bool {
	a, b = CanonicalEmail(a), CanonicalEmail(b)
	return a != "" && a == b
}

// CanonicalPhone returns a phone number in E.164 ("+15145551234"), or ""
// when it is not a valid international number: numbers without a country
// code cannot be compared safely and never match.
func CanonicalPhone(s string) string {
	n, err := identity.NormalizePhone(s)
	if err != nil {
		return ""
	}
	return n
}

// SamePhone reports whether two phone numbers are the same in E.164.
func SamePhone(a, b string) bool {
	a, b = CanonicalPhone(a), CanonicalPhone(b)
	return a != "" && a == b
}

// Address is a postal address as far as comparing two goes.
type Address struct {
	Address1, Address2, City, Zip, CountryCode string
}

// Canonical returns the address as compared: lines, city, postal code and
// country, lower case, with punctuation dropped and runs of spaces made
// one ("12 Main St." and "12  main st" are the same); postal codes lose
// their spaces. "" when the first line or the postal code is missing:
// such an address is too vague to call two people one household.
func (a Address) Canonical() string {
	clean := func(s string) string {
		s = strings.ToLower(s)
		var b strings.Builder
		space := false
		for _, r := range s {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r):
				if space && b.Len() > 0 {
					b.WriteByte(' ')
				}
				space = false
				b.WriteRune(r)
			default:
				space = true
			}
		}
		return b.String()
	}
	line1, zip := clean(a.Address1), strings.ReplaceAll(clean(a.Zip), " ", "")
	if line1 == "" || zip == "" {
		return ""
	}
	return strings.Join([]string{line1, clean(a.Address2), clean(a.City), zip, clean(a.CountryCode)}, "|")
}

// SameAddress reports whether two addresses are the same place.
func SameAddress(a, b Address) bool {
	ca, cb := a.Canonical(), b.Canonical()
	return ca != "" && ca == cb
}

// MaskEmail hides most of an address for lists a merchant reads over
// someone's shoulder: the first letter of the local part, then "***", and
// the domain ("g***@example.com").
func MaskEmail(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at < 1 {
		return "***"
	}
	r := []rune(s[:at])
	return string(r[0]) + "***" + s[at:]
}

// ClientKey names a storefront client by its address for attempt limits,
// without keeping the address: a hash of the shop and the address, IPv6
// addresses cut to their /64 (one household or host gets a /64, and can
// pick any address in it). "" when addr is no IP address.
func ClientKey(shopDomain, addr string) string {
	ip := net.ParseIP(strings.TrimSpace(addr))
	if ip == nil {
		return ""
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	} else {
		ip = ip.Mask(net.CIDRMask(64, 128))
	}
	sum := sha256.Sum256([]byte(shopDomain + "|" + ip.String()))
	return "addr:" + hex.EncodeToString(sum[:16])
}
