package loyalty_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
)

// guestOrder is an orders/paid (or orders/cancelled) body of a shopper
// without an account: no customer at all, or the record checkout creates
// (state disabled), with the order's own email and phone.
type guestOrder struct {
	ID       int64
	Record   int64 // the customer record the order carries; 0: none
	Email    string
	Phone    string
	Subtotal string
}

func (g guestOrder) body(t testing.TB) []byte {
	t.Helper()
	b := order{ID: g.ID, Customer: g.Record, Subtotal: g.Subtotal}.body(t)
	for _, f := range []struct{ path, v string }{{"email", g.Email}, {"contact_email", g.Email}, {"phone", g.Phone}} {
		if f.v == "" {
			b = setRaw(t, b, f.path, "null")
		} else {
			b = set(t, b, f.path, f.v)
		}
	}
	if g.Record != 0 {
		b = set(t, b, "customer.state", "disabled")
		b = set(t, b, "customer.email", g.Email)
		if g.Phone == "" {
			b = setRaw(t, b, "customer.phone", "null")
		} else {
			b = set(t, b, "customer.phone", g.Phone)
		}
	}
	return b
}

// guestStep is one webhook of a case, delivered at t0+at to shop 0 (the
// case's shop) or 1 (another shop).
type guestStep struct {
	at    time.Duration
	shop  int
	topic string
	body  func(t testing.TB, b *bundle) []byte
}

const (
	guestOrderA int64 = 9_100_000_000_000_000_001
	guestOrderB int64 = 9_100_000_000_000_000_002
	guestRecord int64 = 9_007_199_254_740_995 // the record checkout created
	newAccount  int64 = 9_007_199_254_740_997 // an account created afterwards
	day               = 24 * time.Hour
)

func paid(g guestOrder) guestStep {
	return guestStep{topic: "orders/paid", body: func(t testing.TB, _ *bundle) []byte { return g.body(t) }}
}

func (s guestStep) After(d time.Duration) guestStep { s.at = d; return s }
func (s guestStep) InOtherShop() guestStep          { s.shop = 1; return s }

func accountStep(topic string, id int64, email, phone string, at time.Duration) guestStep {
	return guestStep{at: at, topic: topic, body: func(t testing.TB, b *bundle) []byte {
		created := b.shop.InstalledAt.Add(time.Hour)
		return customerPayload{ID: id, Email: email, Phone: phone, State: "enabled", CreatedAt: created, UpdatedAt: created.Add(at)}.body(t)
	}}
}

func cancelled(g guestOrder, at time.Duration) guestStep {
	return guestStep{at: at, topic: "orders/cancelled", body: func(t testing.TB, _ *bundle) []byte {
		return set(t, g.body(t), "cancelled_at", "2026-03-03T10:00:00-05:00")
	}}
}

func refunded(id, orderID int64, amount string, at time.Duration) guestStep {
	return guestStep{at: at, topic: "refunds/create", body: func(t testing.TB, _ *bundle) []byte {
		return refund{ID: id, Order: orderID, Lines: []string{amount}}.body(t)
	}}
}

