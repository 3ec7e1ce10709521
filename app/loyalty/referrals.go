package loyalty

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/job"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/referral"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
)

// Referral errors a storefront shows the friend. Each is an *app.Error
// with its own code, so the page answers with a fitting status.
var (
	ErrReferralsDisabled = app.Errorf(app.ENOTFOUND, "This shop is not running a referral program right now.")
	ErrUnknownReferral   = app.Errorf(app.ENOTFOUND, "This referral link is not valid. Ask your friend for a new one.")
	ErrSelfReferral      = &app.Error{Code: app.EINVALID, Field: "email", Message: "You cannot use your own referral link. Share it with a friend instead."}
	ErrInvalidEmail      = &app.Error{Code: app.EINVALID, Field: "email", Message: "Enter a valid email address, like name@example.com."}
	ErrTooManyReferrals  = app.Errorf(app.ERATELIMITED, "This referral link has invited many friends today. Please try again tomorrow.")
	ErrNotBlocked        = app.Errorf(app.ECONFLICT, "This referral is not blocked, or its friend has not paid an order yet: there is nothing to approve.")
)

// Why a referral is blocked, as the merchant reads it. An email that is
// already a customer's, or referred by another member, is not refused on
// the storefront (that would tell anyone whether it is a customer): the
// referral is stored blocked, the friend gets a code like anyone, and the
// code itself only works for customers without orders (the segment).
const (
	BlockAlreadyCustomer = "Already a customer: this email has orders in the shop."
	BlockAlreadyReferred = "Already referred by another member first."
	BlockSameEmail       = "The friend's email is the referrer's (ignoring case and + aliases)."
	BlockSamePhone       = "The friend's phone number is the referrer's."
	BlockSameAddress     = "The friend's address is the referrer's."
	blockNotFirstOrder   = "Not the friend's first order: Shopify counts %d orders for them."
	blockUnverified      = "Could not be checked with Shopify: %s"
)

// FriendSegmentName and FriendSegmentQuery: the customer segment that
// every friend discount is limited to, created once per shop. Shopify
// checks it at checkout, so a friend code works only for a customer with
// no orders, whatever email was typed into the referral form.
const (
	FriendSegmentName  = "Perkbridge referral: customers without orders"
	FriendSegmentQuery = "number_of_orders = 0"
)

// VerifyDelay is how long after the friend's order the check with
// Shopify is first tried: the order's transaction commits meanwhile (a
// check that runs earlier finds nothing to do, and the sweep tries again).
const VerifyDelay = 5 * time.Second

// MaxReferralsPerDay caps the new friends one referral link invites in 24
// hours: each invitation creates a discount code in the shop, so a link
// posted publicly, or a script, cannot flood the shop with codes. A friend
// asking again for their code is not counted.
const MaxReferralsPerDay = 25

// Attempt limits of the storefront referral form, per hour: every POST
// counts, refused ones and repeats included, so that the form cannot be
// used to test many emails (or codes) quickly. The per-link cap of new
// friends (MaxReferralsPerDay) stays on top.
const (
	MaxReferralAttemptsPerAddress = 10
	MaxReferralAttemptsPerLink    = 60
)

// ErrTooManyAttempts is the answer past an attempt limit.
var ErrTooManyAttempts = app.Errorf(app.ERATELIMITED, "Too many tries in a short time. Please try again in an hour.")

// ReferralAttempt counts one attempt at the referral form of link code
// from the client at clientAddr (the shopper's IP address, as the app
// proxy forwards it; "" when unknown) in the current hour, and returns
// ErrTooManyAttempts past MaxReferralAttemptsPerAddress for the address or
// MaxReferralAttemptsPerLink for the link. The counts commit on their own,
// whatever the attempt then gives.
func (s *Service) ReferralAttempt(ctx context.Context, shopID app.ShopID, shopDomain, code, clientAddr string) error {
	window := s.clock().Truncate(time.Hour)
	if key := referral.ClientKey(shopDomain, clientAddr); key != "" {
		n, err := s.st.CountReferralAttempt(ctx, shopID, key, window)
		if err != nil {
			return err
		}
		if n > MaxReferralAttemptsPerAddress {
			return ErrTooManyAttempts
		}
	}
	if code, ok := referral.NormalizeCode(code); ok {
		n, err := s.st.CountReferralAttempt(ctx, shopID, "link:"+code, window)
		if err != nil {
			return err
		}
		if n > MaxReferralAttemptsPerLink {
			return ErrTooManyAttempts
		}
	}
	return nil
}

