package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
)

func TestStore_LoyaltyLedger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.Tx(t)
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	sh := mustShop(t, st, "ledger-a.myshopify.com")
	other := mustShop(t, st, "ledger-b.myshopify.com")
	cid, err := st.EnsureCustomer(ctx, sh.ID, store.CustomerIdentity{ShopifyID: 42, GID: "gid://shopify/Customer/42"})
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := st.EnsureCustomer(ctx, sh.ID, store.CustomerIdentity{ShopifyID: 42, GID: "gid://shopify/Customer/42", Email: "changed@example.com"}); again != cid {
		t.Fatalf("EnsureCustomer made a second row %d", again)
	}
	acct, created, err := st.LockLoyaltyAccount(ctx, sh.ID, cid, 42, now)
	if err != nil || !created || acct.PointsBalance != 0 {
		t.Fatalf("account %+v %v %v", acct, created, err)
	}
	meta := store.EntryMeta{CustomerID: cid, ShopifyCustomerID: 42, Actor: "system"}
	credit := ledger.Entry{Kind: ledger.KindSignup, Points: 100, Reason: ledger.ReasonSignup, IdempotencyKey: ledger.KeySignup("42"), CreatedAt: now}
	credit, lot, _ := ledger.Open(credit, 0)

	t.Run("CreditOpensLotOnce", func(t *testing.T) {
		lotID, inserted, err := st.AppendCredit(ctx, sh.ID, meta, credit, lot)
		if err != nil || !inserted || lotID == 0 {
			t.Fatalf("first append %d %v %v", lotID, inserted, err)
		}
		_, inserted, err = st.AppendCredit(ctx, sh.ID, meta, credit, lot)
		if err != nil || inserted {
			t.Fatalf("duplicate append inserted=%v err=%v", inserted, err)
		}
		lots, _ := st.OpenLots(ctx, sh.ID, cid)
		entries, _ := st.LedgerEntries(ctx, sh.ID, cid, 0)
		if len(lots) != 1 || lots[0].ID != lotID || len(entries) != 1 || entries[0].Entry().LotID != lotID {
			t.Fatalf("lots %+v entries %+v", lots, entries)
		}
	})
	t.Run("DebitDrawsAndRefusesStalePlans", func(t *testing.T) {
		lots, _ := st.OpenLots(ctx, sh.ID, cid)
		allocs, err := ledger.Consume(lots, 60, now)
		if err != nil {
			t.Fatal(err)
		}
		debit := ledger.Entry{Kind: ledger.KindRedeem, Points: -60, Reason: ledger.ReasonReward, IdempotencyKey: ledger.KeyRedeem("r1"), Allocations: allocs, CreatedAt: now}
		if inserted, err := st.AppendDebit(ctx, sh.ID, meta, debit); err != nil || !inserted {
			t.Fatalf("debit %v %v", inserted, err)
		}
		if inserted, err := st.AppendDebit(ctx, sh.ID, meta, debit); err != nil || inserted {
			t.Fatalf("duplicate debit %v %v", inserted, err)
		}
		// The same plan again, under a new key: the lot no longer holds it.
		err = store.New(st.Gorm()).Tx(ctx, func(tx *store.Store) error {
			stale := debit
			stale.IdempotencyKey = ledger.KeyRedeem("r2")
			_, err := tx.AppendDebit(ctx, sh.ID, meta, stale)
			return err
		})
		if app.ErrorCode(err) != app.ECONFLICT {
			t.Fatalf("stale plan: %v", err)
		}
		lots, _ = st.OpenLots(ctx, sh.ID, cid)
		if lots[0].Remaining != 40 {
			t.Fatalf("lot %+v", lots[0])
		}
	})
	t.Run("OtherShopInvisible", func(t *testing.T) {
		if lots, _ := st.OpenLots(ctx, other.ID, cid); len(lots) != 0 {
			t.Fatal("lots visible to another shop")
		}
		if es, _ := st.LedgerEntries(ctx, other.ID, cid, 0); len(es) != 0 {
			t.Fatal("entries visible to another shop")
		}
		if _, err := st.LoyaltyAccount(ctx, other.ID, cid); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("account visible to another shop: %v", err)
		}
		if _, _, err := st.LockLoyaltyAccount(ctx, other.ID, cid, 0, now); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("account lockable from another shop: %v", err)
		}
		if ok, _ := st.LedgerKeyExists(ctx, other.ID, credit.IdempotencyKey); ok {
			t.Fatal("key visible to another shop")
		}
		// The same key is free in another shop.
		ocid, _ := st.EnsureCustomer(ctx, other.ID, store.CustomerIdentity{ShopifyID: 42, GID: "gid://shopify/Customer/42"})
		st.LockLoyaltyAccount(ctx, other.ID, ocid, 42, now)
		if _, inserted, err := st.AppendCredit(ctx, other.ID, store.EntryMeta{CustomerID: ocid, ShopifyCustomerID: 42, Actor: "system"}, credit, lot); err != nil || !inserted {
			t.Fatalf("same key in another shop: %v %v", inserted, err)
		}
	})
	t.Run("LedgerTotalsPerShop", func(t *testing.T) {
		// A merge-reason transfer in: positive, flagged with the reason.
		in := ledger.Entry{Kind: ledger.KindAdjust, Points: 25, Reason: "merge", IdempotencyKey: "merge:test:in", CreatedAt: now}
		in, inLot, _ := ledger.Open(in, 0)
		if _, _, err := st.AppendCredit(ctx, sh.ID, meta, in, inLot); err != nil {
			t.Fatal(err)
		}
		sums, err := st.LedgerTotals(ctx, sh.ID, "merge")
		if err != nil {
			t.Fatal(err)
		}
		want := []store.LedgerSum{
			{Kind: string(ledger.KindAdjust), WithReason: true, Positive: true, Points: 25},
			{Kind: string(ledger.KindRedeem), WithReason: false, Positive: false, Points: -60},
			{Kind: string(ledger.KindSignup), WithReason: false, Positive: true, Points: 100},
		}
		if fmt.Sprint(sums) != fmt.Sprint(want) {
			t.Fatalf("totals %+v, want %+v", sums, want)
		}
		// The other shop sees only its own signup.
		other, _ := st.LedgerTotals(ctx, other.ID, "merge")
		if len(other) != 1 || other[0].Points != 100 {
			t.Fatalf("other shop totals %+v", other)
		}
	})
}

