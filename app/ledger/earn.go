package ledger

import (
	"math"
	"math/bits"
	"time"

	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app/program"
)

// OrderFacts is what earning needs from a Shopify order, in minor units of
// the shop currency. The caller fills it from the webhook payload (shop
// money, not presentment money), so this package never depends on Shopify's
// types.
type OrderFacts struct {
	OrderID    string // GID, "gid://shopify/Order/…"
	Name       string // "#1001"
	CustomerID string // GID of the customer
	Currency   string // shop currency, ISO 4217
	// SourceName is Shopify's source_name ("web", "pos",
	// "shopify_draft_order", …); event.ChannelFromSourceName maps it.
	SourceName    string
	DiscountCodes []string

	// SubtotalAfterDiscountsMinor is the line items after every discount
	// (Shopify's subtotal_price), before shipping. It contains the line tax
	// when TaxesIncluded.
	SubtotalAfterDiscountsMinor int64
	// ShippingMinor is the shipping charged after shipping discounts. It
	// contains ShippingTaxMinor when TaxesIncluded.
	ShippingMinor int64
	// TaxMinor is the tax on line items; ShippingTaxMinor the tax on
	// shipping. Together they are the order's total tax.
	TaxMinor         int64
	ShippingTaxMinor int64
	// TaxesIncluded is Shopify's taxes_included: prices contain tax.
	TaxesIncluded bool
	// ExcludedMinor is the part of the subtotal that never earns, such as
	// gift-card lines (points on a gift card and again on what it buys would
	// pay twice).
	ExcludedMinor int64
}

// RefundFacts is what a reversal needs from a Shopify refund, in minor units
// of the shop currency, with the same meaning as OrderFacts.
type RefundFacts struct {
	RefundID string // GID, "gid://shopify/Refund/…"
	OrderID  string // GID of the refunded order
	// LinesSubtotalMinor is the sum of refund_line_items[].subtotal: the
	// refunded lines after their discount allocations.
	LinesSubtotalMinor int64
	// LinesTaxMinor is the sum of refund_line_items[].total_tax.
	LinesTaxMinor int64
	// ShippingMinor and ShippingTaxMinor are refunded shipping and its tax.
	ShippingMinor    int64
	ShippingTaxMinor int64
	TaxesIncluded    bool
	// ExcludedMinor is the refunded part of ExcludedMinor lines.
	ExcludedMinor int64
	// UnexplainedMinor is money the refund sent back beyond what its lines
	// and shipping explain: a refund of an amount, without line items,
	// which Shopify records as a refund_discrepancy order adjustment. It is
	// money as paid, tax and shipping included, so it counts for the base
	// in the proportion of the order's earning base to its total paid
	// (OrderBaseMinor ÷ OrderPaidMinor, both from one order payload).
	UnexplainedMinor int64
	OrderPaidMinor   int64
	OrderBaseMinor   int64
}

// EarnBaseForOrder returns the amount of the order that earns points, in
// minor units: the subtotal after discounts, plus shipping and tax when the
// program includes them. It is never negative.
func EarnBaseForOrder(o OrderFacts, s program.Settings) int64 {
	return earnBase(o.SubtotalAfterDiscountsMinor, o.ExcludedMinor, o.TaxMinor, o.ShippingMinor, o.ShippingTaxMinor, o.TaxesIncluded, s.EarnBase)
}

// EarnBaseForRefund returns the refunded part of the earning base, computed
// exactly as EarnBaseForOrder so that refunding every line of an order
// refunds its whole base, plus the share of the base that unexplained
// money stands for (UnexplainedBase).
func EarnBaseForRefund(r RefundFacts, s program.Settings) int64 {
	lines := earnBase(r.LinesSubtotalMinor, r.ExcludedMinor, r.LinesTaxMinor, r.ShippingMinor, r.ShippingTaxMinor, r.TaxesIncluded, s.EarnBase)
	return lines + UnexplainedBase(r.UnexplainedMinor, r.OrderBaseMinor, r.OrderPaidMinor)
}

// EarnBaseForLine returns the earning base of one order line: its price
// times quantity less its discount allocations (subtotal), with its tax
// (the sum of its tax_lines) added or removed as for the order, and nothing
// for a gift card. Lines added or removed after the earn change the order's
// base by their share of it.
func EarnBaseForLine(subtotalMinor, taxMinor int64, giftCard, taxesIncluded bool, s program.Settings) int64 {
	if giftCard {
		return 0
	}
	eb := s.EarnBase
	eb.IncludeShipping = false
	return earnBase(subtotalMinor, 0, taxMinor, 0, 0, taxesIncluded, eb)
}

// UnexplainedBase returns the part of an order's earning base that an
// amount of refunded money stands for: floor(amount × base ÷ paid), where
// paid is what the order cost (tax and shipping included) and base what it
// earned on. Refunding half of what was paid refunds half of the base, in
// any tax display and whatever the program includes. An amount above paid
// counts as paid: never more than the whole base. Nothing is known, and
// nothing counts, when paid or base is not positive.
func UnexplainedBase(amountMinor, orderBaseMinor, orderPaidMinor int64) int64 {
	if amountMinor <= 0 || orderBaseMinor <= 0 || orderPaidMinor <= 0 {
		return 0
	}
	amount := min(amountMinor, orderPaidMinor)
	return int64(mulDiv(uint64(amount), uint64(orderBaseMinor), uint64(orderPaidMinor), false))
}

