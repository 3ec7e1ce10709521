package loyalty

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/job"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/referral"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/tier"
)

// MaxAdjustPoints bounds one manual adjustment.
const MaxAdjustPoints = 10_000_000

// ReasonMerge is the reason of the ledger transfers of a customer merge.
const ReasonMerge = "merge"

// CustomerUpserted runs after customers/create or customers/update stored
// the identity (webhooks.Loyalty): it opens the customer's loyalty account
// and credits the signup points once per customer (ledger.KeySignup) when
// signupDue says the customer has a new account. Shopify creates customer
// records for checkouts, POS sales, imports and other apps: a record
// earns nothing until it is an account, which arrives as a customers/create
// with state enabled, or as the customers/update that enables it (an
// invitation accepted). The stored row decides, and UpsertCustomer keeps
// the newest state, so a late or repeated delivery changes nothing. An
// account also claims the points of guest orders waiting under its email,
// phone or record (guests.go).
func (s *Service) CustomerUpserted(ctx context.Context, tx *store.Store, shop *store.Shop, c *store.Customer, _ bool, webhookRowID int64) error {
	settings, _, err := tx.ProgramSettings(ctx, shop.ID)
	if err != nil {
		return err
	}
	actor, wh := webhookActor(ctx, webhookRowID)
	u := s.newUnit(ctx, tx, shop, settings, s.clock(), actor, wh)
	gid := shopify.GID("Customer", c.ShopifyID)
	key := ledger.KeySignup(gid)
	claims, err := s.guestClaims(ctx, tx, shop, c, u) // before the account: guests.go
	if err != nil {
		return err
	}
	if err := u.lock(c.ID, c.ShopifyID, key); err != nil {
		return err
	}
	if signupDue(shop, c, settings) {
		available, expires := ledger.CreditTimes(ledger.KindSignup, u.now, settings, u.loc)
		e := ledger.Entry{Kind: ledger.KindSignup, Points: settings.SignupPoints, Reason: ledger.ReasonSignup,
			IdempotencyKey: key, CreatedAt: u.now, ExpiresAt: expires, AvailableAt: available}
		lot, inserted, err := u.credit(e, 0)
		if err != nil {
			return err
		}
		if inserted {
			if err := u.add(key)(event.NewWalletPointsRewarded(u.common(key, ""), e.Points, event.ReasonSignup, "", "", lot.ExpiresAt)); err != nil {
				return err
			}
			if err := u.evaluateTier(false, key); err != nil {
				return err
			}
		}
	}
	if err := s.claimGuestPoints(u, claims); err != nil {
		return err
	}
	return u.flush()
}

// signupDue reports whether a customer earns the signup points: the program
// gives some, the customer has an account (state enabled), and the account
// came to be after the app's install, or the program welcomes existing
// account holders too. When the record became an account is
// AccountEnabledAt: a checkout or POS record from before the install that
// becomes an account afterwards is a new signup; an account that already
// existed at install is not. A record whose times are unknown counts as
// new.
func signupDue(shop *store.Shop, c *store.Customer, settings program.Settings) bool {
	if settings.SignupPoints <= 0 || c.State != shopify.CustomerStateEnabled {
		return false
	}
	since := c.AccountEnabledAt
	if since == nil {
		since = c.ShopifyCreatedAt
	}
	existing := since != nil && since.Before(shop.InstalledAt)
	return !existing || settings.WelcomeExistingAccounts
}

