package loyalty_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/webhooks"
)

func TestProgram_GetSave(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	got, err := b.svc.GetProgram(ctx, b.shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := program.Defaults(); got.SignupPoints != d.SignupPoints || len(got.Rewards) != len(d.Rewards) {
		t.Fatalf("no row should give the defaults, got %+v", got)
	}
	t.Run("InvalidRejectedWithFields", func(t *testing.T) {
		bad := program.Defaults()
		bad.SignupPoints = -1
		bad.ReminderDays = []int{1, 7}
		err := b.svc.SaveProgram(ctx, b.shop.ID, bad)
		var ve *program.ValidationError
		if app.ErrorCode(err) != app.EINVALID || !errors.As(err, &ve) {
			t.Fatalf("err %v", err)
		}
		f := program.FieldProblems(err)
		if f["signup_points"] == "" || f["reminder_days[1]"] == "" {
			t.Fatalf("fields %v", f)
		}
		if again, _ := b.svc.GetProgram(ctx, b.shop.ID); again.SignupPoints != program.Defaults().SignupPoints {
			t.Fatal("invalid settings were stored")
		}
	})
	t.Run("RoundTripAndOtherShopUntouched", func(t *testing.T) {
		s := b.program(t, b.shop, func(s *program.Settings) { s.SignupPoints = 250; s.EarnOn = program.EarnOnFulfilled })
		got, err := b.svc.GetProgram(ctx, b.shop.ID)
		if err != nil || got.SignupPoints != 250 || got.EarnOn != program.EarnOnFulfilled || !got.Tiers.Levels[2].Multiplier.Equal(s.Tiers.Levels[2].Multiplier) {
			t.Fatalf("round trip %+v %v", got, err)
		}
		other := b.newShop(t, "UTC")
		if o, _ := b.svc.GetProgram(ctx, other.ID); o.SignupPoints != program.Defaults().SignupPoints {
			t.Fatal("another shop sees the settings")
		}
	})
}

// TestSignup_Once: an account's customers/create credits signup points
// once per customer, whatever the redeliveries and later customers/update
// deliveries; an update of a record without an account credits nothing; an
// order that created the customer first does not steal the signup. (Which
// customers earn is TestSignup_AccountsNotRecords.)
func TestSignup_Once(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const ada, bob, cyd int64 = 9007199254740993, 9007199254740995, 9007199254740997 // above 2^53
	for range 3 {
		b.deliver(t, b.shop, "customers/create", customerBody(ada, "ada@example.com"))
	}
	b.deliver(t, b.shop, "customers/update", customerBody(ada, "ada2@example.com"))
	if got := b.balance(t, b.shop, ada); got != 100 {
		t.Fatalf("balance %d", got)
	}
	if es := b.entries(t, b.shop, ada); len(es) != 1 || es[0].Kind != ledger.KindSignup || es[0].IdempotencyKey != "signup:gid://shopify/Customer/9007199254740993" {
		t.Fatalf("entries %v", keys(es))
	}
	ev := b.events(t, b.shop, "wallet_points_rewarded")
	if len(ev) != 1 || props(t, ev[0])["reason"] != "signup" || ev[0].ShopifyCustomerID != ada {
		t.Fatalf("events %+v", ev)
	}

	// An update of a record without an account is no signup.
	b.deliver(t, b.shop, "customers/update", set(t, customerBody(bob, "bob@example.com"), "state", "disabled"))
	if got := b.balance(t, b.shop, bob); got != 0 {
		t.Fatalf("update gave %d points", got)
	}

	// The order arrives before customers/create.
	b.program(t, b.shop, func(s *program.Settings) { s.Tiers.Enabled = false })
	b.deliver(t, b.shop, "orders/paid", order{ID: orderID, Customer: cyd, Subtotal: "10.00"}.body(t))
	b.deliver(t, b.shop, "customers/create", customerBody(cyd, "cyd@example.com"))
	if got := b.balance(t, b.shop, cyd); got != 110 {
		t.Fatalf("balance %d, want 10 + 100", got)
	}
	if c := b.customerRow(t, b.shop, cyd); c.Email != "cyd@example.com" {
		t.Fatalf("identity not refreshed: %+v", c)
	}
}

// TestAdjust: manual credits and debits, the actor and idempotency key, and
// the customer view of DESIGN.md §6.
func TestAdjust(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.deliver(t, b.shop, "customers/create", customerBody(sampleCustomerID, "john@example.com"))
	ctx := ctxAs("user:42")

	v, err := b.svc.Adjust(ctx, b.shop.ID, sampleCustomerID, 250, "Sorry for the delay", "req-1")
	if err != nil {
		t.Fatal(err)
	}
	if v.PointsBalance != 350 {
		t.Fatalf("balance %d", v.PointsBalance)
	}
	// A retried request adjusts once.
	if v, err = b.svc.Adjust(ctx, b.shop.ID, sampleCustomerID, 250, "Sorry for the delay", "req-1"); err != nil || v.PointsBalance != 350 {
		t.Fatalf("retry: %v, balance %d", err, v.PointsBalance)
	}
	if v, err = b.svc.Adjust(ctx, b.shop.ID, sampleCustomerID, -50, "Correction", "req-2"); err != nil || v.PointsBalance != 300 {
		t.Fatalf("debit: %v", err)
	}
	_, err = b.svc.Adjust(ctx, b.shop.ID, sampleCustomerID, -301, "Too much", "req-3")
	if app.ErrorCode(err) != app.EINVALID || !strings.Contains(app.ErrorMessage(err), "Not enough points") {
		t.Fatalf("overdraft: %v", err)
	}
	for _, bad := range []struct {
		points int64
		reason string
		field  string
	}{{0, "x", "points"}, {5, " ", "reason"}, {5, strings.Repeat("x", 256), "reason"}} {
		if _, err := b.svc.Adjust(ctx, b.shop.ID, sampleCustomerID, bad.points, bad.reason, ""); app.ErrorField(err) != bad.field {
			t.Fatalf("%+v: %v", bad, err)
		}
	}
	if _, err := b.svc.Adjust(ctx, b.shop.ID, 404, 5, "x", ""); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("unknown customer: %v", err)
	}
	other := b.newShop(t, "UTC")
	if _, err := b.svc.Adjust(ctx, other.ID, sampleCustomerID, 5, "x", ""); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("other shop's customer: %v", err)
	}

	var actors []string
	rows, _ := b.db.Pool.Query(context.Background(), "SELECT actor FROM ledger_entries WHERE kind = 'adjust' ORDER BY id")
	for rows.Next() {
		var a string
		rows.Scan(&a)
		actors = append(actors, a)
	}
	rows.Close()
	if strings.Join(actors, ",") != "user:42,user:42" {
		t.Fatalf("actors %v", actors)
	}
	ev := b.events(t, b.shop, "wallet_points_rewarded")
	if len(ev) != 2 || props(t, ev[1])["reason"] != "manual" || props(t, ev[1])["points"] != float64(250) {
		t.Fatalf("events %d", len(ev))
	}

	// The view is the contract of GET /api/v1/customers/{id}.
	v, err = b.svc.Customer(context.Background(), b.shop.ID, sampleCustomerID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(v)
	var m map[string]any
	json.Unmarshal(raw, &m)
	for _, k := range []string{"shopify_customer_id", "email", "phone", "points_balance", "tier", "ledger"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("view lacks %q: %s", k, raw)
		}
	}
	if m["shopify_customer_id"] != "115310627314723954" || m["email"] != "john@example.com" || m["points_balance"] != float64(300) || m["tier"] != "bronze" {
		t.Fatalf("view %s", raw)
	}
	lines := m["ledger"].([]any)
	if len(lines) != 3 {
		t.Fatalf("ledger %v", lines)
	}
	first := lines[0].(map[string]any) // newest first
	for _, k := range []string{"points", "kind", "reason", "order_id", "created_at"} {
		if _, ok := first[k]; !ok {
			t.Fatalf("ledger line lacks %q: %v", k, first)
		}
	}
	if first["points"] != float64(-50) || first["kind"] != "adjust" || first["reason"] != "Correction" {
		t.Fatalf("newest line %v", first)
	}
	if v.NextTier != "silver" || v.AmountToNextTier != 50000 {
		t.Fatalf("next tier %q %d", v.NextTier, v.AmountToNextTier)
	}
	b.reconcile(t, b.shop, sampleCustomerID)
}

