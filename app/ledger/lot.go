package ledger

import (
	"cmp"
	"slices"
	"time"

	"github.com/perkbridge/perkbridge/app"
)

// Lot is the points one credit opened, tracked separately so that each
// credit can expire on its own date and be spent oldest first.
type Lot struct {
	ID int64 `json:"id"`
	// Points is what the credit opened (after settling debt); Remaining is
	// what is left of it.
	Points    int64     `json:"points"`
	Remaining int64     `json:"remaining"`
	CreatedAt time.Time `json:"created_at"`
	// AvailableAt is when pending points become spendable; nil: at once.
	AvailableAt *time.Time `json:"available_at,omitempty"`
	// ExpiresAt is when the remaining points expire; nil: never.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// SourceKey is the idempotency key of the credit that opened the lot,
	// such as KeyEarn(order, RuleOrder); a reversal of that order draws from
	// this lot first.
	SourceKey string `json:"source_key"`
}

// Expired reports whether the lot's points have expired at now.
func (l Lot) Expired(now time.Time) bool {
	return l.ExpiresAt != nil && !now.Before(*l.ExpiresAt)
}

// Pending reports whether the lot's points are still waiting to become
// spendable at now.
func (l Lot) Pending(now time.Time) bool {
	return l.AvailableAt != nil && now.Before(*l.AvailableAt)
}

// Spendable reports whether the lot has points a redemption may use at now.
func (l Lot) Spendable(now time.Time) bool {
	return l.Remaining > 0 && !l.Expired(now) && !l.Pending(now)
}

// Open returns credit with DebtSettled filled in and the lot it opens; the
// store assigns the lot's ID and sets credit.LotID. debt (see Debt) is paid
// back first, so a customer who owes points after a reversal cannot spend
// new points until the debt is covered.
func Open(credit Entry, debt int64) (Entry, Lot, error) {
	if credit.Points <= 0 {
		return credit, Lot{}, app.FieldError("points", "Points must be positive.")
	}
	settled := min(max(debt, 0), credit.Points)
	credit.DebtSettled = settled
	lot := Lot{
		Points:      credit.Points - settled,
		Remaining:   credit.Points - settled,
		CreatedAt:   credit.CreatedAt,
		AvailableAt: credit.AvailableAt,
		ExpiresAt:   credit.ExpiresAt,
		SourceKey:   credit.IdempotencyKey,
	}
	return credit, lot, nil
}

