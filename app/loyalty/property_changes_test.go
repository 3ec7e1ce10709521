package loyalty_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
)

// The property test of the order changes mirrors the ones in
// property_test.go with payloads in the shape stores send: orders with
// several lines and shipping, refunds of lines or of an amount only
// (refund_discrepancy), order edits adding and removing lines (orders/edited)
// each followed by the orders/updated that lists the lines, exchanges whose
// new line only orders/updated shows, and cancellations.

// changePlan is what a scenario does to one order, for the oracle.
type changePlan struct {
	customer   int64
	prices     map[int64]int64 // unit price per line, minor units
	original   map[int64]int   // units bought at payment
	final      map[int64]int   // units after every edit
	paidMinor  int64           // total paid at payment (no tax: lines and shipping)
	lineRefund []int64         // refunded line subtotals
	money      []int64         // amount-only refunds
	cancelled  bool
}

type changeScenario struct {
	distinct   []hook
	deliveries []hook
	plans      []changePlan
	customers  []int64
}

func genChangeScenario(t testing.TB, rng *rand.Rand, customers, maxOrders int) changeScenario {
	t.Helper()
	var sc changeScenario
	nextID := int64(7_900_000_000_000_000_000)
	id := func() int64 { nextID += 1 + rng.Int64N(1000); return nextID }
	price := func() int64 {
		if rng.IntN(6) == 0 {
			return 1 + rng.Int64N(300) // tiny: rounding dominates
		}
		return 100 + rng.Int64N(30_000)
	}
	for range customers {
		cust := id()
		sc.customers = append(sc.customers, cust)
		for range 1 + rng.IntN(maxOrders) {
			oid := id()
			p := changePlan{customer: cust, prices: map[int64]int64{}, original: map[int64]int{}, final: map[int64]int{}}
			var lines []shopLine
			for range 1 + rng.IntN(3) {
				lid, q, pr := id(), 1+rng.IntN(3), price()
				p.prices[lid], p.original[lid], p.final[lid] = pr, q, q
				lines = append(lines, shopLine{ID: lid, Title: "Item", Qty: q, Price: minor(pr)})
			}
			ship := rng.Int64N(1500)
			paidAt := t0
			paid := liveOrder{ID: oid, Customer: cust, Email: "p@example.com", UpdatedAt: paidAt, Lines: lines,
				Shipping: []shopShipping{{Title: "Standard", Price: minor(ship)}}}
			for l, q := range p.original {
				p.paidMinor += p.prices[l] * int64(q)
			}
			p.paidMinor += ship
			sc.distinct = append(sc.distinct, hook{event: fmt.Sprintf("paid:%d", oid), topic: "orders/paid", body: paid.body(t)})
			// Edits after payment, each followed by its orders/updated.
			current := append([]shopLine{}, lines...)
			for k := range rng.IntN(3) {
				at := paidAt.Add(time.Duration(k+1) * time.Hour)
				e := liveEdit{ID: id(), Order: oid, Committed: at}
				if rng.IntN(3) > 0 {
					lid, q, pr := id(), 1+rng.IntN(2), price()
					p.prices[lid], p.original[lid], p.final[lid] = pr, 0, q
					current = append(current, shopLine{ID: lid, Title: "Added", Qty: q, Price: minor(pr)})
					e.Add = append(e.Add, editLine{lid, q})
				}
				if rng.IntN(2) == 0 {
					i := rng.IntN(len(current))
					if l := current[i]; p.final[l.ID] > 0 {
						p.final[l.ID]--
						n := p.final[l.ID]
						current[i].Current = &n
						e.Rem = append(e.Rem, editLine{l.ID, 1})
					}
				}
				if rng.IntN(10) < 7 { // an exchange needs no orders/edited
					sc.distinct = append(sc.distinct, hook{event: fmt.Sprintf("edit:%d", e.ID), topic: "orders/edited", body: e.body(t)})
				}
				upd := paid
				upd.UpdatedAt = at.Add(time.Minute)
				upd.Lines = append([]shopLine{}, current...)
				sc.distinct = append(sc.distinct, hook{event: fmt.Sprintf("updated:%d:%d", oid, k), topic: "orders/updated", body: upd.body(t)})
			}
			for range rng.IntN(3) {
				rid := id()
				r := liveRefund{ID: rid, Order: oid}
				if rng.IntN(2) == 0 {
					// A line of the original order, some of its units.
					for l, q := range p.original {
						if q == 0 {
							continue
						}
						units := 1 + rng.IntN(q)
						sub := p.prices[l] * int64(units)
						r.Lines = []refundLine{{LineID: l, Qty: units, Subtotal: minor(sub)}}
						r.Money = []string{minor(sub)}
						p.lineRefund = append(p.lineRefund, sub)
						break
					}
				} else {
					amount := 1 + rng.Int64N(p.paidMinor*7/10+1)
					r.Money, r.Discrepancies = []string{minor(amount)}, []string{"-" + minor(amount)}
					p.money = append(p.money, amount)
				}
				sc.distinct = append(sc.distinct, hook{event: fmt.Sprintf("refund:%d", rid), topic: "refunds/create", body: r.body(t)})
			}
			if rng.IntN(10) < 2 {
				p.cancelled = true
				sc.distinct = append(sc.distinct, hook{event: fmt.Sprintf("cancel:%d", oid), topic: "orders/cancelled", body: paid.body(t)})
			}
			sc.plans = append(sc.plans, p)
		}
	}
	sc.deliveries = append(sc.deliveries, sc.distinct...)
	for dups := 0; dups*10 < len(sc.deliveries)*3 || rng.IntN(3) > 0; dups++ { // ≥ 30% duplicates
		sc.deliveries = append(sc.deliveries, sc.distinct[rng.IntN(len(sc.distinct))])
		if dups > 4*len(sc.distinct) {
			break
		}
	}
	rng.Shuffle(len(sc.deliveries), func(i, j int) { sc.deliveries[i], sc.deliveries[j] = sc.deliveries[j], sc.deliveries[i] })
	return sc
}