// Referrer is the member behind a referral code, as the storefront page
// shows them.
type Referrer struct {
	Code      string
	FirstName string
	// FriendDiscountType and FriendDiscountValue are what a friend gets.
	FriendDiscountType  program.DiscountType
	FriendDiscountValue decimal.Decimal
	Currency            string
}

// FriendCoupon is the friend's side of a referral: the discount code.
type FriendCoupon struct {
	Code          string
	DiscountType  program.DiscountType
	DiscountValue decimal.Decimal
	Currency      string
	// Created is false when the friend had asked before and gets the same
	// code again.
	Created bool
}

// ReferralLink returns a member's referral code and URL, giving the member
// a code on first need. The code never changes afterwards.
func (s *Service) ReferralLink(ctx context.Context, shopID app.ShopID, customerID int64) (code, url string, err error) {
	shop, err := s.st.Shop(ctx, shopID)
	if err != nil {
		return "", "", err
	}
	code, err = s.st.EnsureReferralCode(ctx, shopID, customerID)
	if err != nil {
		return "", "", fmt.Errorf("loyalty: referral code: %w", err)
	}
	return code, referral.URL(shop.Domain, code), nil
}

// Referrer returns the member behind a referral code, for the page a
// friend lands on: ErrReferralsDisabled while the program is off,
// ErrUnknownReferral for a code no member has.
func (s *Service) Referrer(ctx context.Context, shopID app.ShopID, code string) (*Referrer, error) {
	shop, err := s.st.Shop(ctx, shopID)
	if err != nil {
		return nil, err
	}
	settings, _, err := s.st.ProgramSettings(ctx, shopID)
	if err != nil {
		return nil, err
	}
	owner, code, err := referrerOf(ctx, s.st, shopID, settings, code)
	if err != nil {
		return nil, err
	}
	return &Referrer{Code: code, FirstName: owner.FirstName, FriendDiscountType: settings.Referral.FriendDiscountType,
		FriendDiscountValue: settings.Referral.FriendDiscountValue, Currency: shop.Currency}, nil
}

func referrerOf(ctx context.Context, st *store.Store, shopID app.ShopID, settings program.Settings, code string) (*store.Customer, string, error) {
	if !settings.Referral.Enabled {
		return nil, "", ErrReferralsDisabled
	}
	code, ok := referral.NormalizeCode(code)
	if !ok {
		return nil, "", ErrUnknownReferral
	}
	owner, err := st.ReferralCodeOwner(ctx, shopID, code)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return nil, "", ErrUnknownReferral
	}
	return owner, code, err
}

