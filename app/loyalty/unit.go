package loyalty

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/tier"
)

// unit is one customer's part of a use case inside a transaction: the
// locked account, its lots (loaded once, then kept in step with every
// entry), and the events to write. Entries are written at once; the account
// and the events are written by flush, before the transaction commits.
type unit struct {
	s        *Service
	ctx      context.Context
	tx       *store.Store
	shop     *store.Shop
	settings program.Settings
	loc      *time.Location
	now      time.Time
	actor    string
	webhook  *int64

	acct       *store.LoyaltyAccount
	lots       []ledger.Lot
	lotsLoaded bool
	dirty      bool
	events     []store.LoyaltyEvent
}

func (s *Service) newUnit(ctx context.Context, tx *store.Store, shop *store.Shop, settings program.Settings, now time.Time, actor string, webhook *int64) *unit {
	return &unit{s: s, ctx: ctx, tx: tx, shop: shop, settings: settings, loc: shop.Location(), now: now, actor: actor, webhook: webhook}
}

// lock locks (creating it if needed) the customer's account. A customer
// without a tier while tiers are on enters the tier its metric reaches
// (cause keys the event should that be an upgrade).
func (u *unit) lock(customerID, shopifyCustomerID int64, cause string) error {
	acct, _, err := u.tx.LockLoyaltyAccount(u.ctx, u.shop.ID, customerID, shopifyCustomerID, u.now)
	if err != nil {
		return err
	}
	u.acct = acct
	if u.settings.Tiers.Enabled && acct.TierKey == "" {
		return u.evaluateTier(false, cause)
	}
	return nil
}

func (u *unit) meta() store.EntryMeta {
	return store.EntryMeta{CustomerID: u.acct.CustomerID, ShopifyCustomerID: u.acct.ShopifyCustomerID, Actor: u.actor, WebhookID: u.webhook}
}

// openLots returns the customer's lots with points left, loading them once.
func (u *unit) openLots() ([]ledger.Lot, error) {
	if !u.lotsLoaded {
		lots, err := u.tx.OpenLots(u.ctx, u.shop.ID, u.acct.CustomerID)
		if err != nil {
			return nil, err
		}
		u.lots, u.lotsLoaded = lots, true
	}
	return u.lots, nil
}

// credit appends a credit entry: it settles debt first and opens a lot with
// the rest (ledger.Open). spent is the entry's contribution to the
// amount-spent tier metric. inserted is false when the entry's key already
// exists: nothing changed.
func (u *unit) credit(e ledger.Entry, spent int64) (lot ledger.Lot, inserted bool, err error) {
	return u.creditAt(e, spent, u.now)
}

// creditAt is credit with the tier contributions dated at: an order edit
// counts in the rolling window of the order it changes.
func (u *unit) creditAt(e ledger.Entry, spent int64, at time.Time) (lot ledger.Lot, inserted bool, err error) {
	e, lot, err = ledger.Open(e, u.acct.PointsDebt)
	if err != nil {
		return lot, false, err
	}
	if err := e.Validate(); err != nil {
		return lot, false, fmt.Errorf("loyalty: %s entry: %w", e.Kind, err)
	}
	lotID, inserted, err := u.tx.AppendCredit(u.ctx, u.shop.ID, u.meta(), e, lot)
	if err != nil || !inserted {
		return lot, false, err
	}
	lot.ID = lotID
	if lotID != 0 && u.lotsLoaded {
		u.lots = append(u.lots, lot)
	}
	u.acct.PointsBalance += e.Points
	u.acct.PointsDebt -= e.DebtSettled
	u.acct.LifetimePoints += e.Points
	u.dirty = true
	var earned int64
	if e.Kind.Credit() {
		earned = e.Points
	}
	return lot, true, u.trackAt(spent, earned, e.IdempotencyKey, at)
}

// debit appends a debit entry whose allocations were planned from
// openLots, and draws them. Reversals count against the points-earned tier
// metric; spent is the entry's contribution to amount spent.
func (u *unit) debit(e ledger.Entry, spent int64) (inserted bool, err error) {
	return u.debitAt(e, spent, u.now)
}

