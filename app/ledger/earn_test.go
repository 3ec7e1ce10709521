package ledger_test

import (
	"math"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func settings(mutate func(s *program.Settings)) program.Settings {
	s := program.Defaults()
	if mutate != nil {
		mutate(&s)
	}
	return s
}

func TestEarnBaseForOrder(t *testing.T) {
	t.Parallel()
	// Shopify's orders_paid sample: subtotal after discounts 404.95, shipping
	// 10.00, no tax.
	us := ledger.OrderFacts{SubtotalAfterDiscountsMinor: 40495, ShippingMinor: 1000}
	// A tax-inclusive shop: 121.00 subtotal holds 21.00 VAT, 6.05 shipping
	// holds 1.05 VAT.
	eu := ledger.OrderFacts{SubtotalAfterDiscountsMinor: 12100, TaxMinor: 2100, ShippingMinor: 605, ShippingTaxMinor: 105, TaxesIncluded: true}
	// A tax-exclusive shop with tax on top.
	ex := ledger.OrderFacts{SubtotalAfterDiscountsMinor: 10000, TaxMinor: 800, ShippingMinor: 500, ShippingTaxMinor: 40}
	cases := []struct {
		name     string
		order    ledger.OrderFacts
		shipping bool
		tax      bool
		want     int64
	}{
		{"DefaultSubtotalOnly", us, false, false, 40495},
		{"WithShipping", us, true, false, 41495},
		{"TaxInclusiveDefaultRemovesTax", eu, false, false, 10000},
		{"TaxInclusiveWithTax", eu, false, true, 12100},
		{"TaxInclusiveShippingWithoutTax", eu, true, false, 10500},
		{"TaxInclusiveShippingAndTax", eu, true, true, 12705},
		{"TaxExclusiveDefault", ex, false, false, 10000},
		{"TaxExclusiveWithTax", ex, false, true, 10800},
		{"TaxExclusiveShippingAndTax", ex, true, true, 11340},
		{"ExcludedGiftCards", ledger.OrderFacts{SubtotalAfterDiscountsMinor: 15000, ExcludedMinor: 5000}, false, false, 10000},
		{"NeverNegative", ledger.OrderFacts{SubtotalAfterDiscountsMinor: 100, ExcludedMinor: 500}, true, false, 0},
		{"Empty", ledger.OrderFacts{}, true, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := settings(func(s *program.Settings) {
				s.EarnBase = program.EarnBase{IncludeShipping: tc.shipping, IncludeTax: tc.tax}
			})
			if got := ledger.EarnBaseForOrder(tc.order, s); got != tc.want {
				t.Errorf("EarnBaseForOrder = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestEarnBaseForRefund(t *testing.T) {
	t.Parallel()
	// Shopify's refunds_create sample refunds three lines: 89.99 + 19.99 +
	// 24.99, no tax, no shipping.
	r := ledger.RefundFacts{LinesSubtotalMinor: 8999 + 1999 + 2499}
	if got := ledger.EarnBaseForRefund(r, program.Defaults()); got != 13497 {
		t.Errorf("EarnBaseForRefund = %d, want 13497", got)
	}
	t.Run("MatchesOrderAtFullRefund", func(t *testing.T) {
		t.Parallel()
		for _, eb := range []program.EarnBase{{}, {IncludeShipping: true}, {IncludeTax: true}, {IncludeShipping: true, IncludeTax: true}} {
			s := settings(func(s *program.Settings) { s.EarnBase = eb })
			o := ledger.OrderFacts{SubtotalAfterDiscountsMinor: 12100, TaxMinor: 2100, ShippingMinor: 605, ShippingTaxMinor: 105, TaxesIncluded: true}
			full := ledger.RefundFacts{LinesSubtotalMinor: 12100, LinesTaxMinor: 2100, ShippingMinor: 605, ShippingTaxMinor: 105, TaxesIncluded: true}
			if a, b := ledger.EarnBaseForOrder(o, s), ledger.EarnBaseForRefund(full, s); a != b {
				t.Errorf("%+v: order base %d != full refund base %d", eb, a, b)
			}
		}
	})
}

func TestPointsForOrder(t *testing.T) {
	t.Parallel()
	one := decimal.NewFromInt(1)
	cases := []struct {
		name       string
		base       int64
		mutate     func(s *program.Settings)
		multiplier decimal.Decimal
		exponent   int
		want       int64
	}{
		{"OnePerDollar", 40495, nil, one, 2, 404},
		{"FloorsFraction", 99, nil, one, 2, 0},
		{"ExactlyOneUnit", 100, nil, one, 2, 1},
		{"ZeroDecimalCurrency", 4050, nil, one, 0, 4050},
		{"ThreeDecimalCurrency", 12345, nil, one, 3, 12},
		{"FractionalRate", 40495, func(s *program.Settings) { s.PointsPerCurrencyUnit = dec("0.5") }, one, 2, 202},
		{"TenPerUnit", 40495, func(s *program.Settings) { s.PointsPerCurrencyUnit = dec("10") }, one, 2, 4049},
		{"MultiplierRoundsOnce", 3333, nil, dec("1.5"), 2, 49}, // 33.33 × 1.5 = 49.995, not floor(33) × 1.5 = 49.5
		{"MultiplierAndRate", 10000, func(s *program.Settings) { s.PointsPerCurrencyUnit = dec("1.25") }, dec("1.25"), 2, 156},
		{"ZeroMultiplierCountsAsOne", 10000, nil, decimal.Decimal{}, 2, 100},
		{"NegativeMultiplierCountsAsOne", 10000, nil, dec("-2"), 2, 100},
		{"NegativeExponentIsZero", 10, nil, one, -1, 10},
		{"BelowMinimumEarnsNothing", 4999, func(s *program.Settings) { s.MinimumOrderMinor = 5000 }, one, 2, 0},
		{"AtMinimumEarns", 5000, func(s *program.Settings) { s.MinimumOrderMinor = 5000 }, one, 2, 50},
		{"ZeroRateEarnsNothing", 10000, func(s *program.Settings) { s.PointsPerCurrencyUnit = decimal.Zero }, one, 2, 0},
		{"ZeroBase", 0, nil, one, 2, 0},
		{"NegativeBase", -500, nil, one, 2, 0},
		{"HugeBaseClamps", math.MaxInt64, func(s *program.Settings) { s.PointsPerCurrencyUnit = dec("1000") }, dec("10"), 0, math.MaxInt64},
		{"LargeBaseExact", 1 << 50, nil, one, 2, (1 << 50) / 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := settings(tc.mutate)
			if got := ledger.PointsForOrder(tc.base, s, tc.multiplier, tc.exponent); got != tc.want {
				t.Errorf("PointsForOrder(%d) = %d, want %d", tc.base, got, tc.want)
			}
		})
	}
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s unavailable: %v", name, err)
	}
	return loc
}

func TestAddMonths(t *testing.T) {
	t.Parallel()
	utc := time.UTC
	cases := []struct {
		name   string
		from   time.Time
		months int
		want   time.Time
	}{
		{"Plain", time.Date(2026, 3, 15, 10, 0, 0, 0, utc), 12, time.Date(2027, 3, 15, 10, 0, 0, 0, utc)},
		{"ClampsToShortMonth", time.Date(2026, 1, 31, 8, 30, 0, 0, utc), 1, time.Date(2026, 2, 28, 8, 30, 0, 0, utc)},
		{"ClampsLeapYear", time.Date(2027, 1, 31, 0, 0, 0, 0, utc), 13, time.Date(2028, 2, 29, 0, 0, 0, 0, utc)},
		{"LeapDayNextYear", time.Date(2028, 2, 29, 0, 0, 0, 0, utc), 12, time.Date(2029, 2, 28, 0, 0, 0, 0, utc)},
		{"CrossesYear", time.Date(2026, 11, 30, 0, 0, 0, 0, utc), 3, time.Date(2027, 2, 28, 0, 0, 0, 0, utc)},
		{"Backwards", time.Date(2026, 3, 31, 0, 0, 0, 0, utc), -1, time.Date(2026, 2, 28, 0, 0, 0, 0, utc)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ledger.AddMonths(tc.from, tc.months, utc); !got.Equal(tc.want) {
				t.Errorf("AddMonths = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("ShopZoneDecidesTheDay", func(t *testing.T) {
		t.Parallel()
		// 31 Jan 23:30 UTC is already 1 Feb in Tokyo: one month later is
		// 1 March there, not the end of February.
		tokyo := mustLoad(t, "Asia/Tokyo")
		from := time.Date(2026, 1, 31, 23, 30, 0, 0, time.UTC)
		want := time.Date(2026, 3, 1, 8, 30, 0, 0, tokyo)
		if got := ledger.AddMonths(from, 1, tokyo); !got.Equal(want) {
			t.Errorf("AddMonths = %v, want %v", got, want)
		}
	})
}

func TestCreditTimes(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name          string
		kind          ledger.Kind
		mutate        func(s *program.Settings)
		wantAvailable *time.Time
		wantExpires   *time.Time
	}{
		{"DefaultsExpireInTwelveMonths", ledger.KindEarn, nil, nil, ptr(time.Date(2027, 1, 31, 12, 0, 0, 0, time.UTC))},
		{"NeverExpires", ledger.KindSignup, func(s *program.Settings) { s.ExpiryMonths = 0 }, nil, nil},
		{"PendingPurchasePoints", ledger.KindEarn, func(s *program.Settings) { s.PendingDays = 14 }, ptr(time.Date(2026, 2, 14, 12, 0, 0, 0, time.UTC)), ptr(time.Date(2027, 1, 31, 12, 0, 0, 0, time.UTC))},
		{"BirthdayNotPending", ledger.KindBirthday, func(s *program.Settings) { s.PendingDays = 14; s.ExpiryMonths = 1 }, nil, ptr(time.Date(2026, 2, 28, 12, 0, 0, 0, time.UTC))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			avail, exp := ledger.CreditTimes(tc.kind, at, settings(tc.mutate), nil)
			if !eqTime(avail, tc.wantAvailable) || !eqTime(exp, tc.wantExpires) {
				t.Errorf("CreditTimes = %v, %v; want %v, %v", fmtp(avail), fmtp(exp), fmtp(tc.wantAvailable), fmtp(tc.wantExpires))
			}
		})
	}
}

func ptr(t time.Time) *time.Time { return &t }

func eqTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func fmtp(t *time.Time) string {
	if t == nil {
		return "nil"
	}
	return t.String()
}
