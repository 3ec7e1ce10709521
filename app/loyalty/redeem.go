package loyalty

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/job"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
)

// Redeem turns a customer's points into the reward rewardID: one
// transaction reserves the reward's price from spendable lots,
// soonest-expiring first (ledger.Consume), appends the redeem entry and
// stores the coupon as pending with a fresh unique code (for a store credit
// reward, the journal row of the credit: amount, currency and an expiry of
// its own, see storeCreditTerms; CreateCoupon credits it and
// store_credit_issued replaces coupon_created). The Shopify
// discount code is created after commit by a job (see CreateCoupon);
// coupon_created and wallet_points_redeemed are written only once Shopify
// has confirmed the code, so no flow ever emails a code that does not work,
// and redemption_failed (with the points back) when it never will. Every
// call buys a new coupon; use RedeemWithKey to make a retried request buy
// one.
func (s *Service) Redeem(ctx context.Context, shopID app.ShopID, shopifyCustomerID int64, rewardID string) (*store.Coupon, error) {
	return s.RedeemWithKey(ctx, shopID, shopifyCustomerID, rewardID, uuid.NewString())
}

// RedeemWithKey is Redeem keyed by the client's request id
// (ledger.KeyRedeem): a repeated request returns the coupon the first one
// bought and spends nothing more.
func (s *Service) RedeemWithKey(ctx context.Context, shopID app.ShopID, shopifyCustomerID int64, rewardID, requestID string) (*store.Coupon, error) {
	if requestID == "" {
		return nil, app.FieldError("request_id", "A request id is required.")
	}
	key := ledger.KeyRedeem(requestID)
	var coupon *store.Coupon
	created := false
	err := s.st.Tx(ctx, func(tx *store.Store) error {
		shop, c, settings, err := s.customerContext(ctx, tx, shopID, shopifyCustomerID)
		if err != nil {
			return err
		}
		reward, ok := settings.Reward(rewardID)
		if !ok {
			return app.FieldError("reward_id", "Unknown reward %q.", rewardID)
		}
		u := s.newUnit(ctx, tx, shop, settings, s.clock(), string(app.ActorFrom(ctx)), nil)
		if err := u.lock(c.ID, c.ShopifyID, key); err != nil {
			return err
		}
		// Under the account lock, so two clicks with one request id serialize
		// and the second finds the first's coupon.
		existing, err := tx.CouponByLedgerKey(ctx, shopID, key)
		if err == nil {
			coupon = existing
			return nil
		}
		if app.ErrorCode(err) != app.ENOTFOUND {
			return err
		}
		lots, err := u.openLots()
		if err != nil {
			return err
		}
		allocs, err := ledger.Consume(lots, reward.PointsCost, u.now)
		if err != nil {
			return err
		}
		coupon = &store.Coupon{
			CustomerID: c.ID, ShopifyCustomerID: c.ShopifyID, RewardID: reward.ID, RewardName: reward.Name,
			DiscountType: string(reward.DiscountType), DiscountValue: reward.Value.String(), MinSubtotalMinor: reward.MinSubtotalMinor,
			PointsSpent: reward.PointsCost, LedgerKey: key, CreatedAt: u.now,
		}
		prefix := "PB-"
		if reward.IsStoreCredit() {
			if err := storeCreditTerms(ctx, tx, shop, c, reward, u, coupon); err != nil {
				return err
			}
			prefix = "SC-"
		} else if reward.ExpiresAfterDays > 0 {
			t := u.now.In(u.loc).AddDate(0, 0, reward.ExpiresAfterDays).UTC()
			coupon.ExpiresAt = &t
		}
		if err := insertWithFreshCode(ctx, tx, shopID, coupon, prefix); err != nil {
			return err
		}
		e := ledger.Entry{Kind: ledger.KindRedeem, Points: -reward.PointsCost, Reason: ledger.ReasonReward,
			IdempotencyKey: key, Allocations: allocs, CreatedAt: u.now}
		inserted, err := u.debit(e, 0)
		if err != nil {
			return err
		}
		if !inserted {
			return app.Errorf(app.ECONFLICT, "This redemption was already made.")
		}
		now := u.now
		u.acct.LastRedeemedAt = &now
		created = true
		return u.flush()
	})
	if err != nil {
		return nil, err
	}
	if created {
		s.kickCoupon(ctx, shopID, coupon.ID)
	}
	return coupon, nil
}