// CustomersMerged applies a completed customers/merge (webhooks.Loyalty):
// the merged-away customer's points move to the kept one with ledger
// transfers, lot by lot so each keeps its expiry and pending period
// (adjust entries with reason "merge", keys "merge:<gone gid>:lot/<id>:out"
// and ":in"), and a debt moves the same way; orders (so later refunds and
// cancellations reach the kept customer), unredeemed coupons and tier
// history follow the kept customer, whose tier is then re-evaluated.
// Replaying the webhook moves nothing twice. The merged-away customer keeps
// their (now empty) history until customers/delete removes it. No wallet
// event is written for the transfers: the catalog has none for a merge.
func (s *Service) CustomersMerged(ctx context.Context, tx *store.Store, shop *store.Shop, keptShopifyID, deletedShopifyID int64, webhookRowID int64) error {
	if keptShopifyID == deletedShopifyID {
		return job.Ignore("merge of a customer into itself")
	}
	gone, err := tx.CustomerByShopifyID(ctx, shop.ID, deletedShopifyID)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return job.Ignore("merged-away customer has no loyalty data")
	}
	if err != nil {
		return err
	}
	keptGID := shopify.GID("Customer", keptShopifyID)
	keptRow, err := tx.EnsureCustomer(ctx, shop.ID, store.CustomerIdentity{ShopifyID: keptShopifyID, GID: keptGID})
	if err != nil {
		return err
	}
	settings, _, err := tx.ProgramSettings(ctx, shop.ID)
	if err != nil {
		return err
	}
	// Orders before accounts, the lock order of order webhooks.
	if err := tx.LockOrdersOf(ctx, shop.ID, gone.ID); err != nil {
		return err
	}
	now := s.clock()
	actor, wh := webhookActor(ctx, webhookRowID)
	goneGID := shopify.GID("Customer", deletedShopifyID)
	cause := "merge:" + goneGID
	ug := s.newUnit(ctx, tx, shop, settings, now, actor, wh)
	uk := s.newUnit(ctx, tx, shop, settings, now, actor, wh)
	first, second := ug, uk
	firstID, secondID, firstSID, secondSID := gone.ID, keptRow, deletedShopifyID, keptShopifyID
	if keptRow < gone.ID {
		first, second = uk, ug
		firstID, secondID, firstSID, secondSID = keptRow, gone.ID, keptShopifyID, deletedShopifyID
	}
	if err := first.lock(firstID, firstSID, cause); err != nil {
		return err
	}
	if err := second.lock(secondID, secondSID, cause); err != nil {
		return err
	}

	lots, err := ug.openLots()
	if err != nil {
		return err
	}
	for _, l := range append([]ledger.Lot(nil), lots...) {
		if l.Remaining <= 0 || l.Expired(now) {
			continue // expired points are the expiry sweep's
		}
		prefix := cause + ":lot/" + strconv.FormatInt(l.ID, 10)
		out := ledger.Entry{Kind: ledger.KindAdjust, Points: -l.Remaining, Reason: ReasonMerge, IdempotencyKey: prefix + ":out",
			Allocations: []ledger.Allocation{{LotID: l.ID, Points: l.Remaining}}, CreatedAt: now}
		inserted, err := ug.debit(out, 0)
		if err != nil {
			return err
		}
		if !inserted {
			continue
		}
		in := ledger.Entry{Kind: ledger.KindAdjust, Points: l.Remaining, Reason: ReasonMerge, IdempotencyKey: prefix + ":in",
			CreatedAt: now, ExpiresAt: l.ExpiresAt, AvailableAt: l.AvailableAt}
		if _, _, err := uk.credit(in, 0); err != nil {
			return err
		}
	}
	if debt := ug.acct.PointsDebt; debt > 0 {
		settle := ledger.Entry{Kind: ledger.KindAdjust, Points: debt, Reason: ReasonMerge, IdempotencyKey: cause + ":debt:out", CreatedAt: now}
		_, inserted, err := ug.credit(settle, 0)
		if err != nil {
			return err
		}
		if inserted {
			owe, err := uk.reverse(ledger.Entry{Kind: ledger.KindAdjust, Reason: ReasonMerge, IdempotencyKey: cause + ":debt:in", CreatedAt: now}, debt, "")
			if err != nil {
				return err
			}
			if _, err := uk.debit(owe, 0); err != nil {
				return err
			}
		}
	}
	// Tier history follows the customer: lifetime totals move (and are zeroed
	// on the merged-away account, so a replay moves nothing), timed rows are
	// re-parented below.
	uk.acct.AmountSpentMinor += ug.acct.AmountSpentMinor
	uk.acct.PointsEarned += ug.acct.PointsEarned
	ug.acct.AmountSpentMinor, ug.acct.PointsEarned = 0, 0
	if uk.acct.BirthMonth == nil && ug.acct.BirthMonth != nil {
		uk.acct.BirthMonth, uk.acct.BirthDay = ug.acct.BirthMonth, ug.acct.BirthDay
	}
	if ug.acct.LastRedeemedAt != nil && (uk.acct.LastRedeemedAt == nil || ug.acct.LastRedeemedAt.After(*uk.acct.LastRedeemedAt)) {
		uk.acct.LastRedeemedAt = ug.acct.LastRedeemedAt
	}
	ug.dirty, uk.dirty = true, true
	if err := tx.MoveCustomerState(ctx, shop.ID, gone.ID, keptRow, keptShopifyID); err != nil {
		return err
	}
	if err := uk.evaluateTier(false, cause); err != nil {
		return err
	}
	if err := ug.flush(); err != nil {
		return err
	}
	return uk.flush()
}