// TestMerge: the merged-away customer's points (lot by lot, expiry kept)
// and debt move to the kept customer with ledger transfers; a replay moves
// nothing; later refunds of the merged customer's orders reach the kept
// customer; deleting the merged-away customer loses nothing.
func TestMerge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.program(t, b.shop, func(s *program.Settings) { s.Tiers.Enabled = false })
	const kept, gone, owing int64 = 9100000000000000001, 9100000000000000002, 9100000000000000003
	b.deliver(t, b.shop, "customers/create", customerBody(kept, "k@example.com"))
	b.deliver(t, b.shop, "customers/create", customerBody(gone, "g@example.com"))
	o := order{ID: 9200000000000000001, Customer: gone, Subtotal: "404.95"}
	b.deliver(t, b.shop, "orders/paid", o.body(t))
	if got := b.balance(t, b.shop, gone); got != 504 {
		t.Fatalf("gone balance %d", got)
	}

	for range 2 {
		b.deliver(t, b.shop, "customers/merge", mergeBody(kept, gone))
	}
	if k, g := b.balance(t, b.shop, kept), b.balance(t, b.shop, gone); k != 604 || g != 0 {
		t.Fatalf("after merge kept %d gone %d", k, g)
	}
	if n := b.count(t, "SELECT count(*) FROM ledger_entries WHERE reason = 'merge'"); n != 4 {
		t.Fatalf("%d transfer entries, want 2 lots × (out, in)", n)
	}
	// Expiry dates travel with the lots.
	if n := b.count(t, `SELECT count(*) FROM point_lots l JOIN customers c ON c.id = l.customer_id
WHERE c.shopify_id = $1 AND l.remaining > 0 AND l.expires_at IS NOT NULL`, kept); n != 3 {
		t.Fatalf("%d open lots with expiry on the kept customer", n)
	}
	if a := b.account(t, b.shop, kept); a.AmountSpentMinor != 40495 {
		t.Fatalf("spend did not follow the customer: %d", a.AmountSpentMinor)
	}

	// A refund of the merged-away customer's order reaches the kept one.
	b.deliver(t, b.shop, "refunds/create", refund{ID: 8300000000000000001, Order: o.ID, Lines: []string{"404.95"}}.body(t))
	if got := b.balance(t, b.shop, kept); got != 200 {
		t.Fatalf("kept after refund %d", got)
	}
	b.deliver(t, b.shop, "customers/delete", customerBody(gone, ""))
	if got := b.balance(t, b.shop, kept); got != 200 {
		t.Fatalf("kept after delete %d", got)
	}
	b.reconcile(t, b.shop, kept)

	// A customer in debt passes the debt on.
	b.deliver(t, b.shop, "customers/create", customerBody(owing, "o@example.com"))
	o2 := order{ID: 9200000000000000002, Customer: owing, Subtotal: "404.95"}
	b.deliver(t, b.shop, "orders/paid", o2.body(t))
	if _, err := b.svc.Adjust(ctxAs("user:1"), b.shop.ID, owing, -504, "spent", "spend-all"); err != nil {
		t.Fatal(err)
	}
	b.deliver(t, b.shop, "orders/cancelled", o2.body(t))
	if a := b.account(t, b.shop, owing); a.PointsBalance != -404 || a.PointsDebt != 404 {
		t.Fatalf("owing account %+v", a)
	}
	b.deliver(t, b.shop, "customers/merge", mergeBody(kept, owing))
	if a := b.account(t, b.shop, kept); a.PointsBalance != 200-404 || a.PointsDebt != 204 {
		t.Fatalf("kept after taking the debt: balance %d debt %d", a.PointsBalance, a.PointsDebt)
	}
	if a := b.account(t, b.shop, owing); a.PointsBalance != 0 || a.PointsDebt != 0 {
		t.Fatalf("owing after merge %+v", a)
	}
	b.reconcile(t, b.shop, kept)
	b.reconcile(t, b.shop, owing)
	// The next credit pays the debt first.
	if v, _ := b.svc.Adjust(ctxAs("user:1"), b.shop.ID, kept, 300, "goodwill", "gw"); v.PointsBalance != 96 || v.PointsDebt != 0 || v.SpendablePoints != 96 {
		t.Fatalf("after credit %+v", v)
	}
	b.reconcile(t, b.shop, kept)
}

