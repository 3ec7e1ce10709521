package loyalty_test

import (
	"context"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
)

// TestTier_UpgradeAtThresholdAndDowngradeAtWindowEnd: with a rolling
// 12-month window, reaching a threshold exactly upgrades at once (with the
// next tier and the amount to it), the multiplier applies to later orders,
// and the hold is reviewed when the window ends: downgraded when the window
// no longer reaches the tier, renewed when it does.
func TestTier_UpgradeAtThresholdAndDowngradeAtWindowEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.program(t, b.shop, nil) // defaults: rolling 12 months, bronze 0, silver 500.00 ×1.25, gold 1500.00 ×1.5
	const ann, ben int64 = 8400000000000000001, 8400000000000000002

	b.deliver(t, b.shop, "orders/paid", order{ID: 8500000000000000001, Customer: ann, Subtotal: "499.99"}.body(t))
	if a := b.account(t, b.shop, ann); a.TierKey != "bronze" || len(b.events(t, b.shop, "tier_upgraded")) != 0 {
		t.Fatalf("one cent below silver: %q", a.TierKey)
	}
	b.clock.Add(time.Hour)
	upgradedAt := b.clock.Now()
	b.deliver(t, b.shop, "orders/paid", order{ID: 8500000000000000002, Customer: ann, Subtotal: "0.01"}.body(t))
	up := b.events(t, b.shop, "tier_upgraded")
	if len(up) != 1 {
		t.Fatalf("%d upgrades at the threshold", len(up))
	}
	p := props(t, up[0])
	ny, _ := time.LoadLocation("America/New_York")
	wantExp := ledger.AddMonths(upgradedAt, 12, ny).UTC().Format(time.RFC3339)
	if p["tier"] != "silver" || p["previous_tier"] != "bronze" || p["next_tier"] != "gold" || p["amount_to_next_tier"] != float64(100000) || p["tier_expires_at"] != wantExp {
		t.Fatalf("tier_upgraded %v (want expiry %s)", p, wantExp)
	}
	if up[0].Tier != "silver" {
		t.Fatalf("event tier %q", up[0].Tier)
	}
	// Silver earns ×1.25 from the next order.
	before := b.balance(t, b.shop, ann)
	b.deliver(t, b.shop, "orders/paid", order{ID: 8500000000000000003, Customer: ann, Subtotal: "100.00"}.body(t))
	if got := b.balance(t, b.shop, ann) - before; got != 125 {
		t.Fatalf("silver order earned %d, want 125", got)
	}

	// Ben reaches silver too, and buys again late in his window.
	b.deliver(t, b.shop, "orders/paid", order{ID: 8500000000000000004, Customer: ben, Subtotal: "600.00"}.body(t))
	b.clock.Set(t0.AddDate(0, 11, 0))
	b.deliver(t, b.shop, "orders/paid", order{ID: 8500000000000000005, Customer: ben, Subtotal: "600.00"}.body(t))

	if n, err := b.svc.ReevaluateTiers(ctx, b.shop.ID, t0.AddDate(0, 11, 20)); err != nil || n != 0 {
		t.Fatalf("before the window ends: %d changes, %v", n, err)
	}
	end := ledger.AddMonths(upgradedAt, 12, ny).AddDate(0, 0, 1)
	n, err := b.svc.ReevaluateTiers(ctx, b.shop.ID, end)
	if err != nil || n != 2 {
		t.Fatalf("at window end: %d changes, %v", n, err)
	}
	down := b.events(t, b.shop, "tier_downgraded")
	if len(down) != 1 || down[0].ShopifyCustomerID != ann {
		t.Fatalf("downgrades %+v", down)
	}
	p = props(t, down[0])
	if p["tier"] != "bronze" || p["previous_tier"] != "silver" || p["next_tier"] != "silver" || p["amount_to_next_tier"] != float64(50000) {
		t.Fatalf("tier_downgraded %v", p)
	}
	if a := b.account(t, b.shop, ben); a.TierKey != "silver" || !a.TierSince.Equal(end) {
		t.Fatalf("ben's hold not renewed: %q since %v", a.TierKey, a.TierSince)
	}
	if n, _ := b.svc.ReevaluateTiers(ctx, b.shop.ID, end); n != 0 {
		t.Fatalf("second review changed %d", n)
	}
	if got := len(b.events(t, b.shop, "tier_downgraded")); got != 1 {
		t.Fatalf("%d downgrade events after a rerun", got)
	}
}

