package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
)

// blockedReferral makes Ada (the page bundle's customer) refer a friend
// whose paid order was blocked for reason, and returns the referral id.
func (b *pageBundle) blockedReferral(t *testing.T, friendShopifyID int64, email, reason string) int64 {
	t.Helper()
	ctx := context.Background()
	s := program.Defaults()
	s.Referral.Enabled, s.Referral.ReferrerPoints = true, 250
	if err := b.loyalty.SaveProgram(ctx, b.shop.ID, s); err != nil {
		t.Fatal(err)
	}
	ada, err := b.st.CustomerByShopifyID(ctx, b.shop.ID, pageCustomerID)
	if err != nil {
		t.Fatal(err)
	}
	code, _, err := b.loyalty.ReferralLink(ctx, b.shop.ID, ada.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.loyalty.Refer(ctx, b.shop.ID, code, email, 0); err != nil {
		t.Fatal(err)
	}
	friend, _, err := b.st.UpsertCustomer(ctx, b.shop.ID, store.CustomerIdentity{ShopifyID: friendShopifyID,
		GID: "gid://shopify/Customer/" + strconv.FormatInt(friendShopifyID, 10), Email: email, FirstName: "Grace"})
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	err = b.db.Pool.QueryRow(ctx, `UPDATE referrals SET status = 'blocked', block_reason = $1, blocked_at = now(), friend_customer_id = $2,
    completed_order_gid = 'gid://shopify/Order/4242' WHERE shop_id = $3 AND friend_email = $4 RETURNING id`, reason, friend.ID, b.shop.ID, email).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestPageReferrals: the blocked referrals page lists each with the masked
// friend, the referrer and the reason; Approve pays the referrer once.
func TestPageReferrals(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	rec, d := b.page(t, pageShop, "/app/referrals")
	requireStatus(t, rec, http.StatusOK)
	if d.Find(`[data-testid="referrals-empty"]`).Length() != 1 {
		t.Fatal("no empty state")
	}
	if d.Find(`[data-testid="nav-app.referrals.list"]`).Length() != 1 && d.Find(`ui-nav-menu a[href*="/app/referrals"]`).Length() != 1 {
		t.Error("no nav entry for the referrals page")
	}
	b.blockedReferral(t, 7101, "grace@example.com", loyalty.BlockSamePhone)

	rec, d = b.page(t, pageShop, "/app/referrals")
	requireStatus(t, rec, http.StatusOK)
	rows := d.Find(`[data-testid="referral-row"]`)
	if rows.Length() != 1 {
		t.Fatalf("%d rows", rows.Length())
	}
	for sel, want := range map[string]string{
		`[data-testid="referral-friend"]`:   "g***@example.com",
		`[data-testid="referral-referrer"]`: "Ada",
		`[data-testid="referral-reason"]`:   loyalty.BlockSamePhone,
		`[data-testid="referral-order"]`:    "4242",
	} {
		if got := pageText(rows.Find(sel)); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	if strings.Contains(rec.Body.String(), "grace@example.com") {
		t.Error("the friend's email is shown in full")
	}
	// Shop B sees nothing of shop A's.
	if _, d := b.page(t, pageOtherShop, "/app/referrals"); d.Find(`[data-testid="referral-row"]`).Length() != 0 {
		t.Error("shop B sees shop A's referrals")
	}

	action := formAction(t, d, `[data-testid="referral-approve-form"]`)
	rec, _ = b.submit(t, pageShop, action, url.Values{})
	requireRedirect(t, rec, "/app/referrals", "referral-approved")
	balance := func() int64 {
		v, err := b.loyalty.Customer(context.Background(), b.shop.ID, pageCustomerID)
		if err != nil {
			t.Fatal(err)
		}
		return v.PointsBalance
	}
	if got := balance(); got != 250 {
		t.Fatalf("referrer balance %d after approval", got)
	}
	// The same form again (a double click, a stale tab): 409, paid once.
	rec, d = b.submit(t, pageShop, action, url.Values{})
	requireStatus(t, rec, http.StatusConflict)
	if got := pageText(d.Find(`[data-testid="referrals-error"]`)); !strings.Contains(got, "nothing to approve") {
		t.Errorf("second approval message %q", got)
	}
	if got := balance(); got != 250 {
		t.Fatalf("referrer balance %d after a second approval", got)
	}
	_, d = b.page(t, pageShop, "/app/referrals?done=referral-approved")
	if d.Find(`[data-testid="referral-row"]`).Length() != 0 {
		t.Error("an approved referral is still listed")
	}
}

// TestAPI_Referrals: GET /api/v1/referrals?status=blocked and POST
// /api/v1/referrals/{id}/approve, scoped to the token's shop.
func TestAPI_Referrals(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	id := b.blockedReferral(t, 7102, "grace@example.com", loyalty.BlockSameAddress)
	rec := b.api(http.MethodGet, "/api/v1/referrals?status=blocked", b.token(pageShop))
	requireStatus(t, rec, http.StatusOK)
	list := decodeJSON[[]map[string]any](t, rec)
	if len(list) != 1 || list[0]["id"] != float64(id) || list[0]["reason"] != loyalty.BlockSameAddress || list[0]["friend_email"] != "g***@example.com" ||
		list[0]["referrer_customer_id"] != strconv.Itoa(pageCustomerID) || list[0]["order_id"] != "4242" || list[0]["approvable"] != true ||
		list[0]["friend_customer_id"] != "7102" || list[0]["status"] != "blocked" {
		t.Fatalf("list %v", list)
	}
	requireStatus(t, b.api(http.MethodGet, "/api/v1/referrals?status=maybe", b.token(pageShop)), http.StatusUnprocessableEntity)
	if l := decodeJSON[[]map[string]any](t, b.api(http.MethodGet, "/api/v1/referrals?status=blocked", b.token(pageOtherShop))); len(l) != 0 {
		t.Fatalf("shop B lists %v", l)
	}
	path := "/api/v1/referrals/" + strconv.FormatInt(id, 10) + "/approve"
	requireStatus(t, b.api(http.MethodPost, path, b.token(pageOtherShop)), http.StatusNotFound)
	rec = b.api(http.MethodPost, path, b.token(pageShop))
	requireStatus(t, rec, http.StatusOK)
	if v := decodeJSON[map[string]any](t, rec); v["status"] != "completed" {
		t.Fatalf("approve answered %v", v)
	}
	requireStatus(t, b.api(http.MethodPost, path, b.token(pageShop)), http.StatusConflict)
	if l := decodeJSON[[]map[string]any](t, b.api(http.MethodGet, "/api/v1/referrals?status=completed", b.token(pageShop))); len(l) != 1 {
		t.Fatalf("completed %v", l)
	}
}
