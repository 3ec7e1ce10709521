package loyalty

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/job"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/tier"
)

// Order topics.
const (
	TopicOrdersCreate    = "orders/create"
	TopicOrdersPaid      = "orders/paid"
	TopicOrdersFulfilled = "orders/fulfilled"
	TopicOrdersCancelled = "orders/cancelled"
)

// earnTopic returns the order topic that credits purchase points.
func earnTopic(s program.Settings) string {
	if s.EarnOn == program.EarnOnFulfilled {
		return TopicOrdersFulfilled
	}
	return TopicOrdersPaid
}

// Order applies an order webhook inside tx (webhooks.Loyalty).
//
//   - Test orders ("test": true) are ignored unless the program counts
//     them (Settings.CountTestOrders), when they earn like real orders. A
//     test order that already earned (the switch was on then) is handled
//     like any order, so its cancellation still takes the points back.
//   - Every topic records the order (customer, channel, earning base, tax
//     display), so refunds and cancellations that arrive first can be
//     priced and remembered, and marks loyalty coupons in discount_codes as
//     redeemed (coupon_redeemed, once per coupon).
//   - The earning topic (orders/paid, or orders/fulfilled per EarnOn)
//     credits the order's points once (key ledger.KeyEarn), with the tier
//     multiplier, and at once takes back the share of refunds that came
//     first (ledger.KeyCatchUp). A guest order earns nothing and is counted,
//     unless the program keeps its points waiting for an account
//     (GuestPointsDays, guests.go).
//   - A guest order counted on its earning topic earns when a later
//     webhook (orders/updated) attaches its customer, for that customer,
//     once.
//   - orders/cancelled takes back what refunds left (ledger.KeyCancel).
//   - Every payload's lines are remembered; once the order has earned, lines
//     added or removed since the earning payload (an exchange's new item,
//     an edit) change its points (see order_lines.go).
//   - A member's order that is fulfilled (orders/fulfilled, or any topic
//     with fulfillment_status fulfilled) remembers when and its products,
//     once, for review requests and reviews (see reviews.go).
//
// A delivery with no effect returns a job.Ignore error with the reason; the
// processor records it and commits whatever was remembered.
func (s *Service) Order(ctx context.Context, tx *store.Store, shop *store.Shop, topic string, o *shopify.Order, webhookRowID int64) error {
	orderGID, orderID := gidOf(o.AdminGraphQLAPIID, "Order", o.ID)
	if orderGID == "" {
		return job.Permanent(errors.New("loyalty: order payload has no id"))
	}
	settings, _, err := tx.ProgramSettings(ctx, shop.ID)
	if err != nil {
		return err
	}
	if o.Test && !settings.CountTestOrders {
		known, err := tx.LoyaltyOrderByGID(ctx, shop.ID, orderGID)
		if err != nil && app.ErrorCode(err) != app.ENOTFOUND {
			return err
		}
		if known == nil || known.EarnedAt == nil {
			return job.Ignore("test order: no loyalty effect (the program does not count test orders)")
		}
	}
	exp := currencyExponent(shop.Currency)
	facts, err := orderFacts(o, orderGID, exp)
	if err != nil {
		return job.Permanent(fmt.Errorf("loyalty: order %s: %w", o.Name, err))
	}
	now := s.clock()
	base := ledger.EarnBaseForOrder(facts, settings)
	taxesIncluded := o.TaxesIncluded
	paid, err := money(o.TotalPriceSet, o.TotalPrice, exp)
	if err != nil {
		return job.Permanent(fmt.Errorf("loyalty: order %s: %w", o.Name, err))
	}
	seen := store.OrderSeen{
		OrderGID: orderGID, ShopifyID: orderID, Name: o.Name, Currency: facts.Currency,
		Channel: string(event.ChannelFromSourceName(o.SourceName)), TaxesIncluded: &taxesIncluded, BaseMinor: &base, PaidMinor: paid,
	}
	recordState := "" // for guest points (guests.go)
	if o.Customer != nil {
		if gid, cid := gidOf(o.Customer.AdminGraphQLAPIID, "Customer", o.Customer.ID); gid != "" {
			rowID, err := tx.EnsureCustomer(ctx, shop.ID, store.CustomerIdentity{
				ShopifyID: cid, GID: gid, Email: o.Customer.Email, Phone: o.Customer.Phone,
				FirstName: o.Customer.FirstName, LastName: o.Customer.LastName, State: o.Customer.State,
			})
			if err != nil {
				return err
			}
			if recordState, err = s.guestRecordState(ctx, tx, shop, settings, topic, o, rowID); err != nil {
				return err
			}
			seen.CustomerID, seen.ShopifyCustomerID = &rowID, &cid
		}
	}
	ord, err := tx.UpsertLoyaltyOrder(ctx, shop.ID, seen, now)
	if err != nil {
		return err
	}
	if err := s.rememberFulfilment(ctx, tx, shop.ID, ord, topic, o, now); err != nil {
		return err
	}
	snap := snapshotLines(o, settings, exp)
	ls, err := loadLines(ord)
	if err != nil {
		return err
	}
	observeLines(ord, ls, snap)
	wasEarned := ord.EarnedAt != nil
	actor, wh := webhookActor(ctx, webhookRowID)
	u := s.newUnit(ctx, tx, shop, settings, now, actor, wh)
	if ord.UnpricedRefunds > 0 {
		if err := s.priceRemembered(u, ord); err != nil {
			return err
		}
	}
	if ord.CustomerID != nil {
		if err := u.lock(*ord.CustomerID, *ord.ShopifyCustomerID, ledger.KeyEarn(orderGID, ledger.RuleOrder)); err != nil {
			return err
		}
	}

	guest := s.guestOrder(u, ord, topic, recordState) // points for guests: guests.go
	if err := s.guestAttached(u, ord, o); err != nil {
		return err
	}
	// A guest order whose earning webhook came without a customer earns
	// when one is attached later (POS staff or a draft order assign the
	// customer after payment; orders/updated then carries it), once: the
	// earn is keyed by the order.
	attachedLater := ord.GuestCounted && ord.CustomerID != nil && ord.EarnedAt == nil
	ignored := ""
	switch {
	case topic == TopicOrdersCancelled:
		ignored, err = s.cancelOrder(u, ord)
	case guest:
		ignored, err = s.holdGuestPoints(u, ord, o, exp)
	case topic == earnTopic(settings) && ord.CustomerID == nil:
		ignored = "guest order without a customer: counted, earns no points"
		if !ord.GuestCounted {
			ord.GuestCounted = true
			err = tx.CountGuestOrder(ctx, shop.ID)
		}
	case topic == earnTopic(settings) || attachedLater:
		ignored, err = s.earn(u, ord, exp)
		if err == nil && ignored == "" {
			err = s.completeReferral(u, ord, facts.DiscountCodes, orderEmail(o))
		}
		if err == nil && ord.GuestCounted {
			// No longer a guest order: the count is the same whichever
			// came first, the customer or the earning webhook.
			ord.GuestCounted = false
			err = tx.UncountGuestOrder(ctx, shop.ID)
		}
	default:
		ignored = fmt.Sprintf("%s: order recorded; points are earned on %s", topic, earnTopic(settings))
	}
	if err != nil {
		return err
	}
	// Lines added or removed after the earn (edits, exchanges) change the
	// base: the earning payload's lines are what the base accounts for.
	// Refunds of money beyond their lines waited for the earn.
	if !wasEarned && ord.EarnedAt != nil {
		baselineLines(ord, ls, snap)
		if ord.UnpricedRefunds > 0 {
			if err := s.priceRemembered(u, ord); err != nil {
				return err
			}
		}
	}
	baseBefore := ord.BaseMinor
	if _, err := s.settleLines(u, ord, ls); err != nil {
		return err
	}
	if ord.BaseMinor != baseBefore {
		ignored = "" // the lines changed the order's points
	}
	if err := ls.store(ord); err != nil {
		return err
	}
	redeemed, err := s.redeemCoupons(u, ord, facts.DiscountCodes)
	if err != nil {
		return err
	}
	if err := tx.SaveLoyaltyOrder(ctx, shop.ID, ord, now); err != nil {
		return err
	}
	if u.acct != nil {
		if err := u.flush(); err != nil {
			return err
		}
	} else if err := u.writeEvents(); err != nil { // a guest order that used someone's coupon
		return err
	}
	if ignored != "" && redeemed == 0 {
		return job.Ignore(ignored)
	}
	return nil
}

