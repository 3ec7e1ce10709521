package loyalty_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/worker"
)

const (
	referrerID int64 = 7001
	friendID   int64 = 7002
)

// referralSetup turns referrals on (500 points for the referrer, 10 % for
// the friend), signs the referrer up and returns their referral code.
func referralSetup(t *testing.T, b *bundle) string {
	t.Helper()
	b.program(t, b.shop, func(s *program.Settings) {
		s.Referral.Enabled = true
		s.Referral.ReferrerPoints = 500
	})
	b.deliver(t, b.shop, "customers/create", customerBody(referrerID, "ada@example.com"))
	code, url, err := b.svc.ReferralLink(context.Background(), b.shop.ID, b.customerRow(t, b.shop, referrerID).ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://" + b.shop.Domain + "/apps/loyalty/r/" + code; url != want || len(code) != 8 {
		t.Fatalf("referral link %q %q, want %q", code, url, want)
	}
	return code
}

// friendOrder is an orders/paid body of the friend: email and first name
// set, optionally using discount codes.
func friendOrder(t *testing.T, id, customer int64, email string, codes ...string) []byte {
	t.Helper()
	body := order{ID: id, Customer: customer, Subtotal: "80.00", Codes: codes}.body(t)
	body = set(t, body, "customer.email", email)
	body = set(t, body, "customer.first_name", "Grace")
	return set(t, body, "email", email)
}

func TestReferralLink_Stable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code := referralSetup(t, b)
	again, _, err := b.svc.ReferralLink(context.Background(), b.shop.ID, b.customerRow(t, b.shop, referrerID).ID)
	if err != nil || again != code {
		t.Fatalf("second link %q (%v), first %q", again, err, code)
	}
	// Another shop's customer row id gets nothing from this shop.
	other := b.newShop(t, "UTC")
	if _, _, err := b.svc.ReferralLink(context.Background(), other.ID, b.customerRow(t, b.shop, referrerID).ID); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("cross-shop link: %v", err)
	}
}

func TestRefer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code := referralSetup(t, b)
	ctx := context.Background()

	fc, err := b.svc.Refer(ctx, b.shop.ID, strings.ToLower(code), " Grace@Example.com ", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !fc.Created || !strings.HasPrefix(fc.Code, "PBF-") || fc.DiscountType != program.DiscountPercentage || fc.DiscountValue.String() != "10" {
		t.Fatalf("friend coupon %+v", fc)
	}
	again, err := b.svc.Refer(ctx, b.shop.ID, code, "grace@example.com", 0)
	if err != nil || again.Created || again.Code != fc.Code {
		t.Fatalf("second ask: %+v, %v", again, err)
	}
	if n := b.count(t, "SELECT count(*) FROM referrals WHERE shop_id = $1", b.shop.ID); n != 1 {
		t.Fatalf("%d referrals, want 1 per friend email", n)
	}
	r, err := b.st.ReferralByFriendEmail(ctx, b.shop.ID, "grace@example.com")
	if err != nil || r.CouponStatus != store.CouponPending || r.Status != store.ReferralOpen || r.ReferralCode != code {
		t.Fatalf("referral row %+v, %v", r, err)
	}

	// A second member cannot take over the friend: their referral is
	// stored blocked, and the answer does not say so (a code all the same).
	b.deliver(t, b.shop, "customers/create", customerBody(7003, "alan@example.com"))
	code2, _, _ := b.svc.ReferralLink(ctx, b.shop.ID, b.customerRow(t, b.shop, 7003).ID)
	fc2, err := b.svc.Refer(ctx, b.shop.ID, code2, "grace@example.com", 0)
	if err != nil || !fc2.Created || fc2.Code == fc.Code {
		t.Fatalf("second referrer: %+v %v", fc2, err)
	}
	r2, err := b.st.ReferralOf(ctx, b.shop.ID, b.customerRow(t, b.shop, 7003).ID, "grace@example.com")
	if err != nil || r2.Status != store.ReferralBlocked || r2.BlockReason != loyalty.BlockAlreadyReferred {
		t.Fatalf("second referral %+v, %v", r2, err)
	}

	// A customer who has ordered is no new friend: answered alike, stored
	// blocked with the reason.
	b.deliver(t, b.shop, "orders/paid", friendOrder(t, 9101, 7004, "old@example.com"))
	fc3, err := b.svc.Refer(ctx, b.shop.ID, code, "Old@example.com", 0)
	if err != nil || !fc3.Created || !strings.HasPrefix(fc3.Code, "PBF-") {
		t.Fatalf("existing customer: %+v %v", fc3, err)
	}
	r3, _ := b.st.ReferralOf(ctx, b.shop.ID, b.customerRow(t, b.shop, referrerID).ID, "old@example.com")
	if r3.Status != store.ReferralBlocked || r3.BlockReason != loyalty.BlockAlreadyCustomer {
		t.Fatalf("existing customer's referral %+v", r3)
	}
	// Rejections, each with its own error.
	for _, tc := range []struct {
		name     string
		code     string
		email    string
		loggedIn int64
		want     error
		status   string
	}{
		{"UnknownCode", "ZZZZZZZZ", "new@example.com", 0, loyalty.ErrUnknownReferral, app.ENOTFOUND},
		{"JunkCode", "../../x", "new@example.com", 0, loyalty.ErrUnknownReferral, app.ENOTFOUND},
		{"SelfEmail", code, "ADA@example.com", 0, loyalty.ErrSelfReferral, app.EINVALID},
		{"SelfAlias", code, "ADA+friend@Example.com", 0, loyalty.ErrSelfReferral, app.EINVALID},
		{"SelfSession", code, "ada.other@example.com", referrerID, loyalty.ErrSelfReferral, app.EINVALID},
		{"MalformedEmail", code, "grace@", 0, loyalty.ErrInvalidEmail, app.EINVALID},
	} {
		_, err := b.svc.Refer(ctx, b.shop.ID, tc.code, tc.email, tc.loggedIn)
		if err != tc.want || app.ErrorCode(err) != tc.status {
			t.Errorf("%s: err = %v (%s), want %v", tc.name, err, app.ErrorCode(err), tc.want)
		}
	}
	if n := b.count(t, "SELECT count(*) FROM referrals WHERE shop_id = $1", b.shop.ID); n != 3 {
		t.Fatalf("%d referrals after refusals, want 3", n)
	}
}