// TestCompliance: data requests export the loyalty data; customers/redact
// and customers/delete remove every customer-scoped loyalty row.
func TestCompliance(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const id int64 = 191167 // the compliance samples' customer
	b.deliver(t, b.shop, "customers/create", customerBody(id, "john@example.com"))
	b.deliver(t, b.shop, "orders/paid", order{ID: orderID, Customer: id, Subtotal: "1404.95"}.body(t))
	if _, err := b.svc.Redeem(ctxAs("user:1"), b.shop.ID, id, "amount-5"); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.SetBirthday(context.Background(), b.shop.ID, id, time.May, 4); err != nil {
		t.Fatal(err)
	}
	b.program(t, b.shop, func(s *program.Settings) { s.ExpiryMonths = 1; s.ReminderDays = []int{7} })
	b.svc.Adjust(ctxAs("user:1"), b.shop.ID, id, 10, "x", "x")
	b.svc.SendExpiryReminders(context.Background(), b.shop.ID, t0.AddDate(0, 0, 25))
	compliance := func(topic string) []byte {
		return bytes.ReplaceAll(sample(t, topic), []byte("{shop}.myshopify.com"), []byte(b.shop.Domain))
	}

	b.deliver(t, b.shop, "customers/data_request", compliance("customers/data_request"))
	reqs, err := b.st.DataRequests(context.Background(), b.shop.ID)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("%d exports %v", len(reqs), err)
	}
	var export struct {
		Loyalty map[string]any `json:"loyalty"`
	}
	json.Unmarshal(reqs[0].Export, &export)
	l := export.Loyalty
	if l["member"] != true || l["points_balance"] != float64(100+1404-500+10) || l["tier"] != "silver" || l["birthday"] != "05-04" {
		t.Fatalf("export %v", l)
	}
	for _, k := range []string{"ledger", "lots", "coupons", "orders", "events"} {
		if v, _ := l[k].([]any); len(v) == 0 {
			t.Fatalf("export has no %s: %v", k, l[k])
		}
	}

	tables := []string{"loyalty_accounts", "ledger_entries", "point_lots", "tier_activities", "loyalty_notices", "orders", "coupons", "loyalty_events"}
	for _, tb := range tables {
		if n := b.count(t, "SELECT count(*) FROM "+tb+" WHERE shop_id = $1", b.shop.ID); n == 0 {
			t.Fatalf("test setup wrote no %s rows", tb)
		}
	}
	b.deliver(t, b.shop, "customers/redact", compliance("customers/redact"))
	for _, tb := range tables {
		if n := b.count(t, "SELECT count(*) FROM "+tb+" WHERE shop_id = $1", b.shop.ID); n != 0 {
			t.Errorf("%d %s rows survive the redaction", n, tb)
		}
	}
	if n := b.count(t, "SELECT count(*) FROM order_refunds"); n != 0 {
		t.Errorf("%d refunds survive", n)
	}
	// The shop's counters and settings are not personal data.
	if n := b.count(t, "SELECT count(*) FROM programs WHERE shop_id = $1", b.shop.ID); n != 1 {
		t.Error("program settings deleted")
	}
	// shop/redact deletes every loyalty row of the shop.
	b.deliver(t, b.shop, "orders/paid", order{ID: orderID + 1, Subtotal: "10.00"}.body(t)) // a guest order: counted
	b.deliver(t, b.shop, "orders/paid", order{ID: orderID + 2, Customer: 77, Subtotal: "10.00"}.body(t))
	b.deliver(t, b.shop, "app/uninstalled", []byte(`{"id":1,"name":"x"}`)) // shop/redact follows an uninstall
	b.deliver(t, b.shop, "shop/redact", compliance("shop/redact"))
	for _, tb := range append(tables, "programs", "loyalty_shop_stats") {
		if n := b.count(t, "SELECT count(*) FROM "+tb+" WHERE shop_id = $1", b.shop.ID); n != 0 {
			t.Errorf("%d %s rows survive shop/redact", n, tb)
		}
	}
}

