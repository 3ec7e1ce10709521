package shopify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Money is a decimal amount kept as its exact text, "89.99". Shopify sends
// money as JSON strings, except a few fields such as
// refund_line_items[].subtotal that are JSON numbers; Money accepts both and
// never goes through float64, which cannot represent most cents exactly.
// JSON null leaves it empty.
type Money string

// UnmarshalJSON accepts a JSON string, a JSON number or null. The text is
// checked only by MinorUnits, so one odd amount cannot make a whole webhook
// undecodable.
func (m *Money) UnmarshalJSON(b []byte) error {
	s := string(b)
	switch {
	case s == "null":
		return nil
	case strings.HasPrefix(s, `"`):
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return fmt.Errorf("shopify: money: %w", err)
		}
		*m = Money(str)
		return nil
	case s != "" && (s[0] == '-' || ('0' <= s[0] && s[0] <= '9')):
		// encoding/json has already checked that this is a valid number.
		*m = Money(s)
		return nil
	}
	return fmt.Errorf("shopify: money: cannot decode %.20s", s)
}

// MarshalJSON writes m as a JSON string, the way Shopify sends money, or
// null when empty.
func (m Money) MarshalJSON() ([]byte, error) {
	if m == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(m))
}

// String returns the decimal text.
func (m Money) String() string { return string(m) }

// MinorUnits returns m in units of 10^-exp, e.g. "89.99" with exp 2 is 8999.
// It is exact: an amount with non-zero digits beyond exp, an exponent, a
// malformed number or an int64 overflow is an error, never a rounding. An
// empty amount (JSON null) is 0.
func (m Money) MinorUnits(exp int) (int64, error) {
	s := string(m)
	if s == "" {
		return 0, nil
	}
	if exp < 0 || exp > 18 {
		return 0, fmt.Errorf("shopify: money %q: exponent %d out of range", s, exp)
	}
	neg := strings.HasPrefix(s, "-")
	whole, frac, hasDot := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if !allDigits(whole) || (hasDot && !allDigits(frac)) {
		return 0, fmt.Errorf("shopify: money %q: %w", s, errNotDecimal)
	}
	if len(frac) > exp {
		if strings.Trim(frac[exp:], "0") != "" {
			return 0, fmt.Errorf("shopify: money %q: more than %d decimals", s, exp)
		}
		frac = frac[:exp]
	}
	digits := strings.TrimLeft(whole+frac+strings.Repeat("0", exp-len(frac)), "0")
	if digits == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("shopify: money %q: out of range", s)
	}
	if neg {
		n = -n
	}
	return n, nil
}

var errNotDecimal = errors.New("not a plain decimal number")

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MoneySet is the "*_set" twin of a money field: the amount in the shop's
// currency and in the currency the customer saw.
type MoneySet struct {
	ShopMoney        MoneyAmount `json:"shop_money"`
	PresentmentMoney MoneyAmount `json:"presentment_money"`
}

// MoneyAmount is an amount with its ISO 4217 currency code.
type MoneyAmount struct {
	Amount       Money  `json:"amount"`
	CurrencyCode string `json:"currency_code"`
}

// GID returns the GraphQL global id of a resource, "gid://shopify/Order/1".
func GID(kind string, id int64) string {
	return "gid://shopify/" + kind + "/" + strconv.FormatInt(id, 10)
}

// ParseGID splits "gid://shopify/{kind}/{id}" into its kind and positive
// numeric id. A trailing query ("?model_name=CustomerAddress") is ignored.
// Prefer the gid over a payload's numeric "id": Shopify's published samples
// went through JavaScript and their numeric ids are rounded.
func ParseGID(gid string) (kind string, id int64, err error) {
	rest, ok := strings.CutPrefix(gid, "gid://shopify/")
	if !ok {
		return "", 0, fmt.Errorf("shopify: parse gid %q: not a shopify gid", gid)
	}
	rest, _, _ = strings.Cut(rest, "?")
	kind, num, ok := strings.Cut(rest, "/")
	if !ok || kind == "" || !allLetters(kind) {
		return "", 0, fmt.Errorf("shopify: parse gid %q: bad resource type", gid)
	}
	if !allDigits(num) {
		return "", 0, fmt.Errorf("shopify: parse gid %q: id is not numeric", gid)
	}
	id, err = strconv.ParseInt(num, 10, 64)
	if err != nil || id <= 0 {
		return "", 0, fmt.Errorf("shopify: parse gid %q: id out of range", gid)
	}
	return kind, id, nil
}

func allLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