// guestAttached handles a customer attached to an order whose points wait
// for a guest (guests.go) without a customer record: staff attached the
// customer after payment. An account claims the points at once, for that
// customer, once (ledger.KeyEarn); a record that is not an account has them
// wait for it (points_waiting), claimed when it becomes one.
func (s *Service) guestAttached(u *unit, ord *store.LoyaltyOrder, o *shopify.Order) error {
	if ord.CustomerID == nil || ord.EarnedAt == nil || u.acct == nil || o.Customer == nil {
		return nil
	}
	g, err := u.tx.UnclaimedGuestPointsOfOrder(u.ctx, u.shop.ID, ord.OrderGID)
	if err != nil || g == nil || g.CustomerID != nil {
		return err
	}
	state := o.Customer.State
	if state != shopify.CustomerStateEnabled {
		if state, err = u.tx.LockCustomerState(u.ctx, u.shop.ID, *ord.CustomerID); err != nil {
			return err
		}
	}
	if state == shopify.CustomerStateEnabled && !g.Expired && g.WaitingUntil.After(u.now) {
		// The claim reads the order's points from its row.
		if err := u.tx.SaveLoyaltyOrder(u.ctx, u.shop.ID, ord, u.now); err != nil {
			return err
		}
		return s.claimGuestPoints(u, []store.GuestPoints{*g})
	}
	attached, err := u.tx.AttachGuestPointsRecord(u.ctx, u.shop.ID, g.ID, *ord.CustomerID, u.now)
	if err != nil || !attached || g.Points <= 0 || g.Expired || !g.WaitingUntil.After(u.now) {
		return err
	}
	key := keyWaiting(ord.OrderGID)
	return u.add(key)(event.NewPointsWaiting(u.common(key, event.Channel(ord.Channel)), g.Points, ord.OrderGID, ord.Name, g.WaitingUntil))
}