// Refer gives the friend with email a discount code through the referral
// code of a member: one referral per friend email per member, so asking
// again with the same link returns the same code (Created false). It
// refuses, with the errors above: a disabled program, an unknown code, a
// malformed email, a referrer referring themselves (the same mailbox,
// ignoring case, "+" aliases and Gmail dots, or the storefront session of
// the referrer: loggedInShopifyID, 0 for a guest), and a link over its
// daily cap. Every other email gets the same answer, so the form tells
// nobody who is a customer: an email that has orders, or that another
// member referred first, gets its code too, and the referral is stored
// blocked with the reason for the merchant. The code is limited in Shopify
// to customers without orders, so such a code is worth nothing to them.
// The referral and its pending coupon are written in one transaction; the
// Shopify discount code is created afterwards by a job
// (CreateReferralCoupon), the coupon sweep re-kicking it if needed.
func (s *Service) Refer(ctx context.Context, shopID app.ShopID, code, email string, loggedInShopifyID int64) (*FriendCoupon, error) {
	var out *FriendCoupon
	var created *store.Referral
	err := s.st.Tx(ctx, func(tx *store.Store) error {
		shop, settings, err := shopAndSettingsIn(ctx, tx, shopID)
		if err != nil {
			return err
		}
		owner, code, err := referrerOf(ctx, tx, shopID, settings, code)
		if err != nil {
			return err
		}
		email, ok := referral.NormalizeEmail(email)
		if !ok {
			return ErrInvalidEmail
		}
		if referral.SameEmail(owner.Email, email) || (loggedInShopifyID != 0 && loggedInShopifyID == owner.ShopifyID) {
			return ErrSelfReferral
		}
		coupon := func(r *store.Referral, isNew bool) *FriendCoupon {
			v, _ := decimal.NewFromString(r.DiscountValue)
			return &FriendCoupon{Code: r.CouponCode, DiscountType: program.DiscountType(r.DiscountType), DiscountValue: v,
				Currency: shop.Currency, Created: isNew}
		}
		existing := func() (bool, error) {
			r, err := tx.ReferralOf(ctx, shopID, owner.ID, email)
			if app.ErrorCode(err) == app.ENOTFOUND {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			out = coupon(r, false)
			return true, nil
		}
		if found, err := existing(); found || err != nil {
			return err
		}
		// Every new email counts, customers' included, so probing the
		// form for customers uses the link's cap up like real invitations.
		recent, err := tx.CountReferralsSince(ctx, shopID, owner.ID, s.clock().Add(-24*time.Hour))
		if err != nil {
			return err
		}
		if recent >= MaxReferralsPerDay {
			return ErrTooManyReferrals
		}
		r := &store.Referral{ReferrerCustomerID: owner.ID, ReferralCode: code, FriendEmail: email, Status: store.ReferralOpen,
			DiscountType: string(settings.Referral.FriendDiscountType), DiscountValue: settings.Referral.FriendDiscountValue.String(),
			CreatedAt: s.clock()}
		hasOrders, err := tx.CustomerHasOrders(ctx, shopID, email)
		if err != nil {
			return err
		}
		referred, err := tx.FriendReferredBefore(ctx, shopID, owner.ID, email)
		if err != nil {
			return err
		}
		switch {
		case hasOrders:
			r.Status, r.BlockReason = store.ReferralBlocked, BlockAlreadyCustomer
		case referred:
			r.Status, r.BlockReason = store.ReferralBlocked, BlockAlreadyReferred
		}
		for range 5 {
			r.CouponCode = referral.NewFriendCouponCode()
			inserted, err := tx.InsertReferral(ctx, shopID, r)
			if err != nil {
				return err
			}
			if inserted {
				created, out = r, coupon(r, true)
				return nil
			}
			// Not inserted: a concurrent request of this link referred
			// this email first (its row is visible now it committed), or
			// the code is taken.
			if found, err := existing(); found || err != nil {
				return err
			}
		}
		return app.Errorf(app.ECONFLICT, "Could not pick a free discount code; try again.")
	})
	if err != nil {
		return nil, err
	}
	if created != nil {
		s.kickReferralCoupon(ctx, shopID, created.ID)
	}
	return out, nil
}

// kickReferralCoupon enqueues the friend coupon's creation in Shopify after
// the referral committed. A failed kick is only logged: the coupon sweep
// finds every friend coupon left pending.
func (s *Service) kickReferralCoupon(ctx context.Context, shopID app.ShopID, referralID int64) {
	s.kick(ctx, job.CreateReferralCoupon{ShopID: int64(shopID), ReferralID: referralID}, "shop", shopID, "referral", referralID)
}

// CreateReferralCoupon creates a friend's pending discount code in Shopify
// and marks it active: one use, open to every buyer (the friend usually has
// no customer account yet), no end date. It runs in a job, outside any
// database transaction, and classifies Shopify's answers as CreateCoupon
// does; a failed friend coupon cost nobody points, so failing only records
// the reason for the merchant.
func (s *Service) CreateReferralCoupon(ctx context.Context, shopID app.ShopID, referralID int64, final bool) error {
	r, err := s.st.Referral(ctx, shopID, referralID)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return nil // the referrer, the friend or the shop was deleted meanwhile
	}
	if err != nil {
		return err
	}
	if r.CouponStatus != store.CouponPending {
		return nil
	}
	shop, err := s.st.Shop(ctx, shopID)
	if err != nil {
		return err
	}
	fail := func(reason string) error {
		_, err := s.st.SetReferralCouponStatus(ctx, shopID, r.ID, store.CouponFailed, "", reason, s.clock())
		s.log.WarnContext(ctx, "referral coupon failed", "shop", shop.Domain, "referral", r.ID, "reason", reason)
		return err
	}
	if shop.State != store.ShopActive {
		return fail("the shop uninstalled the app")
	}
	if s.clients == nil {
		return errors.New("loyalty: no Shopify client to create coupons with")
	}
	client := s.clients.Client(shop)
	segment, err := s.friendSegment(ctx, shop, client)
	if err != nil {
		if app.ErrorCode(err) == app.EINVALID && final {
			return fail(err.Error())
		}
		return fmt.Errorf("loyalty: referral %d: friend segment: %w", r.ID, err)
	}
	in := shopify.DiscountCodeInput{Title: "Referral discount (first order) " + r.CouponCode, Code: r.CouponCode, StartsAt: r.CreatedAt}
	value, err := decimal.NewFromString(r.DiscountValue)
	if err != nil {
		return fail("invalid discount value " + r.DiscountValue)
	}
	if program.DiscountType(r.DiscountType) == program.DiscountPercentage {
		in.Percentage = value.Shift(-2).InexactFloat64()
	} else {
		in.Amount = value.String()
	}
	node, err := client.CreateSegmentDiscountCode(ctx, in, []string{segment})
	var me *shopify.MutationError
	switch {
	case errors.As(err, &me) && segmentRefused(me):
		// The merchant deleted the segment: make it again on the next try.
		if ferr := s.st.ForgetReferralSegment(context.WithoutCancel(ctx), shopID, segment); ferr != nil {
			return ferr
		}
		if final {
			return fail(err.Error())
		}
		return fmt.Errorf("loyalty: create referral coupon %d: %w", r.ID, err)
	case err == nil:
		_, err = s.st.SetReferralCouponStatus(ctx, shopID, r.ID, store.CouponActive, node.ID, "", s.clock())
		return err
	case errors.As(err, &me) && me.HasCode("TAKEN"):
		// Created by an earlier attempt whose answer was lost: the PBF-
		// prefix keeps reward coupons from ever holding the same code.
		_, err = s.st.SetReferralCouponStatus(ctx, shopID, r.ID, store.CouponActive, "", "", s.clock())
		return err
	case app.ErrorCode(err) == app.EINVALID, final:
		return fail(err.Error())
	}
	if rerr := s.st.RecordReferralCouponAttempt(context.WithoutCancel(ctx), shopID, r.ID, err.Error(), s.clock()); rerr != nil {
		s.log.ErrorContext(ctx, "recording referral coupon attempt", "referral", r.ID, "err", rerr)
	}
	return fmt.Errorf("loyalty: create referral coupon %d in Shopify: %w", r.ID, err)
}