// TestRedeem_Validation: a redemption needs a known reward and enough
// spendable points; a failed one changes nothing; one request id buys one
// coupon.
func TestRedeem_Validation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.deliver(t, b.shop, "customers/create", customerBody(sampleCustomerID, "john@example.com"))
	ctx := ctxAs("user:7")
	if _, err := b.svc.Redeem(ctx, b.shop.ID, sampleCustomerID, "amount-5"); app.ErrorCode(err) != app.EINVALID || !strings.Contains(app.ErrorMessage(err), "Not enough points") {
		t.Fatalf("poor customer: %v", err)
	}
	if _, err := b.svc.Redeem(ctx, b.shop.ID, sampleCustomerID, "free-yacht"); app.ErrorField(err) != "reward_id" {
		t.Fatalf("unknown reward: %v", err)
	}
	if n := b.count(t, "SELECT count(*) FROM coupons"); n != 0 {
		t.Fatal("a refused redemption stored a coupon")
	}
	b.svc.Adjust(ctx, b.shop.ID, sampleCustomerID, 900, "gift", "g")
	c1, err := b.svc.RedeemWithKey(ctx, b.shop.ID, sampleCustomerID, "amount-5", "click-1")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := b.svc.RedeemWithKey(ctx, b.shop.ID, sampleCustomerID, "amount-5", "click-1")
	if err != nil || c2.ID != c1.ID || c2.Code != c1.Code {
		t.Fatalf("double click bought %+v and %+v (%v)", c1, c2, err)
	}
	if got := b.balance(t, b.shop, sampleCustomerID); got != 500 {
		t.Fatalf("balance %d", got)
	}
	if c1.Status != store.CouponPending || !strings.HasPrefix(c1.Code, "PB-") || c1.PointsSpent != 500 || c1.ExpiresAt == nil {
		t.Fatalf("coupon %+v", c1)
	}
	ny, _ := time.LoadLocation("America/New_York")
	if !c1.ExpiresAt.Equal(t0.In(ny).AddDate(0, 0, 90)) { // 90 calendar days in the shop's zone
		t.Fatalf("coupon expires %v", c1.ExpiresAt)
	}
	// Nothing is announced until Shopify confirms the code (see
	// TestRedemption_EventsOnlyWhenShopifyConfirms).
	if n := len(b.events(t, b.shop, "coupon_created")) + len(b.events(t, b.shop, "wallet_points_redeemed")); n != 0 {
		t.Fatalf("%d redemption events before Shopify confirmed the code", n)
	}
	b.reconcile(t, b.shop, sampleCustomerID)
}