// orderState is the ledger's view of a stored order.
func orderState(o *store.LoyaltyOrder) ledger.OrderState {
	return ledger.OrderState{Earned: o.Earned, Reversed: o.Reversed, BaseMinor: o.BaseMinor,
		RefundedBaseMinor: o.RefundedBaseMinor, Cancelled: o.Cancelled}
}

func setOrderState(o *store.LoyaltyOrder, st ledger.OrderState) {
	o.Earned, o.Reversed, o.BaseMinor, o.RefundedBaseMinor, o.Cancelled = st.Earned, st.Reversed, st.BaseMinor, st.RefundedBaseMinor, st.Cancelled
}

// earn credits an order's points once, then takes back at once the share
// of refunds that arrived before it (the order earns nothing when it was
// cancelled first). It returns a reason when there was nothing to do.
func (s *Service) earn(u *unit, ord *store.LoyaltyOrder, exp int) (string, error) {
	if ord.EarnedAt != nil {
		return "order already earned its points", nil
	}
	state := orderState(ord)
	key := ledger.KeyEarn(ord.OrderGID, ledger.RuleOrder)
	points := ledger.PointsForOrder(ord.BaseMinor, u.settings, tier.Multiplier(u.settings.Tiers, u.acct.TierKey), exp)
	credit, reverse, next := state.Earn(points, ord.BaseMinor)
	// Net spend for tiers: the base less what refunds already returned; a
	// cancelled order spent nothing.
	var spent int64
	if !state.Cancelled {
		spent = next.BaseMinor - min(next.RefundedBaseMinor, next.BaseMinor)
	}
	ch := event.Channel(ord.Channel)
	if credit > 0 {
		available, expires := ledger.CreditTimes(ledger.KindEarn, u.now, u.settings, u.loc)
		e := ledger.Entry{Kind: ledger.KindEarn, Points: credit, Reason: ledger.ReasonOrder, OrderID: ord.OrderGID,
			BaseMinor: next.BaseMinor, IdempotencyKey: key, CreatedAt: u.now, ExpiresAt: expires, AvailableAt: available}
		lot, inserted, err := u.credit(e, spent)
		if err != nil {
			return "", err
		}
		if !inserted {
			return "order already earned its points", nil
		}
		err = u.add(key)(event.NewWalletPointsRewarded(u.common(key, ch), credit, event.ReasonOrder, ord.OrderGID, ord.Name, lot.ExpiresAt))
		if err != nil {
			return "", err
		}
	} else if err := u.track(spent, 0, key); err != nil {
		return "", err
	}
	if reverse > 0 {
		catchUp := ledger.KeyCatchUp(ord.OrderGID, ledger.RuleOrder)
		e, err := u.reverse(ledger.Entry{Kind: ledger.KindReverse, Reason: ledger.ReasonRefund, OrderID: ord.OrderGID,
			IdempotencyKey: catchUp, CreatedAt: u.now}, reverse, key)
		if err != nil {
			return "", err
		}
		if _, err := u.debit(e, 0); err != nil {
			return "", err
		}
		refunds, err := u.tx.OrderRefunds(u.ctx, u.shop.ID, ord.ID)
		if err != nil {
			return "", err
		}
		refundID := ""
		if len(refunds) > 0 {
			refundID = refunds[len(refunds)-1].RefundGID
		}
		err = u.add(catchUp)(event.NewWalletPointsReversed(u.common(catchUp, ch), reverse, event.ReasonRefund, ord.OrderGID, ord.Name, refundID))
		if err != nil {
			return "", err
		}
	}
	setOrderState(ord, next)
	now := u.now
	ord.EarnedAt = &now
	return "", u.evaluateTier(false, key)
}