// friendSegment returns the shop's segment of customers without orders,
// creating it in Shopify on first need and caching its id.
func (s *Service) friendSegment(ctx context.Context, shop *store.Shop, client *shopify.Client) (string, error) {
	gid, err := s.st.ReferralSegment(ctx, shop.ID)
	if err != nil || gid != "" {
		return gid, err
	}
	gid, err = client.EnsureSegment(ctx, FriendSegmentName, FriendSegmentQuery)
	if err != nil {
		return "", err
	}
	return gid, s.st.SaveReferralSegment(context.WithoutCancel(ctx), shop.ID, gid, s.clock())
}

// segmentRefused reports whether Shopify refused a discount for its
// customer segment (one that no longer exists).
func segmentRefused(me *shopify.MutationError) bool {
	for _, ue := range me.UserErrors {
		for _, f := range ue.Field {
			if f == "customerSegments" {
				return true
			}
		}
	}
	return false
}

// StaleReferralCoupons lists friend coupons still pending after age, for
// the sweep that re-kicks their creation.
func (s *Service) StaleReferralCoupons(ctx context.Context, age time.Duration) ([]store.PendingReferralCoupon, error) {
	return s.st.StalePendingReferralCoupons(ctx, s.clock().Add(-age), 1000)
}

// completeReferral runs in the transaction of an order that just earned
// its points (u holds the friend's locked account): when the order is a
// referred friend's, found by the friend coupon it used or else by the
// customer's email, the open referral moves to verifying with the order,
// and a job (VerifyReferral) checks it with Shopify before the referrer is
// paid. Nothing happens while the program is off, for the referrer's own
// orders, or for a referral no longer open.
//
// Idempotency: the referral row is locked and must still be open, so
// duplicated or out-of-order deliveries (and two workers racing) move it
// once, with the first paid order; the earn only runs once per order
// anyway. A refund or cancellation of the friend's order does not take the
// referrer's points back: the friend became a customer, which is what the
// merchant paid for, and the referrer had no say in the return.
func (s *Service) completeReferral(u *unit, ord *store.LoyaltyOrder, codes []string, email string) error {
	// An order whose points refunds that arrived first already took back
	// earned nothing in the end, and does not qualify.
	if !u.settings.Referral.Enabled || ord.CustomerID == nil || ord.Earned <= ord.Reversed {
		return nil
	}
	ref, err := u.tx.LockOpenReferralForOrder(u.ctx, u.shop.ID, codes, email)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	if ref.ReferrerCustomerID == *ord.CustomerID {
		return nil // the referrer used their friend's code: no reward
	}
	moved, err := u.tx.MarkReferralVerifying(u.ctx, u.shop.ID, ref.ID, store.FriendOrder{
		CustomerID: *ord.CustomerID, OrderGID: ord.OrderGID, Email: referral.CanonicalEmail(email)}, u.now)
	if err != nil || !moved {
		return err
	}
	// Inside the order's transaction, so scheduled a little later; should
	// it run before the commit it finds the referral open and stops, and
	// the sweep kicks it again (as it does when this kick is lost).
	s.kickAt(u.ctx, job.VerifyReferral{ShopID: int64(u.shop.ID), ReferralID: ref.ID}, u.now.Add(VerifyDelay), "shop", u.shop.ID, "referral", ref.ID)
	return nil
}