func TestRefer_Disabled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code := referralSetup(t, b)
	b.program(t, b.shop, func(s *program.Settings) { s.Referral.Enabled = false })
	if _, err := b.svc.Refer(context.Background(), b.shop.ID, code, "grace@example.com", 0); err != loyalty.ErrReferralsDisabled {
		t.Fatalf("disabled program: %v", err)
	}
	if _, err := b.svc.Referrer(context.Background(), b.shop.ID, code); err != loyalty.ErrReferralsDisabled {
		t.Fatalf("disabled program page: %v", err)
	}
	if n := b.count(t, "SELECT count(*) FROM referrals WHERE shop_id = $1", b.shop.ID); n != 0 {
		t.Fatalf("%d referrals while disabled", n)
	}
}

// TestRefer_DailyCapPerLink: one link invites at most MaxReferralsPerDay
// new friends in 24 hours; asking again for a code is free, and the cap
// resets after a day (the rows' created_at moved back).
func TestRefer_DailyCapPerLink(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code := referralSetup(t, b)
	ctx := context.Background()
	for i := range loyalty.MaxReferralsPerDay {
		if _, err := b.svc.Refer(ctx, b.shop.ID, code, fmt.Sprintf("friend%d@example.com", i), 0); err != nil {
			t.Fatalf("friend %d: %v", i, err)
		}
	}
	if _, err := b.svc.Refer(ctx, b.shop.ID, code, "one-too-many@example.com", 0); err != loyalty.ErrTooManyReferrals || app.ErrorCode(err) != app.ERATELIMITED {
		t.Fatalf("over the cap: %v", err)
	}
	if again, err := b.svc.Refer(ctx, b.shop.ID, code, "friend0@example.com", 0); err != nil || again.Created {
		t.Fatalf("a friend asking again is refused: %+v %v", again, err)
	}
	if n := b.count(t, "SELECT count(*) FROM referrals WHERE shop_id = $1", b.shop.ID); n != int64(loyalty.MaxReferralsPerDay) {
		t.Fatalf("%d referrals, want %d", n, loyalty.MaxReferralsPerDay)
	}
	if err := b.st.Gorm().Exec("UPDATE referrals SET created_at = created_at - interval '25 hours' WHERE shop_id = ?", b.shop.ID).Error; err != nil {
		t.Fatal(err)
	}
	if fc, err := b.svc.Refer(ctx, b.shop.ID, code, "tomorrow@example.com", 0); err != nil || !fc.Created {
		t.Fatalf("next day: %+v %v", fc, err)
	}
}

// adaHome is the referrer's default address in Shopify.
var adaHome = fake.ShopifyAddress{Address1: "12 Main St.", City: "Ottawa", Zip: "K1A 0B1", CountryCode: "CA", Phone: "+1 613 555 0101"}

