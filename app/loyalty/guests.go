package loyalty

import (
	"context"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/identity"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/tier"
)

// Points for guests (Settings.GuestPointsDays; 0 turns it off).
//
// A paid order whose shopper has no account (no customer at all, or the
// customer record checkout creates, whose state is not "enabled") earns its
// points as any order would, at the base multiplier (a guest has no tier),
// but they wait in a guest_points row under the order's email and phone,
// until waiting_until, instead of being credited to nobody:
//
//   - The order is marked earned (ledger.OrderState and earned_at, as any
//     earned order), so a redelivery holds nothing twice, and refunds and a
//     cancellation compute what they take back exactly as for a member;
//     while the row is unclaimed they take it from the waiting points
//     (guestTakeBack) instead of a ledger.
//   - When the order carries a customer record, points_waiting is written
//     for that record, so routing and identity resolution work as for any
//     customer (a flow can say "create an account to claim 180 points"). An
//     order without any customer has no profile to address: its points
//     wait, but no event is written.
//   - When a customer becomes an account (CustomerUpserted: customers/create
//     with state enabled, or the customers/update that enables it), every
//     unclaimed, unexpired row of the shop with the customer's email, phone
//     or record is credited, one earn entry per order keyed
//     ledger.KeyEarn(order) (the key the order would have earned under, so
//     it can never be credited twice), with wallet_points_rewarded (reason
//     order), and the order moves to the customer, so later refunds take
//     the points back from them. All in the customer webhook's transaction.
//   - A row past waiting_until is never credited; the claim checks the date.

// keyWaiting is the cause of an order's points_waiting event.
func keyWaiting(orderGID string) string {
	if orderGID == "" {
		return ""
	}
	return "waiting:" + ledger.GID("Order", orderGID)
}

// guestRecordState returns the state of the customer record an order
// carries (row id recordID), when the earning topic may hold its points for
// a guest: the payload's state when it says enabled (an account: no guest),
// else the stored row's, read under a share lock taken before the order's
// row lock. customers/update holds that row while it enables the record and
// claims, so either the order sees the account and earns for it, or the
// claim waits for the order's waiting points and credits them: a record
// enabled while its order is processed never leaves points waiting. A state
// nobody told (neither the row nor the payload) counts as an account, as
// before waiting existed. "" when guest points do not apply.
func (s *Service) guestRecordState(ctx context.Context, tx *store.Store, shop *store.Shop, settings program.Settings, topic string, o *shopify.Order, recordID int64) (string, error) {
	if settings.GuestPointsDays <= 0 || topic != earnTopic(settings) || o.Customer.State == shopify.CustomerStateEnabled {
		return "", nil
	}
	state, err := tx.LockCustomerState(ctx, shop.ID, recordID)
	if err != nil || state != "" {
		return state, err
	}
	if o.Customer.State == "" {
		return shopify.CustomerStateEnabled, nil
	}
	return o.Customer.State, nil
}

// guestOrder reports whether the earning topic of this order holds its
// points for a guest: waiting is on, the order has not earned, and it has
// no customer, or a record whose state (guestRecordState) is not enabled.
func (s *Service) guestOrder(u *unit, ord *store.LoyaltyOrder, topic, recordState string) bool {
	if u.settings.GuestPointsDays <= 0 || topic != earnTopic(u.settings) || ord.EarnedAt != nil {
		return false
	}
	if ord.CustomerID == nil {
		return true
	}
	return recordState != "" && recordState != shopify.CustomerStateEnabled
}

// holdGuestPoints earns a guest order's points into a guest_points row (see
// above). u holds the order's customer record's account when it has one.
// It returns a reason when nothing was held.
func (s *Service) holdGuestPoints(u *unit, ord *store.LoyaltyOrder, o *shopify.Order, exp int) (string, error) {
	if ord.CustomerID == nil && !ord.GuestCounted {
		ord.GuestCounted = true // the shop's count of orders without a customer
		if err := u.tx.CountGuestOrder(u.ctx, u.shop.ID); err != nil {
			return "", err
		}
	}
	email, phone := guestContact(o)
	if ord.CustomerID == nil && email == "" && phone == "" {
		return "guest order without a customer, email or phone: its points cannot wait for anyone", nil
	}
	state := orderState(ord)
	points := ledger.PointsForOrder(ord.BaseMinor, u.settings, tier.Multiplier(u.settings.Tiers, ""), exp)
	credit, reverse, next := state.Earn(points, ord.BaseMinor)
	setOrderState(ord, next)
	now := u.now
	ord.EarnedAt = &now
	waiting := credit - reverse
	if waiting <= 0 {
		return "guest order earned no points to wait", nil
	}
	until := u.now.AddDate(0, 0, u.settings.GuestPointsDays)
	g := &store.GuestPoints{OrderID: ord.ID, OrderGID: ord.OrderGID, CustomerID: ord.CustomerID, Email: email, Phone: phone,
		Points: waiting, BaseMinor: ord.BaseMinor, Currency: ord.Currency, WaitingUntil: until}
	inserted, err := u.tx.InsertGuestPoints(u.ctx, u.shop.ID, g, u.now)
	if err != nil {
		return "", err
	}
	if !inserted {
		return "guest order's points already wait", nil
	}
	if u.acct == nil {
		// No customer record: no profile for Klaviyo or CleverTap to
		// address, so no points_waiting; the points still wait.
		return "", nil
	}
	key := keyWaiting(ord.OrderGID)
	return "", u.add(key)(event.NewPointsWaiting(u.common(key, event.Channel(ord.Channel)), waiting, ord.OrderGID, ord.Name, until))
}