// cancelOrder takes back what the order earned and refunds left; before the
// earn it only remembers the cancellation, so the earn credits nothing.
func (s *Service) cancelOrder(u *unit, ord *store.LoyaltyOrder) (string, error) {
	if ord.Cancelled {
		return "order already cancelled", nil
	}
	state := orderState(ord)
	reverse, next := state.Cancel()
	setOrderState(ord, next)
	now := u.now
	ord.CancelledAt = &now
	if held, err := s.guestTakeBack(u, ord); err != nil || held {
		return "", err // the points were waiting for a guest: guests.go
	}
	if u.acct == nil || ord.EarnedAt == nil {
		return "", nil
	}
	key := ledger.KeyCancel(ord.OrderGID)
	spent := -(state.BaseMinor - min(state.RefundedBaseMinor, state.BaseMinor))
	if state.Earned > 0 {
		e, err := u.reverse(ledger.Entry{Kind: ledger.KindReverse, Reason: ledger.ReasonCancel, OrderID: ord.OrderGID,
			IdempotencyKey: key, CreatedAt: u.now}, reverse, ledger.KeyEarn(ord.OrderGID, ledger.RuleOrder))
		if err != nil {
			return "", err
		}
		if _, err := u.debitAt(e, spent, orderTime(ord, u.now)); err != nil {
			return "", err
		}
		if reverse > 0 {
			err := u.add(key)(event.NewWalletPointsReversed(u.common(key, event.Channel(ord.Channel)), reverse, event.ReasonCancel, ord.OrderGID, ord.Name, ""))
			if err != nil {
				return "", err
			}
		}
	} else if err := u.trackAt(spent, 0, key, orderTime(ord, u.now)); err != nil {
		return "", err
	}
	return "", u.evaluateTier(true, key)
}

