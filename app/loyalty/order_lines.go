package loyalty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/job"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/tier"
)

// Order edits and exchanges after the earn.
//
// An order earns on its earning payload's base (orders/paid, or
// orders/fulfilled). Lines added or removed afterwards change that base:
//
//   - orders/edited names the lines an edit added and removed, with unit
//     deltas but no prices; it changes the base once per edit id
//     (ledger.KeyEdit);
//   - any later order payload lists every line with its current_quantity
//     (units bought less refunded and removed ones) and the refunds: lines
//     that changed without an edit of their own, such as the new item of
//     an exchange, change the base by their difference (ledger.KeyLines,
//     one per payload time).
//
// The order remembers, per line, its quantity and base (for prices), the
// units its base accounts for, and the units the newest payload shows.
// A payload newer than the accounted one, and than every edit applied since,
// sets the accounted units to its own; an edit already shown by the
// accounted payload (committed no later than it was built) is absorbed;
// other edits apply their deltas in commit order once the order has earned
// and their lines are priced. Each line's base counts its units as
// floor(base × units ÷ quantity), so a line's changes add up to the same
// base whichever way they arrive, and ledger.OrderState.Edit keeps the
// order's net points a function of its final base and refunds.

// lineState is what an order remembers about one of its lines.
type lineState struct {
	Q int   `json:"q"`           // quantity, as last seen
	B int64 `json:"b"`           // earning base of those Q units
	A *int  `json:"a,omitempty"` // units the order's base accounts for
	P *int  `json:"p,omitempty"` // units bought in the newest payload
}

// contrib is the earning base of units of the line.
func (l *lineState) contrib(units int) int64 {
	if l.Q <= 0 {
		return 0
	}
	return floorDiv(l.B*int64(units), int64(l.Q))
}

