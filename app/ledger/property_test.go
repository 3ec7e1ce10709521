package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
)

// The property tests use a seeded generator, so a failure reproduces; the
// seed and iteration are in every message.
const propertySeed = 20260501

// webhook is one delivery that touches an order's points.
type webhook struct {
	op     string // "earn", "refund", "cancel"
	key    string // idempotency key: a redelivery carries the same key
	amount int64  // refund base for "refund"
}

// orderCase is a random order with its earning, refunds and maybe a cancel.
type orderCase struct {
	base, earned int64
	refunds      []int64 // refund bases
	cancel       bool
	hooks        []webhook // every delivery, duplicates included, in arrival order
}

func randomOrder(rng *rand.Rand) orderCase {
	rates := []string{"1", "0.5", "3", "0.01", "7.5", "10"}
	mults := []string{"1", "1.25", "1.5", "2"}
	s := program.Defaults()
	s.PointsPerCurrencyUnit = decimal.RequireFromString(rates[rng.IntN(len(rates))])
	base := 1 + rng.Int64N(500_000) // up to 5,000.00
	if rng.IntN(10) == 0 {
		base = 1 + rng.Int64N(300) // tiny orders: rounding dominates
	}
	earned := ledger.PointsForOrder(base, s, decimal.RequireFromString(mults[rng.IntN(len(mults))]), 2)

	// Refunds split a random share of the base (all of it half the time,
	// occasionally more: refunded shipping on an edited order) into parts.
	var refunds []int64
	if n := rng.IntN(6); n > 0 {
		total := base
		switch rng.IntN(4) {
		case 0:
			total = rng.Int64N(base + 1)
		case 1:
			total = base + rng.Int64N(base/2+1)
		}
		left := total
		for i := 0; i < n; i++ {
			part := left
			if i < n-1 {
				part = rng.Int64N(left + 1)
			}
			refunds = append(refunds, part)
			left -= part
		}
	}
	c := orderCase{base: base, earned: earned, refunds: refunds, cancel: rng.IntN(3) == 0}

	c.hooks = append(c.hooks, webhook{op: "earn", key: "earn"})
	for i, r := range refunds {
		c.hooks = append(c.hooks, webhook{op: "refund", key: fmt.Sprintf("refund-%d", i), amount: r})
	}
	if c.cancel {
		c.hooks = append(c.hooks, webhook{op: "cancel", key: "cancel"})
	}
	// Shopify delivers at least once: redeliver some webhooks.
	for _, h := range c.hooks {
		if rng.IntN(4) == 0 {
			c.hooks = append(c.hooks, h)
		}
	}
	return c
}

// runCumulative applies hooks the way the engine does (OrderState, the
// cumulative form) and returns the final state. It fails t if any step
// reverses a negative amount or more than was earned.
func runCumulative(t *testing.T, c orderCase, hooks []webhook, where string) ledger.OrderState {
	t.Helper()
	seen := map[string]bool{}
	var o ledger.OrderState
	for _, h := range hooks {
		if seen[h.key] {
			continue // the idempotency key stops the redelivery
		}
		seen[h.key] = true
		var rev int64
		switch h.op {
		case "earn":
			var credit int64
			credit, rev, o = o.Earn(c.earned, c.base)
			if credit != 0 && credit != c.earned {
				t.Fatalf("%s: earn credited %d, want 0 or %d", where, credit, c.earned)
			}
		case "refund":
			rev, o = o.Refund(h.amount)
		case "cancel":
			rev, o = o.Cancel()
		}
		if rev < 0 {
			t.Fatalf("%s: %s reversed %d < 0", where, h.op, rev)
		}
		if o.Reversed > o.Earned {
			t.Fatalf("%s: reversed %d > earned %d after %s", where, o.Reversed, o.Earned, h.op)
		}
	}
	return o
}

