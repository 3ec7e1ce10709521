package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
)

// TestOrderState_Edit: an edit after the earn credits what the added base
// earns and takes back what the removed base earned, netted against the
// refunds' share of the new base; an exchange (a refunded line and an added
// one) nets out in either order; a cancelled order changes nothing.
func TestOrderState_Edit(t *testing.T) {
	t.Parallel()
	s := program.Defaults()
	pts := func(base int64) int64 { return ledger.PointsForOrder(base, s, decimal.NewFromInt(1), 2) }
	edit := func(o ledger.OrderState, d int64) (int64, ledger.OrderState) {
		return o.Edit(d, pts(o.BaseMinor+d)-pts(o.BaseMinor))
	}
	earned := func(base int64) ledger.OrderState {
		_, _, o := ledger.OrderState{}.Earn(pts(base), base)
		return o
	}
	type op struct {
		kind   string // "edit", "refund", "cancel"
		amount int64
	}
	cases := []struct {
		name string
		base int64
		ops  []op
		nets []int64 // the signed change of each op
		net  int64
	}{
		{"AddLine", 10000, []op{{"edit", 4550}}, []int64{45}, 145},
		{"RemoveLine", 10000, []op{{"edit", -4000}}, []int64{-40}, 60},
		{"RemoveEverything", 10000, []op{{"edit", -10000}}, []int64{-100}, 0},
		// A removal that overtakes the addition it undoes: the base dips
		// below zero, then comes back.
		{"RemovalBeforeItsAddition", 1000, []op{{"edit", -1500}, {"edit", 600}}, []int64{-10, 1}, 1},
		// 179 points on 179.98 less floor(179 × 89.99 ÷ 179.98) = 89: the
		// rounding down of a partial refund favours the customer by less
		// than a point, as for any refund.
		{"ExchangeRefundThenAdd", 8999, []op{{"refund", 8999}, {"edit", 8999}}, []int64{-89, 90}, 90},
		{"ExchangeAddThenRefund", 8999, []op{{"edit", 8999}, {"refund", 8999}}, []int64{90, -89}, 90},
		{"ExchangeDearer", 8999, []op{{"refund", 8999}, {"edit", 12000}}, []int64{-89, 120}, 120},
		{"ExchangeCheaper", 8999, []op{{"edit", 5000}, {"refund", 8999}}, []int64{50, -89}, 50},
		// A refund's rounding is given back when the base grows, so the
		// order nets the same as with the edit first (51 either way).
		{"GrowthGivesBackRounding", 10000, []op{{"refund", 5000}, {"edit", 99}}, []int64{-50, 1}, 51},
		{"GrowthFirst", 10000, []op{{"edit", 99}, {"refund", 5000}}, []int64{0, -49}, 51},
		{"CancelledIgnoresEdits", 10000, []op{{"cancel", 0}, {"edit", 5000}}, []int64{-100, 0}, 0},
	}
	for _, tc := range cases {
		o := earned(tc.base)
		for i, x := range tc.ops {
			var d int64
			switch x.kind {
			case "edit":
				d, o = edit(o, x.amount)
			case "refund":
				var r int64
				r, o = o.Refund(x.amount)
				d = -r
			case "cancel":
				var r int64
				r, o = o.Cancel()
				d = -r
			}
			if d != tc.nets[i] {
				t.Errorf("%s: op %d (%s %d) changed %+d, want %+d", tc.name, i, x.kind, x.amount, d, tc.nets[i])
			}
			if o.Reversed > o.Earned || o.Reversed < 0 {
				t.Errorf("%s: reversed %d of %d earned", tc.name, o.Reversed, o.Earned)
			}
		}
		if o.Net() != tc.net {
			t.Errorf("%s: net %d, want %d (%+v)", tc.name, o.Net(), tc.net, o)
		}
	}
}

// TestProperty_EditsAndRefundsAnyOrder: for random orders with edits
// (either sign) and refunds, some refunds before the earn, applied in
// every shuffled order after the earn, the order nets the same points:
// what the final base earns less the refunds' share of it, never below 0
// and never more taken back than earned; the sum of the signed changes is
// that net.
func TestProperty_EditsAndRefundsAnyOrder(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(propertySeed, 77))
	for it := range 2000 {
		s := program.Defaults()
		s.PointsPerCurrencyUnit = decimal.RequireFromString([]string{"1", "0.5", "3", "0.01", "7.5"}[rng.IntN(5)])
		base := 1 + rng.Int64N(200_000)
		if rng.IntN(8) == 0 {
			base = 1 + rng.Int64N(300)
		}
		type op struct {
			edit   bool
			amount int64
		}
		var ops []op
		final := base
		for range rng.IntN(5) {
			d := rng.Int64N(base) - base/2
			if final+d < 0 {
				d = -final
			}
			final += d
			ops = append(ops, op{edit: true, amount: d})
		}
		var refunded int64
		for range rng.IntN(4) {
			r := rng.Int64N(base/2 + 1)
			refunded += r
			ops = append(ops, op{amount: r})
		}
		pts := func(b int64) int64 { return ledger.PointsForOrder(b, s, decimal.NewFromInt(1), 2) }
		want := pts(final) - refundTargetOf(pts(final), refunded, final)
		for perm := range 4 {
			rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
			var o ledger.OrderState
			var sum int64
			// Refunds may come before the earn; edits wait for it (the
			// engine keeps them pending).
			before := 0
			if perm%2 == 1 {
				for before < len(ops) && !ops[before].edit {
					_, o = o.Refund(ops[before].amount)
					before++
				}
			}
			credit, rev, o2 := o.Earn(pts(base), base)
			o, sum = o2, credit-rev
			for _, x := range ops[before:] {
				if x.edit {
					d, next := o.Edit(x.amount, pts(o.BaseMinor+x.amount)-pts(o.BaseMinor))
					o, sum = next, sum+d
				} else {
					r, next := o.Refund(x.amount)
					o, sum = next, sum-r
				}
				if o.Reversed > o.Earned || o.Net() < 0 {
					t.Fatalf("seed %d it %d: state %+v", propertySeed, it, o)
				}
			}
			where := fmt.Sprintf("seed %d it %d perm %d (base %d, ops %+v)", propertySeed, it, perm, base, ops)
			if o.Net() != want || sum != want {
				t.Fatalf("%s: net %d, changes sum to %d, want %d", where, o.Net(), sum, want)
			}
		}
	}
}

func refundTargetOf(earned, refunded, base int64) int64 {
	if earned <= 0 {
		return 0
	}
	if base <= 0 {
		return earned
	}
	return ledger.ReversalForRefundCumulative(earned, 0, refunded, base)
}
