// Package tier holds the VIP tier rules: which tier a metric value reaches,
// how far the next tier is, when a customer moves up or down, the rolling
// window the metric is summed over, and the earn multiplier of a tier.
//
// The rules, chosen to match what merchants know from Nector, LoyaltyLion,
// Yotpo and BON:
//
//   - Upgrades are immediate: reaching a threshold exactly is enough.
//   - A reached tier is held for the window (WindowMonths) and re-evaluated
//     when that hold ends (Downgrade "window_end"), or kept for good
//     (Downgrade "never"). Re-qualifying at the end renews the hold.
//   - With a lifetime window the metric only falls through refunds and
//     cancellations, so those are the only downgrade moments (Yotpo's rule);
//     a tier bought with returned goods does not stick.
//   - A downgrade goes straight to the tier the metric now reaches, as BON's
//     re-evaluation does, rather than one step at a time.
//
// The package is pure: no I/O, no clock; callers pass now and the shop's
// time zone.
package tier

import (
	"cmp"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app/program"
)

// Evaluate returns the highest tier whose threshold metricValue reaches,
// the tier after it (nil at the top) and how much metric is missing to reach
// that next tier (0 at the top). levels may be in any order. Below every
// threshold, which validated settings rule out by starting at 0, current is
// the zero Tier and next is the lowest tier.
func Evaluate(levels []program.Tier, metricValue int64) (current program.Tier, next *program.Tier, amountToNext int64) {
	e := Assess(levels, metricValue)
	return e.Current, e.Next, e.AmountToNext
}

// Evaluation is the result of Evaluate with what Transition needs besides.
type Evaluation struct {
	Value        int64        // the metric value evaluated
	Current      program.Tier // the zero Tier when below every threshold
	Rank         int          // Current's position from the lowest tier (0); -1 for none
	Next         *program.Tier
	AmountToNext int64
	levels       []program.Tier // ascending by threshold
}

// Assess evaluates metricValue against levels, like Evaluate, and keeps the
// ranking so that Transition can tell an upgrade from a downgrade.
func Assess(levels []program.Tier, metricValue int64) Evaluation {
	sorted := slices.Clone(levels)
	slices.SortStableFunc(sorted, func(a, b program.Tier) int { return cmp.Compare(a.Threshold, b.Threshold) })
	e := Evaluation{Value: metricValue, Rank: -1, levels: sorted}
	for i, l := range sorted {
		if metricValue >= l.Threshold {
			e.Current, e.Rank = l, i
		}
	}
	if n := e.Rank + 1; n < len(sorted) {
		next := sorted[n]
		e.Next = &next
		e.AmountToNext = next.Threshold - metricValue
	}
	return e
}

// rank returns the position of key in e's levels, or -1.
func (e Evaluation) rank(key string) int {
	for i, l := range e.levels {
		if l.Key == key {
			return i
		}
	}
	return -1
}

// Direction says how a customer's tier changed.
type Direction string

// Directions of a tier change.
const (
	// Upgraded: a higher tier was reached; send tier_upgraded.
	Upgraded Direction = "upgraded"
	// Downgraded: the hold ended (or a reversal hit a lifetime tier) and the
	// metric now reaches a lower tier; send tier_downgraded.
	Downgraded Direction = "downgraded"
	// Entered: a customer without a tier joined the lowest one. The caller
	// stores it but sends no event: everyone starts there.
	Entered Direction = "entered"
)

// Change is a tier change to store and, unless Entered, to announce.
type Change struct {
	Direction Direction
	// From is the previous tier; nil when the customer had none, or had one
	// that is no longer defined.
	From         *program.Tier
	To           program.Tier
	Next         *program.Tier
	AmountToNext int64
}