// orderTime is when an earned order counted in the tier metrics: refunds,
// cancellations and edits change the rolling window it counted in, so a
// late return lowers the window that held the order, and leaves it
// with it (not a year of windows after).
func orderTime(ord *store.LoyaltyOrder, now time.Time) time.Time {
	if ord.EarnedAt != nil {
		return *ord.EarnedAt
	}
	return now
}

// Refund applies refunds/create inside tx (webhooks.Loyalty). A refund takes
// back points once (its id is the key, ledger.KeyRefund), in proportion to
// the refunded share of the order's earning base, computed on the
// cumulative refunded base (ledger.OrderState), so any number of refunds in
// any order never takes back more than earned. A refund of an order that has
// not earned yet is remembered and taken into account by the earn.
func (s *Service) Refund(ctx context.Context, tx *store.Store, shop *store.Shop, r *shopify.Refund, webhookRowID int64) error {
	refundGID, _ := gidOf(r.AdminGraphQLAPIID, "Refund", r.ID)
	if refundGID == "" || r.OrderID <= 0 {
		return job.Permanent(errors.New("loyalty: refund payload has no id or order id"))
	}
	// The refund payload has no GraphQL id for its order: order_id is the
	// only reference (exact in live payloads).
	orderGID := shopify.GID("Order", r.OrderID)
	settings, _, err := tx.ProgramSettings(ctx, shop.ID)
	if err != nil {
		return err
	}
	exp := currencyExponent(shop.Currency)
	facts, err := refundFacts(r, exp)
	if err != nil {
		return job.Permanent(fmt.Errorf("loyalty: refund %s: %w", refundGID, err))
	}
	now := s.clock()
	ord, err := tx.UpsertLoyaltyOrder(ctx, shop.ID, store.OrderSeen{OrderGID: orderGID, ShopifyID: r.OrderID}, now)
	if err != nil {
		return err
	}
	row := &store.OrderRefund{
		OrderID: ord.ID, RefundGID: refundGID, LinesSubtotalMinor: facts.LinesSubtotalMinor, LinesTaxMinor: facts.LinesTaxMinor,
		ShippingMinor: facts.ShippingMinor, ShippingTaxMinor: facts.ShippingTaxMinor, ExcludedMinor: facts.ExcludedMinor,
		UnexplainedMinor: facts.UnexplainedMinor, CreatedAt: now,
	}
	inserted, err := tx.InsertOrderRefund(ctx, shop.ID, row)
	if err != nil {
		return err
	}
	if !inserted {
		return job.Ignore("refund already applied")
	}
	if ord.TaxesIncluded == nil || (facts.UnexplainedMinor > 0 && ord.EarnedAt == nil) {
		// The order was never seen: its tax display is unknown, so the
		// refund is priced when the order arrives. Money beyond the lines
		// is priced once the order has earned: its share of the base
		// depends on the earning payload's total.
		ord.UnpricedRefunds++
		return tx.SaveLoyaltyOrder(ctx, shop.ID, ord, now)
	}
	facts.TaxesIncluded = *ord.TaxesIncluded
	facts.OrderPaidMinor, facts.OrderBaseMinor = ord.PaidMinor, ord.PaidBaseMinor
	refundBase := ledger.EarnBaseForRefund(facts, settings)
	actor, wh := webhookActor(ctx, webhookRowID)
	u := s.newUnit(ctx, tx, shop, settings, now, actor, wh)
	if err := s.applyRefund(u, ord, row, refundBase); err != nil {
		return err
	}
	if err := tx.SaveLoyaltyOrder(ctx, shop.ID, ord, now); err != nil {
		return err
	}
	if u.acct != nil {
		return u.flush()
	}
	return nil
}