// referralShopify is referralSetup with a fake Shopify that knows the
// referrer (email, phone, address) and the friend (a new customer, no
// orders yet, their own email, phone and address); tests record the
// friend's orders in the fake (AddOrder), which counts them.
func referralShopify(t *testing.T) (*shopifyBundle, string) {
	t.Helper()
	sb := setupShopify(t, false)
	code := referralSetup(t, sb.bundle)
	home := adaHome
	sb.fake.AddCustomer(sb.shop.Domain, fake.ShopifyCustomer{ID: referrerID, Email: "ada@example.com", Phone: "+16135550100", DefaultAddress: &home})
	sb.fake.AddCustomer(sb.shop.Domain, fake.ShopifyCustomer{ID: friendID, Email: "grace@example.com", Phone: "+14165550199",
		DefaultAddress: &fake.ShopifyAddress{Address1: "9 Queen St W", City: "Toronto", Zip: "M5H 2N2", CountryCode: "CA"}})
	return sb, code
}

// verifyAll runs the check of every verifying referral, as the job does.
func (sb *shopifyBundle) verifyAll(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	due, err := sb.svc.StaleVerifyingReferrals(ctx, -time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range due {
		if err := sb.svc.VerifyReferral(ctx, r.ShopID, r.ReferralID, false); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReferral_CompletesOnce: the friend's first order completes the
// referral once, after the check with Shopify, whatever is delivered
// again, in whatever order, and however often the check runs.
func TestReferral_CompletesOnce(t *testing.T) {
	t.Parallel()
	b, code := referralShopify(t)
	ctx := context.Background()
	fc, err := b.svc.Refer(ctx, b.shop.ID, code, "grace@example.com", 0)
	if err != nil {
		t.Fatal(err)
	}
	before := b.balance(t, b.shop, referrerID)

	// The friend orders under another email, with the code: the code ties
	// the order to the referral. orders/create first (no earn), then
	// orders/paid three times, then a second order.
	body := friendOrder(t, 9201, friendID, "grace.work@example.com", strings.ToLower(fc.Code))
	b.fake.AddOrder(b.shop.Domain, fake.ShopifyOrder{ID: 9201, CustomerID: friendID, Email: "grace.work@example.com"})
	if st, _ := b.deliver(t, b.shop, "orders/create", body); st != store.WebhookIgnored {
		t.Fatalf("orders/create: %s", st)
	}
	if n := b.count(t, "SELECT count(*) FROM referrals WHERE shop_id = $1 AND status = 'open'", b.shop.ID); n != 1 {
		t.Fatalf("moved before the earning topic")
	}
	for range 3 {
		b.deliver(t, b.shop, "orders/paid", body)
	}
	b.direct(t, b.shop, "orders/paid", body)
	b.deliver(t, b.shop, "orders/paid", friendOrder(t, 9202, friendID, "grace.work@example.com", fc.Code))

	// Paid, not yet checked: nothing for the referrer, and a check job
	// was kicked (scheduled shortly after the order's transaction).
	r, _ := b.st.ReferralByFriendEmail(ctx, b.shop.ID, "grace@example.com")
	if r.Status != store.ReferralVerifying || r.CompletedOrderGID != "gid://shopify/Order/9201" || r.FriendOrderEmail != "grace.work@example.com" {
		t.Fatalf("referral row before the check %+v", r)
	}
	if n := len(b.events(t, b.shop, "referral_completed")); n != 0 || b.balance(t, b.shop, referrerID) != before {
		t.Fatalf("paid before the check: %d events", n)
	}
	if n := b.count(t, "SELECT count(*) FROM river_job WHERE kind = 'verify_referral' AND args->>'referral_id' = $1", fmt.Sprint(r.ID)); n != 1 {
		t.Fatalf("%d verify jobs", n)
	}

	// The check, run by two workers at once, and once more later.
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- b.svc.VerifyReferral(ctx, b.shop.ID, r.ID, false) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	b.verifyAll(t)
	if err := b.svc.VerifyReferral(ctx, b.shop.ID, r.ID, false); err != nil {
		t.Fatal(err)
	}

	if got := b.balance(t, b.shop, referrerID) - before; got != 500 {
		t.Fatalf("referrer got %d points, want 500", got)
	}
	es := b.entries(t, b.shop, referrerID)
	if countKind(es, ledger.KindReferral) != 1 {
		t.Fatalf("referrer ledger %v", keys(es))
	}
	for _, e := range es {
		if e.Kind == ledger.KindReferral && (e.Reason != ledger.ReasonReferral || e.IdempotencyKey != ledger.KeyReferral(fmt.Sprint(friendID))) {
			t.Fatalf("referral entry %+v", e)
		}
	}
	b.reconcile(t, b.shop, referrerID)
	b.reconcile(t, b.shop, friendID)

	done := b.events(t, b.shop, "referral_completed")
	if len(done) != 1 || done[0].ShopifyCustomerID != referrerID {
		t.Fatalf("referral_completed: %+v", done)
	}
	p := props(t, done[0])
	if p["referral_code"] != code || p["friend_first_name"] != "Grace" || p["reward_points"] != 500.0 {
		t.Fatalf("referral_completed properties %v", p)
	}
	if done[0].PointsBalance != b.balance(t, b.shop, referrerID) {
		t.Fatalf("referral_completed balance %d", done[0].PointsBalance)
	}
	rewarded := b.events(t, b.shop, "referee_rewarded")
	if len(rewarded) != 1 || rewarded[0].ShopifyCustomerID != friendID {
		t.Fatalf("referee_rewarded: %+v", rewarded)
	}
	p = props(t, rewarded[0])
	if p["coupon_code"] != fc.Code || p["discount_value"] != 10.0 || p["referrer_first_name"] != "Ada" {
		t.Fatalf("referee_rewarded properties %v", p)
	}
	var referralCredits int
	for _, e := range b.events(t, b.shop, "wallet_points_rewarded") {
		if e.ShopifyCustomerID == referrerID && props(t, e)["reason"] == "referral" {
			referralCredits++
		}
	}
	if referralCredits != 1 {
		t.Fatalf("%d wallet_points_rewarded for the referral", referralCredits)
	}
	r, _ = b.st.ReferralByFriendEmail(ctx, b.shop.ID, "grace@example.com")
	if r.Status != store.ReferralCompleted || r.CompletedOrderGID != "gid://shopify/Order/9201" || r.ReferrerPoints != 500 || r.FriendCustomerID == nil || r.ApprovedAt != nil {
		t.Fatalf("referral row %+v", r)
	}
	if err := b.svc.ApproveReferral(ctx, b.shop.ID, r.ID); err != loyalty.ErrNotBlocked {
		t.Fatalf("approving a completed referral: %v", err)
	}

	// A refund of the friend's order does not take the referral points back.
	b.deliver(t, b.shop, "refunds/create", refund{ID: 9301, Order: 9201, Lines: []string{"80.00"}}.body(t))
	if got := b.balance(t, b.shop, referrerID) - before; got != 500 {
		t.Fatalf("after the friend's refund the referrer has %d, want 500", got)
	}
}

// TestReferral_Checks: the friend's paid order completes the referral only
// when Shopify knows them as new and they share nothing with the referrer;
// otherwise it is blocked with the reason, pays nothing, and the merchant's
// approval pays the referrer once.
func TestReferral_Checks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		email  string // the order's email
		friend func(c *fake.ShopifyCustomer)
		reason string // "" completes
		order  func(o *fake.ShopifyOrder)
	}{
		{"NewFriend", "grace@example.com", nil, "", nil},
		{"PriorOrdersInShopify", "grace@example.com", func(c *fake.ShopifyCustomer) { c.NumberOfOrders = 2 }, // orders from before the install
			"Not the friend's first order: Shopify counts 3 orders for them.", nil},
		{"OrderShipsToReferrer", "grace@example.com", nil, loyalty.BlockSameAddress, func(o *fake.ShopifyOrder) {
			o.ShippingAddress = &fake.ShopifyAddress{Address1: "12 main st", City: "OTTAWA", Zip: "K1A0B1", CountryCode: "CA"}
		}},
		{"OrderPhoneIsReferrers", "grace@example.com", nil, loyalty.BlockSamePhone, func(o *fake.ShopifyOrder) { o.Phone = "+1-613-555-0100" }},
		{"OrderShippingPhoneIsReferrers", "grace@example.com", nil, loyalty.BlockSamePhone, func(o *fake.ShopifyOrder) {
			o.ShippingAddress = &fake.ShopifyAddress{Address1: "9 Queen St W", Zip: "M5H 2N2", CountryCode: "CA", Phone: "+16135550101"}
		}},
		{"SameEmailAlias", "JOHN+x@Example.com", nil, loyalty.BlockSameEmail, nil},
		{"SameEmailInShopify", "grace@example.com", func(c *fake.ShopifyCustomer) { c.Email = "Ada+Promo@example.com" }, loyalty.BlockSameEmail, nil},
		{"SamePhone", "grace@example.com", func(c *fake.ShopifyCustomer) { c.Phone = "+1 (613) 555-0100" }, loyalty.BlockSamePhone, nil},
		{"SamePhoneOnAddress", "grace@example.com", func(c *fake.ShopifyCustomer) { c.Phone = ""; c.DefaultAddress.Phone = "+16135550101" }, loyalty.BlockSamePhone, nil},
		{"SameDefaultAddress", "grace@example.com", func(c *fake.ShopifyCustomer) {
			c.DefaultAddress = &fake.ShopifyAddress{Address1: "12 MAIN ST", City: "ottawa", Zip: "k1a0b1", CountryCode: "ca"}
		}, loyalty.BlockSameAddress, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, code := referralShopify(t)
			ctx := context.Background()
			if tc.name == "SameEmailAlias" {
				// The referrer is john@example.com here.
				b.fake.AddCustomer(b.shop.Domain, fake.ShopifyCustomer{ID: referrerID, Email: "john@example.com"})
				if err := b.st.Gorm().Exec("UPDATE customers SET email = 'john@example.com' WHERE shop_id = ? AND shopify_id = ?", b.shop.ID, referrerID).Error; err != nil {
					t.Fatal(err)
				}
			}
			if tc.friend != nil {
				c, _ := b.fake.Customer(b.shop.Domain, friendID)
				tc.friend(&c)
				b.fake.AddCustomer(b.shop.Domain, c)
			}
			fc, err := b.svc.Refer(ctx, b.shop.ID, code, "grace@example.com", 0)
			if err != nil {
				t.Fatal(err)
			}
			before := b.balance(t, b.shop, referrerID)
			// Shopify has the order (and counts it for the friend).
			o := fake.ShopifyOrder{ID: 9701, CustomerID: friendID, Email: tc.email,
				ShippingAddress: &fake.ShopifyAddress{Address1: "9 Queen St W", City: "Toronto", Zip: "M5H 2N2", CountryCode: "CA"}}
			if tc.order != nil {
				tc.order(&o)
			}
			b.fake.AddOrder(b.shop.Domain, o)
			b.deliver(t, b.shop, "orders/paid", friendOrder(t, 9701, friendID, tc.email, fc.Code))
			b.verifyAll(t)
			b.verifyAll(t) // nothing left to do

			r, _ := b.st.ReferralByFriendEmail(ctx, b.shop.ID, "grace@example.com")
			credits := countKind(b.entries(t, b.shop, referrerID), ledger.KindReferral)
			if tc.reason == "" {
				if r.Status != store.ReferralCompleted || credits != 1 || b.balance(t, b.shop, referrerID)-before != 500 {
					t.Fatalf("status %s (%s), %d credits", r.Status, r.BlockReason, credits)
				}
				return
			}
			if r.Status != store.ReferralBlocked || r.BlockReason != tc.reason || r.BlockedAt == nil || credits != 0 ||
				len(b.events(t, b.shop, "referral_completed"))+len(b.events(t, b.shop, "referee_rewarded")) != 0 {
				t.Fatalf("status %s, reason %q, %d credits", r.Status, r.BlockReason, credits)
			}
			list, err := b.svc.Referrals(ctx, b.shop.ID, store.ReferralBlocked)
			if err != nil || len(list) != 1 || list[0].ID != r.ID || list[0].Reason != tc.reason || !list[0].Approvable ||
				list[0].FriendEmailMasked != "g***@example.com" || list[0].ReferrerShopifyID != referrerID || list[0].OrderID != "9701" {
				t.Fatalf("blocked list %+v, %v", list, err)
			}

			// The merchant approves it, twice and at once: paid once.
			errs := make(chan error, 2)
			for range 2 {
				go func() { errs <- b.svc.ApproveReferral(ctxAs("merchant:1"), b.shop.ID, r.ID) }()
			}
			var ok, refused int
			for range 2 {
				switch err := <-errs; err {
				case nil:
					ok++
				case loyalty.ErrNotBlocked:
					refused++
				default:
					t.Fatal(err)
				}
			}
			if ok != 1 || refused != 1 {
				t.Fatalf("approvals: %d ok, %d refused", ok, refused)
			}
			r, _ = b.st.ReferralByFriendEmail(ctx, b.shop.ID, "grace@example.com")
			if r.Status != store.ReferralCompleted || r.ApprovedAt == nil || r.ApprovedBy == "" || b.balance(t, b.shop, referrerID)-before != 500 ||
				countKind(b.entries(t, b.shop, referrerID), ledger.KindReferral) != 1 || len(b.events(t, b.shop, "referral_completed")) != 1 {
				t.Fatalf("after approval %+v", r)
			}
		})
	}
}