// kickAt enqueues a job to run at at; a failed kick is only logged.
func (s *Service) kickAt(ctx context.Context, args river.JobArgs, at time.Time, attrs ...any) {
	if s.jobs == nil {
		return
	}
	opts := river.InsertOpts{ScheduledAt: at}
	if w, ok := args.(river.JobArgsWithInsertOpts); ok {
		opts = w.InsertOpts()
		opts.ScheduledAt = at
	}
	if _, err := s.jobs.Insert(context.WithoutCancel(ctx), args, &opts); err != nil {
		s.log.WarnContext(ctx, args.Kind()+" kick failed; the sweep will retry", append(attrs, "err", err)...)
	}
}

// VerifyReferral checks a verifying referral with Shopify and completes it
// or blocks it with the reason. It runs in a job, outside any database
// transaction while it asks Shopify: the friend must have at most one
// order in Shopify (this one: orders from before the app was installed
// count), and must not share the referrer's email (ignoring case, "+"
// aliases and Gmail dots), phone (E.164) or address: the friend's order
// (its email, phone and shipping address, read from Shopify) and the
// friend's customer record (email, phone, default address) against the
// referrer's customer record. Then, in one
// transaction with the referral locked and still verifying, the referrer
// is paid (payReferral) or the referral is blocked: exactly once, however
// often the job runs. Shopify's failures are retried by the job; after the
// last attempt (final) the referral is blocked as unverified, for the
// merchant to approve.
func (s *Service) VerifyReferral(ctx context.Context, shopID app.ShopID, referralID int64, final bool) error {
	r, err := s.st.Referral(ctx, shopID, referralID)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	if r.Status != store.ReferralVerifying || r.FriendCustomerID == nil {
		return nil
	}
	shop, err := s.st.Shop(ctx, shopID)
	if err != nil {
		return err
	}
	friend, err := s.st.CustomerByID(ctx, shopID, *r.FriendCustomerID)
	if err != nil {
		return err
	}
	referrer, err := s.st.CustomerByID(ctx, shopID, r.ReferrerCustomerID)
	if err != nil {
		return err
	}
	reason, err := s.referralCheck(ctx, shop, r, friend, referrer)
	if err != nil {
		if !final {
			if rerr := s.st.RecordReferralVerifyAttempt(context.WithoutCancel(ctx), shopID, r.ID, err.Error(), s.clock()); rerr != nil {
				s.log.ErrorContext(ctx, "recording referral verify attempt", "referral", r.ID, "err", rerr)
			}
			return fmt.Errorf("loyalty: verify referral %d: %w", r.ID, err)
		}
		reason = fmt.Sprintf(blockUnverified, err.Error())
	}
	return s.st.Tx(ctx, func(tx *store.Store) error {
		locked, err := tx.LockReferral(ctx, shopID, r.ID)
		if err != nil || locked.Status != store.ReferralVerifying {
			return ignoreNotFound(err)
		}
		if reason != "" {
			_, err := tx.BlockReferral(ctx, shopID, r.ID, reason, s.clock())
			s.log.InfoContext(ctx, "referral blocked", "shop", shop.Domain, "referral", r.ID, "reason", reason)
			return err
		}
		return s.payReferral(ctx, tx, locked, store.ReferralVerifying, "")
	})
}