// runPerRefund applies hooks with ReversalForRefund and ReversalForCancel,
// for callers that do not keep the cumulative refunded base. The earn comes
// first here: the per-refund form has no catch-up rule.
func runPerRefund(t *testing.T, c orderCase, hooks []webhook, where string) (reversed int64) {
	t.Helper()
	seen := map[string]bool{}
	for _, h := range hooks {
		if seen[h.key] || h.op == "earn" {
			continue
		}
		seen[h.key] = true
		var rev int64
		switch h.op {
		case "refund":
			rev = ledger.ReversalForRefund(c.earned, reversed, h.amount, c.base)
		case "cancel":
			rev = ledger.ReversalForCancel(c.earned, reversed)
		}
		if rev < 0 {
			t.Fatalf("%s: %s reversed %d < 0", where, h.op, rev)
		}
		reversed += rev
		if reversed > c.earned {
			t.Fatalf("%s: reversed %d > earned %d", where, reversed, c.earned)
		}
	}
	return reversed
}

// TestReversal_Property checks the reversal promises over random orders
// whose webhooks arrive shuffled and duplicated:
//
//   - a step never reverses a negative amount, and the total reversed never
//     exceeds what was earned;
//   - after a cancel, the customer keeps nothing from the order;
//   - without a cancel, the customer keeps earned − floor(earned × R ÷ B)
//     for refunded base R of B (so nothing once refunds cover the base),
//     whatever the number, order and duplication of the refunds.
//
// What does depend on arrival order is attribution, not totals: a cancel
// before the earn means the order never credits (Earned 0, Reversed 0),
// after it the order credits and the cancel takes it all back (Earned E,
// Reversed E); a refund after a cancel takes 0 while before it takes its
// share and leaves the cancel less. The customer's net and final balance are
// the same; only which entry carries the points differs, and the ledger
// records what actually happened in the order it happened, which is what an
// append-only history should show.
func TestReversal_Property(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(propertySeed, 1))
	for iter := 0; iter < 3000; iter++ {
		c := randomOrder(rng)
		var refunded int64
		for _, r := range c.refunds {
			refunded += r
		}
		var wantKept int64 // what the customer keeps from the order
		if !c.cancel {
			wantKept = c.earned - ledger.ReversalForRefundCumulative(c.earned, 0, refunded, c.base)
		}
		// The per-refund form: total is min(earned, Σ ceil(earned × r ÷ B)).
		var ceilSum int64
		for _, r := range c.refunds {
			ceilSum += ledger.ReversalForRefund(c.earned, 0, r, c.base)
		}
		wantPerRefund := min(ceilSum, c.earned)
		if c.cancel {
			wantPerRefund = c.earned
		}

		for shuffle := 0; shuffle < 8; shuffle++ {
			hooks := append([]webhook(nil), c.hooks...)
			rng.Shuffle(len(hooks), func(i, j int) { hooks[i], hooks[j] = hooks[j], hooks[i] })
			where := fmt.Sprintf("seed %d iter %d shuffle %d (base %d earned %d refunds %v cancel %v)", propertySeed, iter, shuffle, c.base, c.earned, c.refunds, c.cancel)

			o := runCumulative(t, c, hooks, where)
			if kept := o.Earned - o.Reversed; kept != wantKept {
				t.Fatalf("%s: customer keeps %d, want %d (state %+v)", where, kept, wantKept, o)
			}
			if !c.cancel && refunded >= c.base && o.Reversed != c.earned {
				t.Fatalf("%s: full refund reversed %d, want all %d", where, o.Reversed, c.earned)
			}

			if got := runPerRefund(t, c, hooks, where); got != wantPerRefund {
				t.Fatalf("%s: per-refund form reversed %d, want %d", where, got, wantPerRefund)
			}
		}
	}
}

