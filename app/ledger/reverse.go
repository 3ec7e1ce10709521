package ledger

import "math/bits"

// Reversal rules. Three promises hold for any arrival order of an order's
// earn, refunds (each possibly delivered twice) and cancellation:
//
//  1. Never more than earned: the points taken back for an order never
//     exceed the points it earned.
//  2. Exact at full coverage: once refunds cover the whole earning base, or
//     the order is cancelled, exactly the earned points are taken back.
//  3. No drift: after refunds covering base R of B, exactly
//     floor(earned × R / B) points have been taken back, whatever the number
//     and order of those refunds, because each refund is computed from the
//     cumulative refunded base rather than from its own share.
//
// Duplicates are stopped earlier, by the idempotency keys (KeyRefund,
// KeyCancel): a replayed refund never reaches these functions twice.

// ReversalForRefundCumulative returns the points to take back for a refund,
// given the order's earned points, the points already taken back, the
// refunded base of every refund so far including this one, and the order's
// earning base. The result is floor(earned × cumulative ÷ base) minus what
// was already taken back, bounded to [0, earned − alreadyReversed].
//
// Rounding down favours the customer by less than a point until the last
// refund, which takes exactly the remainder. This is the form the engine
// uses (see OrderState); the cumulative refunded base is kept on reverse
// entries as BaseMinor.
func ReversalForRefundCumulative(earned, alreadyReversed, cumulativeRefundBaseMinor, orderBaseMinor int64) int64 {
	already := max(alreadyReversed, 0)
	left := earned - already
	if earned <= 0 || left <= 0 || orderBaseMinor <= 0 || cumulativeRefundBaseMinor <= 0 {
		return 0
	}
	// A refunded base above the order's (an order edit added lines after the
	// points were earned) counts as everything refunded: never more than
	// earned.
	cum := min(cumulativeRefundBaseMinor, orderBaseMinor)
	target := int64(mulDiv(uint64(earned), uint64(cum), uint64(orderBaseMinor), false))
	return min(max(target-already, 0), left)
}

// ReversalForRefund returns the points to take back for one refund when the
// base of earlier refunds is not known: ceil(earned × refundBase ÷ base),
// capped at what is left. Rounding up per refund makes any set of refunds
// that covers the whole base sum to exactly earned (the sum of ceilings is at
// least the ceiling of the sum, and the cap stops the excess), and the total
// is the same in any order, min(earned, Σ ceil(…)). The price is up to one
// point too many per partial refund, and, keeping no state, it cannot
// catch up refunds that arrived before the earn (OrderState does); prefer
// ReversalForRefundCumulative.
func ReversalForRefund(earned, alreadyReversed, refundBaseMinor, orderBaseMinor int64) int64 {
	left := earned - max(alreadyReversed, 0)
	if earned <= 0 || left <= 0 || orderBaseMinor <= 0 || refundBaseMinor <= 0 {
		return 0
	}
	r := min(refundBaseMinor, orderBaseMinor)
	return min(int64(mulDiv(uint64(earned), uint64(r), uint64(orderBaseMinor), true)), left)
}

// ReversalForCancel returns the points a cancellation takes back: whatever
// the order earned that refunds have not already taken, never negative. A
// refund arriving after the cancel then finds nothing left, and a cancel
// after full refunds takes nothing, so the two never double.
func ReversalForCancel(earned, alreadyReversed int64) int64 {
	return max(earned-max(alreadyReversed, 0), 0)
}

// mulDiv returns a×b÷c rounded down (or up) without overflow, for b ≤ c so
// that the quotient fits in 64 bits.
func mulDiv(a, b, c uint64, up bool) uint64 {
	hi, lo := bits.Mul64(a, b)
	q, r := bits.Div64(hi, lo, c)
	if up && r != 0 {
		q++
	}
	return q
}

// OrderState is what the ledger knows about one order: what it earned, what
// was taken back, and which refunds and cancellation it has seen. Its
// methods apply one webhook each and return the points to credit or take
// back, and the state after it. They accept the events in any order:
//
//   - a refund or cancel before the earn (likely when points are earned on
//     fulfilment) is remembered; the earn then credits in full and takes the
//     refunded share back at once, or credits nothing after a cancel;
//   - a refund after a cancel takes nothing; a cancel takes what refunds left.
//
// Persist each step as entries (OrderStateOf rebuilds the state from them):
// an earn entry with BaseMinor; a reverse entry per refund with RefundID and
// BaseMinor, and one for the cancel (key KeyCancel), written even when they
// take 0 points, so later events see their base and the cancellation.
type OrderState struct {
	Earned            int64 // points credited for the order, every rule
	Reversed          int64 // points taken back so far, as a positive number
	BaseMinor         int64 // the order's earning base
	RefundedBaseMinor int64 // cumulative earning base of the refunds seen
	Cancelled         bool
}