// TestTier_LifetimeDowngradesOnlyOnReversal: with a lifetime window the
// metric only falls through refunds, which are the downgrade moments.
func TestTier_LifetimeDowngradesOnlyOnReversal(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.program(t, b.shop, func(s *program.Settings) { s.Tiers.Window = program.WindowLifetime; s.Tiers.WindowMonths = 0 })
	o := order{ID: 8500000000000000011, Customer: sampleCustomerID, Subtotal: "600.00"}
	b.deliver(t, b.shop, "orders/paid", o.body(t))
	if a := b.account(t, b.shop, sampleCustomerID); a.TierKey != "silver" {
		t.Fatalf("tier %q", a.TierKey)
	}
	if n, _ := b.svc.ReevaluateTiers(context.Background(), b.shop.ID, t0.AddDate(5, 0, 0)); n != 0 {
		t.Fatal("a lifetime tier was reviewed by time")
	}
	b.deliver(t, b.shop, "refunds/create", refund{ID: 8600000000000000011, Order: o.ID, Lines: []string{"200.00"}}.body(t))
	down := b.events(t, b.shop, "tier_downgraded")
	if a := b.account(t, b.shop, sampleCustomerID); a.TierKey != "bronze" || len(down) != 1 || a.AmountSpentMinor != 40000 {
		t.Fatalf("after refund: tier %q spent %d, %d downgrades", a.TierKey, a.AmountSpentMinor, len(down))
	}
}

// TestExpiry_OldestFirstAndRemindersOnce: spending draws the
// soonest-expiring lot first; reminders fire once per lot and offset, in
// the shop's time zone; expiry takes the unspent rest of the expired lot
// only, once.
func TestExpiry_OldestFirstAndRemindersOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.program(t, b.shop, func(s *program.Settings) {
		s.Tiers.Enabled = false
		s.ExpiryMonths = 1
		s.ReminderDays = []int{7, 1}
	})
	b.deliver(t, b.shop, "customers/create", customerBody(sampleCustomerID, "john@example.com")) // lot A: 100, expires 2 April 10:00 New York
	b.clock.Add(10 * 24 * time.Hour)
	b.deliver(t, b.shop, "orders/paid", order{ID: orderID, Customer: sampleCustomerID, Subtotal: "404.95"}.body(t)) // lot B: 404, 12 April
	if _, err := b.svc.Adjust(ctxAs("user:3"), b.shop.ID, sampleCustomerID, -50, "spent at the counter", "pos-1"); err != nil {
		t.Fatal(err)
	}
	c := b.customerRow(t, b.shop, sampleCustomerID)
	lots, _ := b.st.Lots(ctx, b.shop.ID, c.ID)
	if len(lots) != 2 || lots[0].Remaining != 50 || lots[1].Remaining != 404 {
		t.Fatalf("the soonest-expiring lot was not spent first: %+v", lots)
	}
	lotA := lots[0]
	ny, _ := time.LoadLocation("America/New_York")
	if want := time.Date(2026, 4, 2, 10, 0, 0, 0, ny); !lotA.ExpiresAt.Equal(want) {
		t.Fatalf("lot A expires %v, want %v", lotA.ExpiresAt, want)
	}

	remind := func(at time.Time, want int) {
		t.Helper()
		n, err := b.svc.SendExpiryReminders(ctx, b.shop.ID, at)
		if err != nil || n != want {
			t.Fatalf("reminders at %v: %d, %v; want %d", at, n, err, want)
		}
	}
	remind(time.Date(2026, 3, 26, 9, 0, 0, 0, ny), 0) // an hour before the 7-day mark
	remind(time.Date(2026, 3, 26, 11, 0, 0, 0, ny), 1)
	remind(time.Date(2026, 3, 26, 11, 0, 0, 0, ny), 0)
	remind(time.Date(2026, 3, 28, 11, 0, 0, 0, ny), 0)
	remind(time.Date(2026, 4, 1, 11, 0, 0, 0, ny), 1)
	remind(time.Date(2026, 4, 1, 23, 0, 0, 0, ny), 0)
	evs := b.events(t, b.shop, "wallet_points_expiring")
	if len(evs) != 2 {
		t.Fatalf("%d reminder events", len(evs))
	}
	p7, p1 := props(t, evs[0]), props(t, evs[1])
	if p7["points_expiring"] != float64(50) || p7["days_left"] != float64(7) || p1["days_left"] != float64(1) || p7["expires_at"] != lotA.ExpiresAt.UTC().Format(time.RFC3339) {
		t.Fatalf("reminders %v %v", p7, p1)
	}

	expire := func(at time.Time, want int) {
		t.Helper()
		n, err := b.svc.ExpirePoints(ctx, b.shop.ID, at)
		if err != nil || n != want {
			t.Fatalf("expiry at %v: %d, %v; want %d", at, n, err, want)
		}
	}
	expire(time.Date(2026, 4, 2, 9, 59, 0, 0, ny), 0)
	expire(time.Date(2026, 4, 2, 10, 0, 0, 0, ny), 1)
	expire(time.Date(2026, 4, 2, 11, 0, 0, 0, ny), 0)
	if got := b.balance(t, b.shop, sampleCustomerID); got != 404 {
		t.Fatalf("balance after expiry %d", got)
	}
	ex := b.events(t, b.shop, "wallet_points_expired")
	if len(ex) != 1 || props(t, ex[0])["points_expired"] != float64(50) || ex[0].PointsBalance != 404 {
		t.Fatalf("expired events %+v", ex)
	}
	es := b.entries(t, b.shop, sampleCustomerID)
	if last := es[len(es)-1]; last.Kind != ledger.KindExpire || last.IdempotencyKey != ledger.KeyExpire(lotA.ID) || last.Points != -50 {
		t.Fatalf("expiry entry %+v", last)
	}
	// The whole maintenance run is idempotent too.
	r, err := b.svc.RunMaintenance(ctx, b.shop.ID, time.Date(2026, 4, 2, 11, 0, 0, 0, ny))
	if err != nil || r.Expired != 0 || r.Reminded != 0 {
		t.Fatalf("rerun %+v %v", r, err)
	}
	b.reconcile(t, b.shop, sampleCustomerID)
}