// TestGuestPoints: a paid order without an account keeps its points
// waiting under the order's email or phone (points_waiting for the record
// checkout created); an account with that email or phone, created within
// guest_points_days, is credited once per order (earn entry keyed by the
// order, wallet_points_rewarded reason order); refunds and cancellations
// before the claim reduce what waits, after it they take back from the
// account; nothing crosses shops, nothing is credited after the window.
// Every webhook goes through b.deliver (inbox row, Processor, Service),
// from the real payload shapes.
func TestGuestPoints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	adaOrder := guestOrder{ID: guestOrderA, Email: "ada@example.com", Subtotal: "180.00"}
	adaRecord := guestOrder{ID: guestOrderA, Record: guestRecord, Email: "ada@example.com", Subtotal: "180.00"}
	cases := []struct {
		name string
		days int // guest_points_days; 0 keeps the default (30)
		off  bool
		// steps run in order, each at its own time.
		steps []guestStep
		// claimant is the account that should hold the points (its Shopify
		// id), with balance and earn entries keyed by the orders.
		claimant int64
		balance  int64
		earns    []int64 // orders whose earn entry the claimant holds
		// waiting is the points_waiting events of the case's shop: the
		// customer record and points of each.
		waiting []int64
		// left is the unclaimed guest_points rows of the case's shop, as
		// points still waiting.
		left []int64
	}{
		{
			name:  "RecordThenAccountByEmail",
			steps: []guestStep{paid(adaRecord), accountStep("customers/update", guestRecord, "Ada@Example.com ", "", 10*day)},
			// The record checkout created becomes the account.
			claimant: guestRecord, balance: 180, earns: []int64{guestOrderA}, waiting: []int64{180},
		},
		{
			name:     "NoCustomerThenNewAccountByEmail",
			steps:    []guestStep{paid(adaOrder), accountStep("customers/create", newAccount, "ada@example.com", "", 29*day)},
			claimant: newAccount, balance: 180, earns: []int64{guestOrderA},
			// No customer record: no profile to send points_waiting to.
		},
		{
			name: "ByPhone",
			steps: []guestStep{
				paid(guestOrder{ID: guestOrderA, Phone: "+1 (415) 555-0134", Subtotal: "75.00"}),
				accountStep("customers/create", newAccount, "", "+14155550134", day),
			},
			claimant: newAccount, balance: 75, earns: []int64{guestOrderA},
		},
		{
			name:     "AccountAfterTheWindow",
			steps:    []guestStep{paid(adaRecord), accountStep("customers/update", guestRecord, "ada@example.com", "", 30*day+time.Minute)},
			claimant: guestRecord, balance: 0, waiting: []int64{180}, left: []int64{180},
		},
		{
			name:     "ShorterWindowSetByTheMerchant",
			days:     7,
			steps:    []guestStep{paid(adaOrder), accountStep("customers/create", newAccount, "ada@example.com", "", 8*day)},
			claimant: newAccount, balance: 0, left: []int64{180},
		},
		{
			name: "RedeliveredOrderAndAccount",
			steps: []guestStep{
				paid(adaRecord), paid(adaRecord).After(time.Hour),
				accountStep("customers/update", guestRecord, "ada@example.com", "", 2*day),
				accountStep("customers/update", guestRecord, "ada@example.com", "", 2*day),
				paid(adaRecord).After(3 * day),
				accountStep("customers/update", guestRecord, "ada@example.com", "", 4*day),
			},
			claimant: guestRecord, balance: 180, earns: []int64{guestOrderA}, waiting: []int64{180},
		},
		{
			name:     "CancelledBeforeTheAccount",
			steps:    []guestStep{paid(adaOrder), cancelled(adaOrder, day), accountStep("customers/create", newAccount, "ada@example.com", "", 2*day)},
			claimant: newAccount, balance: 0, left: []int64{0},
		},
		{
			name: "PartialRefundBeforeAndAfterTheClaim",
			steps: []guestStep{
				paid(adaRecord),
				refunded(9_200_000_000_000_000_001, guestOrderA, "60.00", day),
				accountStep("customers/update", guestRecord, "ada@example.com", "", 2*day),
				// After the claim the order is the account's: a refund
				// takes its share back from the account.
				refunded(9_200_000_000_000_000_002, guestOrderA, "30.00", 3*day),
			},
			claimant: guestRecord, balance: 90, earns: []int64{guestOrderA}, waiting: []int64{180},
		},
		{
			// The order had no customer: the claim moves it to the new
			// account, so its refund and cancellation reach that account.
			name: "NoCustomerRefundAndCancelAfterTheClaim",
			steps: []guestStep{
				paid(adaOrder),
				accountStep("customers/create", newAccount, "ada@example.com", "", day),
				refunded(9_200_000_000_000_000_004, guestOrderA, "45.00", 2*day),
				cancelled(adaOrder, 3*day),
			},
			claimant: newAccount, balance: 0, earns: []int64{guestOrderA},
		},
		{
			name: "RefundBeforeThePaidOrder",
			steps: []guestStep{
				refunded(9_200_000_000_000_000_003, guestOrderA, "80.00", 0),
				paid(adaOrder).After(time.Hour),
				accountStep("customers/create", newAccount, "ada@example.com", "", day),
			},
			claimant: newAccount, balance: 100, earns: []int64{guestOrderA},
		},
		{
			name: "TwoGuestOrders",
			steps: []guestStep{
				paid(adaOrder),
				paid(guestOrder{ID: guestOrderB, Phone: "+442079460958", Subtotal: "20.00"}).After(day),
				accountStep("customers/create", newAccount, "ada@example.com", "+44 20 7946 0958", 2*day),
			},
			claimant: newAccount, balance: 200, earns: []int64{guestOrderA, guestOrderB},
		},
		{
			name: "AnotherShopsGuestOrder",
			steps: []guestStep{
				paid(guestOrder{ID: guestOrderB, Email: "ada@example.com", Subtotal: "40.00"}).InOtherShop(),
				paid(adaOrder),
				accountStep("customers/create", newAccount, "ada@example.com", "", day),
			},
			claimant: newAccount, balance: 180, earns: []int64{guestOrderA},
		},
		{
			name:     "AnotherEmailClaimsNothing",
			steps:    []guestStep{paid(adaOrder), accountStep("customers/create", newAccount, "grace@example.com", "", day)},
			claimant: newAccount, balance: 0, left: []int64{180},
		},
		{
			name:     "RecordWithoutAccountOnlyWaits",
			steps:    []guestStep{paid(adaRecord)},
			claimant: guestRecord, balance: 0, waiting: []int64{180}, left: []int64{180},
		},
		{
			// guest_points_days 0: as before waiting existed, the record
			// earns and an order without a customer earns nothing.
			name: "Off",
			off:  true,
			steps: []guestStep{
				paid(adaRecord),
				paid(guestOrder{ID: guestOrderB, Email: "ada@example.com", Subtotal: "20.00"}),
				accountStep("customers/update", guestRecord, "ada@example.com", "", day),
			},
			claimant: guestRecord, balance: 180, earns: []int64{guestOrderA},
		},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			shops := []*store.Shop{b.newShop(t, "America/New_York"), b.newShop(t, "UTC")}
			for _, sh := range shops {
				b.program(t, sh, func(s *program.Settings) {
					s.SignupPoints = 0
					if tc.days > 0 {
						s.GuestPointsDays = tc.days
					}
					if tc.off {
						s.GuestPointsDays = 0
					}
				})
			}
			saved := b.shop
			b.shop = shops[0]
			defer func() { b.shop = saved }()
			for i, st := range tc.steps {
				b.clock.Set(t0.Add(st.at))
				if status, reason := b.deliver(t, shops[st.shop], st.topic, st.body(t, b)); status == store.WebhookFailed {
					t.Fatalf("step %d %s: %s %q", i, st.topic, status, reason)
				}
			}
			shop := shops[0]

			if got := b.balance(t, shop, tc.claimant); got != tc.balance {
				t.Errorf("claimant balance %d, want %d (%v)", got, tc.balance, keys(b.entries(t, shop, tc.claimant)))
			}
			b.reconcile(t, shop, tc.claimant)
			b.balancesMatchLedger(t, shop)
			var earnKeys []string
			for _, e := range b.entries(t, shop, tc.claimant) {
				if e.Kind == ledger.KindEarn {
					earnKeys = append(earnKeys, e.IdempotencyKey)
				}
			}
			if len(earnKeys) != len(tc.earns) {
				t.Errorf("earn entries %v, want one per order %v", earnKeys, tc.earns)
			}
			for i, id := range tc.earns {
				if i < len(earnKeys) && earnKeys[i] != ledger.KeyEarn(ledger.GID("Order", itoa(id)), ledger.RuleOrder) {
					t.Errorf("earn %d key %q, want the order's %d", i, earnKeys[i], id)
				}
			}
			// Only the claimant holds order points: nobody else has an entry.
			if n := b.count(t, "SELECT count(*) FROM ledger_entries WHERE shop_id = $1 AND shopify_customer_id <> $2", shop.ID, tc.claimant); n != 0 {
				t.Errorf("%d entries of other customers", n)
			}
			rewarded := b.events(t, shop, "wallet_points_rewarded")
			if len(rewarded) != len(tc.earns) {
				t.Errorf("%d wallet_points_rewarded, want %d", len(rewarded), len(tc.earns))
			}
			for _, e := range rewarded {
				if p := props(t, e); p["reason"] != "order" || p["order_id"] == nil || e.ShopifyCustomerID != tc.claimant {
					t.Errorf("wallet_points_rewarded %v of %d", p, e.ShopifyCustomerID)
				}
			}

			waiting := b.events(t, shop, "points_waiting")
			if len(waiting) != len(tc.waiting) {
				t.Fatalf("%d points_waiting, want %d", len(waiting), len(tc.waiting))
			}
			for i, e := range waiting {
				p := props(t, e)
				until, _ := time.Parse(time.RFC3339, p["waiting_until"].(string))
				if e.ShopifyCustomerID != guestRecord || p["points"] != float64(tc.waiting[i]) || p["order_id"] != itoa(guestOrderA) ||
					!until.Equal(t0.AddDate(0, 0, 30)) || e.Channel != "online_store" {
					t.Errorf("points_waiting %v of %d channel %q", p, e.ShopifyCustomerID, e.Channel)
				}
			}

			var left []int64
			rows, err := b.db.Pool.Query(ctx, "SELECT points FROM guest_points WHERE shop_id = $1 AND claimed_at IS NULL ORDER BY id", shop.ID)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var p int64
				if err := rows.Scan(&p); err != nil {
					t.Fatal(err)
				}
				left = append(left, p)
			}
			rows.Close()
			if len(left) != len(tc.left) || (len(left) > 0 && left[0] != tc.left[0]) {
				t.Errorf("unclaimed guest points %v, want %v", left, tc.left)
			}
			if n := b.count(t, "SELECT count(*) FROM guest_points WHERE shop_id = $1 AND claimed_at IS NOT NULL", shop.ID); n != int64(len(tc.earns)) && !tc.off {
				t.Errorf("%d claimed rows, want %d", n, len(tc.earns))
			}
			if n := b.count(t, "SELECT count(*) FROM guest_points WHERE shop_id = $1 AND claimed_at IS NULL", shops[1].ID); n != int64(countOther(tc.steps)) {
				t.Errorf("other shop: %d unclaimed rows, want %d", n, countOther(tc.steps))
			}
		})
	}
}

