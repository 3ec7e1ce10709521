// Package identity resolves the common property (DESIGN.md §4): the value
// that both Shopify and a sink use for one customer, chosen per integration
// as email, phone (E.164), customer_id (the Shopify numeric id) or
// metafield:<namespace>.<key>. It maps that value to each sink's
// identifiers: Klaviyo's email, phone_number or external_id (with the other
// known identifiers riding along, so a phone-only customer still matches
// the profile a storefront form created), CleverTap's identity.
//
// The package is pure: it imports only app, does no I/O, and takes the
// customer as a value. Looking a missing value up in Shopify is the
// caller's job (app/forward), which then resolves again.
package identity

import (
	"strconv"
	"strings"

	"github.com/perkbridge/perkbridge/app"
)

// Kind is what the common property is.
type Kind string

// Common property kinds.
const (
	Email      Kind = "email"
	Phone      Kind = "phone"
	CustomerID Kind = "customer_id"
	Metafield  Kind = "metafield"
)

// Property is a parsed common property.
type Property struct {
	Kind Kind
	// Namespace and Key name the metafield of a Metafield property.
	Namespace string
	Key       string
}

// String returns the property as stored and shown: "email", "phone",
// "customer_id" or "metafield:<namespace>.<key>".
func (p Property) String() string {
	if p.Kind == Metafield {
		return "metafield:" + p.Namespace + "." + p.Key
	}
	return string(p.Kind)
}

// MetafieldKey returns "namespace.key", the key of Customer.Metafields, or
// "" for other kinds.
func (p Property) MetafieldKey() string {
	if p.Kind != Metafield {
		return ""
	}
	return p.Namespace + "." + p.Key
}

// ParseProperty parses a common property. Errors are field errors on
// "common_property" with a message for the merchant.
func ParseProperty(s string) (Property, error) {
	s = strings.TrimSpace(s)
	switch Kind(s) {
	case Email, Phone, CustomerID:
		return Property{Kind: Kind(s)}, nil
	}
	rest, ok := strings.CutPrefix(s, "metafield:")
	if !ok {
		if s == "" {
			return Property{}, app.FieldError("common_property", "Choose the common property: email, phone, customer_id or metafield:<namespace>.<key>.")
		}
		return Property{}, app.FieldError("common_property", "Unknown common property %q: use email, phone, customer_id or metafield:<namespace>.<key>.", s)
	}
	ns, key, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(key, ".") {
		return Property{}, app.FieldError("common_property", "A metafield property is written metafield:<namespace>.<key>, with one dot, e.g. metafield:loyalty.member_id.")
	}
	// Shopify's rules for metafield identifiers (which also keep them safe
	// inside a GraphQL string): namespaces 2-255 characters of letters,
	// digits, _ and -, plus the $app: prefix of app-owned namespaces; keys
	// 2-64 characters of letters, digits, _ and -.
	if !validName(strings.TrimPrefix(ns, "$app:"), 2, 255) {
		return Property{}, app.FieldError("common_property", "Metafield namespace %q must be 2 to 255 letters, digits, _ or -.", ns)
	}
	if !validName(key, 2, 64) {
		return Property{}, app.FieldError("common_property", "Metafield key %q must be 2 to 64 letters, digits, _ or -.", key)
	}
	return Property{Kind: Metafield, Namespace: ns, Key: key}, nil
}

