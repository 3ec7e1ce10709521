package ledger_test

import (
	"testing"

	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
)

// TestUnexplainedBase: refunded money counts for the base in the order's
// proportion of base to total paid, rounded down, never above the base.
func TestUnexplainedBase(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name               string
		amount, base, paid int64
		want               int64
	}{
		{"QuarterOfPaid", 3490, 12000, 13960, 3000},
		{"RoundsDown", 1, 12000, 13960, 0},
		{"AllOfPaid", 13960, 12000, 13960, 12000},
		{"MoreThanPaidIsAll", 50000, 12000, 13960, 12000},
		{"HugeAmountIsAll", 1 << 62, 12000, 13960, 12000},
		{"NothingRefunded", 0, 12000, 13960, 0},
		{"NegativeIgnored", -500, 12000, 13960, 0},
		{"OrderPaidUnknown", 3490, 12000, 0, 0},
		{"NoBase", 3490, 0, 13960, 0},
		{"BaseAbovePaidTaxIncludedProgram", 6245, 12490, 12490, 6245},
	}
	for _, tc := range cases {
		if got := ledger.UnexplainedBase(tc.amount, tc.base, tc.paid); got != tc.want {
			t.Errorf("%s: UnexplainedBase(%d, %d, %d) = %d, want %d", tc.name, tc.amount, tc.base, tc.paid, got, tc.want)
		}
	}
	// EarnBaseForRefund adds it to the lines' base.
	s := program.Defaults()
	got := ledger.EarnBaseForRefund(ledger.RefundFacts{LinesSubtotalMinor: 2000, LinesTaxMinor: 160,
		UnexplainedMinor: 1396, OrderBaseMinor: 12000, OrderPaidMinor: 13960}, s)
	if got != 2000+1200 {
		t.Errorf("EarnBaseForRefund = %d, want 3200", got)
	}
}