func countOther(steps []guestStep) int {
	n := 0
	for _, s := range steps {
		if s.shop == 1 {
			n++
		}
	}
	return n
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestGuestPoints_OrderRacesTheAccount: the order of the record checkout
// created and the customers/update that makes it an account are processed
// at the same time, in two transactions. Whichever commits first, the
// account ends with the order's points exactly once and nothing is left
// waiting: either the order sees the account and earns, or the claim waits
// for the held points (the order reads the record's state under a share
// lock of the row the update holds).
func TestGuestPoints_OrderRacesTheAccount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for round := range 12 {
		shop := b.newShop(t, "UTC")
		b.program(t, shop, func(s *program.Settings) { s.SignupPoints = 0 })
		// The record exists (an earlier checkout), not yet an account.
		created := shop.InstalledAt.Add(time.Hour)
		b.deliver(t, shop, "customers/create", customerPayload{ID: guestRecord, Email: "ada@example.com", State: "disabled", CreatedAt: created, UpdatedAt: created}.body(t))
		orderBody := guestOrder{ID: guestOrderA, Record: guestRecord, Email: "ada@example.com", Subtotal: "180.00"}.body(t)
		accountBody := customerPayload{ID: guestRecord, Email: "ada@example.com", State: "enabled", CreatedAt: created, UpdatedAt: created.Add(time.Minute)}.body(t)
		start := make(chan struct{})
		errs := make(chan error, 2)
		for _, d := range []struct {
			topic string
			body  []byte
		}{{"orders/paid", orderBody}, {"customers/update", accountBody}} {
			go func() {
				<-start
				_, _, err := b.tryDeliver(shop, d.topic, d.body)
				errs <- err
			}()
		}
		close(start)
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if got := b.balance(t, shop, guestRecord); got != 180 {
			t.Fatalf("round %d: balance %d, want 180 (%v)", round, got, keys(b.entries(t, shop, guestRecord)))
		}
		if n := countKind(b.entries(t, shop, guestRecord), ledger.KindEarn); n != 1 {
			t.Fatalf("round %d: %d earn entries", round, n)
		}
		if n := b.count(t, "SELECT count(*) FROM guest_points WHERE shop_id = $1 AND claimed_at IS NULL", shop.ID); n != 0 {
			t.Fatalf("round %d: %d rows left waiting for an account that exists", round, n)
		}
	}
}