// TestBirthday_OnceAYearInShopZone: the birthday (from the account or the
// facts.birth_date metafield) is today in the shop's zone, not UTC; the
// reward is credited once a year; 29 February is celebrated on 28 February.
func TestBirthday_OnceAYearInShopZone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	shop := b.newShop(t, "Asia/Kolkata")
	b.program(t, shop, func(s *program.Settings) { s.Tiers.Enabled = false; s.SignupPoints = 0 })
	const meta, explicit, tomorrow, leap int64 = 8700000000000000001, 8700000000000000002, 8700000000000000003, 8700000000000000004
	for _, id := range []int64{meta, explicit, tomorrow, leap} {
		b.deliver(t, shop, "customers/create", customerBody(id, "b@example.com"))
	}
	if err := b.st.SetCustomerMetafields(ctx, shop.ID, meta, map[string]string{"facts.birth_date": "1990-03-03"}); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.SetBirthday(ctx, shop.ID, explicit, time.March, 3); err != nil {
		t.Fatal(err)
	}
	b.svc.SetBirthday(ctx, shop.ID, tomorrow, time.March, 4)
	b.svc.SetBirthday(ctx, shop.ID, leap, time.February, 29)
	if err := b.svc.SetBirthday(ctx, shop.ID, leap, time.February, 30); err == nil {
		t.Fatal("30 February accepted")
	}

	grant := func(at time.Time, want int) {
		t.Helper()
		n, err := b.svc.GrantBirthdays(ctx, shop.ID, at)
		if err != nil || n != want {
			t.Fatalf("birthdays at %v: %d, %v; want %d", at, n, err, want)
		}
	}
	grant(time.Date(2026, 3, 2, 18, 0, 0, 0, time.UTC), 0) // 23:30 on 2 March in Kolkata
	grant(time.Date(2026, 3, 2, 19, 0, 0, 0, time.UTC), 2) // 00:30 on 3 March there, still 2 March in UTC
	grant(time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC), 0)
	grant(time.Date(2027, 3, 3, 6, 0, 0, 0, time.UTC), 2)
	grant(time.Date(2027, 2, 28, 6, 0, 0, 0, time.UTC), 1) // not a leap year
	grant(time.Date(2028, 2, 28, 6, 0, 0, 0, time.UTC), 0) // a leap year: wait for the 29th
	grant(time.Date(2028, 2, 29, 6, 0, 0, 0, time.UTC), 1)
	if got := b.balance(t, shop, meta); got != 400 {
		t.Fatalf("metafield birthday balance %d", got)
	}
	if got := b.balance(t, shop, tomorrow); got != 0 {
		t.Fatalf("tomorrow's birthday got %d", got)
	}
	br := b.events(t, shop, "birthday_reward")
	if len(br) != 6 || props(t, br[0])["points"] != float64(200) {
		t.Fatalf("%d birthday_reward events", len(br))
	}
	if n := len(b.events(t, shop, "wallet_points_rewarded")); n != 6 {
		t.Fatalf("%d rewarded events", n)
	}
}

// TestNudge_UnusedPoints: a balance that buys a reward, untouched for
// AfterDays, is nudged once, then not again for AfterDays.
func TestNudge_UnusedPoints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.program(t, b.shop, func(s *program.Settings) {
		s.UnusedNudge = program.UnusedNudge{Enabled: true, ThresholdPoints: 500, AfterDays: 30}
	})
	b.deliver(t, b.shop, "customers/create", customerBody(sampleCustomerID, "john@example.com"))
	b.deliver(t, b.shop, "customers/create", customerBody(sampleCustomerID+2, "poor@example.com")) // 100 points: below the threshold
	b.svc.Adjust(ctxAs("user:1"), b.shop.ID, sampleCustomerID, 500, "gift", "g")
	nudge := func(at time.Time, want int) {
		t.Helper()
		n, err := b.svc.NudgeUnused(ctx, b.shop.ID, at)
		if err != nil || n != want {
			t.Fatalf("nudges at %v: %d, %v; want %d", at, n, err, want)
		}
	}
	nudge(t0.AddDate(0, 0, 10), 0)
	nudge(t0.AddDate(0, 0, 31), 1)
	nudge(t0.AddDate(0, 0, 31).Add(time.Hour), 0)
	nudge(t0.AddDate(0, 0, 45), 0)
	nudge(t0.AddDate(0, 0, 62), 1)
	ev := b.events(t, b.shop, "wallet_points_unused")
	if len(ev) != 2 {
		t.Fatalf("%d nudges", len(ev))
	}
	if p := props(t, ev[0]); p["points_balance"] != float64(600) || p["redeemable_value"] != float64(5) {
		t.Fatalf("nudge %v", p)
	}
}