// storeCreditTerms fills a store credit journal row: the shop currency,
// the amount (no more decimals than the currency has), and an expiry to the
// second that no other store credit of the customer has, since the expiry
// (with amount and currency) is how the credit is found in Shopify after a
// lost answer (see findStoreCredit).
func storeCreditTerms(ctx context.Context, tx *store.Store, shop *store.Shop, c *store.Customer, reward program.Reward, u *unit, coupon *store.Coupon) error {
	if len(shop.Currency) != 3 {
		return app.Errorf(app.ECONFLICT, "The shop currency is not known yet; try again in a moment.")
	}
	exp := currencyExponent(shop.Currency)
	if !reward.Value.Equal(reward.Value.Truncate(int32(exp))) {
		return app.FieldError("reward_id", "This reward's amount has more decimals than %s allows.", shop.Currency)
	}
	coupon.Currency = strings.ToUpper(shop.Currency)
	coupon.DiscountValue = reward.Value.StringFixed(int32(exp))
	coupon.MinSubtotalMinor = 0
	t := u.now.In(u.loc).AddDate(0, 0, reward.ExpiresAfterDays).UTC().Truncate(time.Second)
	for range 100 {
		taken, err := tx.StoreCreditExpiryTaken(ctx, shop.ID, c.ID, t)
		if err != nil {
			return err
		}
		if !taken {
			coupon.ExpiresAt = &t
			return nil
		}
		t = t.Add(time.Second)
	}
	return app.Errorf(app.ECONFLICT, "Too many store credits at once; try again in a moment.")
}

// couponAlphabet has no look-alike characters (0/O, 1/I/L).
const couponAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// newCouponCode returns prefix + "XXXX-XXXX" ("PB-" for a discount code,
// "SC-" for a store credit's internal reference): 40 random bits, plenty
// against collisions within one shop and too many to guess.
func newCouponCode(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	out := []byte(prefix + "XXXX-XXXX")
	j := 0
	for i := range out {
		if out[i] == 'X' {
			out[i] = couponAlphabet[int(b[j])%len(couponAlphabet)]
			j++
		}
	}
	return string(out)
}

func insertWithFreshCode(ctx context.Context, tx *store.Store, shopID app.ShopID, c *store.Coupon, prefix string) error {
	for range 5 {
		c.Code = newCouponCode(prefix)
		ok, err := tx.InsertCoupon(ctx, shopID, c)
		if err != nil || ok {
			return err
		}
	}
	return app.Errorf(app.ECONFLICT, "Could not pick a free coupon code; try again.")
}

// kickCoupon enqueues the coupon's creation in Shopify after the
// redemption committed. A failed kick is only logged: the coupon sweep
// finds every coupon left pending.
func (s *Service) kickCoupon(ctx context.Context, shopID app.ShopID, couponID int64) {
	s.kick(ctx, job.CreateCoupon{ShopID: int64(shopID), CouponID: couponID}, "shop", shopID, "coupon", couponID)
}

// kick enqueues a job after the transaction that needs it committed. A
// failed kick is only logged, with attrs: a sweep finds the work left.
func (s *Service) kick(ctx context.Context, args river.JobArgs, attrs ...any) {
	if s.jobs == nil {
		return
	}
	if _, err := s.jobs.Insert(context.WithoutCancel(ctx), args, nil); err != nil {
		s.log.WarnContext(ctx, args.Kind()+" kick failed; the sweep will retry", append(attrs, "err", err)...)
	}
}