// guestTakeBack is called by refunds and cancellations once the order's
// state took them into account: when the order's points still wait
// (unclaimed), the waiting points become what the order keeps, and held is
// true: no ledger has them, so there is nothing else to take back.
func (s *Service) guestTakeBack(u *unit, ord *store.LoyaltyOrder) (held bool, err error) {
	if ord.EarnedAt == nil {
		return false, nil
	}
	g, err := u.tx.UnclaimedGuestPointsOfOrder(u.ctx, u.shop.ID, ord.OrderGID)
	if err != nil || g == nil {
		return false, err
	}
	return true, u.tx.SetGuestPointsWaiting(u.ctx, u.shop.ID, g.ID, ord.Earned-ord.Reversed, u.now)
}

// guestClaims locks the waiting points an account may claim now (nil when
// c is not an account). Call it before locking the customer's account:
// orders before accounts.
func (s *Service) guestClaims(ctx context.Context, tx *store.Store, shop *store.Shop, c *store.Customer, u *unit) ([]store.GuestPoints, error) {
	if c.State != shopify.CustomerStateEnabled {
		return nil, nil
	}
	email, _ := identity.NormalizeEmail(c.Email)
	phone, _ := identity.NormalizePhone(c.Phone)
	return tx.LockGuestClaims(ctx, shop.ID, email, phone, c.ID, u.now)
}

// claimGuestPoints credits locked claims to the unit's (locked) customer.
func (s *Service) claimGuestPoints(u *unit, claims []store.GuestPoints) error {
	if len(claims) == 0 {
		return nil
	}
	cause := ""
	for i := range claims {
		g := &claims[i]
		ord, err := u.tx.LoyaltyOrderByGID(u.ctx, u.shop.ID, g.OrderGID)
		if err != nil {
			return err
		}
		points := ord.Earned - ord.Reversed
		claimed, err := u.tx.ClaimGuestPoints(u.ctx, u.shop.ID, g, u.acct.CustomerID, u.acct.ShopifyCustomerID, u.now)
		if err != nil {
			return err
		}
		if !claimed || points <= 0 {
			continue
		}
		var spent int64
		if !ord.Cancelled {
			spent = ord.BaseMinor - min(ord.RefundedBaseMinor, ord.BaseMinor)
		}
		key := ledger.KeyEarn(ord.OrderGID, ledger.RuleOrder)
		available, expires := ledger.CreditTimes(ledger.KindEarn, u.now, u.settings, u.loc)
		e := ledger.Entry{Kind: ledger.KindEarn, Points: points, Reason: ledger.ReasonOrder, OrderID: ord.OrderGID,
			BaseMinor: ord.BaseMinor, IdempotencyKey: key, CreatedAt: u.now, ExpiresAt: expires, AvailableAt: available}
		lot, inserted, err := u.credit(e, spent)
		if err != nil {
			return err
		}
		if !inserted {
			continue
		}
		cause = key
		err = u.add(key)(event.NewWalletPointsRewarded(u.common(key, event.Channel(ord.Channel)), points, event.ReasonOrder, ord.OrderGID, ord.Name, lot.ExpiresAt))
		if err != nil {
			return err
		}
	}
	if cause == "" {
		return nil
	}
	return u.evaluateTier(false, cause)
}

// guestContact returns the order's email (lower-case) and phone (E.164),
// "" when absent or not parseable: the customer record's, else the order's
// own contact.
func guestContact(o *shopify.Order) (email, phone string) {
	var emails, phones []string
	if o.Customer != nil {
		emails, phones = append(emails, o.Customer.Email), append(phones, o.Customer.Phone)
	}
	emails = append(emails, o.Email, o.ContactEmail)
	phones = append(phones, o.Phone)
	for _, e := range emails {
		if n, ok := identity.NormalizeEmail(e); ok {
			email = n
			break
		}
	}
	for _, p := range phones {
		if n, err := identity.NormalizePhone(p); err == nil {
			phone = n
			break
		}
	}
	return email, phone
}

// ExpireGuestPoints marks the shop's waiting points whose wait ended at or
// before now as expired (RunMaintenance) and returns how many orders'. A
// claim never credits them either way: it checks waiting_until itself.
func (s *Service) ExpireGuestPoints(ctx context.Context, shopID app.ShopID, now time.Time) (int, error) {
	n, err := s.st.ExpireGuestPoints(ctx, shopID, now)
	return int(n), err
}