// applyRefund takes back a priced refund's share of the order's points.
// Refunds adding up to more than the order's base (bad input, or a refund
// of more money than was paid) take back what the order earned, never
// more; that is logged.
func (s *Service) applyRefund(u *unit, ord *store.LoyaltyOrder, row *store.OrderRefund, refundBase int64) error {
	state := orderState(ord)
	reverse, next := state.Refund(refundBase)
	if (refundBase > 0 && next.RefundedBaseMinor > next.BaseMinor) || (ord.PaidMinor > 0 && row.UnexplainedMinor > ord.PaidMinor) {
		s.log.WarnContext(u.ctx, "loyalty: refunds exceed the order; points taken back are capped at what the order earned",
			"shop", u.shop.Domain, "order", ord.OrderGID, "refund", row.RefundGID, "refund_base_minor", refundBase,
			"refunded_base_minor", next.RefundedBaseMinor, "order_base_minor", next.BaseMinor,
			"unexplained_minor", row.UnexplainedMinor, "order_paid_minor", ord.PaidMinor, "earned", next.Earned)
	}
	setOrderState(ord, next)
	if err := u.tx.PriceOrderRefund(u.ctx, u.shop.ID, row.ID, refundBase, reverse); err != nil {
		return err
	}
	if held, err := s.guestTakeBack(u, ord); err != nil || held {
		return err // the points were waiting for a guest: guests.go
	}
	if ord.CustomerID == nil || ord.EarnedAt == nil {
		return nil // remembered: the earn (if any) accounts for it
	}
	if u.acct == nil {
		if err := u.lock(*ord.CustomerID, *ord.ShopifyCustomerID, ledger.KeyRefund(row.RefundGID)); err != nil {
			return err
		}
	}
	key := ledger.KeyRefund(row.RefundGID)
	var spent int64
	if !state.Cancelled {
		spent = -(min(next.RefundedBaseMinor, next.BaseMinor) - min(state.RefundedBaseMinor, state.BaseMinor))
	}
	if state.Earned > 0 {
		e, err := u.reverse(ledger.Entry{Kind: ledger.KindReverse, Reason: ledger.ReasonRefund, OrderID: ord.OrderGID,
			RefundID: row.RefundGID, BaseMinor: refundBase, IdempotencyKey: key, CreatedAt: u.now}, reverse, ledger.KeyEarn(ord.OrderGID, ledger.RuleOrder))
		if err != nil {
			return err
		}
		if _, err := u.debitAt(e, spent, orderTime(ord, u.now)); err != nil {
			return err
		}
		if reverse > 0 {
			err := u.add(key)(event.NewWalletPointsReversed(u.common(key, event.Channel(ord.Channel)), reverse, event.ReasonRefund, ord.OrderGID, ord.Name, row.RefundGID))
			if err != nil {
				return err
			}
		}
	} else if err := u.trackAt(spent, 0, key, orderTime(ord, u.now)); err != nil {
		return err
	}
	return u.evaluateTier(true, key)
}

