package loyalty

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	ErrAlreadyCustomer   = &app.Error{Code: app.ECONFLICT, Field: "email", Message: "This email already belongs to a customer who has ordered here. Referral discounts are for new customers."}
	ErrAlreadyReferred   = &app.Error{Code: app.ECONFLICT, Field: "email", Message: "This email was already referred by another customer."}
	ErrTooManyReferrals  = app.Errorf(app.ERATELIMITED, "This referral link has invited many friends today. Please try again tomorrow.")
)

// MaxReferralsPerDay caps the new friends one referral link invites in 24
// hours: each invitation creates a discount code in the shop, so a link
// posted publicly, or a script, cannot flood the shop with codes. A friend
// asking again for their code is not counted.
const MaxReferralsPerDay = 25

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
// code of a member: one referral per friend email per shop, so asking
// again with the same link returns the same code (Created false). It
// refuses, with the errors above: a disabled program, an unknown code, a
// malformed email, a referrer referring themselves (the same email, or the
// storefront session of the referrer: loggedInShopifyID, 0 for a guest), a
// friend who is already a customer with orders, and an email another
// member referred first. The referral and its pending coupon are written in
// one transaction; the Shopify discount code is created afterwards by a job
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
			r, err := tx.ReferralByFriendEmail(ctx, shopID, email)
			if app.ErrorCode(err) == app.ENOTFOUND {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			if r.ReferrerCustomerID != owner.ID {
				return true, ErrAlreadyReferred
			}
			out = coupon(r, false)
			return true, nil
		}
		if found, err := existing(); found || err != nil {
			return err
		}
		recent, err := tx.CountReferralsSince(ctx, shopID, owner.ID, s.clock().Add(-24*time.Hour))
		if err != nil {
			return err
		}
		if recent >= MaxReferralsPerDay {
			return ErrTooManyReferrals
		}
		hasOrders, err := tx.CustomerHasOrders(ctx, shopID, email)
		if err != nil {
			return err
		}
		if hasOrders {
			return ErrAlreadyCustomer
		}
		r := &store.Referral{ReferrerCustomerID: owner.ID, ReferralCode: code, FriendEmail: email,
			DiscountType: string(settings.Referral.FriendDiscountType), DiscountValue: settings.Referral.FriendDiscountValue.String(),
			CreatedAt: s.clock()}
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
			// Not inserted: a concurrent request referred this email first
			// (its row is visible now it committed), or the code is taken.
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
	in := shopify.DiscountCodeInput{Title: "Referral discount for " + r.FriendEmail, Code: r.CouponCode, StartsAt: r.CreatedAt}
	value, err := decimal.NewFromString(r.DiscountValue)
	if err != nil {
		return fail("invalid discount value " + r.DiscountValue)
	}
	if program.DiscountType(r.DiscountType) == program.DiscountPercentage {
		in.Percentage = value.Shift(-2).InexactFloat64()
	} else {
		in.Amount = value.String()
	}
	node, err := s.clients.Client(shop).CreateDiscountCode(ctx, in)
	var me *shopify.MutationError
	switch {
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

// StaleReferralCoupons lists friend coupons still pending after age, for
// the sweep that re-kicks their creation.
func (s *Service) StaleReferralCoupons(ctx context.Context, age time.Duration) ([]store.PendingReferralCoupon, error) {
	return s.st.StalePendingReferralCoupons(ctx, s.clock().Add(-age), 1000)
}

// completeReferral runs in the transaction of an order that just earned
// its points (u holds the friend's locked account): when the order is a
// referred friend's, found by the friend coupon it used or else by the
// customer's email, the referral completes exactly once. The referrer gets
// settings.Referral.ReferrerPoints (a referral credit keyed by the friend,
// ledger.KeyReferral) and referral_completed; the friend gets
// referee_rewarded. Nothing happens while the program is off, for the
// referrer's own orders, or when the friend was rewarded before.
//
// Idempotency: the referral row is locked and must still be open, and the
// ledger key is unique, so duplicated or out-of-order deliveries (and two
// workers racing) complete it once; the earn only runs once per order
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
	friend, err := u.tx.CustomerByShopifyID(u.ctx, u.shop.ID, *ord.ShopifyCustomerID)
	if err != nil {
		return err
	}
	referrer, err := u.tx.CustomerByID(u.ctx, u.shop.ID, ref.ReferrerCustomerID)
	if err != nil {
		return err
	}
	if referral.SameEmail(referrer.Email, friend.Email) {
		return nil // one person behind two customer records
	}
	key := ledger.KeyReferral(friend.GID)
	points := u.settings.Referral.ReferrerPoints
	done, err := u.tx.CompleteReferral(u.ctx, u.shop.ID, ref.ID, friend.ID, ord.OrderGID, points, u.now)
	if err != nil || !done {
		return err
	}
	ur := s.newUnit(u.ctx, u.tx, u.shop, u.settings, u.now, u.actor, u.webhook)
	if err := ur.lock(referrer.ID, referrer.ShopifyID, key); err != nil {
		return err
	}
	if points > 0 {
		available, expires := ledger.CreditTimes(ledger.KindReferral, u.now, u.settings, u.loc)
		e := ledger.Entry{Kind: ledger.KindReferral, Points: points, Reason: ledger.ReasonReferral,
			IdempotencyKey: key, CreatedAt: u.now, ExpiresAt: expires, AvailableAt: available}
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
	// referral_completed needs a reward (the catalog's one-of), so a
	// program paying the referrer 0 points sends only the friend's event.
	value, err := decimal.NewFromString(ref.DiscountValue)
	if err != nil {
		return fmt.Errorf("loyalty: referral %d discount value: %w", ref.ID, err)
	}
	if err := u.add(key)(event.NewRefereeRewarded(u.common(key, event.Channel(ord.Channel)), ref.CouponCode, value, referrer.FirstName)); err != nil {
		return err
	}
	return ur.flush()
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