// CreateCoupon creates a pending coupon's discount code in Shopify (one
// use, for its customer only, ending when the coupon expires), or credits
// a pending store credit (issueStoreCredit), and, once
// Shopify confirms it, marks it active and writes coupon_created and
// wallet_points_redeemed (activateCoupon). It runs in a job, outside any
// database transaction. Shopify's refusal (a user error) is final: the
// coupon is marked failed, its points are given back and redemption_failed
// is written. Other errors (timeouts, 5xx, throttling) are returned for a
// retry. An earlier attempt whose answer was lost may have created the
// code, so before giving up (final, the last attempt) and when Shopify
// says the code is taken, the code is looked up (codeDiscountNodeByCode):
// found, it is the coupon's; not found, the coupon fails. A look-up that
// itself fails on the last attempt leaves the coupon pending for the sweep,
// never failed with a code that may work.
func (s *Service) CreateCoupon(ctx context.Context, shopID app.ShopID, couponID int64, final bool) error {
	c, err := s.st.Coupon(ctx, shopID, couponID)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return nil // the customer or the shop was deleted meanwhile
	}
	if err != nil {
		return err
	}
	if c.Status != store.CouponPending {
		return nil
	}
	shop, err := s.st.Shop(ctx, shopID)
	if err != nil {
		return err
	}
	if shop.State != store.ShopActive {
		return s.failCoupon(ctx, shop, c, "the shop uninstalled the app")
	}
	if s.clients == nil {
		return errors.New("loyalty: no Shopify client to create coupons with")
	}
	if c.DiscountType == store.DiscountTypeStoreCredit {
		return s.issueStoreCredit(ctx, shop, c, final)
	}
	in := shopify.DiscountCodeInput{
		Title:       fmt.Sprintf("%s (loyalty reward)", c.RewardName),
		Code:        c.Code,
		CustomerGID: shopify.GID("Customer", c.ShopifyCustomerID),
		StartsAt:    c.CreatedAt,
	}
	if c.ExpiresAt != nil {
		in.EndsAt = *c.ExpiresAt
	}
	value, err := decimal.NewFromString(c.DiscountValue)
	if err != nil {
		return s.failCoupon(ctx, shop, c, "invalid discount value "+c.DiscountValue)
	}
	if program.DiscountType(c.DiscountType) == program.DiscountPercentage {
		in.Percentage = value.Shift(-2).InexactFloat64()
	} else {
		in.Amount = value.String()
	}
	if c.MinSubtotalMinor > 0 {
		exp := currencyExponent(shop.Currency)
		in.MinimumSubtotal = decimal.New(c.MinSubtotalMinor, int32(-exp)).StringFixed(int32(exp))
	}
	client := s.clients.Client(shop)
	node, err := client.CreateDiscountCode(ctx, in)
	var me *shopify.MutationError
	taken := errors.As(err, &me) && me.HasCode("TAKEN")
	switch {
	case err == nil:
		if err := s.seam(ctx, c.ID); err != nil {
			return err
		}
		return s.activateCoupon(ctx, shop, c, node.ID)
	case taken, final && app.ErrorCode(err) != app.EINVALID:
		// Taken by an earlier attempt of ours, or maybe created by one
		// whose answer never came: only Shopify can say.
		found, lerr := client.DiscountCodeByCode(ctx, c.Code)
		switch {
		case lerr != nil && final:
			s.recordCouponAttempt(ctx, c, "looking the code up after: "+err.Error()+": "+lerr.Error())
			s.log.WarnContext(ctx, "coupon left pending: Shopify could not say whether the code exists", "shop", shop.Domain, "coupon", c.ID, "err", lerr)
			return nil // the coupon sweep tries again later
		case lerr != nil:
			err = lerr
		case found != nil:
			return s.activateCoupon(ctx, shop, c, found.ID)
		case taken:
			err = fmt.Errorf("Shopify said the code is taken, but no discount holds it: %w", err)
			if final {
				return s.failCoupon(ctx, shop, c, err.Error())
			}
		default:
			return s.failCoupon(ctx, shop, c, "Shopify did not create the discount code ("+err.Error()+")")
		}
	case app.ErrorCode(err) == app.EINVALID:
		return s.failCoupon(ctx, shop, c, err.Error())
	}
	s.recordCouponAttempt(ctx, c, err.Error())
	return fmt.Errorf("loyalty: create coupon %d in Shopify: %w", c.ID, err)
}

