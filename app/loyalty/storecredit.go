package loyalty

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
)

// seam runs the crash seam (WithAfterShopifyCall), if any.
func (s *Service) seam(ctx context.Context, couponID int64) error {
	if s.afterShopify == nil {
		return nil
	}
	return s.afterShopify(ctx, couponID)
}

// creditMatchSlack is how much earlier than the journal row Shopify may
// date a credit that is still the row's (clock skew between us and
// Shopify).
const creditMatchSlack = 5 * time.Minute

// CreditCallQuiet is how long after a store credit call was sent no other
// is sent for the same row, even when the look-up does not find its
// credit: a call that timed out on our side may still be running at
// Shopify (the client gives up after 10 s). Retries inside it wait (the
// job's backoff, or the sweep).
const CreditCallQuiet = time.Minute

// issueStoreCredit credits a pending store credit reward to the customer's
// Shopify store credit account and confirms it (activateCoupon: the row
// active with the transaction id, store_credit_issued and
// wallet_points_redeemed in one transaction).
//
// storeCreditAccountCredit has no idempotency key, so the row is the
// journal: MarkCouponCalled commits shopify_called_at before every call
// (a compare-and-set, so two attempts never both send), and an attempt
// that finds it set (an earlier call timed out, lost its answer, or its
// process died before confirming) first looks for the credit in Shopify
// (findStoreCredit) and confirms the one it finds instead of crediting
// again; not found, it sends again only once CreditCallQuiet has passed
// since the earlier call, which may still be running at Shopify.
//
// Shopify's refusal (a user error, a missing scope) is final: the row
// fails, the points come back with redemption_failed and Shopify's reason.
// Other errors are returned for the job to retry. On the last attempt a
// call that was throttled (never ran) fails the row; one that may have run
// is looked up, and left pending when not found, for the sweep to settle
// after CreditCallQuiet: found then, it is confirmed; still not found on a
// last attempt, the row fails with the points back. A look-up that fails
// always leaves the row pending: never failed with a credit that exists.
func (s *Service) issueStoreCredit(ctx context.Context, shop *store.Shop, c *store.Coupon, final bool) error {
	if c.ExpiresAt == nil || c.Currency == "" {
		return s.failCoupon(ctx, shop, c, "store credit without an expiry or a currency")
	}
	client := s.clients.Client(shop)
	if c.ShopifyCalledAt != nil {
		found, err := s.findStoreCredit(ctx, client, c)
		switch {
		case err != nil && final:
			s.recordCouponAttempt(ctx, c, "looking the store credit up: "+err.Error())
			s.log.WarnContext(ctx, "store credit left pending: Shopify could not say whether it was credited", "shop", shop.Domain, "coupon", c.ID, "err", err)
			return nil
		case err != nil:
			s.recordCouponAttempt(ctx, c, "looking the store credit up: "+err.Error())
			return fmt.Errorf("loyalty: store credit %d: %w", c.ID, err)
		case found != nil:
			return s.activateCoupon(ctx, shop, c, found.ID)
		case s.clock().Before(c.ShopifyCalledAt.Add(CreditCallQuiet)):
			// Not in Shopify yet, but the earlier call may still land.
			s.recordCouponAttempt(ctx, c, "waiting for the previous store credit call to settle before sending another")
			if final {
				return nil // the coupon sweep tries again later
			}
			return fmt.Errorf("loyalty: store credit %d: the previous call was sent %s ago; waiting", c.ID, s.clock().Sub(*c.ShopifyCalledAt))
		case final:
			// Not in Shopify, and no call can land any more: on the last
			// attempt that is the answer.
			return s.failCoupon(ctx, shop, c, "Shopify did not credit the store credit ("+orDefault(c.LastError, "no answer")+")")
		}
		// Not in Shopify, and the earlier call is long settled: it did not
		// credit. Send it again.
	}
	called, err := s.st.MarkCouponCalled(ctx, shop.ID, c.ID, c.ShopifyCalledAt, s.clock())
	if err != nil {
		return err
	}
	if !called {
		// Confirmed, failed, or another attempt is sending it: never two.
		now, err := s.st.Coupon(ctx, shop.ID, c.ID)
		if err != nil || now.Status != store.CouponPending {
			return err
		}
		return fmt.Errorf("loyalty: store credit %d: another attempt is sending it", c.ID)
	}
	tx, err := client.CreditStoreCredit(ctx, shopify.StoreCreditInput{
		OwnerGID: shopify.GID("Customer", c.ShopifyCustomerID), Amount: c.DiscountValue, Currency: c.Currency, ExpiresAt: *c.ExpiresAt,
	})
	switch {
	case err == nil:
		if err := s.seam(ctx, c.ID); err != nil {
			return err
		}
		return s.activateCoupon(ctx, shop, c, tx.ID)
	case app.ErrorCode(err) == app.EINVALID:
		return s.failCoupon(ctx, shop, c, err.Error())
	case isAccessDenied(err):
		// Rejected before it ran: the shop has not granted the store credit
		// scopes (installed before they were asked for). Final until the
		// merchant approves them.
		return s.failCoupon(ctx, shop, c, "Perkbridge may not issue store credit in this shop until the merchant approves its store credit permissions ("+err.Error()+")")
	case final && isThrottled(err):
		// Throttled calls never ran: nothing can land.
		return s.failCoupon(ctx, shop, c, "Shopify did not credit the store credit ("+err.Error()+")")
	case final:
		// The call may have run, or may still: look, and when it is not
		// there yet leave the row pending; the sweep comes back after
		// CreditCallQuiet and then either finds it or fails it.
		found, lerr := s.findStoreCredit(ctx, client, c)
		switch {
		case lerr != nil:
			s.recordCouponAttempt(ctx, c, "crediting: "+err.Error()+"; looking it up: "+lerr.Error())
			s.log.WarnContext(ctx, "store credit left pending: Shopify could not say whether it was credited", "shop", shop.Domain, "coupon", c.ID, "err", lerr)
			return nil
		case found != nil:
			return s.activateCoupon(ctx, shop, c, found.ID)
		default:
			s.recordCouponAttempt(ctx, c, err.Error())
			return nil
		}
	}
	s.recordCouponAttempt(ctx, c, err.Error())
	return fmt.Errorf("loyalty: store credit %d in Shopify: %w", c.ID, err)
}

