package ledger_test

import (
	"math"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/ledger"
)

func TestReversalForRefundCumulative(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                        string
		earned, reversed, cum, base int64
		want                        int64
	}{
		{"Half", 100, 0, 5000, 10000, 50},
		{"FloorsFraction", 10, 0, 3333, 10000, 3},
		{"SecondThird", 10, 3, 6666, 10000, 3},
		{"LastThirdTakesRemainder", 10, 6, 10000, 10000, 4},
		{"FullRefund", 404, 0, 40495, 40495, 404},
		{"OverRefundCapped", 404, 0, 99999, 40495, 404},
		{"AfterCancelNothingLeft", 100, 100, 5000, 10000, 0},
		{"NeverNegativeWhenAheadOfTarget", 100, 60, 5000, 10000, 0},
		{"CappedByWhatIsLeft", 100, 90, 10000, 10000, 10},
		{"NothingEarned", 0, 0, 5000, 10000, 0},
		{"ZeroBase", 100, 0, 5000, 0, 0},
		{"ZeroRefund", 100, 0, 0, 10000, 0},
		{"NegativeRefund", 100, 0, -5, 10000, 0},
		{"NegativeAlreadyTreatedAsZero", 100, -5, 5000, 10000, 50},
		{"NoOverflow", math.MaxInt64 / 2, 0, math.MaxInt64 / 3, math.MaxInt64 / 2, math.MaxInt64 / 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := ledger.ReversalForRefundCumulative(tc.earned, tc.reversed, tc.cum, tc.base)
			if got != tc.want {
				t.Errorf("ReversalForRefundCumulative(%d, %d, %d, %d) = %d, want %d", tc.earned, tc.reversed, tc.cum, tc.base, got, tc.want)
			}
		})
	}
}

func TestReversalForRefund(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                           string
		earned, reversed, refund, base int64
		want                           int64
	}{
		{"Half", 100, 0, 5000, 10000, 50},
		{"RoundsUp", 10, 0, 3333, 10000, 4},
		{"ThirdsSumExactly", 10, 8, 3334, 10000, 2},
		{"OverRefundCapped", 10, 0, 20000, 10000, 10},
		{"AfterCancel", 10, 10, 5000, 10000, 0},
		{"ZeroBase", 10, 0, 5000, 0, 0},
		{"ZeroRefund", 10, 0, 0, 10000, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ledger.ReversalForRefund(tc.earned, tc.reversed, tc.refund, tc.base); got != tc.want {
				t.Errorf("ReversalForRefund = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestReversalForCancel(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name             string
		earned, reversed int64
		want             int64
	}{
		{"Untouched", 100, 0, 100},
		{"AfterPartialRefund", 100, 30, 70},
		{"AfterFullRefund", 100, 100, 0},
		{"NeverNegative", 100, 150, 0},
		{"NothingEarned", 0, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ledger.ReversalForCancel(tc.earned, tc.reversed); got != tc.want {
				t.Errorf("ReversalForCancel = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestOrderState(t *testing.T) {
	t.Parallel()
	type step struct {
		op     string // earn, refund, cancel
		amount int64  // points for earn, refund base for refund
		want   int64  // points reversed by the step (for earn: the catch-up)
	}
	const base = 10000
	cases := []struct {
		name         string
		steps        []step
		wantEarned   int64
		wantReversed int64
	}{
		{"EarnThenRefunds", []step{{"earn", 100, 0}, {"refund", 2500, 25}, {"refund", 2500, 25}}, 100, 50},
		{"RefundThenCancel", []step{{"earn", 100, 0}, {"refund", 2500, 25}, {"cancel", 0, 75}}, 100, 100},
		{"CancelThenRefund", []step{{"earn", 100, 0}, {"cancel", 0, 100}, {"refund", 2500, 0}}, 100, 100},
		{"RefundBeforeEarn", []step{{"refund", 2500, 0}, {"earn", 100, 25}, {"refund", 2500, 25}}, 100, 50},
		{"CancelBeforeEarn", []step{{"cancel", 0, 0}, {"earn", 100, 0}}, 0, 0},
		{"FullRefundBeforeEarn", []step{{"refund", base, 0}, {"earn", 100, 100}, {"cancel", 0, 0}}, 100, 100},
		{"ThirdsNeverDrift", []step{{"earn", 10, 0}, {"refund", 3333, 3}, {"refund", 3333, 3}, {"refund", 3334, 4}}, 10, 10},
		{"TwoRulesThenRefund", []step{{"earn", 100, 0}, {"earn", 50, 0}, {"refund", 5000, 75}}, 150, 75},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var o ledger.OrderState
			for i, s := range tc.steps {
				var got int64
				switch s.op {
				case "earn":
					_, got, o = o.Earn(s.amount, base)
				case "refund":
					got, o = o.Refund(s.amount)
				case "cancel":
					got, o = o.Cancel()
				}
				if got != s.want {
					t.Errorf("step %d %s: reversed %d, want %d", i, s.op, got, s.want)
				}
			}
			if o.Earned != tc.wantEarned || o.Reversed != tc.wantReversed {
				t.Errorf("state = %+v, want earned %d reversed %d", o, tc.wantEarned, tc.wantReversed)
			}
		})
	}
}

func TestOrderStateOf(t *testing.T) {
	t.Parallel()
	const order = "gid://shopify/Order/820982911946154508"
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	entries := []ledger.Entry{
		{Kind: ledger.KindEarn, Points: 404, OrderID: order, BaseMinor: 40495, IdempotencyKey: ledger.KeyEarn(order, ledger.RuleOrder), CreatedAt: now},
		{Kind: ledger.KindReverse, Points: -134, OrderID: order, RefundID: "gid://shopify/Refund/890088186047892319", BaseMinor: 13497, IdempotencyKey: ledger.KeyRefund("gid://shopify/Refund/890088186047892319"), CreatedAt: now},
		{Kind: ledger.KindReverse, Points: -270, OrderID: "820982911946154508", IdempotencyKey: ledger.KeyCancel(order), CreatedAt: now},
		{Kind: ledger.KindEarn, Points: 50, OrderID: "gid://shopify/Order/1", BaseMinor: 5000, IdempotencyKey: "other", CreatedAt: now},
		{Kind: ledger.KindSignup, Points: 100, IdempotencyKey: "signup", CreatedAt: now},
	}
	got := ledger.OrderStateOf(entries, "820982911946154508")
	want := ledger.OrderState{Earned: 404, Reversed: 404, BaseMinor: 40495, RefundedBaseMinor: 13497, Cancelled: true}
	if got != want {
		t.Errorf("OrderStateOf = %+v, want %+v", got, want)
	}
	// The rebuilt state continues exactly as the live one would have.
	if r, _ := got.Refund(5000); r != 0 {
		t.Errorf("refund after cancel reversed %d, want 0", r)
	}
}