// priceRemembered prices refunds stored before the order was known, now
// that its tax display is (before the earn they only add to the refunded
// base). Refunds with money beyond their lines wait for the earn, which
// fixes the order's total paid and base they are priced against; priced
// after it, they take their points back as any refund does.
func (s *Service) priceRemembered(u *unit, ord *store.LoyaltyOrder) error {
	refunds, err := u.tx.OrderRefunds(u.ctx, u.shop.ID, ord.ID)
	if err != nil {
		return err
	}
	taxes := ord.TaxesIncluded != nil && *ord.TaxesIncluded
	waiting := 0
	for i := range refunds {
		r := &refunds[i]
		if r.BaseMinor != nil {
			continue
		}
		if r.UnexplainedMinor > 0 && ord.EarnedAt == nil {
			waiting++
			continue
		}
		base := ledger.EarnBaseForRefund(ledger.RefundFacts{
			RefundID: r.RefundGID, OrderID: ord.OrderGID, LinesSubtotalMinor: r.LinesSubtotalMinor, LinesTaxMinor: r.LinesTaxMinor,
			ShippingMinor: r.ShippingMinor, ShippingTaxMinor: r.ShippingTaxMinor, TaxesIncluded: taxes, ExcludedMinor: r.ExcludedMinor,
			UnexplainedMinor: r.UnexplainedMinor, OrderPaidMinor: ord.PaidMinor, OrderBaseMinor: ord.PaidBaseMinor,
		}, u.settings)
		if err := s.applyRefund(u, ord, r, base); err != nil {
			return err
		}
	}
	ord.UnpricedRefunds = waiting
	return nil
}

// redeemCoupons marks the order's loyalty coupons used and writes
// coupon_redeemed for each coupon's owner, once per coupon.
func (s *Service) redeemCoupons(u *unit, ord *store.LoyaltyOrder, codes []string) (int, error) {
	n := 0
	for _, code := range codes {
		if code == "" {
			continue
		}
		c, ok, err := u.tx.RedeemCouponCode(u.ctx, u.shop.ID, code, ord.OrderGID, u.now)
		if err != nil || !ok {
			if err != nil {
				return n, err
			}
			continue
		}
		n++
		acct := u.acct
		if acct == nil || acct.CustomerID != c.CustomerID {
			if acct, err = u.tx.LoyaltyAccount(u.ctx, u.shop.ID, c.CustomerID); err != nil {
				return n, err
			}
		}
		key := "coupon-redeemed:" + c.Code
		ev, err := event.NewCouponRedeemed(commonFor(u.shop, acct, key, event.Channel(ord.Channel), u.now), c.Code, ord.OrderGID, ord.Name)
		if err := u.addFor(acct, key, ev, err); err != nil {
			return n, err
		}
	}
	return n, nil
}

// orderFacts reads what earning needs from an order payload, in minor units
// of the shop currency (shop money, never presentment money).
func orderFacts(o *shopify.Order, orderGID string, exp int) (ledger.OrderFacts, error) {
	f := ledger.OrderFacts{OrderID: orderGID, Name: o.Name, Currency: o.Currency, SourceName: o.SourceName, TaxesIncluded: o.TaxesIncluded}
	if o.Customer != nil {
		f.CustomerID, _ = gidOf(o.Customer.AdminGraphQLAPIID, "Customer", o.Customer.ID)
	}
	var err error
	if f.SubtotalAfterDiscountsMinor, err = money(o.SubtotalPriceSet, o.SubtotalPrice, exp); err != nil {
		return f, err
	}
	var totalTax int64
	if totalTax, err = money(o.TotalTaxSet, o.TotalTax, exp); err != nil {
		return f, err
	}
	if len(o.ShippingLines) > 0 {
		for _, l := range o.ShippingLines {
			if l.IsRemoved {
				continue
			}
			v, err := money(l.DiscountedPriceSet, l.DiscountedPrice, exp)
			if err != nil {
				return f, err
			}
			f.ShippingMinor += v
			t, err := taxOf(l.TaxLines, exp)
			if err != nil {
				return f, err
			}
			f.ShippingTaxMinor += t
		}
	} else if f.ShippingMinor, err = money(o.TotalShippingPriceSet, "", exp); err != nil {
		return f, err
	}
	// total_tax includes the tax on shipping (shipping_lines[].tax_lines):
	// the lines' tax is the rest. Taking all of it off the lines would
	// under-credit every tax-inclusive order with shipping (EU, UK, AU) by
	// the shipping VAT, and over-credit when the program adds tax.
	f.TaxMinor = max(totalTax-f.ShippingTaxMinor, 0)
	for _, li := range o.LineItems {
		if !li.GiftCard {
			continue
		}
		// Gift cards never earn: points on the card and again on what it
		// buys would pay twice.
		price, err := money(li.PriceSet, li.Price, exp)
		if err != nil {
			return f, err
		}
		line := price * int64(li.Quantity)
		for _, a := range li.DiscountAllocations {
			d, err := money(a.AmountSet, a.Amount, exp)
			if err != nil {
				return f, err
			}
			line -= d
		}
		f.ExcludedMinor += max(line, 0)
	}
	for _, dc := range o.DiscountCodes {
		f.DiscountCodes = append(f.DiscountCodes, dc.Code)
	}
	return f, nil
}