// TestGuestPoints_MaintenanceExpires: the periodic work marks waiting
// points expired once their wait ended, not before, and each once; an
// account created afterwards claims nothing.
func TestGuestPoints_MaintenanceExpires(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.program(t, b.shop, func(s *program.Settings) { s.SignupPoints = 0; s.GuestPointsDays = 10 })
	b.deliver(t, b.shop, "orders/paid", guestOrder{ID: guestOrderA, Email: "ada@example.com", Subtotal: "180.00"}.body(t))
	for _, tc := range []struct {
		at   time.Duration
		want int
	}{{9 * day, 0}, {10 * day, 1}, {11 * day, 0}} {
		r, err := b.svc.RunMaintenance(ctx, b.shop.ID, t0.Add(tc.at))
		if err != nil || r.Guests != tc.want {
			t.Fatalf("maintenance at +%v: %d guest orders expired, want %d (%v)", tc.at, r.Guests, tc.want, err)
		}
	}
	if n := b.count(t, "SELECT count(*) FROM guest_points WHERE shop_id = $1 AND expired AND points = 180", b.shop.ID); n != 1 {
		t.Fatalf("%d expired rows", n)
	}
	b.clock.Set(t0.Add(11 * day))
	created := b.shop.InstalledAt.Add(time.Hour)
	b.deliver(t, b.shop, "customers/create", customerPayload{ID: newAccount, Email: "ada@example.com", State: "enabled", CreatedAt: created, UpdatedAt: created}.body(t))
	if got := b.balance(t, b.shop, newAccount); got != 0 {
		t.Fatalf("expired points credited: balance %d", got)
	}
}
