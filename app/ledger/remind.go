package ledger

import (
	"cmp"
	"slices"
	"time"

	"github.com/perkbridge/perkbridge/app/program"
)

// Reminder is one "your points expire soon" notice due for a lot.
type Reminder struct {
	LotID      int64
	OffsetDays int   // the configured offset that fired (30, 7, 1, …)
	Points     int64 // what is left in the lot
	ExpiresAt  time.Time
	DaysLeft   int    // calendar days from now to expiry in the shop's zone
	Key        string // KeyReminder(LotID, OffsetDays)
}

// DueReminders returns the reminders due at now, in the shop's time zone
// loc. The offset o of a lot that expires at E is due from E − o days (in
// calendar days, so a reminder falls at the same clock time across a DST
// change) until the next smaller offset becomes due, or until E for the
// smallest one. Each window is half-open, so:
//
//   - a daily sweep sends each offset once (sent reports those already sent;
//     nil means none);
//   - a sweep that missed a whole window (downtime, a lot credited close to
//     its expiry) skips that offset rather than telling a customer "30 days
//     left" when 5 are: only the most urgent reminder is ever due.
//
// Lots that are expired, empty, pending or never expire get no reminder.
// offsetsDays may be in any order; zero, negative and duplicate offsets are
// ignored.
func DueReminders(lots []Lot, offsetsDays []int, now time.Time, loc *time.Location, sent func(lotID int64, offsetDays int) bool) []Reminder {
	if loc == nil {
		loc = time.UTC
	}
	offsets := make([]int, 0, len(offsetsDays))
	for _, o := range offsetsDays {
		if o > 0 {
			offsets = append(offsets, o)
		}
	}
	slices.SortFunc(offsets, func(a, b int) int { return cmp.Compare(b, a) }) // descending
	offsets = slices.Compact(offsets)

	var out []Reminder
	for _, l := range lots {
		if l.ExpiresAt == nil || l.Remaining <= 0 || l.Expired(now) || l.Pending(now) {
			continue
		}
		exp := l.ExpiresAt.In(loc)
		for i, o := range offsets {
			from := exp.AddDate(0, 0, -o)
			until := exp
			if i+1 < len(offsets) {
				until = exp.AddDate(0, 0, -offsets[i+1])
			}
			if now.Before(from) || !now.Before(until) {
				continue
			}
			if sent == nil || !sent(l.ID, o) {
				out = append(out, Reminder{
					LotID:      l.ID,
					OffsetDays: o,
					Points:     l.Remaining,
					ExpiresAt:  *l.ExpiresAt,
					DaysLeft:   calendarDays(now, exp, loc),
					Key:        KeyReminder(l.ID, o),
				})
			}
			break // windows do not overlap: at most one offset per lot
		}
	}
	slices.SortFunc(out, func(a, b Reminder) int {
		if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
			return c
		}
		return cmp.Compare(a.LotID, b.LotID)
	})
	return out
}

// calendarDays returns the number of midnights between a and b in loc.
func calendarDays(a, b time.Time, loc *time.Location) int {
	ay, am, ad := a.In(loc).Date()
	by, bm, bd := b.In(loc).Date()
	da := time.Date(ay, am, ad, 0, 0, 0, 0, time.UTC)
	db := time.Date(by, bm, bd, 0, 0, 0, 0, time.UTC)
	return int(db.Sub(da).Hours() / 24)
}

// NudgeDue reports whether a customer should get the unused-points nudge at
// now: the nudge is on, the balance is at or above its threshold, and
// neither a redemption (lastActivity: the last redemption, or when the
// customer joined if they never redeemed) nor a previous nudge happened in
// the last AfterDays days. Repeating every AfterDays at most keeps the nudge
// a reminder, not spam.
func NudgeDue(n program.UnusedNudge, balance int64, lastActivity time.Time, lastNudgedAt *time.Time, now time.Time) bool {
	if !n.Enabled || n.AfterDays <= 0 || balance < n.ThresholdPoints || balance <= 0 {
		return false
	}
	since := lastActivity
	if lastNudgedAt != nil && lastNudgedAt.After(since) {
		since = *lastNudgedAt
	}
	return !now.Before(since.AddDate(0, 0, n.AfterDays))
}

// IsBirthday reports whether now, in the shop's time zone loc, is the
// birthday month and day. A 29 February birthday is celebrated on
// 28 February in other years, so those customers are not skipped three
// years out of four.
func IsBirthday(month time.Month, day int, now time.Time, loc *time.Location) bool {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := now.In(loc).Date()
	if month == time.February && day == 29 && daysIn(y, time.February) == 28 {
		day = 28
	}
	return m == month && d == day
}
