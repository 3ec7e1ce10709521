// Package ledger holds the points ledger rules: what an entry is, how much an
// order earns, how refunds and cancellations take points back, how credited
// lots are spent, expired and reminded about, and the natural idempotency
// keys that make every effect happen once.
//
// The ledger is append-only. Every credit opens a Lot; every debit (redeem,
// reverse, expire, negative adjust) lists the lots it drew from in
// Allocations. A customer's balance is the sum of their entries' Points and
// is never stored anywhere it could drift from them.
//
// Negative balances. A reversal (refund or cancel) may need more points than
// the customer still has, because they already spent them. Reversals are not
// refused: they draw what they can from lots and record the rest as
// Shortfall, and the balance goes negative. That debt is paid first out of
// the next credits (Open records it as DebtSettled), so the customer cannot
// spend points they owe. Redemptions never go negative (Consume refuses).
// A staff deduction (negative adjust) may use either planner: Consume when
// it must not exceed what is spendable, Reverse when it corrects points
// that were wrongly credited and already spent.
// The invariant, checked by Reconcile, is
//
//	Balance(entries) == Σ lot.Remaining − Debt(entries)
//	Debt(entries)    == Σ Shortfall − Σ DebtSettled ≥ 0
//
// The package is pure: no I/O, no clock. Callers pass now and the shop's
// time zone where calendar days matter.
package ledger

import (
	"time"
	"unicode/utf8"

	"github.com/perkbridge/perkbridge/app"
)

// Kind is the kind of a ledger entry. Kind strings are stored; never change
// one once shipped.
type Kind string

// Entry kinds.
const (
	KindEarn     Kind = "earn"     // purchase points for an order (credit)
	KindSignup   Kind = "signup"   // account created (credit)
	KindBirthday Kind = "birthday" // yearly birthday gift (credit)
	KindReview   Kind = "review"   // review accepted (credit)
	KindReferral Kind = "referral" // a referred friend's order qualified (credit, to the referrer)
	KindAdjust   Kind = "adjust"   // manual change by staff or the API (either sign)
	KindRedeem   Kind = "redeem"   // points spent on a reward (debit)
	KindReverse  Kind = "reverse"  // a refund or cancellation took earned points back (debit, may be 0)
	KindExpire   Kind = "expire"   // the unspent rest of a lot expired (debit)
)

// Kinds returns every entry kind.
func Kinds() []Kind {
	return []Kind{KindEarn, KindSignup, KindBirthday, KindReview, KindReferral, KindAdjust, KindRedeem, KindReverse, KindExpire}
}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	switch k {
	case KindEarn, KindSignup, KindBirthday, KindReview, KindReferral, KindAdjust, KindRedeem, KindReverse, KindExpire:
		return true
	}
	return false
}

// Credit reports whether entries of kind k always add points.
func (k Kind) Credit() bool {
	switch k {
	case KindEarn, KindSignup, KindBirthday, KindReview, KindReferral:
		return true
	}
	return false
}

// Reasons recorded on entries the engine writes itself. Manual adjustments
// carry the merchant's own text.
const (
	ReasonOrder    = "order"
	ReasonSignup   = "signup"
	ReasonBirthday = "birthday"
	ReasonReview   = "review"
	ReasonReferral = "referral"
	ReasonRefund   = "refund"
	ReasonCancel   = "cancel"
	ReasonReward   = "reward"
	ReasonExpiry   = "expiry"

	// ReasonOrderEdit: an order edit or exchange added or removed lines
	// after the order earned (either sign).
	ReasonOrderEdit = "order_edit"
)

// MaxReasonLen is the longest reason, in characters.
const MaxReasonLen = 255