func ignoreNotFound(err error) error {
	if app.ErrorCode(err) == app.ENOTFOUND {
		return nil
	}
	return err
}

// referralCheck asks Shopify about the friend and the referrer and returns
// why the referral must not complete, "" when it may. An error is
// Shopify's (or a missing client) and leaves the referral verifying.
func (s *Service) referralCheck(ctx context.Context, shop *store.Shop, r *store.Referral, friend, referrer *store.Customer) (string, error) {
	if shop.State != store.ShopActive {
		return "", app.Errorf(app.EUNAVAILABLE, "the shop uninstalled the app")
	}
	if s.clients == nil {
		return "", errors.New("no Shopify client to check referrals with")
	}
	client := s.clients.Client(shop)
	ff, err := client.CustomerFacts(ctx, customerGID(friend.ShopifyID))
	if err != nil {
		return "", err
	}
	rf, err := client.CustomerFacts(ctx, customerGID(referrer.ShopifyID))
	if app.ErrorCode(err) == app.ENOTFOUND {
		rf, err = &shopify.CustomerFacts{}, nil // the referrer left Shopify: compare what the app knows
	}
	if err != nil {
		return "", err
	}
	// The friend's order: where it ships, its contact. An order Shopify
	// no longer has (deleted) leaves the friend's customer record alone.
	oc, err := client.OrderContact(ctx, r.CompletedOrderGID)
	if app.ErrorCode(err) == app.ENOTFOUND {
		oc, err = &shopify.OrderContact{}, nil
	}
	if err != nil {
		return "", err
	}
	if ff.NumberOfOrders > 1 {
		return fmt.Sprintf(blockNotFirstOrder, ff.NumberOfOrders), nil
	}
	for _, fe := range []string{friend.Email, ff.Email, r.FriendOrderEmail, oc.Email} {
		for _, re := range []string{referrer.Email, rf.Email} {
			if referral.SameEmail(fe, re) {
				return BlockSameEmail, nil
			}
		}
	}
	phones := func(c *store.Customer, f *shopify.CustomerFacts, more ...*shopify.Address) []string {
		out := []string{c.Phone, f.Phone}
		for _, a := range append(more, f.DefaultAddress) {
			if a != nil {
				out = append(out, a.Phone)
			}
		}
		return out
	}
	for _, fp := range append(phones(friend, ff, oc.ShippingAddress), oc.Phone) {
		for _, rp := range phones(referrer, rf) {
			if referral.SamePhone(fp, rp) {
				return BlockSamePhone, nil
			}
		}
	}
	if rf.DefaultAddress != nil {
		for _, fa := range []*shopify.Address{oc.ShippingAddress, ff.DefaultAddress} {
			if fa != nil && referral.SameAddress(addressOf(fa), addressOf(rf.DefaultAddress)) {
				return BlockSameAddress, nil
			}
		}
	}
	return "", nil
}