// debitAt is debit with the tier contributions dated at: a refund or
// cancellation lowers the rolling window the order counted in, not today's.
func (u *unit) debitAt(e ledger.Entry, spent int64, at time.Time) (inserted bool, err error) {
	if err := e.Validate(); err != nil {
		return false, fmt.Errorf("loyalty: %s entry: %w", e.Kind, err)
	}
	inserted, err = u.tx.AppendDebit(u.ctx, u.shop.ID, u.meta(), e)
	if err != nil || !inserted {
		return false, err
	}
	if u.lotsLoaded {
		if u.lots, err = ledger.ApplyAllocations(u.lots, e.Allocations); err != nil {
			return false, err
		}
	}
	u.acct.PointsBalance += e.Points
	u.acct.PointsDebt += e.Shortfall
	u.dirty = true
	var earned int64
	if e.Kind == ledger.KindReverse {
		earned = e.Points
	}
	return true, u.trackAt(spent, earned, e.IdempotencyKey, at)
}

// reverse plans a reversal of points for the credit keyed sourceKey
// (ledger.Reverse: its own lot first, then the rest; the uncovered part is
// the shortfall) and returns the entry to append.
func (u *unit) reverse(e ledger.Entry, points int64, sourceKey string) (ledger.Entry, error) {
	lots, err := u.openLots()
	if err != nil {
		return e, err
	}
	e.Points = -points
	e.Allocations, e.Shortfall = ledger.Reverse(lots, points, sourceKey, u.now)
	return e, nil
}

// track records a contribution to the tier metrics: the lifetime totals on
// the account and a timed row for rolling windows.
func (u *unit) track(spent, earned int64, key string) error {
	return u.trackAt(spent, earned, key, u.now)
}

// trackAt records a contribution that belongs to the moment at (never
// later than now): a window that has moved past at no longer sees it.
func (u *unit) trackAt(spent, earned int64, key string, at time.Time) error {
	if spent == 0 && earned == 0 {
		return nil
	}
	if at.IsZero() || at.After(u.now) {
		at = u.now
	}
	u.acct.AmountSpentMinor += spent
	u.acct.PointsEarned += earned
	u.dirty = true
	return u.tx.AddTierActivity(u.ctx, u.shop.ID, store.TierActivity{
		CustomerID: u.acct.CustomerID, OccurredAt: at, SpentMinor: spent, Points: earned, SourceKey: key,
	})
}

// tierMetric returns the customer's tier metric at now: the lifetime totals
// for a lifetime window, tier.Measure over the timed contributions for a
// rolling one.
func (u *unit) tierMetric() (int64, error) {
	t := u.settings.Tiers
	pick := func(spent, points int64) int64 {
		if t.Metric == program.MetricPointsEarned {
			return points
		}
		return spent
	}
	if t.Window != program.WindowRolling {
		return max(pick(u.acct.AmountSpentMinor, u.acct.PointsEarned), 0), nil
	}
	from := tier.WindowStart(u.now, t.WindowMonths, u.loc)
	rows, err := u.tx.TierActivities(u.ctx, u.shop.ID, u.acct.CustomerID, from)
	if err != nil {
		return 0, err
	}
	acts := make([]tier.Activity, len(rows))
	for i, r := range rows {
		acts[i] = tier.Activity{At: r.OccurredAt, Value: pick(r.SpentMinor, r.Points)}
	}
	return tier.Measure(t, acts, u.now, u.loc), nil
}