func (s *Service) recordCouponAttempt(ctx context.Context, c *store.Coupon, reason string) {
	if err := s.st.RecordCouponAttempt(context.WithoutCancel(ctx), c.ShopID, c.ID, reason, s.clock()); err != nil {
		s.log.ErrorContext(ctx, "recording coupon attempt", "coupon", c.ID, "err", err)
	}
}

// activateCoupon marks a pending coupon active with its Shopify discount
// and, in the same transaction, writes coupon_created and
// wallet_points_redeemed: the moment the code works is the moment flows
// hear of it. A coupon no longer pending changes nothing.
func (s *Service) activateCoupon(ctx context.Context, shop *store.Shop, c *store.Coupon, discountID string) error {
	return s.st.Tx(ctx, func(tx *store.Store) error {
		settings, _, err := tx.ProgramSettings(ctx, shop.ID)
		if err != nil {
			return err
		}
		u := s.newUnit(ctx, tx, shop, settings, s.clock(), "system", nil)
		if err := u.lock(c.CustomerID, c.ShopifyCustomerID, "coupon-active"); err != nil {
			return err
		}
		activated, err := tx.ActivateCoupon(ctx, shop.ID, c.ID, discountID, u.now)
		if err != nil || !activated {
			return err
		}
		value, err := decimal.NewFromString(c.DiscountValue)
		if err != nil {
			return fmt.Errorf("loyalty: coupon %d value %q: %w", c.ID, c.DiscountValue, err)
		}
		common := u.common(c.LedgerKey, "")
		if c.DiscountType == store.DiscountTypeStoreCredit {
			if c.ExpiresAt == nil {
				return fmt.Errorf("loyalty: store credit %d has no expiry", c.ID)
			}
			if err := u.add(c.LedgerKey)(event.NewStoreCreditIssued(common, value, c.Currency, c.PointsSpent, *c.ExpiresAt, c.RewardID, c.RewardName)); err != nil {
				return err
			}
			if err := u.add(c.LedgerKey)(event.NewWalletPointsRedeemed(common, c.PointsSpent, c.RewardID, "")); err != nil {
				return err
			}
			return u.flush()
		}
		if err := u.add(c.LedgerKey)(event.NewCouponCreated(common, c.Code, c.DiscountType, value, c.PointsSpent, c.ExpiresAt)); err != nil {
			return err
		}
		if err := u.add(c.LedgerKey)(event.NewWalletPointsRedeemed(common, c.PointsSpent, c.RewardID, c.Code)); err != nil {
			return err
		}
		return u.flush()
	})
}

// failCoupon marks a pending coupon failed and gives its points back with
// an adjust credit keyed "coupon-failed:coupon/<id>", and writes
// redemption_failed with the reason, in one transaction.
func (s *Service) failCoupon(ctx context.Context, shop *store.Shop, c *store.Coupon, reason string) error {
	return s.st.Tx(ctx, func(tx *store.Store) error {
		settings, _, err := tx.ProgramSettings(ctx, shop.ID)
		if err != nil {
			return err
		}
		u := s.newUnit(ctx, tx, shop, settings, s.clock(), "system", nil)
		if err := u.lock(c.CustomerID, c.ShopifyCustomerID, "coupon-failed"); err != nil {
			return err
		}
		failed, err := tx.FailCoupon(ctx, shop.ID, c.ID, reason, u.now)
		if err != nil || !failed {
			return err
		}
		_, expires := ledger.CreditTimes(ledger.KindAdjust, u.now, settings, u.loc)
		what := "coupon " + c.Code + " could not be created"
		if c.DiscountType == store.DiscountTypeStoreCredit {
			what = "store credit " + c.Code + " could not be issued"
		}
		e := ledger.Entry{Kind: ledger.KindAdjust, Points: c.PointsSpent, Reason: what,
			IdempotencyKey: "coupon-failed:coupon/" + strconv.FormatInt(c.ID, 10), CreatedAt: u.now, ExpiresAt: expires}
		if _, _, err := u.credit(e, 0); err != nil {
			return err
		}
		if err := u.add(e.IdempotencyKey)(event.NewRedemptionFailed(u.common(e.IdempotencyKey, ""), c.RewardID, c.PointsSpent, redemptionReason(reason))); err != nil {
			return err
		}
		s.log.WarnContext(ctx, "coupon failed; points given back", "shop", shop.Domain, "coupon", c.ID, "reason", reason)
		return u.flush()
	})
}

