package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/store"
)

// TestStore_GuestPoints: one row per order however often it is inserted;
// claims match by email, phone or record, only unclaimed, unexpired rows
// with points whose wait has not ended, and only in their shop; a claim
// moves the order to the claimant once; expiry and redaction stay in their
// shop.
func TestStore_GuestPoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.Tx(t)
	now := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	sh := mustShop(t, st, "guests-a.myshopify.com")
	other := mustShop(t, st, "guests-b.myshopify.com")
	record, err := st.EnsureCustomer(ctx, sh.ID, store.CustomerIdentity{ShopifyID: 77, GID: "gid://shopify/Customer/77", State: "disabled"})
	if err != nil {
		t.Fatal(err)
	}
	hold := func(s *store.Shop, id int64, customer *int64, email, phone string, points int64, until time.Time) *store.GuestPoints {
		t.Helper()
		gid := fmt.Sprintf("gid://shopify/Order/%d", id)
		o, err := st.UpsertLoyaltyOrder(ctx, s.ID, store.OrderSeen{OrderGID: gid, ShopifyID: id}, now)
		if err != nil {
			t.Fatal(err)
		}
		g := &store.GuestPoints{OrderID: o.ID, OrderGID: gid, CustomerID: customer, Email: email, Phone: phone, Points: points, WaitingUntil: until}
		inserted, err := st.InsertGuestPoints(ctx, s.ID, g, now)
		if err != nil || !inserted {
			t.Fatalf("insert %d: %v %v", id, inserted, err)
		}
		return g
	}
	month := now.AddDate(0, 0, 30)
	byEmail := hold(sh, 1, nil, "ada@example.com", "", 180, month)
	byPhone := hold(sh, 2, nil, "", "+14155550134", 20, month)
	byRecord := hold(sh, 3, &record, "", "", 30, month)
	hold(sh, 4, nil, "ada@example.com", "", 0, month)                 // all refunded
	hold(sh, 5, nil, "ada@example.com", "", 50, now)                  // wait ended
	hold(other, 1, nil, "ada@example.com", "+14155550134", 99, month) // another shop

	again := &store.GuestPoints{OrderID: byEmail.OrderID, OrderGID: byEmail.OrderGID, Email: "x@example.com", Points: 1, WaitingUntil: month}
	if inserted, err := st.InsertGuestPoints(ctx, sh.ID, again, now); err != nil || inserted {
		t.Fatalf("second insert of an order: %v %v", inserted, err)
	}
	ids := func(gs []store.GuestPoints) []int64 {
		var out []int64
		for _, g := range gs {
			out = append(out, g.ID)
		}
		return out
	}
	cases := []struct {
		name         string
		email, phone string
		customer     int64
		want         []int64
	}{
		{"Email", "ada@example.com", "", 0, []int64{byEmail.ID}},
		{"Phone", "", "+14155550134", 0, []int64{byPhone.ID}},
		{"Record", "", "", record, []int64{byRecord.ID}},
		{"All", "ada@example.com", "+14155550134", record, []int64{byEmail.ID, byPhone.ID, byRecord.ID}},
		{"EmptyMatchesNothing", "", "", -1, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := st.LockGuestClaims(ctx, sh.ID, tc.email, tc.phone, tc.customer, now)
			if err != nil || fmt.Sprint(ids(got)) != fmt.Sprint(tc.want) {
				t.Fatalf("claims %v, want %v (%v)", ids(got), tc.want, err)
			}
		})
	}
	if got, _ := st.LockGuestClaims(ctx, sh.ID, "ada@example.com", "", 0, month); len(got) != 0 {
		t.Fatalf("claims at the end of the wait: %v", ids(got))
	}

	claimant, err := st.EnsureCustomer(ctx, sh.ID, store.CustomerIdentity{ShopifyID: 88, GID: "gid://shopify/Customer/88", State: "enabled"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		if claimed, err := st.ClaimGuestPoints(ctx, sh.ID, byEmail, claimant, 88, now); err != nil || claimed != want {
			t.Fatalf("claim %d: %v %v", i, claimed, err)
		}
	}
	if o, _ := st.LoyaltyOrderByGID(ctx, sh.ID, byEmail.OrderGID); o.CustomerID == nil || *o.CustomerID != claimant || *o.ShopifyCustomerID != 88 {
		t.Fatalf("claimed order not moved to the claimant: %+v", o)
	}
	if got, _ := st.LockGuestClaims(ctx, sh.ID, "ada@example.com", "", 0, now); len(got) != 0 {
		t.Fatalf("claimed row claimable again: %v", ids(got))
	}
	if g, _ := st.UnclaimedGuestPointsOfOrder(ctx, sh.ID, byEmail.OrderGID); g != nil {
		t.Fatal("claimed row reported unclaimed")
	}
	if g, _ := st.UnclaimedGuestPointsOfOrder(ctx, sh.ID, byPhone.OrderGID); g == nil || g.Points != 20 {
		t.Fatalf("unclaimed row %+v", g)
	}

	if n, err := st.ExpireGuestPoints(ctx, sh.ID, now); err != nil || n != 1 {
		t.Fatalf("expired %d, %v; want the one whose wait ended", n, err)
	}
	if n, _ := st.ExpireGuestPoints(ctx, sh.ID, now); n != 0 {
		t.Fatalf("expired %d again", n)
	}
	if n, err := st.DeleteGuestPointsOf(ctx, sh.ID, "", "+14155550134", []int64{3}); err != nil || n != 2 {
		t.Fatalf("redaction deleted %d, %v; want the phone's and order 3's", n, err)
	}
	if rows, _ := st.GuestPointsOf(ctx, other.ID, "ada@example.com", ""); len(rows) != 1 || rows[0].Points != 99 {
		t.Fatalf("other shop's rows %+v", rows)
	}
}