func (l *lineState) accounted() int {
	if l.A == nil {
		return 0
	}
	return *l.A
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// orderLines maps line ids (numeric, as text) to their state.
type orderLines map[string]*lineState

func loadLines(ord *store.LoyaltyOrder) (orderLines, error) {
	ls := orderLines{}
	if len(ord.Lines) == 0 {
		return ls, nil
	}
	if err := json.Unmarshal(ord.Lines, &ls); err != nil {
		return nil, fmt.Errorf("loyalty: order %s lines: %w", ord.OrderGID, err)
	}
	return ls, nil
}

func (ls orderLines) store(ord *store.LoyaltyOrder) error {
	b, err := json.Marshal(ls)
	if err != nil {
		return fmt.Errorf("loyalty: order %s lines: %w", ord.OrderGID, err)
	}
	ord.Lines = b
	return nil
}

// lineSnapshot is what one order payload says about its lines.
type lineSnapshot struct {
	at    time.Time // the payload's updated_at
	full  bool      // every line says its current_quantity
	lines map[string]lineState
	units map[string]int // units bought: current_quantity plus refunded units
}

func lineKey(adminGID string, id int64) string {
	_, n := gidOf(adminGID, "LineItem", id)
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// snapshotLines reads an order payload's lines: each line's quantity and
// earning base (ledger.EarnBaseForLine), and the units bought. A line whose
// amounts cannot be read is left out (and the payload's units are not
// used): lines only matter for later changes, never for the earn itself.
func snapshotLines(o *shopify.Order, s program.Settings, exp int) lineSnapshot {
	snap := lineSnapshot{at: o.UpdatedAt, full: len(o.LineItems) > 0, lines: map[string]lineState{}, units: map[string]int{}}
	refunded := map[string]int{}
	for _, r := range o.Refunds {
		for _, rl := range r.RefundLineItems {
			if id := lineKey(rl.LineItem.AdminGraphQLAPIID, rl.LineItemID); id != "" {
				refunded[id] += rl.Quantity
			}
		}
	}
	for _, li := range o.LineItems {
		id := lineKey(li.AdminGraphQLAPIID, li.ID)
		base, err := lineBase(li, o.TaxesIncluded, s, exp)
		if id == "" || err != nil {
			snap.full = false
			continue
		}
		snap.lines[id] = lineState{Q: li.Quantity, B: base}
		if li.CurrentQuantity == nil {
			snap.full = false
			continue
		}
		snap.units[id] = *li.CurrentQuantity + refunded[id]
	}
	return snap
}

// lineBase is the earning base of a line item: price × quantity less its
// discount allocations, with its tax lines, nothing for a gift card.
func lineBase(li shopify.LineItem, taxesIncluded bool, s program.Settings, exp int) (int64, error) {
	price, err := money(li.PriceSet, li.Price, exp)
	if err != nil {
		return 0, err
	}
	sub := price * int64(li.Quantity)
	for _, a := range li.DiscountAllocations {
		d, err := money(a.AmountSet, a.Amount, exp)
		if err != nil {
			return 0, err
		}
		sub -= d
	}
	tax, err := taxOf(li.TaxLines, exp)
	if err != nil {
		return 0, err
	}
	return ledger.EarnBaseForLine(sub, tax, li.GiftCard, taxesIncluded, s), nil
}

// observeLines merges a payload's lines into the order's: prices of lines
// not known yet (or of a newer payload), and the units of the newest
// payload that lists them all.
func observeLines(ord *store.LoyaltyOrder, ls orderLines, snap lineSnapshot) {
	newer := snap.full && (ord.LinesSeenAt == nil || snap.at.After(*ord.LinesSeenAt))
	for id, l := range snap.lines {
		cur := ls[id]
		if cur == nil {
			cur = &lineState{}
			ls[id] = cur
		}
		if newer || cur.Q <= 0 {
			cur.Q, cur.B = l.Q, l.B
		}
		if newer {
			p := snap.units[id]
			cur.P = &p
		}
	}
	if newer {
		at := snap.at
		ord.LinesSeenAt = &at
	}
}

// baselineLines makes the earning payload's lines the ones the order's
// base accounts for (the base was just computed from the same payload).
func baselineLines(ord *store.LoyaltyOrder, ls orderLines, snap lineSnapshot) {
	for id, l := range ls {
		a := 0
		if u, ok := snap.units[id]; ok {
			a = u
		} else if sl, ok := snap.lines[id]; ok {
			a = sl.Q
		}
		l.A = &a
	}
	at := snap.at
	ord.LinesAsOf, ord.LinesEditedAt = &at, nil
}

// editLines is the JSON of an edit's additions or removals.
type editLines []shopify.OrderEditLine

// settleLines brings the base of an earned order up to date with the
// newest payload and the pending edits (see the top of this file). It
// needs the customer's account locked; an order that has not earned only
// remembers. It returns why edits still wait, "" when none does.
func (s *Service) settleLines(u *unit, ord *store.LoyaltyOrder, ls orderLines) (string, error) {
	if ord.EarnedAt == nil {
		if ord.PendingEdits > 0 {
			return "the order has not earned yet", nil
		}
		return "", nil
	}
	if u.acct == nil {
		// Without a customer an earned order's points wait for a guest
		// (guests.go): changes adjust the waiting points. Otherwise there
		// is nobody to credit.
		g, err := u.tx.UnclaimedGuestPointsOfOrder(u.ctx, u.shop.ID, ord.OrderGID)
		if err != nil || g == nil {
			return "the order has no customer", err
		}
	}
	if ord.LinesAsOf == nil {
		// Earned before lines were remembered: the first payload that
		// lists them is what the base accounts for.
		if ord.LinesSeenAt == nil {
			if ord.PendingEdits > 0 {
				return "waiting for an order payload with the order's lines", nil
			}
			return "", nil
		}
		for _, l := range ls {
			if l.P != nil {
				a := *l.P
				l.A = &a
			}
		}
		at := *ord.LinesSeenAt
		ord.LinesAsOf = &at
	}
	var edits []store.OrderEdit
	if ord.PendingEdits > 0 {
		var err error
		if edits, err = u.tx.PendingOrderEdits(u.ctx, u.shop.ID, ord.ID); err != nil {
			return "", err
		}
	}
	snapshotDue := func() bool {
		return ord.LinesSeenAt != nil && ord.LinesSeenAt.After(*ord.LinesAsOf) &&
			(ord.LinesEditedAt == nil || !ord.LinesSeenAt.Before(*ord.LinesEditedAt))
	}
	waiting := ""
	for i := range edits {
		e := &edits[i]
		var adds, rems editLines
		if err := json.Unmarshal(e.Additions, &adds); err != nil {
			return "", fmt.Errorf("loyalty: edit %s additions: %w", e.EditGID, err)
		}
		if err := json.Unmarshal(e.Removals, &rems); err != nil {
			return "", fmt.Errorf("loyalty: edit %s removals: %w", e.EditGID, err)
		}
		priced := true
		for _, l := range append(append(editLines{}, adds...), rems...) {
			if st := ls[strconv.FormatInt(l.ID, 10)]; st == nil || st.Q <= 0 {
				priced = false
			}
		}
		// A newer payload is accounted first when the edit came after it,
		// or when it shows the edit (it was built after) but the edit's
		// lines cannot be priced.
		if snapshotDue() && (e.CommittedAt.After(*ord.LinesSeenAt) || !priced) {
			if err := s.applySnapshot(u, ord, ls); err != nil {
				return "", err
			}
		}
		if !e.CommittedAt.After(*ord.LinesAsOf) {
			// The accounted payload was built after the edit: it shows it.
			if err := u.tx.SettleOrderEdit(u.ctx, u.shop.ID, e.ID, store.OrderEditAbsorbed, 0, 0, u.now); err != nil {
				return "", err
			}
			ord.PendingEdits--
			continue
		}
		if !priced {
			// Its new lines are in the orders/updated that follows the
			// edit; later edits wait too, to keep commit order.
			waiting = "the edit's lines are not priced yet: an order payload listing them prices it"
			break
		}
		var d int64
		change := func(id int64, delta int) {
			l := ls[strconv.FormatInt(id, 10)]
			a := l.accounted()
			d += l.contrib(a+delta) - l.contrib(a)
			n := a + delta
			l.A = &n
		}
		for _, l := range adds {
			change(l.ID, l.Delta)
		}
		for _, l := range rems {
			change(l.ID, -l.Delta)
		}
		at := e.CommittedAt
		if ord.LinesEditedAt == nil || at.After(*ord.LinesEditedAt) {
			ord.LinesEditedAt = &at
		}
		net, err := s.changeBase(u, ord, d, ledger.KeyEdit(ord.OrderGID, e.EditGID))
		if err != nil {
			return "", err
		}
		if err := u.tx.SettleOrderEdit(u.ctx, u.shop.ID, e.ID, store.OrderEditApplied, d, net, u.now); err != nil {
			return "", err
		}
		ord.PendingEdits--
	}
	if waiting == "" && snapshotDue() {
		if err := s.applySnapshot(u, ord, ls); err != nil {
			return "", err
		}
	}
	return waiting, nil
}

// applySnapshot makes the newest payload's lines the accounted ones,
// changing the base by their difference.
func (s *Service) applySnapshot(u *unit, ord *store.LoyaltyOrder, ls orderLines) error {
	var d int64
	for _, l := range ls {
		if l.P == nil {
			continue
		}
		d += l.contrib(*l.P) - l.contrib(l.accounted())
		p := *l.P
		l.A = &p
	}
	at := *ord.LinesSeenAt
	ord.LinesAsOf, ord.LinesEditedAt = &at, nil
	if d == 0 {
		return nil
	}
	_, err := s.changeBase(u, ord, d, ledger.KeyLines(ord.OrderGID, at))
	return err
}

// netSpent is what an order adds to the amount-spent tier metric: its base
// less what refunds returned; nothing once cancelled.
func netSpent(st ledger.OrderState) int64 {
	if st.Cancelled {
		return 0
	}
	b := max(st.BaseMinor, 0)
	return b - min(max(st.RefundedBaseMinor, 0), b)
}

// changeBase applies a change d of an earned order's base under key: the
// points the new base earns (at the customer's current multiplier) less
// the refunds' share, credited (wallet_points_rewarded) or taken back
// (wallet_points_reversed), reason order_edit. Tier metrics count it in
// the window of the order. It returns the points change.
//
// While the order's points wait for a guest (guests.go) the change is made
// to the waiting points instead, at the base multiplier as they were held.
func (s *Service) changeBase(u *unit, ord *store.LoyaltyOrder, d int64, key string) (int64, error) {
	state := orderState(ord)
	exp := currencyExponent(u.shop.Currency)
	tierKey := ""
	if u.acct != nil {
		tierKey = u.acct.TierKey
	}
	held, err := u.tx.UnclaimedGuestPointsOfOrder(u.ctx, u.shop.ID, ord.OrderGID)
	if err != nil {
		return 0, err
	}
	if held != nil {
		tierKey = ""
	}
	m := tier.Multiplier(u.settings.Tiers, tierKey)
	pointsDelta := ledger.PointsForOrder(state.BaseMinor+d, u.settings, m, exp) - ledger.PointsForOrder(state.BaseMinor, u.settings, m, exp)
	net, next := state.Edit(d, pointsDelta)
	if held != nil || u.acct == nil {
		setOrderState(ord, next)
		_, err := s.guestTakeBack(u, ord)
		return net, err
	}
	spent := netSpent(next) - netSpent(state)
	at := orderTime(ord, u.now)
	ch := event.Channel(ord.Channel)
	switch {
	case net > 0:
		available, expires := ledger.CreditTimes(ledger.KindEarn, u.now, u.settings, u.loc)
		e := ledger.Entry{Kind: ledger.KindEarn, Points: net, Reason: ledger.ReasonOrderEdit, OrderID: ord.OrderGID,
			BaseMinor: next.BaseMinor, IdempotencyKey: key, CreatedAt: u.now, ExpiresAt: expires, AvailableAt: available}
		lot, inserted, err := u.creditAt(e, spent, at)
		if err != nil {
			return 0, err
		}
		if !inserted {
			return 0, fmt.Errorf("loyalty: order %s: %s already applied", ord.OrderGID, key)
		}
		err = u.add(key)(event.NewWalletPointsRewarded(u.common(key, ch), net, event.ReasonOrderEdit, ord.OrderGID, ord.Name, lot.ExpiresAt))
		if err != nil {
			return 0, err
		}
	case net < 0:
		e, err := u.reverse(ledger.Entry{Kind: ledger.KindReverse, Reason: ledger.ReasonOrderEdit, OrderID: ord.OrderGID,
			IdempotencyKey: key, CreatedAt: u.now}, -net, ledger.KeyEarn(ord.OrderGID, ledger.RuleOrder))
		if err != nil {
			return 0, err
		}
		inserted, err := u.debitAt(e, spent, at)
		if err != nil {
			return 0, err
		}
		if !inserted {
			return 0, fmt.Errorf("loyalty: order %s: %s already applied", ord.OrderGID, key)
		}
		err = u.add(key)(event.NewWalletPointsReversed(u.common(key, ch), -net, event.ReasonOrderEdit, ord.OrderGID, ord.Name, ""))
		if err != nil {
			return 0, err
		}
	default:
		if err := u.trackAt(spent, 0, key, at); err != nil {
			return 0, err
		}
	}
	setOrderState(ord, next)
	return net, u.evaluateTier(net < 0, key)
}

// OrderEdited applies orders/edited inside tx (webhooks.Loyalty): the
// edit is remembered once per id (a repeat is ignored), and changes the
// order's points once the order has earned and the edit's lines are
// priced; an order payload that already showed the edit absorbs it.
func (s *Service) OrderEdited(ctx context.Context, tx *store.Store, shop *store.Shop, e *shopify.OrderEdit, webhookRowID int64) error {
	if e.ID <= 0 || e.OrderID <= 0 {
		return job.Permanent(errors.New("loyalty: order edit payload has no id or order id"))
	}
	orderGID, editGID := shopify.GID("Order", e.OrderID), shopify.GID("OrderEdit", e.ID)
	settings, _, err := tx.ProgramSettings(ctx, shop.ID)
	if err != nil {
		return err
	}
	now := s.clock()
	ord, err := tx.UpsertLoyaltyOrder(ctx, shop.ID, store.OrderSeen{OrderGID: orderGID, ShopifyID: e.OrderID}, now)
	if err != nil {
		return err
	}
	committed := e.CommittedAt
	if committed.IsZero() {
		committed = e.CreatedAt
	}
	if committed.IsZero() {
		committed = now
	}
	adds, err := json.Marshal(nonNil(e.LineItems.Additions))
	if err != nil {
		return err
	}
	rems, err := json.Marshal(nonNil(e.LineItems.Removals))
	if err != nil {
		return err
	}
	inserted, err := tx.InsertOrderEdit(ctx, shop.ID, &store.OrderEdit{OrderID: ord.ID, EditGID: editGID, CommittedAt: committed,
		Additions: adds, Removals: rems, CreatedAt: now})
	if err != nil {
		return err
	}
	if !inserted {
		return job.Ignore("order edit already recorded")
	}
	ord.PendingEdits++
	ls, err := loadLines(ord)
	if err != nil {
		return err
	}
	actor, wh := webhookActor(ctx, webhookRowID)
	u := s.newUnit(ctx, tx, shop, settings, now, actor, wh)
	if ord.CustomerID != nil && ord.EarnedAt != nil {
		if err := u.lock(*ord.CustomerID, *ord.ShopifyCustomerID, ledger.KeyEdit(orderGID, editGID)); err != nil {
			return err
		}
	}
	waiting, err := s.settleLines(u, ord, ls)
	if err != nil {
		return err
	}
	if err := ls.store(ord); err != nil {
		return err
	}
	if err := tx.SaveLoyaltyOrder(ctx, shop.ID, ord, now); err != nil {
		return err
	}
	if u.acct != nil {
		if err := u.flush(); err != nil {
			return err
		}
	}
	if waiting != "" {
		return job.Ignore("order edit remembered: " + waiting)
	}
	return nil
}

func nonNil(ls []shopify.OrderEditLine) []shopify.OrderEditLine {
	if ls == nil {
		return []shopify.OrderEditLine{}
	}
	return ls
}