// StaleCoupons lists coupons still pending after age, for the sweep that
// re-kicks their creation.
func (s *Service) StaleCoupons(ctx context.Context, age time.Duration) ([]store.PendingCoupon, error) {
	return s.st.StalePendingCoupons(ctx, s.clock().Add(-age), 1000)
}

// redemptionReason is the reason a shopper-facing flow may show: Shopify's
// answer without our package prefixes, on one line, at most 200 characters.
func redemptionReason(reason string) string {
	reason = packagePrefix.ReplaceAllString(reason, "")
	if i := strings.IndexByte(reason, '\n'); i >= 0 {
		reason = reason[:i]
	}
	if len(reason) > 200 {
		reason = reason[:200]
	}
	if strings.TrimSpace(reason) == "" {
		reason = "Shopify could not create the discount code"
	}
	return reason
}

// RedemptionReason is redemptionReason for callers outside the package:
// the reason a failed redemption may show the shopper.
func RedemptionReason(reason string) string { return redemptionReason(reason) }

// packagePrefix matches the "shopify: graphql: " style prefixes our errors
// carry.
var packagePrefix = regexp.MustCompile(`\b(shopify|graphql|loyalty|create discount code|credit store credit): `)

// ExpireRewards marks the shop's reward coupons that reached their end
// unused as expired and, when the program returns expired rewards' points
// (ReturnExpiredRewardPoints), credits the points back with
// wallet_points_rewarded (reason reward_expired), each in the customer's
// own transaction, once (key "coupon-expired:coupon/<id>"). Shopify ends the
// discount itself at the coupon's endsAt, so nothing is asked of it.
func (s *Service) ExpireRewards(ctx context.Context, shopID app.ShopID, now time.Time) (int, error) {
	total := 0
	after := int64(0)
	for {
		coupons, err := s.st.UnusedExpiredCoupons(ctx, shopID, now, after, batchSize)
		if err != nil || len(coupons) == 0 {
			return total, err
		}
		after = coupons[len(coupons)-1].ID
		for _, c := range coupons {
			n, err := s.perCustomer(ctx, shopID, c.CustomerID, now, func(u *unit) (int, error) {
				expired, err := u.tx.ExpireCoupon(u.ctx, shopID, c.ID, u.now)
				if err != nil || !expired || !u.settings.ReturnExpiredRewardPoints || c.PointsSpent <= 0 {
					return b2i(expired), err
				}
				key := "coupon-expired:coupon/" + strconv.FormatInt(c.ID, 10)
				_, expires := ledger.CreditTimes(ledger.KindAdjust, u.now, u.settings, u.loc)
				e := ledger.Entry{Kind: ledger.KindAdjust, Points: c.PointsSpent, Reason: "reward " + c.Code + " expired unused",
					IdempotencyKey: key, CreatedAt: u.now, ExpiresAt: expires}
				lot, inserted, err := u.credit(e, 0)
				if err != nil || !inserted {
					return 1, err
				}
				if err := u.add(key)(event.NewWalletPointsRewarded(u.common(key, ""), e.Points, event.ReasonRewardExpired, "", "", lot.ExpiresAt)); err != nil {
					return 0, err
				}
				return 1, nil
			})
			if err != nil {
				return total, fmt.Errorf("loyalty: expire reward coupon %d: %w", c.ID, err)
			}
			total += n
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