func TestStore_LoyaltyOrdersAndCoupons(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.Tx(t)
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	sh := mustShop(t, st, "orders-a.myshopify.com")
	other := mustShop(t, st, "orders-b.myshopify.com")
	gid := "gid://shopify/Order/820982911946154508"

	o, err := st.UpsertLoyaltyOrder(ctx, sh.ID, store.OrderSeen{OrderGID: gid, ShopifyID: 820982911946154508}, now)
	if err != nil || o.CustomerID != nil || o.TaxesIncluded != nil {
		t.Fatalf("refund-first order %+v %v", o, err)
	}
	cid, _ := st.EnsureCustomer(ctx, sh.ID, store.CustomerIdentity{ShopifyID: 7, GID: "gid://shopify/Customer/7"})
	scid, tax, base := int64(7), false, int64(40495)
	o, err = st.UpsertLoyaltyOrder(ctx, sh.ID, store.OrderSeen{OrderGID: gid, ShopifyID: 820982911946154508, CustomerID: &cid,
		ShopifyCustomerID: &scid, Name: "#9999", Channel: "online_store", TaxesIncluded: &tax, BaseMinor: &base}, now)
	if err != nil || o.CustomerID == nil || *o.CustomerID != cid || o.BaseMinor != 40495 || o.Name != "#9999" {
		t.Fatalf("order %+v %v", o, err)
	}
	r := &store.OrderRefund{OrderID: o.ID, RefundGID: "gid://shopify/Refund/1", LinesSubtotalMinor: 100, CreatedAt: now}
	if ok, err := st.InsertOrderRefund(ctx, sh.ID, r); !ok || err != nil {
		t.Fatalf("refund %v %v", ok, err)
	}
	if ok, _ := st.InsertOrderRefund(ctx, sh.ID, &store.OrderRefund{OrderID: o.ID, RefundGID: "gid://shopify/Refund/1", CreatedAt: now}); ok {
		t.Fatal("a refund id was stored twice")
	}
	if _, err := st.LoyaltyOrderByGID(ctx, other.ID, gid); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("order visible to another shop: %v", err)
	}

	c := &store.Coupon{CustomerID: cid, ShopifyCustomerID: 7, Code: "PB-AAAA-BBBB", RewardID: "amount-5", DiscountType: string(program.DiscountFixedAmount),
		DiscountValue: "5", PointsSpent: 500, LedgerKey: "redeem:x", CreatedAt: now}
	if ok, err := st.InsertCoupon(ctx, sh.ID, c); !ok || err != nil || c.Status != store.CouponPending {
		t.Fatalf("coupon %+v %v %v", c, ok, err)
	}
	dup := *c
	dup.Code, dup.LedgerKey = "pb-aaaa-bbbb", "redeem:y"
	if ok, _ := st.InsertCoupon(ctx, sh.ID, &dup); ok {
		t.Fatal("a code differing only in case was accepted")
	}
	if _, ok, _ := st.RedeemCouponCode(ctx, other.ID, "PB-AAAA-BBBB", gid, now); ok {
		t.Fatal("another shop redeemed the coupon")
	}
	if got, ok, _ := st.RedeemCouponCode(ctx, sh.ID, "pb-aaaa-bbbb", gid, now); !ok || got.ID != c.ID {
		t.Fatal("coupon not redeemed by code")
	}
	if _, ok, _ := st.RedeemCouponCode(ctx, sh.ID, "PB-AAAA-BBBB", gid, now); ok {
		t.Fatal("coupon redeemed twice")
	}
	if _, err := st.Coupon(ctx, other.ID, c.ID); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("coupon visible to another shop: %v", err)
	}
}