func addressOf(a *shopify.Address) referral.Address {
	return referral.Address{Address1: a.Address1, Address2: a.Address2, City: a.City, Zip: a.Zip, CountryCode: a.CountryCode}
}

func customerGID(shopifyID int64) string {
	return fmt.Sprintf("gid://shopify/Customer/%d", shopifyID)
}

// payReferral completes a locked referral in status from, in tx: the
// referrer gets settings.Referral.ReferrerPoints (a referral credit keyed
// by the friend, ledger.KeyReferral) and referral_completed; the friend
// gets referee_rewarded. approvedBy names the merchant who approved a
// blocked referral. The status change (from → completed) and the unique
// ledger key make it happen once; a friend who rewarded a referrer before
// (through another referral) pays nobody twice.
func (s *Service) payReferral(ctx context.Context, tx *store.Store, ref *store.Referral, from, approvedBy string) error {
	shop, settings, err := shopAndSettingsIn(ctx, tx, ref.ShopID)
	if err != nil {
		return err
	}
	if ref.FriendCustomerID == nil {
		return ErrNotBlocked
	}
	friend, err := tx.CustomerByID(ctx, shop.ID, *ref.FriendCustomerID)
	if err != nil {
		return err
	}
	referrer, err := tx.CustomerByID(ctx, shop.ID, ref.ReferrerCustomerID)
	if err != nil {
		return err
	}
	now := s.clock()
	actor := "system"
	if approvedBy != "" {
		actor = approvedBy
	}
	key := ledger.KeyReferral(friend.GID)
	points := settings.Referral.ReferrerPoints
	done, err := tx.CompleteReferral(ctx, shop.ID, ref.ID, from, points, approvedBy, now)
	if err != nil || !done {
		return err
	}
	ur := s.newUnit(ctx, tx, shop, settings, now, actor, nil)
	if err := ur.lock(referrer.ID, referrer.ShopifyID, key); err != nil {
		return err
	}
	if points > 0 {
		available, expires := ledger.CreditTimes(ledger.KindReferral, now, settings, ur.loc)
		e := ledger.Entry{Kind: ledger.KindReferral, Points: points, Reason: ledger.ReasonReferral,
			IdempotencyKey: key, CreatedAt: now, ExpiresAt: expires, AvailableAt: available}
		lot, inserted, err := ur.credit(e, 0)
		if err != nil {
			return err
		}
		if !inserted {
			// This friend already rewarded a referrer (another referral
			// matched by code): the row is closed, nobody is paid twice.
			return ur.flush()
		}
		if err := ur.add(key)(event.NewWalletPointsRewarded(ur.common(key, ""), points, event.ReasonReferral, "", "", lot.ExpiresAt)); err != nil {
			return err
		}
		if err := ur.add(key)(event.NewReferralCompleted(ur.common(key, ""), ref.ReferralCode, friend.FirstName, points, "")); err != nil {
			return err
		}
		if err := ur.evaluateTier(false, key); err != nil {
			return err
		}
	}
	if err := ur.flush(); err != nil {
		return err
	}
	// referral_completed needs a reward (the catalog's one-of), so a
	// program paying the referrer 0 points sends only the friend's event.
	value, err := decimal.NewFromString(ref.DiscountValue)
	if err != nil {
		return fmt.Errorf("loyalty: referral %d discount value: %w", ref.ID, err)
	}
	uf := s.newUnit(ctx, tx, shop, settings, now, actor, nil)
	if err := uf.lock(friend.ID, friend.ShopifyID, key); err != nil {
		return err
	}
	if err := uf.add(key)(event.NewRefereeRewarded(uf.common(key, ""), ref.CouponCode, value, referrer.FirstName)); err != nil {
		return err
	}
	return uf.flush()
}