// ExportCustomer returns the loyalty data held about a customer, for
// customers/data_request (webhooks.Loyalty): balance, tier, lots, ledger
// entries, coupons, orders, events and reviews.
func (s *Service) ExportCustomer(ctx context.Context, tx *store.Store, shop *store.Shop, shopifyCustomerID int64) (map[string]any, error) {
	c, err := tx.CustomerByShopifyID(ctx, shop.ID, shopifyCustomerID)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return map[string]any{"member": false}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]any{"member": false}
	acct, err := tx.LoyaltyAccount(ctx, shop.ID, c.ID)
	switch {
	case err == nil:
		out["member"] = true
		out["points_balance"] = acct.PointsBalance
		out["points_debt"] = acct.PointsDebt
		out["lifetime_points"] = acct.LifetimePoints
		out["points_earned"] = acct.PointsEarned
		out["amount_spent_minor"] = acct.AmountSpentMinor
		out["tier"] = acct.TierKey
		out["tier_since"] = acct.TierSince
		if acct.BirthMonth != nil && acct.BirthDay != nil {
			out["birthday"] = time.Date(2000, time.Month(*acct.BirthMonth), *acct.BirthDay, 0, 0, 0, 0, time.UTC).Format("01-02")
		}
		out["member_since"] = acct.CreatedAt
	case app.ErrorCode(err) != app.ENOTFOUND:
		return nil, err
	}
	entries, err := tx.LedgerEntries(ctx, shop.ID, c.ID, 0)
	if err != nil {
		return nil, err
	}
	ledgerOut := make([]ledger.Entry, len(entries))
	for i, e := range entries {
		ledgerOut[i] = e.Entry()
	}
	lots, err := tx.Lots(ctx, shop.ID, c.ID)
	if err != nil {
		return nil, err
	}
	coupons, err := tx.CouponsOf(ctx, shop.ID, c.ID)
	if err != nil {
		return nil, err
	}
	orders, err := tx.LoyaltyOrdersOf(ctx, shop.ID, c.ID)
	if err != nil {
		return nil, err
	}
	orderOut := make([]map[string]any, len(orders))
	for i, o := range orders {
		orderOut[i] = map[string]any{"order_id": numericID(o.OrderGID), "name": o.Name, "channel": o.Channel,
			"earned": o.Earned, "reversed": o.Reversed, "cancelled": o.Cancelled, "earned_at": o.EarnedAt}
	}
	events, err := tx.LoyaltyEvents(ctx, shop.ID, store.LoyaltyEventFilter{CustomerID: c.ID, Limit: 100000})
	if err != nil {
		return nil, err
	}
	reviews, err := tx.ReviewsOf(ctx, shop.ID, c.ID)
	if err != nil {
		return nil, err
	}
	reviewOut := make([]map[string]any, len(reviews))
	for i, r := range reviews {
		reviewOut[i] = map[string]any{"product_id": strconv.FormatInt(r.ProductID, 10), "product_title": r.ProductTitle,
			"rating": r.Rating, "body": r.Body, "points": r.Points, "created_at": r.CreatedAt}
	}
	out["ledger"], out["lots"], out["coupons"], out["orders"], out["events"] = ledgerOut, lots, coupons, orderOut, events
	out["reviews"] = reviewOut
	return out, nil
}