// evaluateTier applies tier.Transition to the customer: upgrades at once,
// downgrades when the hold ended (or, for a lifetime window, after a
// reversal), renewal of the hold when the customer re-qualifies at its end.
// It writes tier_upgraded or tier_downgraded, keyed by cause.
func (u *unit) evaluateTier(afterReversal bool, cause string) error {
	t := u.settings.Tiers
	if !t.Enabled || len(t.Levels) == 0 {
		return nil
	}
	value, err := u.tierMetric()
	if err != nil {
		return err
	}
	ev := tier.Assess(t.Levels, value)
	windowEnded := false
	if u.acct.TierSince != nil {
		windowEnded = tier.DowngradeDue(t, *u.acct.TierSince, u.now, u.loc, afterReversal)
	}
	change, ok := tier.Transition(u.acct.TierKey, ev, t.Downgrade, windowEnded)
	if !ok {
		if windowEnded && u.acct.TierKey == ev.Current.Key {
			now := u.now
			u.acct.TierSince, u.dirty = &now, true // re-qualified: a new hold starts
		}
		return nil
	}
	prev := u.acct.TierKey
	now := u.now
	u.acct.TierKey, u.acct.TierSince, u.dirty = change.To.Key, &now, true
	if change.Direction == tier.Entered {
		return nil // everyone starts there: stored, not announced
	}
	next := ""
	if change.Next != nil {
		next = change.Next.Key
	}
	expires := tier.ExpiresAt(t, u.now, u.loc)
	c := u.common(cause, "")
	if change.Direction == tier.Upgraded {
		return u.add(cause)(event.NewTierUpgraded(c, change.To.Key, prev, expires, next, change.AmountToNext))
	}
	return u.add(cause)(event.NewTierDowngraded(c, change.To.Key, prev, expires, next, change.AmountToNext))
}

// common returns the common fields of an event about the unit's customer,
// with the balance and tier as they are now.
func (u *unit) common(sourceKey string, ch event.Channel) event.Common {
	return commonFor(u.shop, u.acct, sourceKey, ch, u.now)
}

func commonFor(shop *store.Shop, acct *store.LoyaltyAccount, sourceKey string, ch event.Channel, now time.Time) event.Common {
	return event.Common{
		SourceKey:     sourceKey,
		OccurredAt:    now,
		ShopDomain:    shop.Domain,
		CustomerID:    strconv.FormatInt(acct.ShopifyCustomerID, 10),
		Channel:       ch,
		PointsBalance: acct.PointsBalance,
		Tier:          acct.TierKey,
		Currency:      shop.Currency,
	}
}

// add queues an event about the unit's customer, built by a constructor of
// the event package from common fields keyed by sourceKey.
// Use it as u.add(key)(event.NewX(…)).
func (u *unit) add(sourceKey string) func(event.Event, error) error {
	return func(ev event.Event, err error) error { return u.addFor(u.acct, sourceKey, ev, err) }
}

// addFor queues an event about the customer of acct.
func (u *unit) addFor(acct *store.LoyaltyAccount, sourceKey string, ev event.Event, err error) error {
	if err != nil {
		// An event that fails its catalog contract is a bug: fail the
		// transaction rather than commit a change without its event.
		return app.Wrap(app.EINTERNAL, err, "Could not build a loyalty event.")
	}
	props, err := json.Marshal(ev.Properties)
	if err != nil {
		return fmt.Errorf("loyalty: encode %s event: %w", ev.Key, err)
	}
	u.events = append(u.events, store.LoyaltyEvent{
		ID: ev.ID, CustomerID: acct.CustomerID, ShopifyCustomerID: acct.ShopifyCustomerID, Key: string(ev.Key),
		Channel: string(ev.Channel), OccurredAt: ev.OccurredAt, Properties: props, PointsBalance: ev.PointsBalance,
		Tier: ev.Tier, Currency: ev.Currency, SourceKey: sourceKey,
	})
	return nil
}

// flush writes the account (when changed) and the queued events.
func (u *unit) flush() error {
	if u.acct != nil && u.dirty {
		if err := u.tx.SaveLoyaltyAccount(u.ctx, u.shop.ID, u.acct, u.now); err != nil {
			return err
		}
		u.dirty = false
	}
	return u.writeEvents()
}

// writeEvents inserts the queued events and hands their ids to the
// Service's events hook, in the unit's transaction.
func (u *unit) writeEvents() error {
	if len(u.events) == 0 {
		return nil
	}
	if _, err := u.tx.InsertLoyaltyEvents(u.ctx, u.shop.ID, u.events); err != nil {
		return err
	}
	if u.s.onEvents != nil {
		ids := make([]uuid.UUID, len(u.events))
		for i, e := range u.events {
			ids[i] = e.ID
		}
		if err := u.s.onEvents(u.ctx, u.tx, u.shop.ID, ids); err != nil {
			return fmt.Errorf("loyalty: events hook: %w", err)
		}
	}
	u.events = nil
	return nil
}