// TestEventsHook: the hook sees the change's events inside its
// transaction, and its failure rolls the change back.
func TestEventsHook(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var seen []uuid.UUID
	fail := true
	b.svc = loyalty.New(b.st, nil, nil, b.log, loyalty.WithClock(b.clock.Now),
		loyalty.WithEventsHook(func(ctx context.Context, tx *store.Store, shopID app.ShopID, ids []uuid.UUID) error {
			if fail {
				return errors.New("router down")
			}
			var n int64
			strs := make([]string, len(ids))
			for i, id := range ids {
				strs[i] = id.String()
			}
			if err := tx.Gorm().Raw("SELECT count(*) FROM loyalty_events WHERE shop_id = ? AND id::text IN ?", shopID, strs).Scan(&n).Error; err != nil {
				return err
			}
			if n != int64(len(ids)) {
				return fmt.Errorf("hook sees %d of %d events", n, len(ids))
			}
			seen = append(seen, ids...)
			return nil
		}))
	b.proc = webhooks.NewProcessor(b.svc, b.log)
	body := order{ID: orderID, Customer: sampleCustomerID, Subtotal: "10.00"}.body(t)
	if _, _, err := b.tryDeliver(b.shop, "orders/paid", body); err == nil || !strings.Contains(err.Error(), "router down") {
		t.Fatalf("hook failure: %v", err)
	}
	if n := b.count(t, "SELECT count(*) FROM ledger_entries"); n != 0 {
		t.Fatal("the change committed without its routing")
	}
	fail = false
	b.deliver(t, b.shop, "orders/paid", body)
	if evs := b.events(t, b.shop, ""); len(seen) != 1 || len(evs) != 1 || evs[0].ID != seen[0] {
		t.Fatalf("hook saw %v, events %+v", seen, evs)
	}
}