// refundFacts reads what a reversal needs from a refund payload: refunded
// lines after their discount allocations, their tax, refunded shipping, and
// money sent back beyond them (refund_discrepancy adjustments).
func refundFacts(r *shopify.Refund, exp int) (ledger.RefundFacts, error) {
	f := ledger.RefundFacts{}
	// A refund of an amount (no line items: "refund $40" in the admin) has
	// its money in the refund transactions and, in shop money, a
	// refund_discrepancy adjustment: the calculated refund (what lines and
	// shipping explain) less the actual one, so negative when more money
	// went back. Only that side counts: it is money the customer got back
	// beyond the lines. A positive net (less money than the lines, such as
	// a kept restocking fee) leaves the lines' base as it is, and a pending
	// refund's discrepancy pair (−x, +x) nets to nothing. Transactions
	// alone are not read: they are in the presentment currency, and a
	// refund of what Shopify itself calculated as owed has no discrepancy.
	var discrepancy int64
	for _, a := range r.OrderAdjustments {
		if a.Kind != "refund_discrepancy" {
			continue
		}
		v, err := money(a.AmountSet, a.Amount, exp)
		if err != nil {
			return f, err
		}
		discrepancy += v
	}
	f.UnexplainedMinor = max(-discrepancy, 0)
	for _, li := range r.RefundLineItems {
		sub, err := money(li.SubtotalSet, li.Subtotal, exp)
		if err != nil {
			return f, err
		}
		tax, err := money(li.TotalTaxSet, li.TotalTax, exp)
		if err != nil {
			return f, err
		}
		f.LinesSubtotalMinor += sub
		f.LinesTaxMinor += tax
		if li.LineItem.GiftCard {
			f.ExcludedMinor += sub
		}
	}
	if len(r.RefundShippingLines) > 0 {
		for _, l := range r.RefundShippingLines {
			v, err := money(l.SubtotalAmountSet, "", exp)
			if err != nil {
				return f, err
			}
			f.ShippingMinor += v
		}
	} else {
		// Older payloads refund shipping as an order adjustment, with a
		// negative amount.
		for _, a := range r.OrderAdjustments {
			if a.Kind != "shipping_refund" {
				continue
			}
			v, err := money(a.AmountSet, a.Amount, exp)
			if err != nil {
				return f, err
			}
			t, err := money(a.TaxAmountSet, a.TaxAmount, exp)
			if err != nil {
				return f, err
			}
			f.ShippingMinor += abs(v)
			f.ShippingTaxMinor += abs(t)
		}
	}
	return f, nil
}

// taxOf returns the sum of tax lines in minor units of the shop currency.
func taxOf(lines []shopify.TaxLine, exp int) (int64, error) {
	var sum int64
	for _, tl := range lines {
		v, err := money(tl.PriceSet, tl.Price, exp)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// money returns an amount in minor units, preferring the shop-money side of
// its *_set twin.
func money(set shopify.MoneySet, plain shopify.Money, exp int) (int64, error) {
	m := set.ShopMoney.Amount
	if m == "" {
		m = plain
	}
	return m.MinorUnits(exp)
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
