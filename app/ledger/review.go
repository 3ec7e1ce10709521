package ledger

import "time"

// ReviewRequestDue reports whether a review request for an order fulfilled
// at fulfilledAt is due at now: days calendar days after the fulfilment in
// the shop's time zone loc (so it falls at the same clock time across a DST
// change), like reminders. days <= 0 means reviews are never requested.
func ReviewRequestDue(fulfilledAt time.Time, days int, now time.Time, loc *time.Location) bool {
	if days <= 0 || fulfilledAt.IsZero() {
		return false
	}
	if loc == nil {
		loc = time.UTC
	}
	return !now.Before(fulfilledAt.In(loc).AddDate(0, 0, days))
}