// TestLedger_Property drives whole customers through random earns, refunds
// (some before their order earns, some redelivered), cancels, redemptions,
// time and expiry, doing with lots exactly what the engine does, and checks
// after every step that every entry is valid and that entries and lots
// reconcile: no point is lost or invented, reversals of spent points show up
// as debt, and debt is paid back before anything becomes spendable again.
// At the end, each order's net points follow the reversal rules.
func TestLedger_Property(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(propertySeed, 2))
	s := program.Defaults()
	s.PendingDays = 7
	s.ExpiryMonths = 2
	s.ReminderDays = []int{30, 7}
	one := decimal.NewFromInt(1)

	var shortfalls, settled, expired, catchUps, duplicates int
	for iter := 0; iter < 300; iter++ {
		sim := &simulation{t: t, rng: rng, now: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC), orders: map[string]int64{}, seen: map[string]bool{}}
		for i := 1; i <= 8; i++ {
			sim.orders[fmt.Sprintf("gid://shopify/Order/%d", i)] = 1 + rng.Int64N(20000)
		}
		type refund struct {
			id, order string
			base      int64
		}
		var refunds []refund
		for step := 0; step < 80; step++ {
			sim.where = fmt.Sprintf("seed %d iter %d step %d", propertySeed, iter, step)
			switch op := rng.IntN(11); {
			case op < 3: // an order earns (again, if redelivered: the key stops it)
				id, base := sim.someOrder()
				o := ledger.OrderStateOf(sim.entries, id)
				key := ledger.KeyEarn(id, ledger.RuleOrder)
				if sim.seen[key] {
					duplicates++
					continue
				}
				credit, catchUp, _ := o.Earn(ledger.PointsForOrder(base, s, one, 2), base)
				if credit > 0 {
					avail, exp := ledger.CreditTimes(ledger.KindEarn, sim.now, s, time.UTC)
					sim.credit(ledger.Entry{Kind: ledger.KindEarn, Points: credit, Reason: ledger.ReasonOrder, OrderID: id, BaseMinor: base, IdempotencyKey: key, AvailableAt: avail, ExpiresAt: exp})
				}
				sim.seen[key] = true
				if catchUp > 0 {
					catchUps++
					sim.reverse(id, "", 0, catchUp, ledger.KeyCatchUp(id, ledger.RuleOrder))
				}
			case op < 5: // a refund of part of an order, earned or not yet
				id, base := sim.someOrder()
				r := refund{id: fmt.Sprintf("gid://shopify/Refund/%d%03d", iter, step), order: id, base: rng.Int64N(base/2 + 1)}
				refunds = append(refunds, r)
				rev, _ := ledger.OrderStateOf(sim.entries, r.order).Refund(r.base)
				sim.reverse(r.order, r.id, r.base, rev, ledger.KeyRefund(r.id))
			case op < 6: // Shopify redelivers an earlier refund
				if len(refunds) > 0 {
					r := refunds[rng.IntN(len(refunds))]
					rev, _ := ledger.OrderStateOf(sim.entries, r.order).Refund(r.base)
					if !sim.reverse(r.order, r.id, r.base, rev, ledger.KeyRefund(r.id)) {
						duplicates++
					}
				}
			case op < 7: // a cancel, maybe again, maybe before the earn
				id, _ := sim.someOrder()
				rev, _ := ledger.OrderStateOf(sim.entries, id).Cancel()
				sim.reverse(id, "", 0, rev, ledger.KeyCancel(id))
			case op < 9: // a redemption of some of what is spendable
				sum := ledger.Summarize(ledger.Balance(sim.entries), sim.lots, sim.now)
				want := 1 + rng.Int64N(sum.Spendable+5)
				allocs, err := ledger.Consume(sim.lots, want, sim.now)
				if want > sum.Spendable {
					if err == nil {
						sim.t.Fatalf("%s: Consume(%d) with %d spendable succeeded", sim.where, want, sum.Spendable)
					}
					continue
				}
				if err != nil {
					sim.t.Fatalf("%s: Consume(%d) with %d spendable: %v", sim.where, want, sum.Spendable, err)
				}
				sim.debit(ledger.Entry{Kind: ledger.KindRedeem, Points: -want, Reason: ledger.ReasonReward, IdempotencyKey: ledger.KeyRedeem(fmt.Sprint(iter, "-", step)), Allocations: allocs})
			default: // time passes; the expiry sweep runs
				sim.now = sim.now.Add(time.Duration(1+rng.IntN(20*24)) * time.Hour)
				for _, x := range ledger.Expire(sim.lots, sim.now) {
					sim.debit(x.Entry(sim.now))
				}
			}
		}
		for id, base := range sim.orders {
			o := ledger.OrderStateOf(sim.entries, id)
			if o.Reversed < 0 || o.Reversed > o.Earned {
				t.Fatalf("seed %d iter %d order %s: reversed %d of %d earned", propertySeed, iter, id, o.Reversed, o.Earned)
			}
			var want int64 // net points the order leaves the customer
			if !o.Cancelled && o.Earned > 0 {
				want = o.Earned - ledger.ReversalForRefundCumulative(o.Earned, 0, o.RefundedBaseMinor, base)
			}
			if got := o.Earned - o.Reversed; got != want {
				t.Fatalf("seed %d iter %d order %s: keeps %d, want %d (%+v)", propertySeed, iter, id, got, want, o)
			}
		}
		for _, e := range sim.entries {
			switch {
			case e.Shortfall > 0:
				shortfalls++
			case e.DebtSettled > 0:
				settled++
			case e.Kind == ledger.KindExpire:
				expired++
			}
		}
	}
	// The generator must reach the cases the test exists for.
	if shortfalls == 0 || settled == 0 || expired == 0 || catchUps == 0 || duplicates == 0 {
		t.Errorf("want some of each case; saw %d shortfalls, %d settled debts, %d expiries, %d catch-ups, %d duplicates", shortfalls, settled, expired, catchUps, duplicates)
	}
	t.Logf("saw %d shortfalls, %d settled debts, %d expiries, %d catch-ups, %d duplicates", shortfalls, settled, expired, catchUps, duplicates)
}