func validName(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Customer is what is known about a customer: the cached customer row, or
// what the Shopify GraphQL API answered.
type Customer struct {
	ShopifyID  int64
	Email      string
	Phone      string
	Metafields map[string]string // "namespace.key" → value
}

// Missing reports whether c lacks the raw value p needs, so that asking
// Shopify might help: an empty email or phone, an absent metafield. A
// customer_id is never missing, and a value that is present but invalid
// is not missing either (Shopify would answer the same).
func (p Property) Missing(c Customer) bool {
	switch p.Kind {
	case Email:
		return strings.TrimSpace(c.Email) == ""
	case Phone:
		return strings.TrimSpace(c.Phone) == ""
	case Metafield:
		return strings.TrimSpace(c.Metafields[p.MetafieldKey()]) == ""
	}
	return false
}

// Resolve returns the customer's value of the common property, normalized
// (emails trimmed and lower-cased, phones in E.164). When there is none it
// returns ok false and a reason for the merchant, e.g. "customer has no
// email address (phone-only customer)".
func Resolve(p Property, c Customer) (value string, ok bool, reason string) {
	switch p.Kind {
	case Email:
		raw := strings.TrimSpace(c.Email)
		if raw == "" {
			if strings.TrimSpace(c.Phone) != "" {
				return "", false, "customer has no email address (phone-only customer)"
			}
			return "", false, "customer has no email address"
		}
		e, ok := NormalizeEmail(raw)
		if !ok {
			return "", false, "customer's email address is not valid"
		}
		return e, true, ""
	case Phone:
		raw := strings.TrimSpace(c.Phone)
		if raw == "" {
			if strings.TrimSpace(c.Email) != "" {
				return "", false, "customer has no phone number (email-only customer)"
			}
			return "", false, "customer has no phone number"
		}
		e, err := NormalizePhone(raw)
		if err != nil {
			return "", false, "customer's phone number is not a valid international number (E.164, e.g. +14155550123)"
		}
		return e, true, ""
	case CustomerID:
		if c.ShopifyID <= 0 {
			return "", false, "customer has no Shopify customer id"
		}
		return strconv.FormatInt(c.ShopifyID, 10), true, ""
	case Metafield:
		v := strings.TrimSpace(c.Metafields[p.MetafieldKey()])
		if v == "" {
			return "", false, "metafield " + p.MetafieldKey() + " is not set"
		}
		return v, true, ""
	}
	return "", false, "unknown common property " + strconv.Quote(string(p.Kind))
}

// KlaviyoIdentifiers are the identifiers of a Klaviyo profile reference.
type KlaviyoIdentifiers struct {
	Email       string
	PhoneNumber string // E.164
	ExternalID  string
}

// Options are an integration's identity choices.
type Options struct {
	// PhoneFallback sends a customer who has no value for the common
	// property by their phone number instead of skipping them.
	PhoneFallback bool
	// SendPhone lets the customer's phone ride along on Klaviyo events
	// keyed by another identifier. Off, a Klaviyo profile's phone number
	// (perhaps consented to SMS) is never overwritten by an event.
	SendPhone bool
}

// Klaviyo maps the common property to Klaviyo's identifiers: email → email,
// phone → phone_number, customer_id and metafields → external_id. The
// customer's valid email rides along, so that Klaviyo matches the profile
// whichever identifier it already knows; the phone rides along only with
// o.SendPhone. Without a value for the common property the customer is
// sent by phone_number when o.PhoneFallback holds and the phone is valid
// (fallback true), else ok is false with the reason.
func Klaviyo(p Property, c Customer, o Options) (ids KlaviyoIdentifiers, ok bool, reason string, fallback bool) {
	v, ok, reason := Resolve(p, c)
	if !ok {
		ph, err := NormalizePhone(c.Phone)
		if !o.PhoneFallback || p.Kind == Phone || err != nil {
			return KlaviyoIdentifiers{}, false, reason, false
		}
		ids.PhoneNumber = ph
		if e, ok := NormalizeEmail(c.Email); ok {
			ids.Email = e
		}
		return ids, true, "", true
	}
	switch p.Kind {
	case Email:
		ids.Email = v
	case Phone:
		ids.PhoneNumber = v
	default:
		ids.ExternalID = v
	}
	if ids.Email == "" {
		if e, ok := NormalizeEmail(c.Email); ok {
			ids.Email = e
		}
	}
	if ids.PhoneNumber == "" && o.SendPhone {
		if ph, err := NormalizePhone(c.Phone); err == nil {
			ids.PhoneNumber = ph
		}
	}
	return ids, true, "", false
}

// CleverTap returns the CleverTap identity: the common property's value,
// or with o.PhoneFallback the customer's phone when that value is missing
// (fallback true; CleverTap then knows the customer by the phone, a
// profile apart from the one keyed by the common property).
func CleverTap(p Property, c Customer, o Options) (identity string, ok bool, reason string, fallback bool) {
	v, ok, reason := Resolve(p, c)
	if ok || !o.PhoneFallback || p.Kind == Phone {
		return v, ok, reason, false
	}
	ph, err := NormalizePhone(c.Phone)
	if err != nil {
		return "", false, reason, false
	}
	return ph, true, "", true
}

// NormalizeEmail trims and lower-cases an email address and reports whether
// it looks deliverable (something@domain.tld, no spaces): enough to keep a
// malformed address from failing a whole Klaviyo request.
func NormalizeEmail(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || strings.Contains(domain, "@") || strings.ContainsAny(s, " \t\r\n") {
		return "", false
	}
	dot := strings.LastIndexByte(domain, '.')
	if dot <= 0 || dot == len(domain)-1 {
		return "", false
	}
	return s, true
}

// NormalizePhone returns s in E.164 (+ and 8 to 15 digits, the first not 0)
// after removing spaces, dots, dashes and parentheses; a leading 00 is read
// as +. A number without a country code is rejected rather than guessed:
// Shopify stores customer phones in E.164, so a national number here is
// bad data, and guessing the country would merge different people.
func NormalizePhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '\u00a0':
		default:
			return "", app.Errorf(app.EINVALID, "Phone number has an unexpected character %q.", r)
		}
	}
	n := b.String()
	if strings.HasPrefix(n, "00") {
		n = "+" + n[2:]
	}
	if !strings.HasPrefix(n, "+") {
		return "", app.Errorf(app.EINVALID, "Phone number has no country code (+…).")
	}
	digits := n[1:]
	if len(digits) < 8 || len(digits) > 15 || digits[0] == '0' {
		return "", app.Errorf(app.EINVALID, "Phone number is not a valid international number.")
	}
	return n, nil
}