// TestReferral_ShopifyUnreachable: a check that cannot reach Shopify
// leaves the referral verifying for the job's retry; the last attempt
// blocks it as unverified, for the merchant to approve.
func TestReferral_ShopifyUnreachable(t *testing.T) {
	t.Parallel()
	b, code := referralShopify(t)
	ctx := context.Background()
	fc, err := b.svc.Refer(ctx, b.shop.ID, code, "grace@example.com", 0)
	if err != nil {
		t.Fatal(err)
	}
	b.deliver(t, b.shop, "orders/paid", friendOrder(t, 9801, friendID, "grace@example.com", fc.Code))
	r, _ := b.st.ReferralByFriendEmail(ctx, b.shop.ID, "grace@example.com")
	b.fake.FailNext(b.shop.Domain, 503, 100)
	if err := b.svc.VerifyReferral(ctx, b.shop.ID, r.ID, false); err == nil {
		t.Fatal("no error while Shopify is down")
	}
	r, _ = b.st.ReferralByFriendEmail(ctx, b.shop.ID, "grace@example.com")
	if r.Status != store.ReferralVerifying || r.VerifyAttempts != 1 || r.VerifyError == "" {
		t.Fatalf("after a failed check %+v", r)
	}
	if err := b.svc.VerifyReferral(ctx, b.shop.ID, r.ID, true); err != nil {
		t.Fatal(err)
	}
	r, _ = b.st.ReferralByFriendEmail(ctx, b.shop.ID, "grace@example.com")
	if r.Status != store.ReferralBlocked || !strings.HasPrefix(r.BlockReason, "Could not be checked with Shopify") {
		t.Fatalf("after the last attempt %+v", r)
	}
	if n := countKind(b.entries(t, b.shop, referrerID), ledger.KindReferral); n != 0 {
		t.Fatalf("%d credits", n)
	}
}