// CustomerView is a customer's loyalty position: the body of
// GET /api/v1/customers/{shopify_customer_id} (DESIGN.md §6). The fields
// named there keep their names; the others are extras. Ids are decimal
// strings: Shopify ids exceed what JavaScript numbers hold exactly.
type CustomerView struct {
	ShopifyCustomerID string     `json:"shopify_customer_id"`
	Email             string     `json:"email"`
	Phone             string     `json:"phone"`
	FirstName         string     `json:"first_name"`
	LastName          string     `json:"last_name"`
	PointsBalance     int64      `json:"points_balance"`
	Tier              string     `json:"tier"`
	TierName          string     `json:"tier_name,omitempty"`
	TierSince         *time.Time `json:"tier_since,omitempty"`
	TierExpiresAt     *time.Time `json:"tier_expires_at,omitempty"`
	NextTier          string     `json:"next_tier,omitempty"`
	NextTierName      string     `json:"next_tier_name,omitempty"`
	// TierMetric says what AmountToNextTier counts: amount_spent (minor
	// units of the shop currency) or points_earned.
	TierMetric       string     `json:"tier_metric,omitempty"`
	AmountToNextTier int64      `json:"amount_to_next_tier,omitempty"`
	SpendablePoints  int64      `json:"spendable_points"`
	PendingPoints    int64      `json:"pending_points"`
	PointsDebt       int64      `json:"points_debt"`
	NextExpiryAt     *time.Time `json:"next_expiry_at,omitempty"`
	NextExpiryPoints int64      `json:"next_expiry_points,omitempty"`
	LifetimePoints   int64      `json:"lifetime_points"`
	AmountSpentMinor int64      `json:"amount_spent_minor"`
	// ReferralCode and ReferralURL are the member's refer-a-friend link
	// (the code is created on first need).
	ReferralCode string `json:"referral_code"`
	ReferralURL  string `json:"referral_url"`
	// Ledger holds the newest CustomerLedgerLimit entries, newest first.
	Ledger []LedgerLine `json:"ledger"`

	// NextTierThreshold is the metric value that reaches NextTier, so that
	// progress can be drawn: (threshold - amount to go) of threshold.
	NextTierThreshold int64 `json:"next_tier_threshold,omitempty"`
}