// spendOrder sorts lots the way points are spent: the soonest-expiring
// first (so the customer loses as little as possible), lots that never
// expire last, then oldest first, then by ID so the order is total and every
// run plans the same allocations.
func spendOrder(a, b Lot) int {
	switch {
	case a.ExpiresAt == nil && b.ExpiresAt != nil:
		return 1
	case a.ExpiresAt != nil && b.ExpiresAt == nil:
		return -1
	case a.ExpiresAt != nil && b.ExpiresAt != nil:
		if c := a.ExpiresAt.Compare(*b.ExpiresAt); c != 0 {
			return c
		}
	}
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// Consume plans a redemption of points at now: allocations from spendable
// lots, soonest-expiring first. Expired and pending lots are skipped. It
// fails with "Not enough points." when the spendable points fall short, and
// never goes negative. lots is not modified; apply the plan with
// ApplyAllocations.
func Consume(lots []Lot, points int64, now time.Time) ([]Allocation, error) {
	if points <= 0 {
		return nil, app.FieldError("points", "Points must be positive.")
	}
	usable := make([]Lot, 0, len(lots))
	var total int64
	for _, l := range lots {
		if l.Spendable(now) {
			usable = append(usable, l)
			total += l.Remaining
		}
	}
	if total < points {
		return nil, app.Errorf(app.EINVALID, "Not enough points.")
	}
	slices.SortFunc(usable, spendOrder)
	allocs, _ := draw(usable, points)
	return allocs, nil
}

// Reverse plans a reversal of points at now for the credit whose key is
// sourceKey. It draws first from that credit's own lot, pending or not (the
// points being taken back are those), then from spendable lots soonest-
// expiring first, then from other pending lots. Whatever is still missing is
// the shortfall: the customer already spent those points, and the balance
// goes negative rather than the reversal being refused (see the package
// comment). Expired lots are left to the expiry sweep.
func Reverse(lots []Lot, points int64, sourceKey string, now time.Time) (allocs []Allocation, shortfall int64) {
	if points <= 0 {
		return nil, 0
	}
	var own, spendable, pending []Lot
	for _, l := range lots {
		switch {
		case l.Remaining <= 0 || l.Expired(now):
		case sourceKey != "" && l.SourceKey == sourceKey:
			own = append(own, l)
		case l.Pending(now):
			pending = append(pending, l)
		default:
			spendable = append(spendable, l)
		}
	}
	slices.SortFunc(own, spendOrder)
	slices.SortFunc(spendable, spendOrder)
	slices.SortFunc(pending, spendOrder)
	ordered := append(append(own, spendable...), pending...)
	return draw(ordered, points)
}

// draw takes points from lots in order and returns the allocations and what
// could not be covered.
func draw(lots []Lot, points int64) ([]Allocation, int64) {
	var allocs []Allocation
	for _, l := range lots {
		if points == 0 {
			break
		}
		take := min(l.Remaining, points)
		if take <= 0 {
			continue
		}
		allocs = append(allocs, Allocation{LotID: l.ID, Points: take})
		points -= take
	}
	return allocs, points
}

// ApplyAllocations returns a copy of lots with allocs drawn from them. It
// fails if an allocation names a missing lot or takes more than is left,
// which would mean the plan was made from stale lots.
func ApplyAllocations(lots []Lot, allocs []Allocation) ([]Lot, error) {
	out := slices.Clone(lots)
	index := make(map[int64]int, len(out))
	for i, l := range out {
		index[l.ID] = i
	}
	for _, a := range allocs {
		i, ok := index[a.LotID]
		if !ok {
			return nil, app.Errorf(app.ECONFLICT, "Points changed meanwhile; try again.")
		}
		if a.Points <= 0 || a.Points > out[i].Remaining {
			return nil, app.Errorf(app.ECONFLICT, "Points changed meanwhile; try again.")
		}
		out[i].Remaining -= a.Points
	}
	return out, nil
}

// Expiry is the unspent rest of one lot that has expired.
type Expiry struct {
	LotID     int64
	Points    int64
	ExpiresAt time.Time
}

// Expire returns the lots whose expiry has passed at now and that still hold
// points, soonest-expired first. Pending lots expire too: their points were
// never spendable, and keeping them would let them outlive the program's
// expiry.
func Expire(lots []Lot, now time.Time) []Expiry {
	var out []Expiry
	for _, l := range lots {
		if l.Remaining > 0 && l.Expired(now) {
			out = append(out, Expiry{LotID: l.ID, Points: l.Remaining, ExpiresAt: *l.ExpiresAt})
		}
	}
	slices.SortFunc(out, func(a, b Expiry) int {
		if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
			return c
		}
		return cmp.Compare(a.LotID, b.LotID)
	})
	return out
}

// Entry returns the ledger entry that records x at now. Its key is
// KeyExpire(lot), so a sweep that runs twice expires each lot once.
func (x Expiry) Entry(now time.Time) Entry {
	return Entry{
		Kind:           KindExpire,
		Points:         -x.Points,
		Reason:         ReasonExpiry,
		IdempotencyKey: KeyExpire(x.LotID),
		LotID:          x.LotID,
		Allocations:    []Allocation{{LotID: x.LotID, Points: x.Points}},
		CreatedAt:      now,
	}
}

// Summary is a customer's points position at one instant, for the customer
// page and the profile properties synced to sinks.
type Summary struct {
	Balance   int64 // sum of entries; may be negative
	Spendable int64 // in lots that can be redeemed now
	Pending   int64 // in lots still waiting out the pending period
	Debt      int64 // owed after reversals of spent points
	// NextExpiryAt is the soonest expiry of a lot with points left, and
	// NextExpiryPoints what expires then; nil and 0 when nothing will.
	NextExpiryAt     *time.Time
	NextExpiryPoints int64
}

// Summarize returns the summary of a customer's lots at now, given the
// balance derived from their entries.
func Summarize(balance int64, lots []Lot, now time.Time) Summary {
	s := Summary{Balance: balance}
	var remaining int64
	for _, l := range lots {
		if l.Remaining <= 0 {
			continue
		}
		remaining += l.Remaining
		if l.Expired(now) {
			continue // swept soon; counted in the balance until then
		}
		if l.Pending(now) {
			s.Pending += l.Remaining
		} else {
			s.Spendable += l.Remaining
		}
		if l.ExpiresAt != nil {
			switch {
			case s.NextExpiryAt == nil || l.ExpiresAt.Before(*s.NextExpiryAt):
				t := *l.ExpiresAt
				s.NextExpiryAt, s.NextExpiryPoints = &t, l.Remaining
			case l.ExpiresAt.Equal(*s.NextExpiryAt):
				s.NextExpiryPoints += l.Remaining
			}
		}
	}
	s.Debt = max(remaining-balance, 0)
	return s
}