// TestReferral_ApproveOnlyWithOrder: a referral blocked when it was made
// (the email was a customer's) has no order to pay for: not approvable.
func TestReferral_ApproveOnlyWithOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code := referralSetup(t, b)
	ctx := context.Background()
	b.deliver(t, b.shop, "orders/paid", friendOrder(t, 9901, 7004, "old@example.com"))
	if _, err := b.svc.Refer(ctx, b.shop.ID, code, "old@example.com", 0); err != nil {
		t.Fatal(err)
	}
	list, err := b.svc.Referrals(ctx, b.shop.ID, store.ReferralBlocked)
	if err != nil || len(list) != 1 || list[0].Approvable || list[0].Reason != loyalty.BlockAlreadyCustomer {
		t.Fatalf("blocked list %+v, %v", list, err)
	}
	if err := b.svc.ApproveReferral(ctx, b.shop.ID, list[0].ID); err != loyalty.ErrNotBlocked {
		t.Fatalf("approve without an order: %v", err)
	}
	if _, err := b.svc.Referrals(ctx, b.shop.ID, "nonsense"); app.ErrorCode(err) != app.EINVALID {
		t.Fatalf("bad status filter: %v", err)
	}
	// Another shop cannot approve it.
	other := b.newShop(t, "UTC")
	if err := b.svc.ApproveReferral(ctx, other.ID, list[0].ID); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("cross-shop approve: %v", err)
	}
}