// ApproveReferral completes a blocked referral whose friend paid an order,
// on the merchant's word (the actor of ctx): the referrer is paid once,
// as if the checks had passed. ErrNotBlocked for any other referral, and
// for a second approval.
func (s *Service) ApproveReferral(ctx context.Context, shopID app.ShopID, referralID int64) error {
	actor := string(app.ActorFrom(ctx))
	if actor == "" {
		actor = "merchant"
	}
	return s.st.Tx(ctx, func(tx *store.Store) error {
		r, err := tx.LockReferral(ctx, shopID, referralID)
		if err != nil {
			return err
		}
		if r.Status != store.ReferralBlocked || r.FriendCustomerID == nil || r.CompletedOrderGID == "" {
			return ErrNotBlocked
		}
		return s.payReferral(ctx, tx, r, store.ReferralBlocked, actor)
	})
}

// ReferralItem is a referral as the merchant's list shows it: the friend's
// email masked.
type ReferralItem struct {
	ID                int64
	Status            string
	Reason            string
	FriendEmailMasked string
	FriendShopifyID   int64
	ReferrerShopifyID int64
	ReferrerName      string
	ReferrerEmail     string
	OrderID           string
	BlockedAt         *time.Time
	CreatedAt         time.Time
	// Approvable: blocked with a paid order, so approving pays the referrer.
	Approvable bool
}

// Referrals lists the shop's referrals in status ("" for all), newest
// first, at most 200.
func (s *Service) Referrals(ctx context.Context, shopID app.ShopID, status string) ([]ReferralItem, error) {
	switch status {
	case "", store.ReferralOpen, store.ReferralVerifying, store.ReferralCompleted, store.ReferralBlocked:
	default:
		return nil, app.FieldError("status", "Status must be open, verifying, completed or blocked.")
	}
	rows, err := s.st.ListReferrals(ctx, shopID, status, 200)
	if err != nil {
		return nil, err
	}
	out := make([]ReferralItem, len(rows))
	for i, r := range rows {
		it := ReferralItem{ID: r.ID, Status: r.Status, Reason: r.BlockReason, FriendEmailMasked: referral.MaskEmail(r.FriendEmail),
			ReferrerShopifyID: r.ReferrerShopifyID, ReferrerName: r.ReferrerFirstName, ReferrerEmail: r.ReferrerEmail,
			OrderID: numericID(r.CompletedOrderGID), BlockedAt: r.BlockedAt, CreatedAt: r.CreatedAt,
			Approvable: r.Status == store.ReferralBlocked && r.FriendCustomerID != nil && r.CompletedOrderGID != ""}
		if r.FriendShopifyID != nil {
			it.FriendShopifyID = *r.FriendShopifyID
		}
		out[i] = it
	}
	return out, nil
}

// StaleVerifyingReferrals lists referrals still verifying after age, for
// the sweep that re-kicks their check.
func (s *Service) StaleVerifyingReferrals(ctx context.Context, age time.Duration) ([]store.PendingReferralCoupon, error) {
	return s.st.StaleVerifyingReferrals(ctx, s.clock().Add(-age), 1000)
}

// orderEmail is the email that ties an order to a referral: the customer's,
// else the order's contact email.
func orderEmail(o *shopify.Order) string {
	for _, e := range []string{customerEmail(o), o.Email, o.ContactEmail} {
		if n, ok := referral.NormalizeEmail(e); ok {
			return n
		}
	}
	return ""
}

func customerEmail(o *shopify.Order) string {
	if o.Customer == nil {
		return ""
	}
	return o.Customer.Email
}