// isThrottled reports whether err is Shopify throttling the call (a
// THROTTLED answer or a 429, waited out and retried until the client gave
// up): the call did not run.
func isThrottled(err error) bool {
	var te *shopify.ThrottledError
	return errors.As(err, &te)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// isAccessDenied reports whether err is Shopify's top-level ACCESS_DENIED
// (a missing scope): the operation did not run.
func isAccessDenied(err error) bool {
	var ge *shopify.GraphQLError
	return errors.As(err, &ge) && ge.HasCode("ACCESS_DENIED")
}

// findStoreCredit looks for the credit a store credit row journaled among
// the customer's store credit transactions. The matching rule: a credit
// transaction of the customer whose expiresAt is the row's to the second
// (each store credit row of a customer has its own expiry second, see
// storeCreditTerms), with the row's amount (compared as decimals) and
// currency, created no earlier than creditMatchSlack before the row, and
// held by no other row of the shop. nil when none matches.
func (s *Service) findStoreCredit(ctx context.Context, client *shopify.Client, c *store.Coupon) (*shopify.StoreCreditTransaction, error) {
	txs, err := client.StoreCreditCredits(ctx, shopify.GID("Customer", c.ShopifyCustomerID), *c.ExpiresAt)
	if err != nil {
		return nil, err
	}
	want, err := decimal.NewFromString(c.DiscountValue)
	if err != nil {
		return nil, fmt.Errorf("loyalty: store credit %d amount %q: %w", c.ID, c.DiscountValue, err)
	}
	for i := range txs {
		t := &txs[i]
		amount, err := decimal.NewFromString(string(t.Amount))
		if err != nil || !amount.Equal(want) || t.Currency != c.Currency ||
			!t.ExpiresAt.Equal(c.ExpiresAt.UTC().Truncate(time.Second)) || t.CreatedAt.Before(c.CreatedAt.Add(-creditMatchSlack)) {
			continue
		}
		holder, err := s.st.CouponByShopifyID(ctx, c.ShopID, t.ID)
		switch {
		case app.ErrorCode(err) == app.ENOTFOUND:
			return t, nil
		case err != nil:
			return nil, err
		case holder.ID == c.ID:
			return t, nil
		}
	}
	return nil, nil
}

// CancelRedemption cancels an unused reward coupon for the merchant: the
// code's usage is read in Shopify (an order whose webhook has not arrived
// yet may have used it: 409), the code is deleted (discountCodeDelete; a
// code already gone counts as deleted) and then, in one transaction, the coupon is marked
// cancelled, its points come back (an adjust credit keyed
// "coupon-cancelled:coupon/<id>", reason redemption_cancelled) and
// wallet_points_rewarded is written with reason redemption_cancelled.
// Cancelling again returns the cancelled coupon and gives nothing more.
// Only an active coupon not used on an order can be cancelled: one used
// (or used meanwhile), pending, failed or expired is ECONFLICT (409), as is
// a store credit reward (Perkbridge cannot take store credit back here).
// An id of another customer is ENOTFOUND.
func (s *Service) CancelRedemption(ctx context.Context, shopID app.ShopID, shopifyCustomerID, couponID int64) (*store.Coupon, error) {
	c, err := s.st.Coupon(ctx, shopID, couponID)
	if err != nil || c.ShopifyCustomerID != shopifyCustomerID {
		if err == nil || app.ErrorCode(err) == app.ENOTFOUND {
			return nil, app.Errorf(app.ENOTFOUND, "Redemption not found.")
		}
		return nil, err
	}
	if err := cancellable(c); err != nil || c.Status == store.CouponCancelled {
		return c, err
	}
	shop, err := s.st.Shop(ctx, shopID)
	if err != nil {
		return nil, err
	}
	if shop.State == store.ShopActive && c.ShopifyDiscountID != "" {
		if s.clients == nil {
			return nil, app.Errorf(app.EUNAVAILABLE, "Shopify cannot be reached to delete the code; try again.")
		}
		client := s.clients.Client(shop)
		// An order may have used the code before its webhook reached us:
		// Shopify's usage count says so (when it has caught up).
		_, uses, _, err := client.DiscountUsage(ctx, c.Code)
		if err != nil {
			s.log.WarnContext(ctx, "reading a cancelled coupon's usage failed", "shop", shop.Domain, "coupon", c.ID, "err", err)
			return nil, app.Errorf(app.EUNAVAILABLE, "Shopify could not say whether the code was used; try again.")
		}
		if uses > 0 {
			return nil, app.Errorf(app.ECONFLICT, "This reward was already used on an order.")
		}
		if _, err := client.DeleteDiscountCode(ctx, c.ShopifyDiscountID); err != nil {
			s.log.WarnContext(ctx, "deleting a cancelled coupon's code failed", "shop", shop.Domain, "coupon", c.ID, "err", err)
			if app.ErrorCode(err) == app.EINVALID {
				return nil, app.Errorf(app.ECONFLICT, "Shopify would not delete the code: %s", app.ErrorMessage(err))
			}
			return nil, app.Errorf(app.EUNAVAILABLE, "Shopify could not delete the code; try again.")
		}
	}
	err = s.st.Tx(ctx, func(tx *store.Store) error {
		settings, _, err := tx.ProgramSettings(ctx, shopID)
		if err != nil {
			return err
		}
		u := s.newUnit(ctx, tx, shop, settings, s.clock(), string(app.ActorFrom(ctx)), nil)
		if err := u.lock(c.CustomerID, c.ShopifyCustomerID, "coupon-cancelled"); err != nil {
			return err
		}
		cancelled, err := tx.CancelCoupon(ctx, shopID, c.ID, u.now)
		if err != nil {
			return err
		}
		if !cancelled {
			// Used on an order, or cancelled by a concurrent click, meanwhile.
			now, err := tx.Coupon(ctx, shopID, c.ID)
			if err != nil {
				return err
			}
			*c = *now
			return cancellable(c)
		}
		key := "coupon-cancelled:coupon/" + strconv.FormatInt(c.ID, 10)
		_, expires := ledger.CreditTimes(ledger.KindAdjust, u.now, settings, u.loc)
		e := ledger.Entry{Kind: ledger.KindAdjust, Points: c.PointsSpent, Reason: event.ReasonRedemptionCancelled,
			IdempotencyKey: key, CreatedAt: u.now, ExpiresAt: expires}
		lot, inserted, err := u.credit(e, 0)
		if err != nil {
			return err
		}
		if inserted {
			if err := u.add(key)(event.NewWalletPointsRewarded(u.common(key, ""), e.Points, event.ReasonRedemptionCancelled, "", "", lot.ExpiresAt)); err != nil {
				return err
			}
		}
		return u.flush()
	})
	if err != nil {
		return nil, err
	}
	return s.st.Coupon(ctx, shopID, c.ID)
}

// cancellable says why c cannot be cancelled (an ECONFLICT), or nil; a
// cancelled coupon is nil too (cancelling again is a no-op).
func cancellable(c *store.Coupon) error {
	switch {
	case c.Status == store.CouponCancelled:
		return nil
	case c.DiscountType == store.DiscountTypeStoreCredit:
		return app.Errorf(app.ECONFLICT, "A store credit reward cannot be cancelled here; adjust the store credit in Shopify.")
	case c.RedeemedAt != nil:
		return app.Errorf(app.ECONFLICT, "This reward was already used on an order.")
	case c.Status == store.CouponPending:
		return app.Errorf(app.ECONFLICT, "This reward is still being created in Shopify; try again in a moment.")
	case c.Status != store.CouponActive:
		return app.Errorf(app.ECONFLICT, "Only an active, unused reward can be cancelled (this one is %s).", c.Status)
	}
	return nil
}