type simulation struct {
	t       *testing.T
	rng     *rand.Rand
	where   string
	now     time.Time
	entries []ledger.Entry
	lots    []ledger.Lot
	orders  map[string]int64 // order id → base
	seen    map[string]bool  // idempotency keys inserted: the store's unique constraint
}

func (sim *simulation) someOrder() (string, int64) {
	id := fmt.Sprintf("gid://shopify/Order/%d", 1+sim.rng.IntN(len(sim.orders)))
	return id, sim.orders[id]
}

func (sim *simulation) credit(e ledger.Entry) {
	sim.t.Helper()
	e.CreatedAt = sim.now
	e, lot, err := ledger.Open(e, ledger.Debt(sim.entries))
	if err != nil {
		sim.t.Fatalf("%s: Open: %v", sim.where, err)
	}
	lot.ID = int64(len(sim.lots) + 1)
	e.LotID = lot.ID
	sim.lots = append(sim.lots, lot)
	sim.append(e)
}

// reverse writes a reversal unless its key was inserted before, and
// reports whether it wrote one.
func (sim *simulation) reverse(orderID, refundID string, base, points int64, key string) bool {
	sim.t.Helper()
	if sim.seen[key] {
		return false
	}
	reason := ledger.ReasonCancel
	if refundID != "" {
		reason = ledger.ReasonRefund
	}
	allocs, shortfall := ledger.Reverse(sim.lots, points, ledger.KeyEarn(orderID, ledger.RuleOrder), sim.now)
	sim.debit(ledger.Entry{Kind: ledger.KindReverse, Points: -points, Reason: reason, OrderID: orderID, RefundID: refundID, BaseMinor: base, IdempotencyKey: key, Allocations: allocs, Shortfall: shortfall})
	return true
}

func (sim *simulation) debit(e ledger.Entry) {
	sim.t.Helper()
	e.CreatedAt = sim.now
	lots, err := ledger.ApplyAllocations(sim.lots, e.Allocations)
	if err != nil {
		sim.t.Fatalf("%s: ApplyAllocations(%+v): %v", sim.where, e.Allocations, err)
	}
	sim.lots = lots
	sim.append(e)
}

func (sim *simulation) append(e ledger.Entry) {
	sim.t.Helper()
	if sim.seen[e.IdempotencyKey] {
		sim.t.Fatalf("%s: key %q inserted twice", sim.where, e.IdempotencyKey)
	}
	sim.seen[e.IdempotencyKey] = true
	if err := e.Validate(); err != nil {
		sim.t.Fatalf("%s: entry %+v invalid: %v", sim.where, e, err)
	}
	sim.entries = append(sim.entries, e)
	if err := ledger.Reconcile(sim.entries, sim.lots); err != nil {
		sim.t.Fatalf("%s: after %s %d: %v", sim.where, e.Kind, e.Points, err)
	}
	sum := ledger.Summarize(ledger.Balance(sim.entries), sim.lots, sim.now)
	if sum.Debt != ledger.Debt(sim.entries) {
		sim.t.Fatalf("%s: Summarize debt %d, entries say %d", sim.where, sum.Debt, ledger.Debt(sim.entries))
	}
	if sum.Debt > 0 && sum.Spendable+sum.Pending > 0 {
		sim.t.Fatalf("%s: owes %d yet has %d spendable and %d pending", sim.where, sum.Debt, sum.Spendable, sum.Pending)
	}
}