// Earn applies an earn of points on baseMinor. It returns the points to
// credit and, when refunds arrived first, the points to take back at once
// (under KeyCatchUp), and the new state.
func (o OrderState) Earn(points, baseMinor int64) (credit, reverse int64, next OrderState) {
	next = o
	next.BaseMinor = max(baseMinor, 0)
	if o.Cancelled || points <= 0 {
		return 0, 0, next
	}
	next.Earned += points
	reverse = ReversalForRefundCumulative(next.Earned, next.Reversed, next.RefundedBaseMinor, next.BaseMinor)
	next.Reversed += reverse
	return points, reverse, next
}

// Refund applies a refund of refundBaseMinor and returns the points to take
// back and the new state.
func (o OrderState) Refund(refundBaseMinor int64) (reverse int64, next OrderState) {
	next = o
	next.RefundedBaseMinor += max(refundBaseMinor, 0)
	reverse = ReversalForRefundCumulative(next.Earned, next.Reversed, next.RefundedBaseMinor, next.BaseMinor)
	next.Reversed += reverse
	return reverse, next
}

// Cancel applies the order's cancellation and returns the points to take
// back and the new state.
func (o OrderState) Cancel() (reverse int64, next OrderState) {
	next = o
	next.Cancelled = true
	reverse = ReversalForCancel(next.Earned, next.Reversed)
	next.Reversed += reverse
	return reverse, next
}

// Edit applies a change of deltaBase to the earning base of an order that
// has earned: an order edit that added or removed lines, or an exchange
// that added one. pointsDelta is what the new base earns less what the old
// one did (PointsForOrder of each at one multiplier, so that any sequence
// of changes earns in total what the final base earns). It returns the
// signed change of the order's net points (earned less taken back), to
// credit when positive and take back when negative, and the new state.
//
// After an edit the order nets exactly its earned points less
// floor(earned × refunded ÷ base) on the new base, as if the edits and
// refunds had arrived in any other order: taken back is set to that
// target, so an edit that grows the base may give back the point an
// earlier refund's rounding took. A base cut to nothing takes everything
// back. A cancelled order changes nothing but its base.
//
// The base may go below zero for a while (an edit removing a line arrives
// before the edit that added it); it is not clamped, so the final state is
// the same in any arrival order. PointsForOrder of a base at or below zero
// is 0.
func (o OrderState) Edit(deltaBase, pointsDelta int64) (net int64, next OrderState) {
	next = o
	next.BaseMinor = o.BaseMinor + deltaBase
	if o.Cancelled {
		return 0, next
	}
	next.Earned = max(o.Earned+pointsDelta, 0)
	next.Reversed = refundTarget(next.Earned, next.RefundedBaseMinor, next.BaseMinor)
	return (next.Earned - next.Reversed) - (o.Earned - o.Reversed), next
}

// refundTarget is the points refunds covering refunded of base take back
// from earned: floor(earned × min(refunded, base) ÷ base), everything when
// nothing of the base is left.
func refundTarget(earned, refunded, base int64) int64 {
	switch {
	case earned <= 0:
		return 0
	case base <= 0:
		return earned
	case refunded <= 0:
		return 0
	}
	return int64(mulDiv(uint64(earned), uint64(min(refunded, base)), uint64(base), false))
}

// Net returns the points the order leaves with the customer: earned less
// taken back.
func (o OrderState) Net() int64 { return o.Earned - o.Reversed }

// OrderStateOf rebuilds an order's state from its ledger entries (those with
// OrderID == orderID, in any order). Orders changed by Edit are not
// rebuilt exactly: an edit's entry is its net change only (the engine keeps
// the order's state on the order itself).
func OrderStateOf(entries []Entry, orderID string) OrderState {
	orderID = gid("Order", orderID)
	cancelKey := KeyCancel(orderID)
	var o OrderState
	for _, e := range entries {
		if e.OrderID == "" || gid("Order", e.OrderID) != orderID {
			continue
		}
		switch e.Kind {
		case KindEarn:
			o.Earned += e.Points
			o.BaseMinor = e.BaseMinor
		case KindReverse:
			o.Reversed -= e.Points
			if e.RefundID != "" {
				o.RefundedBaseMinor += e.BaseMinor
			}
			if e.IdempotencyKey == cancelKey {
				o.Cancelled = true
			}
		}
	}
	return o
}