func (sc changeScenario) firstSeen() []hook {
	return scenario{deliveries: sc.deliveries}.firstSeen()
}

// expectedBalances is the oracle, from the ledger's rules alone: an order
// nets what its final lines earn less the refunds' share of them (lines
// refunded, and amount-only money in the proportion of the base to the
// total paid at payment), nothing when cancelled, whatever the order of
// arrival.
func (sc changeScenario) expectedBalances(s program.Settings) map[int64]int64 {
	out := map[int64]int64{}
	for _, c := range sc.customers {
		out[c] = 0
	}
	for _, p := range sc.plans {
		if p.cancelled {
			continue
		}
		var base0, final, refunded int64
		for l, q := range p.original {
			base0 += p.prices[l] * int64(q)
		}
		for l, q := range p.final {
			final += p.prices[l] * int64(q)
		}
		for _, r := range p.lineRefund {
			refunded += r
		}
		for _, m := range p.money {
			refunded += ledger.UnexplainedBase(m, base0, p.paidMinor)
		}
		earned := ledger.PointsForOrder(final, s, decimal.NewFromInt(1), 2)
		taken := earned
		if final > 0 {
			taken = ledger.ReversalForRefundCumulative(earned, 0, refunded, final)
		}
		out[p.customer] += earned - taken
	}
	return out
}

// TestProperty_OrderChanges_AnyOrderAndDuplicates delivers, for many
// seeded scenarios, every webhook through the real processor in a shuffled
// order with at least 30% duplicates (refunds and edits before orders/paid
// included). The ledger (customer, kind, points, key) and balances equal
// those of the distinct webhooks delivered once in order of first arrival;
// the balances equal the oracle's, which does not depend on the arrival
// order; after every few deliveries each balance is the sum of its ledger;
// lots reconcile; no webhook fails.
func TestProperty_OrderChanges_AnyOrderAndDuplicates(t *testing.T) {
	t.Parallel()
	iterations := 40
	if testing.Short() {
		iterations = 6
	}
	b := setup(t)
	for it := range iterations {
		rng := rand.New(rand.NewPCG(propertySeed, 5000+uint64(it)))
		sc := genChangeScenario(t, rng, 1+rng.IntN(3), 2)
		got, want := b.newShop(t, "UTC"), b.newShop(t, "UTC")
		settings := b.program(t, got, propertySettings)
		b.program(t, want, propertySettings)
		where := fmt.Sprintf("seed %d iteration %d", propertySeed, it)
		for i, d := range sc.deliveries {
			b.clock.Add(time.Second) // arrival order shows in created_at and earned_at
			if st, reason, err := b.tryDeliver(got, d.topic, d.body); err != nil || (st != store.WebhookProcessed && st != store.WebhookIgnored) {
				t.Fatalf("%s: %s %s: %s %v", where, d.event, d.topic, reason, err)
			}
			if i%7 == 0 {
				b.balancesMatchLedger(t, got)
			}
		}
		for _, d := range sc.firstSeen() {
			b.deliver(t, want, d.topic, d.body)
		}
		compareShops(t, b, got, want, where)
		if bal, exp := b.balances(t, got), sc.expectedBalances(settings); !sameBalances(bal, exp) {
			t.Fatalf("%s: balances %v, oracle %v\nledger %v", where, bal, exp, b.shopLedger(t, got))
		}
		for _, c := range sc.customers {
			b.reconcile(t, got, c)
		}
	}
	// The generator reached every path: edits applied and absorbed, lines
	// changed by orders/updated alone, edits and amount-only refunds that
	// waited for orders/paid, earning and taking back by edits.
	for what, q := range map[string]string{
		"applied edits":                 "SELECT count(*) FROM order_edits WHERE status = 'applied'",
		"absorbed edits":                "SELECT count(*) FROM order_edits WHERE status = 'absorbed'",
		"edits before the earn":         "SELECT count(*) FROM order_edits e JOIN orders o ON o.id = e.order_id WHERE e.created_at < o.earned_at OR o.earned_at IS NULL",
		"lines changed without an edit": "SELECT count(*) FROM ledger_entries WHERE idempotency_key LIKE 'lines:%'",
		"points earned by edits":        "SELECT count(*) FROM ledger_entries WHERE reason = 'order_edit' AND points > 0",
		"points taken back by edits":    "SELECT count(*) FROM ledger_entries WHERE reason = 'order_edit' AND points < 0",
		"amount-only refunds":           "SELECT count(*) FROM order_refunds WHERE unexplained_minor > 0 AND points_reversed > 0",
		"cancellations":                 "SELECT count(*) FROM ledger_entries WHERE idempotency_key LIKE 'cancel:%'",
	} {
		if n := b.count(t, q); n == 0 {
			t.Errorf("no %s in %d iterations", what, iterations)
		}
	}
}