func earnBase(subtotal, excluded, tax, shipping, shippingTax int64, taxesIncluded bool, eb program.EarnBase) int64 {
	// Tax is added or removed to match the program whatever the shop's tax
	// display: a tax-inclusive EU shop and a US shop earn on the same net
	// amount by default.
	withTax := func(amount, t int64) int64 {
		switch {
		case taxesIncluded && !eb.IncludeTax:
			return amount - t
		case !taxesIncluded && eb.IncludeTax:
			return amount + t
		}
		return amount
	}
	base := withTax(subtotal-excluded, tax)
	if eb.IncludeShipping {
		base += max(withTax(shipping, shippingTax), 0)
	}
	return max(base, 0)
}

// PointsForOrder returns the points an earning base earns: base (minor
// units) ÷ 10^currencyExponent × PointsPerCurrencyUnit × multiplier, rounded
// down once at the end. Rounding down is deterministic and never pays a
// fraction of a point that a refund could not take back; rounding once keeps
// a ×1.5 tier from losing the fraction twice. A base below the program's
// minimum order earns nothing. A zero or negative multiplier (the zero
// Decimal, as when tiers are off) counts as 1.
func PointsForOrder(base int64, s program.Settings, multiplier decimal.Decimal, currencyExponent int) int64 {
	if base <= 0 || base < s.MinimumOrderMinor || s.PointsPerCurrencyUnit.Sign() <= 0 {
		return 0
	}
	if multiplier.Sign() <= 0 {
		multiplier = decimal.NewFromInt(1)
	}
	currencyExponent = max(currencyExponent, 0)
	if p, ok := pointsFast(base, s.PointsPerCurrencyUnit, multiplier, currencyExponent); ok {
		return p
	}
	return pointsBig(base, s.PointsPerCurrencyUnit, multiplier, currencyExponent)
}

// pointsFast computes floor(base × rate × multiplier ÷ 10^exponent) in
// 128-bit integer arithmetic, without allocating. Validated settings always
// fit (rate and multiplier have a few digits); ok is false when they do not,
// and the caller falls back to pointsBig, which gives the same result.
func pointsFast(base int64, rate, multiplier decimal.Decimal, exponent int) (int64, bool) {
	if rate.NumDigits() > 9 || multiplier.NumDigits() > 9 {
		return 0, false
	}
	shift := exponent - int(rate.Exponent()) - int(multiplier.Exponent())
	if shift < 0 || shift >= len(pow10) {
		return 0, false
	}
	c := uint64(rate.CoefficientInt64()) * uint64(multiplier.CoefficientInt64()) // < 10^18
	hi, lo := bits.Mul64(uint64(base), c)
	if hi >= pow10[shift] {
		return 0, false // the quotient would not fit in 64 bits
	}
	q, _ := bits.Div64(hi, lo, pow10[shift])
	if q > math.MaxInt64 {
		return 0, false
	}
	return int64(q), true
}

// pointsBig is pointsFast with arbitrary precision.
func pointsBig(base int64, rate, multiplier decimal.Decimal, exponent int) int64 {
	p := decimal.NewFromInt(base).Mul(rate).Mul(multiplier).Shift(int32(-exponent)).Floor()
	if !p.BigInt().IsInt64() {
		// Unreachable with validated settings (rate ≤ 1000 and multiplier
		// ≤ 10 need a base above 9e14 major units to overflow); clamp rather
		// than wrap around to a negative credit.
		return math.MaxInt64
	}
	return p.IntPart()
}

var pow10 = [...]uint64{
	1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
}

// CreditTimes returns when points credited at creditedAt become spendable
// (nil: at once) and when their lot expires (nil: never). Only purchase
// points wait out PendingDays, since only they can be refunded. Calendar
// arithmetic happens in the shop's time zone loc, so "12 months" from
// 31 March is 31 March, and from 31 January is the last day of February
// (never 3 March, as time.AddDate would give).
func CreditTimes(kind Kind, creditedAt time.Time, s program.Settings, loc *time.Location) (availableAt, expiresAt *time.Time) {
	if loc == nil {
		loc = time.UTC
	}
	if kind == KindEarn && s.PendingDays > 0 {
		t := creditedAt.In(loc).AddDate(0, 0, s.PendingDays)
		availableAt = &t
	}
	if s.ExpiryMonths > 0 {
		t := AddMonths(creditedAt, s.ExpiryMonths, loc)
		expiresAt = &t
	}
	return availableAt, expiresAt
}

// AddMonths adds months to t in loc, keeping the time of day and clamping
// the day to the end of a shorter target month.
func AddMonths(t time.Time, months int, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(months), 1, 0, 0, 0, 0, loc)
	ty, tm, _ := first.Date()
	if last := daysIn(ty, tm); d > last {
		d = last
	}
	return time.Date(ty, tm, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