// Transition decides whether a customer whose stored tier is prevKey moves
// to now.Current. Upgrades happen at once. Downgrades happen only when
// policy is DowngradeWindowEnd and windowEnded is true (see DowngradeDue);
// never under DowngradeNever. ok is false when the stored tier stays; when
// windowEnded and the customer still qualifies, the caller renews the hold
// from now.
//
// A prevKey that is empty or no longer among the levels counts as no tier:
// moving to the lowest tier is Entered, to any higher one Upgraded.
func Transition(prevKey string, now Evaluation, policy program.Downgrade, windowEnded bool) (Change, bool) {
	prevRank := -1
	if prevKey != "" {
		prevRank = now.rank(prevKey)
	}
	if prevRank == now.Rank {
		return Change{}, false
	}
	c := Change{To: now.Current, Next: now.Next, AmountToNext: now.AmountToNext}
	if prevRank >= 0 {
		from := now.levels[prevRank]
		c.From = &from
	}
	switch {
	case prevRank < 0 && now.Rank == 0:
		c.Direction = Entered
	case now.Rank > prevRank:
		c.Direction = Upgraded
	case policy == program.DowngradeWindowEnd && windowEnded:
		c.Direction = Downgraded
	default:
		return Change{}, false
	}
	return c, true
}

// Multiplier returns the earn multiplier of the tier key: 1 when tiers are
// off or the key is unknown, so a missing tier never costs points.
func Multiplier(t program.Tiers, key string) decimal.Decimal {
	if t.Enabled {
		if l, ok := t.Tier(key); ok && l.Multiplier.Sign() > 0 {
			return l.Multiplier
		}
	}
	return decimal.NewFromInt(1)
}

// Activity is one contribution to the tier metric: an order's net spend in
// minor units, or points earned; refunds and reversals are negative.
type Activity struct {
	At    time.Time
	Value int64
}

// Measure sums the activities that count for tiers at now: all of them up
// to now for a lifetime window, those since WindowStart for a rolling one.
// The result is never negative.
func Measure(t program.Tiers, acts []Activity, now time.Time, loc *time.Location) int64 {
	var from time.Time
	if t.Window == program.WindowRolling {
		from = WindowStart(now, t.WindowMonths, loc)
	}
	var sum int64
	for _, a := range acts {
		if !a.At.Before(from) && !a.At.After(now) {
			sum += a.Value
		}
	}
	return max(sum, 0)
}

// WindowStart returns the start of a rolling window of months ending at now:
// the beginning of the same calendar day months earlier, in the shop's time
// zone loc (day clamped to a shorter month). Starting on a day boundary
// keeps a customer's metric stable through the day, so a tier does not flip
// between two evaluations an hour apart. months ≤ 0 (lifetime) gives the
// zero time.
func WindowStart(now time.Time, months int, loc *time.Location) time.Time {
	if months <= 0 {
		return time.Time{}
	}
	d := addMonths(now, -months, loc)
	y, m, day := d.Date()
	return time.Date(y, m, day, 0, 0, 0, 0, d.Location())
}

// ExpiresAt returns when a tier reached (or last renewed) at since is
// re-evaluated, for the tier_expires_at event field: since plus WindowMonths
// for a rolling window under DowngradeWindowEnd, and nil (held for good)
// otherwise.
func ExpiresAt(t program.Tiers, since time.Time, loc *time.Location) *time.Time {
	if t.Downgrade != program.DowngradeWindowEnd || t.Window != program.WindowRolling || t.WindowMonths <= 0 {
		return nil
	}
	e := addMonths(since, t.WindowMonths, loc)
	return &e
}

// DowngradeDue reports whether a tier held since may be lowered at now,
// the windowEnded argument of Transition: never under DowngradeNever; once
// the hold has run out for a rolling window; and, for a lifetime window,
// only when the re-evaluation follows a refund or cancellation
// (afterReversal), since nothing else lowers a lifetime metric.
func DowngradeDue(t program.Tiers, since, now time.Time, loc *time.Location, afterReversal bool) bool {
	if t.Downgrade != program.DowngradeWindowEnd {
		return false
	}
	if t.Window == program.WindowLifetime {
		return afterReversal
	}
	e := ExpiresAt(t, since, loc)
	return e != nil && !now.Before(*e)
}

// addMonths adds months to t in loc, clamping the day to the end of a
// shorter month (31 March − 1 month is 28 or 29 February, not 3 March).
func addMonths(t time.Time, months int, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	y, m, d := t.Date()
	ty, tm, _ := time.Date(y, m+time.Month(months), 1, 0, 0, 0, 0, loc).Date()
	if last := time.Date(ty, tm+1, 0, 0, 0, 0, 0, time.UTC).Day(); d > last {
		d = last
	}
	return time.Date(ty, tm, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
}
