package loyalty_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/webhooks"
)

// logBuffer is a log destination tests can read while the engine writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// setupLogged is setup with the engine's log kept for the test.
func setupLogged(t testing.TB) (*bundle, *logBuffer) {
	t.Helper()
	b := setup(t)
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	b.svc = loyalty.New(b.st, nil, nil, log, loyalty.WithClock(b.clock.Now))
	b.proc = webhooks.NewProcessor(b.svc, log)
	return b, logs
}

// TestRefund_AmountWithoutLines: a refund of an amount (no refund line
// items; the money in a refund transaction and a refund_discrepancy
// adjustment, as the Shopify admin's "refund amount" sends it) takes back
// the points of the base that money stands for: money ÷ total paid of the
// base. The order is a US order: shirt 100.00 and cap 20.00, 8% tax
// (9.60), shipping 10.00; total paid 139.60, base 120.00, 120 points.
// A refund larger than the order takes back what the order earned and no
// more, and is logged; a pending refund (its discrepancy pair nets to
// nothing) takes nothing; a refund of lines that kept a restocking fee
// keeps the lines' base; the same refunds before orders/paid, and
// delivered twice, give the same balance.
func TestRefund_AmountWithoutLines(t *testing.T) {
	t.Parallel()
	const customer int64 = 7_300_000_000_000_000_201
	const orderID int64 = 7_400_000_000_000_000_001
	shirt, hat := orderID+101, orderID+102
	o := liveOrder{ID: orderID, Customer: customer, Email: "ann@example.com",
		Lines: []shopLine{
			{ID: shirt, Title: "Oxford shirt", Qty: 1, Price: "100.00", Tax: "8.00"},
			{ID: hat, Title: "Wool cap", Qty: 1, Price: "20.00", Tax: "1.60"},
		},
		Shipping: []shopShipping{{Title: "UPS Ground", Price: "10.00"}}}
	refundID := func(n int64) int64 { return 7_500_000_000_000_000_000 + n }
	goodwill := liveRefund{ID: refundID(1), Order: orderID, Money: []string{"34.90"}, Discrepancies: []string{"-34.90"}}
	type step struct {
		topic string
		body  []byte
	}
	paid := step{"orders/paid", o.body(t)}
	refund := func(r liveRefund) step { return step{"refunds/create", r.body(t)} }
	cases := []struct {
		name      string
		steps     []step
		balance   int64
		reversals map[string]int64 // refund gid → points in its wallet_points_reversed
		entries   []string
		capped    bool // the cap is logged
	}{
		{"GoodwillAmountOnly", []step{paid, refund(goodwill)}, 90, // 34.90 of 139.60 paid is 30.00 of the base
			map[string]int64{goodwill.gid(): 30},
			[]string{"earn +120", "reverse -30 " + goodwill.gid()}, false},
		{"AmountLargerThanOrderCapped", []step{paid, refund(liveRefund{ID: refundID(2), Order: orderID, Money: []string{"500.00"}, Discrepancies: []string{"-500.00"}})}, 0,
			map[string]int64{fmt.Sprintf("gid://shopify/Refund/%d", refundID(2)): 120},
			[]string{"earn +120", fmt.Sprintf("reverse -120 gid://shopify/Refund/%d", refundID(2))}, true},
		{"LinesLargerThanOrderCapped", []step{paid,
			refund(liveRefund{ID: refundID(3), Order: orderID, Lines: []refundLine{{LineID: shirt, Qty: 3, Subtotal: "300.00"}}, Money: []string{"300.00"}}),
			refund(liveRefund{ID: refundID(4), Order: orderID, Money: []string{"10.00"}, Discrepancies: []string{"-10.00"}})}, 0,
			map[string]int64{fmt.Sprintf("gid://shopify/Refund/%d", refundID(3)): 120},
			[]string{"earn +120", fmt.Sprintf("reverse -120 gid://shopify/Refund/%d", refundID(3)), fmt.Sprintf("reverse +0 gid://shopify/Refund/%d", refundID(4))}, true},
		{"LinePlusExtraMoney", []step{paid, refund(liveRefund{ID: refundID(5), Order: orderID,
			Lines: []refundLine{{LineID: hat, Qty: 1, Subtotal: "20.00", Tax: "1.60"}}, Money: []string{"35.56"}, Discrepancies: []string{"-13.96"}})}, 88,
			map[string]int64{fmt.Sprintf("gid://shopify/Refund/%d", refundID(5)): 32}, // 20.00 + 12.00 of the base
			[]string{"earn +120", fmt.Sprintf("reverse -32 gid://shopify/Refund/%d", refundID(5))}, false},
		{"PendingRefundTakesNothingYet", []step{paid, refund(liveRefund{ID: refundID(6), Order: orderID, Pending: []string{"50.00"}, Discrepancies: []string{"-50.00", "50.00"}})}, 120,
			map[string]int64{},
			[]string{"earn +120", fmt.Sprintf("reverse +0 gid://shopify/Refund/%d", refundID(6))}, false},
		{"RestockingFeeKeptLinesBaseHolds", []step{paid, refund(liveRefund{ID: refundID(7), Order: orderID,
			Lines: []refundLine{{LineID: shirt, Qty: 1, Subtotal: "100.00", Tax: "8.00"}}, Money: []string{"98.00"}, Discrepancies: []string{"10.00"}})}, 20,
			map[string]int64{fmt.Sprintf("gid://shopify/Refund/%d", refundID(7)): 100},
			[]string{"earn +120", fmt.Sprintf("reverse -100 gid://shopify/Refund/%d", refundID(7))}, false},
		{"AmountOnlyBeforePaid", []step{refund(goodwill), paid}, 90,
			map[string]int64{goodwill.gid(): 30}, // priced once the earn fixed the order's total paid
			[]string{"earn +120", "reverse -30 " + goodwill.gid()}, false},
		{"DeliveredTwice", []step{paid, refund(goodwill), refund(goodwill), paid}, 90,
			map[string]int64{goodwill.gid(): 30},
			[]string{"earn +120", "reverse -30 " + goodwill.gid()}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, logs := setupLogged(t)
			b.program(t, b.shop, func(s *program.Settings) { s.Tiers.Enabled = false })
			for _, s := range tc.steps {
				if st, reason := b.deliver(t, b.shop, s.topic, s.body); st == store.WebhookIgnored && !strings.Contains(reason, "already") && !strings.Contains(reason, "order recorded") {
					t.Fatalf("%s ignored: %s", s.topic, reason)
				}
			}
			if got := b.balance(t, b.shop, customer); got != tc.balance {
				t.Fatalf("balance %d, want %d; ledger %v", got, tc.balance, keys(b.entries(t, b.shop, customer)))
			}
			var got []string
			for _, e := range b.entries(t, b.shop, customer) {
				s := fmt.Sprintf("%s %+d", e.Kind, e.Points)
				if e.RefundID != "" {
					s += " " + e.RefundID
				} else if e.Kind == "reverse" {
					s += " " + e.IdempotencyKey
				}
				got = append(got, s)
			}
			if strings.Join(got, "\n") != strings.Join(tc.entries, "\n") {
				t.Fatalf("ledger\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.entries, "\n"))
			}
			rev := b.events(t, b.shop, "wallet_points_reversed")
			if len(rev) != len(tc.reversals) {
				t.Fatalf("%d wallet_points_reversed, want %d", len(rev), len(tc.reversals))
			}
			for _, e := range rev {
				p := props(t, e)
				gid := "gid://shopify/Refund/" + fmt.Sprint(p["refund_id"])
				want, ok := tc.reversals[gid]
				if !ok || p["points"] != float64(want) || p["reason"] != "refund" || p["order_id"] != fmt.Sprint(orderID) {
					t.Fatalf("wallet_points_reversed %v, want %d points for %s", p, want, gid)
				}
			}
			if rew := b.events(t, b.shop, "wallet_points_rewarded"); len(rew) != 1 || props(t, rew[0])["points"] != float64(120) {
				t.Fatalf("rewarded events %+v", rew)
			}
			if logged := strings.Contains(logs.String(), "capped at what the order earned"); logged != tc.capped {
				t.Fatalf("cap logged %v, want %v:\n%s", logged, tc.capped, logs.String())
			}
			b.reconcile(t, b.shop, customer)
		})
	}
}