// Entry is one row of the append-only ledger. Points is signed: credits are
// positive, debits negative.
type Entry struct {
	Kind   Kind   `json:"kind"`
	Points int64  `json:"points"`
	Reason string `json:"reason"`
	// OrderID and RefundID are Shopify GIDs of the order or refund behind
	// the entry, when there is one.
	OrderID  string `json:"order_id,omitempty"`
	RefundID string `json:"refund_id,omitempty"`
	// BaseMinor is the earning base an earn entry was computed on, or the
	// refunded base of a refund reversal. Stored so that later refunds can be
	// computed cumulatively (see OrderState).
	BaseMinor int64 `json:"base_minor,omitempty"`
	// IdempotencyKey is the natural key of the effect (see the Key…
	// functions). It is unique per shop, so a replayed webhook or a retried
	// job inserts nothing the second time.
	IdempotencyKey string `json:"idempotency_key"`
	// LotID is the lot a credit opened, or the lot an expiry closed.
	LotID int64 `json:"lot_id,omitempty"`
	// Allocations say which lots a debit drew from; with Shortfall they add
	// up to -Points.
	Allocations []Allocation `json:"allocations,omitempty"`
	// Shortfall is the part of a reversal or negative adjustment no lot could
	// cover: the balance went negative by this much.
	Shortfall int64 `json:"shortfall,omitempty"`
	// DebtSettled is the part of a credit that paid back earlier shortfalls
	// instead of opening spendable points.
	DebtSettled int64     `json:"debt_settled,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	// ExpiresAt (credits only) is when the lot's unspent rest expires; nil
	// means never.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// AvailableAt (credits only) is when pending points become spendable;
	// nil means at once.
	AvailableAt *time.Time `json:"available_at,omitempty"`
}

// Allocation is the part of a debit drawn from one lot.
type Allocation struct {
	LotID  int64 `json:"lot_id"`
	Points int64 `json:"points"`
}

// Validate checks the entry's own consistency: a known kind, a key, the sign
// its kind requires, and allocations that account for every debited point.
func (e Entry) Validate() error {
	if !e.Kind.Valid() {
		return app.Errorf(app.EINVALID, "Unknown ledger entry kind %q.", e.Kind)
	}
	if e.IdempotencyKey == "" {
		return app.Errorf(app.EINVALID, "A ledger entry needs an idempotency key.")
	}
	if e.CreatedAt.IsZero() {
		return app.Errorf(app.EINVALID, "A ledger entry needs a creation time.")
	}
	if utf8.RuneCountInString(e.Reason) > MaxReasonLen {
		return app.FieldError("reason", "Reason must be at most %d characters.", MaxReasonLen)
	}
	switch {
	case e.Kind.Credit() && e.Points <= 0:
		return app.FieldError("points", "Points must be positive.")
	case e.Kind == KindAdjust && e.Points == 0:
		return app.FieldError("points", "Points must not be zero.")
	case (e.Kind == KindRedeem || e.Kind == KindExpire) && e.Points >= 0:
		return app.Errorf(app.EINVALID, "A %s entry must take points away.", e.Kind)
	case e.Kind == KindReverse && e.Points > 0:
		// Zero is allowed: a refund or cancel that finds nothing left to take
		// back is still recorded, so its base and key count for later ones.
		return app.Errorf(app.EINVALID, "A reverse entry must not add points.")
	}
	if e.Points > 0 {
		if len(e.Allocations) > 0 || e.Shortfall != 0 {
			return app.Errorf(app.EINVALID, "A credit cannot draw from lots.")
		}
		if e.DebtSettled < 0 || e.DebtSettled > e.Points {
			return app.Errorf(app.EINVALID, "Settled debt must be between 0 and the credited points.")
		}
		return nil
	}
	if e.ExpiresAt != nil || e.AvailableAt != nil || e.DebtSettled != 0 {
		return app.Errorf(app.EINVALID, "A debit cannot carry expiry, pending or settled debt.")
	}
	if e.Shortfall < 0 || (e.Shortfall > 0 && e.Kind != KindReverse && e.Kind != KindAdjust) {
		// Only reversals and staff corrections may push a balance below zero;
		// a redemption or an expiry never spends points that are not there.
		return app.Errorf(app.EINVALID, "Only reversals and adjustments may leave a shortfall.")
	}
	sum := e.Shortfall
	for _, a := range e.Allocations {
		if a.Points <= 0 {
			return app.Errorf(app.EINVALID, "Allocations must be positive.")
		}
		sum += a.Points
	}
	if sum != -e.Points {
		return app.Errorf(app.EINVALID, "Allocations and shortfall must add up to the debited points.")
	}
	return nil
}

// Balance returns the sum of the entries' points: the customer's balance,
// pending points included, which may be negative (see the package comment).
func Balance(entries []Entry) int64 {
	var b int64
	for _, e := range entries {
		b += e.Points
	}
	return b
}

// Debt returns the points the customer owes: shortfalls of reversals not yet
// paid back by later credits.
func Debt(entries []Entry) int64 {
	var d int64
	for _, e := range entries {
		d += e.Shortfall - e.DebtSettled
	}
	return d
}

// Reconcile checks that entries and lots agree: every lot's remaining points
// equal what its credit opened minus what debits drew from it, and the
// balance equals the lots' remaining points minus the debt. Stores and tests
// use it to prove that no write path loses or invents a point.
func Reconcile(entries []Entry, lots []Lot) error {
	want := make(map[int64]int64, len(lots))
	for _, e := range entries {
		if e.Points > 0 && e.LotID != 0 {
			want[e.LotID] += e.Points - e.DebtSettled
		}
		for _, a := range e.Allocations {
			want[a.LotID] -= a.Points
		}
	}
	var remaining int64
	for _, l := range lots {
		if l.Remaining < 0 || l.Remaining > l.Points {
			return app.Errorf(app.EINTERNAL, "Lot %d has %d of %d points left.", l.ID, l.Remaining, l.Points)
		}
		if want[l.ID] != l.Remaining {
			return app.Errorf(app.EINTERNAL, "Lot %d has %d points left but its entries say %d.", l.ID, l.Remaining, want[l.ID])
		}
		delete(want, l.ID)
		remaining += l.Remaining
	}
	for id, p := range want {
		if p != 0 {
			return app.Errorf(app.EINTERNAL, "Entries refer to lot %d, which is missing.", id)
		}
	}
	debt := Debt(entries)
	if debt < 0 {
		return app.Errorf(app.EINTERNAL, "More debt was settled than was ever owed.")
	}
	if b := Balance(entries); b != remaining-debt {
		return app.Errorf(app.EINTERNAL, "Balance %d differs from lots %d minus debt %d.", b, remaining, debt)
	}
	return nil
}