// TestReferral_NoCompletion: orders that must not move a referral.
func TestReferral_NoCompletion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, b *bundle, coupon string)
	}{
		{"ReferrerUsesFriendCode", func(t *testing.T, b *bundle, coupon string) {
			b.deliver(t, b.shop, "orders/paid", friendOrder(t, 9501, referrerID, "ada@example.com", coupon))
		}},
		{"ProgramDisabledSince", func(t *testing.T, b *bundle, coupon string) {
			b.program(t, b.shop, func(s *program.Settings) { s.Referral.Enabled = false })
			b.deliver(t, b.shop, "orders/paid", friendOrder(t, 9502, friendID, "grace@example.com", coupon))
		}},
		{"CancelledBeforePaid", func(t *testing.T, b *bundle, coupon string) {
			body := friendOrder(t, 9503, friendID, "grace@example.com", coupon)
			b.deliver(t, b.shop, "orders/cancelled", body)
			b.deliver(t, b.shop, "orders/paid", body)
		}},
		{"RefundedBeforePaid", func(t *testing.T, b *bundle, coupon string) {
			body := friendOrder(t, 9504, friendID, "grace@example.com", coupon)
			b.deliver(t, b.shop, "orders/create", body)
			b.deliver(t, b.shop, "refunds/create", refund{ID: 9505, Order: 9504, Lines: []string{"80.00"}}.body(t))
			b.deliver(t, b.shop, "orders/paid", body)
		}},
		{"OtherCustomerOtherEmail", func(t *testing.T, b *bundle, coupon string) {
			b.deliver(t, b.shop, "orders/paid", friendOrder(t, 9506, 7009, "someone@example.com"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			code := referralSetup(t, b)
			fc, err := b.svc.Refer(context.Background(), b.shop.ID, code, "grace@example.com", 0)
			if err != nil {
				t.Fatal(err)
			}
			before := b.balance(t, b.shop, referrerID)
			tc.run(t, b, fc.Code)
			if n := len(b.events(t, b.shop, "referral_completed")) + len(b.events(t, b.shop, "referee_rewarded")); n != 0 {
				t.Fatalf("%d referral events", n)
			}
			if n := countKind(b.entries(t, b.shop, referrerID), ledger.KindReferral); n != 0 {
				t.Fatalf("%d referral credits", n)
			}
			if tc.name != "ReferrerUsesFriendCode" {
				if got := b.balance(t, b.shop, referrerID); got != before {
					t.Fatalf("referrer balance %d, was %d", got, before)
				}
			}
			r, _ := b.st.ReferralByFriendEmail(context.Background(), b.shop.ID, "grace@example.com")
			if r.Status != store.ReferralOpen {
				t.Fatalf("referral %s", r.Status)
			}
		})
	}
}

// TestReferral_ConcurrentOrders: two first orders of the friend processed
// at once move the referral once; it completes once.
func TestReferral_ConcurrentOrders(t *testing.T) {
	t.Parallel()
	b, code := referralShopify(t)
	fc, err := b.svc.Refer(context.Background(), b.shop.ID, code, "grace@example.com", 0)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			_, _, err := b.tryDeliver(b.shop, "orders/paid", friendOrder(t, 9601+int64(i%2), friendID, "grace@example.com", fc.Code))
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	b.verifyAll(t)
	if n := countKind(b.entries(t, b.shop, referrerID), ledger.KindReferral); n != 1 {
		t.Fatalf("%d referral credits", n)
	}
	if n := len(b.events(t, b.shop, "referral_completed")); n != 1 {
		t.Fatalf("%d referral_completed", n)
	}
	b.balancesMatchLedger(t, b.shop)
}

// TestCreateReferralCoupon: the friend's code is created in (fake)
// Shopify by the job, once, limited to the shop's segment of customers
// without orders (created once per shop), once per customer, one use.
func TestCreateReferralCoupon(t *testing.T) {
	t.Parallel()
	sb := setupShopify(t, false)
	code := referralSetup(t, sb.bundle)
	ctx := context.Background()
	fc, err := sb.svc.Refer(ctx, sb.shop.ID, code, "grace@example.com", 0)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := sb.st.ReferralByFriendEmail(ctx, sb.shop.ID, "grace@example.com")
	jobs := func() int64 {
		return sb.count(t, "SELECT count(*) FROM river_job WHERE kind = 'create_referral_coupon' AND args->>'referral_id' = $1", fmt.Sprint(r.ID))
	}
	if n := jobs(); n != 1 {
		t.Fatalf("%d jobs kicked after the referral committed", n)
	}
	// The sweep sees the pending coupon but never doubles a live job.
	sb.clock.Add(2 * worker.CouponSweepAge)
	stale, err := sb.svc.StaleReferralCoupons(ctx, worker.CouponSweepAge)
	if err != nil || len(stale) != 1 || stale[0].ReferralID != r.ID {
		t.Fatalf("stale friend coupons %+v, %v", stale, err)
	}
	inserter, err := worker.NewClient(sb.db.Pool, worker.Config{}, worker.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := worker.KickStaleCoupons(ctx, inserter, sb.svc, worker.CouponSweepAge); err != nil || jobs() != 1 {
		t.Fatalf("sweep: %v, %d jobs", err, jobs())
	}
	if err := sb.svc.CreateReferralCoupon(ctx, sb.shop.ID, r.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := sb.svc.CreateReferralCoupon(ctx, sb.shop.ID, r.ID, false); err != nil { // a retried job
		t.Fatal(err)
	}
	codes := sb.fake.DiscountCodes(sb.shop.Domain)
	if len(codes) != 1 {
		t.Fatalf("%d discount codes in Shopify", len(codes))
	}
	segs := sb.fake.Segments(sb.shop.Domain)
	if len(segs) != 1 || segs[0].Query != loyalty.FriendSegmentQuery || segs[0].Name != loyalty.FriendSegmentName {
		t.Fatalf("segments %+v", segs)
	}
	d := codes[0]
	r, _ = sb.st.ReferralByFriendEmail(ctx, sb.shop.ID, "grace@example.com")
	if d.Code != fc.Code || d.UsageLimit != 1 || !d.AppliesOncePerCustomer || len(d.CustomerIDs) != 0 ||
		len(d.CustomerSegmentIDs) != 1 || d.CustomerSegmentIDs[0] != segs[0].ID || r.CouponStatus != store.CouponActive || r.ShopifyDiscountID != d.ID {
		t.Fatalf("discount %+v, referral %+v", d, r)
	}
	if strings.Contains(d.Title, "grace") {
		t.Fatalf("the friend's email in the discount title %q", d.Title)
	}
	pct := d.Input["customerGets"].(map[string]any)["value"].(map[string]any)["percentage"]
	if pct != 0.1 {
		t.Fatalf("percentage %v", pct)
	}

	// A second friend's code reuses the shop's segment.
	if _, err := sb.svc.Refer(ctx, sb.shop.ID, code, "alan@example.com", 0); err != nil {
		t.Fatal(err)
	}
	r2, _ := sb.st.ReferralByFriendEmail(ctx, sb.shop.ID, "alan@example.com")
	if err := sb.svc.CreateReferralCoupon(ctx, sb.shop.ID, r2.ID, false); err != nil {
		t.Fatal(err)
	}
	if n := len(sb.fake.Segments(sb.shop.Domain)); n != 1 {
		t.Fatalf("%d segments after two coupons", n)
	}
	if codes := sb.fake.DiscountCodes(sb.shop.Domain); len(codes) != 2 || codes[1].CustomerSegmentIDs[0] != segs[0].ID {
		t.Fatalf("second discount %+v", codes)
	}
}

// TestCreateReferralCoupon_SegmentGone: a cached segment the merchant
// deleted in Shopify makes the discount fail with a user error; the cache
// is dropped and the next attempt makes the segment again.
func TestCreateReferralCoupon_SegmentGone(t *testing.T) {
	t.Parallel()
	sb := setupShopify(t, false)
	code := referralSetup(t, sb.bundle)
	ctx := context.Background()
	if _, err := sb.svc.Refer(ctx, sb.shop.ID, code, "grace@example.com", 0); err != nil {
		t.Fatal(err)
	}
	r, _ := sb.st.ReferralByFriendEmail(ctx, sb.shop.ID, "grace@example.com")
	if err := sb.st.SaveReferralSegment(ctx, sb.shop.ID, "gid://shopify/Segment/404", sb.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := sb.svc.CreateReferralCoupon(ctx, sb.shop.ID, r.ID, false); err == nil {
		t.Fatal("a deleted segment went unnoticed")
	}
	if gid, _ := sb.st.ReferralSegment(ctx, sb.shop.ID); gid != "" || len(sb.fake.DiscountCodes(sb.shop.Domain)) != 0 {
		t.Fatalf("cached segment %q after the refusal", gid)
	}
	if err := sb.svc.CreateReferralCoupon(ctx, sb.shop.ID, r.ID, false); err != nil {
		t.Fatal(err)
	}
	segs, codes := sb.fake.Segments(sb.shop.Domain), sb.fake.DiscountCodes(sb.shop.Domain)
	if len(segs) != 1 || len(codes) != 1 || codes[0].CustomerSegmentIDs[0] != segs[0].ID {
		t.Fatalf("segments %+v, discounts %+v", segs, codes)
	}
	if gid, _ := sb.st.ReferralSegment(ctx, sb.shop.ID); gid != segs[0].ID {
		t.Fatalf("cached %q", gid)
	}
}

// TestReferralAttempt_Limits: every attempt counts, per client address and
// per link, in the current hour; unknown addresses and junk codes count
// only where they can.
func TestReferralAttempt_Limits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code := referralSetup(t, b)
	ctx := context.Background()
	for i := range loyalty.MaxReferralAttemptsPerAddress {
		if err := b.svc.ReferralAttempt(ctx, b.shop.ID, b.shop.Domain, code, "2001:db8:7:7::1"); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	// Another address in the same IPv6 /64 is the same client.
	if err := b.svc.ReferralAttempt(ctx, b.shop.ID, b.shop.Domain, code, "2001:db8:7:7::ffff"); err != loyalty.ErrTooManyAttempts || app.ErrorCode(err) != app.ERATELIMITED {
		t.Fatalf("past the address limit: %v", err)
	}
	// The link: MaxReferralAttemptsPerLink from anywhere (here: no known
	// address), the allowed attempts above included (the refused one
	// stopped at the address and did not count for the link).
	for i := loyalty.MaxReferralAttemptsPerAddress; i < loyalty.MaxReferralAttemptsPerLink; i++ {
		if err := b.svc.ReferralAttempt(ctx, b.shop.ID, b.shop.Domain, strings.ToLower(code), ""); err != nil {
			t.Fatalf("link attempt %d: %v", i, err)
		}
	}
	if err := b.svc.ReferralAttempt(ctx, b.shop.ID, b.shop.Domain, code, "198.51.100.1"); err != loyalty.ErrTooManyAttempts {
		t.Fatalf("past the link limit: %v", err)
	}
	// Junk codes are not counted per link; the next hour starts afresh.
	if err := b.svc.ReferralAttempt(ctx, b.shop.ID, b.shop.Domain, "../x", ""); err != nil {
		t.Fatalf("junk code: %v", err)
	}
	b.clock.Add(time.Hour)
	if err := b.svc.ReferralAttempt(ctx, b.shop.ID, b.shop.Domain, code, "2001:db8:7:7::1"); err != nil {
		t.Fatalf("next hour: %v", err)
	}
	if n := b.count(t, "SELECT count(*) FROM referral_attempts WHERE client_key LIKE '%2001%' OR client_key LIKE '%198.51%'"); n != 0 {
		t.Fatal("a client address is stored in the clear")
	}
}