// LedgerLine is one ledger entry as the admin API shows it.
type LedgerLine struct {
	Points    int64      `json:"points"`
	Kind      string     `json:"kind"`
	Reason    string     `json:"reason"`
	OrderID   string     `json:"order_id"` // numeric Shopify order id, "" when none
	CreatedAt time.Time  `json:"created_at"`
	RefundID  string     `json:"refund_id,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Actor     string     `json:"actor"`
}

// CustomerLedgerLimit is how many ledger entries CustomerView carries.
const CustomerLedgerLimit = 200

// Customer returns a customer's loyalty position; ENOTFOUND for a customer
// the shop does not have. A customer without an account has zero points.
func (s *Service) Customer(ctx context.Context, shopID app.ShopID, shopifyCustomerID int64) (*CustomerView, error) {
	shop, err := s.st.Shop(ctx, shopID)
	if err != nil {
		return nil, err
	}
	c, err := s.st.CustomerByShopifyID(ctx, shopID, shopifyCustomerID)
	if err != nil {
		return nil, err
	}
	settings, _, err := s.st.ProgramSettings(ctx, shopID)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	v := &CustomerView{ShopifyCustomerID: strconv.FormatInt(c.ShopifyID, 10), Email: c.Email, Phone: c.Phone,
		FirstName: c.FirstName, LastName: c.LastName, Ledger: []LedgerLine{}}
	if v.ReferralCode, err = s.st.EnsureReferralCode(ctx, shopID, c.ID); err != nil {
		return nil, err
	}
	v.ReferralURL = referral.URL(shop.Domain, v.ReferralCode)
	acct, err := s.st.LoyaltyAccount(ctx, shopID, c.ID)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return v, nil
	}
	if err != nil {
		return nil, err
	}
	lots, err := s.st.OpenLots(ctx, shopID, c.ID)
	if err != nil {
		return nil, err
	}
	sum := ledger.Summarize(acct.PointsBalance, lots, now)
	v.PointsBalance, v.SpendablePoints, v.PendingPoints, v.PointsDebt = sum.Balance, sum.Spendable, sum.Pending, acct.PointsDebt
	v.NextExpiryAt, v.NextExpiryPoints = sum.NextExpiryAt, sum.NextExpiryPoints
	v.LifetimePoints, v.AmountSpentMinor = acct.LifetimePoints, acct.AmountSpentMinor
	v.Tier, v.TierSince = acct.TierKey, acct.TierSince
	if settings.Tiers.Enabled && acct.TierKey != "" {
		if l, ok := settings.Tiers.Tier(acct.TierKey); ok {
			v.TierName = l.Name
		}
		if acct.TierSince != nil {
			v.TierExpiresAt = tier.ExpiresAt(settings.Tiers, *acct.TierSince, shop.Location())
		}
		u := s.newUnit(ctx, s.st, shop, settings, now, "", nil)
		u.acct = acct
		metric, err := u.tierMetric()
		if err != nil {
			return nil, err
		}
		if _, next, gap := tier.Evaluate(settings.Tiers.Levels, metric); next != nil {
			v.NextTier, v.NextTierName, v.AmountToNextTier, v.NextTierThreshold = next.Key, next.Name, gap, next.Threshold
			v.TierMetric = string(settings.Tiers.Metric)
		}
	}
	entries, err := s.st.LedgerEntries(ctx, shopID, c.ID, CustomerLedgerLimit)
	if err != nil {
		return nil, err
	}
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		v.Ledger = append(v.Ledger, LedgerLine{Points: e.Points, Kind: e.Kind, Reason: e.Reason, OrderID: numericID(e.OrderGID),
			CreatedAt: e.CreatedAt, RefundID: numericID(e.RefundGID), ExpiresAt: e.ExpiresAt, Actor: e.Actor})
	}
	return v, nil
}

// Spendable returns the points a customer can spend now (credited,
// available, unexpired), 0 for a customer the app has not seen or who has
// no account yet. It reads only the account and its open lots, for the
// storefront's reward list.
func (s *Service) Spendable(ctx context.Context, shopID app.ShopID, shopifyCustomerID int64) (int64, error) {
	c, err := s.st.CustomerByShopifyID(ctx, shopID, shopifyCustomerID)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	acct, err := s.st.LoyaltyAccount(ctx, shopID, c.ID)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	lots, err := s.st.OpenLots(ctx, shopID, c.ID)
	if err != nil {
		return 0, err
	}
	return ledger.Summarize(acct.PointsBalance, lots, s.clock()).Spendable, nil
}

// Adjust credits (points > 0) or debits (points < 0) a customer by hand,
// recording reason and the actor of ctx (app.ActorFrom). idempotencyKey is
// the client's request id (ledger.KeyAdjust): a retried request adjusts
// once and answers the same; empty means every call applies. A credit opens
// a lot that expires like any other and writes wallet_points_rewarded with
// reason "manual"; a debit spends spendable points, soonest-expiring first,
// and fails with EINVALID "Not enough points." rather than go negative (the
// catalog has no event for a manual debit, so none is written). It returns
// the customer's position after the change.
func (s *Service) Adjust(ctx context.Context, shopID app.ShopID, shopifyCustomerID, points int64, reason, idempotencyKey string) (*CustomerView, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case points == 0:
		return nil, app.FieldError("points", "Points must not be zero.")
	case points > MaxAdjustPoints || points < -MaxAdjustPoints:
		return nil, app.FieldError("points", "Points must be between -%d and %d.", MaxAdjustPoints, MaxAdjustPoints)
	case reason == "":
		return nil, app.FieldError("reason", "Reason is required.")
	case utf8.RuneCountInString(reason) > ledger.MaxReasonLen:
		return nil, app.FieldError("reason", "Reason must be at most %d characters.", ledger.MaxReasonLen)
	}
	if idempotencyKey == "" {
		idempotencyKey = uuid.NewString()
	}
	key := ledger.KeyAdjust(idempotencyKey)
	err := s.st.Tx(ctx, func(tx *store.Store) error {
		shop, c, settings, err := s.customerContext(ctx, tx, shopID, shopifyCustomerID)
		if err != nil {
			return err
		}
		u := s.newUnit(ctx, tx, shop, settings, s.clock(), string(app.ActorFrom(ctx)), nil)
		if err := u.lock(c.ID, c.ShopifyID, key); err != nil {
			return err
		}
		if points > 0 {
			_, expires := ledger.CreditTimes(ledger.KindAdjust, u.now, settings, u.loc)
			e := ledger.Entry{Kind: ledger.KindAdjust, Points: points, Reason: reason, IdempotencyKey: key, CreatedAt: u.now, ExpiresAt: expires}
			lot, inserted, err := u.credit(e, 0)
			if err != nil || !inserted {
				return err
			}
			if err := u.add(key)(event.NewWalletPointsRewarded(u.common(key, ""), points, event.ReasonManual, "", "", lot.ExpiresAt)); err != nil {
				return err
			}
			return u.flush()
		}
		if done, err := tx.LedgerKeyExists(ctx, shopID, key); err != nil || done {
			return err
		}
		lots, err := u.openLots()
		if err != nil {
			return err
		}
		allocs, err := ledger.Consume(lots, -points, u.now)
		if err != nil {
			return err
		}
		e := ledger.Entry{Kind: ledger.KindAdjust, Points: points, Reason: reason, IdempotencyKey: key, Allocations: allocs, CreatedAt: u.now}
		if _, err := u.debit(e, 0); err != nil {
			return err
		}
		return u.flush()
	})
	if err != nil {
		return nil, err
	}
	return s.Customer(ctx, shopID, shopifyCustomerID)
}

// customerContext loads what a customer use case needs.
func (s *Service) customerContext(ctx context.Context, tx *store.Store, shopID app.ShopID, shopifyCustomerID int64) (*store.Shop, *store.Customer, program.Settings, error) {
	shop, err := tx.Shop(ctx, shopID)
	if err != nil {
		return nil, nil, program.Settings{}, err
	}
	c, err := tx.CustomerByShopifyID(ctx, shopID, shopifyCustomerID)
	if err != nil {
		if app.ErrorCode(err) == app.ENOTFOUND {
			return nil, nil, program.Settings{}, app.Errorf(app.ENOTFOUND, "Customer not found.")
		}
		return nil, nil, program.Settings{}, err
	}
	settings, _, err := tx.ProgramSettings(ctx, shopID)
	if err != nil {
		return nil, nil, program.Settings{}, err
	}
	return shop, c, settings, nil
}
