package ledger_test

import (
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
)

func TestDueReminders(t *testing.T) {
	t.Parallel()
	exp := time.Date(2026, 6, 30, 15, 0, 0, 0, time.UTC)
	lot := ledger.Lot{ID: 9, Points: 120, Remaining: 80, CreatedAt: exp.AddDate(-1, 0, 0), ExpiresAt: &exp}
	offsets := []int{30, 7, 1}
	cases := []struct {
		name       string
		lots       []ledger.Lot
		offsets    []int
		now        time.Time
		sent       map[int]bool
		wantOffset int // 0: none due
		wantDays   int
	}{
		{"NotYet", []ledger.Lot{lot}, offsets, exp.AddDate(0, 0, -30).Add(-time.Second), nil, 0, 0},
		{"ThirtyAtExactInstant", []ledger.Lot{lot}, offsets, exp.AddDate(0, 0, -30), nil, 30, 30},
		{"ThirtyAlreadySent", []ledger.Lot{lot}, offsets, exp.AddDate(0, 0, -20), map[int]bool{30: true}, 0, 0},
		{"Seven", []ledger.Lot{lot}, offsets, exp.AddDate(0, 0, -7), map[int]bool{30: true}, 7, 7},
		{"LateSweepSkipsStaleThirty", []ledger.Lot{lot}, offsets, exp.AddDate(0, 0, -5), nil, 7, 5},
		{"LastDay", []ledger.Lot{lot}, offsets, exp.Add(-time.Hour), map[int]bool{30: true, 7: true}, 1, 0},
		{"OffsetsInAnyOrder", []ledger.Lot{lot}, []int{1, 30, 7, 7, 0, -3}, exp.AddDate(0, 0, -5), nil, 7, 5},
		{"ExpiredGetsNone", []ledger.Lot{lot}, offsets, exp, nil, 0, 0},
		{"EmptyLotGetsNone", []ledger.Lot{withRemaining(lot, 0)}, offsets, exp.AddDate(0, 0, -3), nil, 0, 0},
		{"NeverExpiringGetsNone", []ledger.Lot{{ID: 3, Points: 5, Remaining: 5}}, offsets, exp, nil, 0, 0},
		{"PendingGetsNone", []ledger.Lot{withPending(lot, exp.AddDate(0, 0, -2))}, offsets, exp.AddDate(0, 0, -3), nil, 0, 0},
		{"NoOffsets", []ledger.Lot{lot}, nil, exp.AddDate(0, 0, -3), nil, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sent := func(lotID int64, o int) bool { return lotID == 9 && tc.sent[o] }
			got := ledger.DueReminders(tc.lots, tc.offsets, tc.now, time.UTC, sent)
			if tc.wantOffset == 0 {
				if len(got) != 0 {
					t.Fatalf("DueReminders = %+v, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("DueReminders = %+v, want one at offset %d", got, tc.wantOffset)
			}
			r := got[0]
			if r.OffsetDays != tc.wantOffset || r.DaysLeft != tc.wantDays || r.Points != 80 || r.LotID != 9 || !r.ExpiresAt.Equal(exp) {
				t.Errorf("reminder = %+v, want offset %d, %d days left", r, tc.wantOffset, tc.wantDays)
			}
			if r.Key != ledger.KeyReminder(9, tc.wantOffset) {
				t.Errorf("key = %q", r.Key)
			}
		})
	}

	t.Run("DailySweepSendsEachOffsetOnce", func(t *testing.T) {
		t.Parallel()
		sent := map[int]int{}
		for now := exp.AddDate(0, 0, -40); now.Before(exp.AddDate(0, 0, 2)); now = now.Add(24 * time.Hour) {
			for _, r := range ledger.DueReminders([]ledger.Lot{lot}, offsets, now, time.UTC, func(_ int64, o int) bool { return sent[o] > 0 }) {
				sent[r.OffsetDays]++
			}
		}
		if sent[30] != 1 || sent[7] != 1 || sent[1] != 1 || len(sent) != 3 {
			t.Errorf("sent = %v, want each of 30, 7, 1 exactly once", sent)
		}
	})

	t.Run("ShopZoneAcrossDST", func(t *testing.T) {
		t.Parallel()
		ny := mustLoad(t, "America/New_York")
		// Expires 12 March 2026, 09:00 in New York (EDT, after the 8 March
		// change). Seven days earlier is 5 March 09:00 EST: calendar days
		// keep the clock time, 7×24h would fire at 08:00.
		e := time.Date(2026, 3, 12, 9, 0, 0, 0, ny)
		l := ledger.Lot{ID: 1, Points: 10, Remaining: 10, ExpiresAt: &e}
		due := time.Date(2026, 3, 5, 9, 0, 0, 0, ny)
		if got := ledger.DueReminders([]ledger.Lot{l}, []int{7}, due.Add(-time.Minute), ny, nil); len(got) != 0 {
			t.Errorf("due a minute early: %+v", got)
		}
		got := ledger.DueReminders([]ledger.Lot{l}, []int{7}, due, ny, nil)
		if len(got) != 1 || got[0].DaysLeft != 7 {
			t.Errorf("DueReminders at %v = %+v, want one with 7 days left", due, got)
		}
	})

	t.Run("SortedBySoonestExpiry", func(t *testing.T) {
		t.Parallel()
		e2 := exp.AddDate(0, 0, -1)
		other := ledger.Lot{ID: 4, Points: 5, Remaining: 5, ExpiresAt: &e2}
		got := ledger.DueReminders([]ledger.Lot{lot, other}, offsets, exp.AddDate(0, 0, -3), time.UTC, nil)
		if len(got) != 2 || got[0].LotID != 4 || got[1].LotID != 9 {
			t.Errorf("DueReminders = %+v, want lot 4 then 9", got)
		}
	})
}

func withRemaining(l ledger.Lot, n int64) ledger.Lot { l.Remaining = n; return l }
func withPending(l ledger.Lot, until time.Time) ledger.Lot {
	l.AvailableAt = &until
	return l
}

func TestNudgeDue(t *testing.T) {
	t.Parallel()
	on := program.UnusedNudge{Enabled: true, ThresholdPoints: 500, AfterDays: 30}
	last := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		n       program.UnusedNudge
		balance int64
		nudged  *time.Time
		now     time.Time
		want    bool
	}{
		{"Due", on, 500, nil, last.AddDate(0, 0, 30), true},
		{"TooSoon", on, 500, nil, last.AddDate(0, 0, 30).Add(-time.Second), false},
		{"BelowThreshold", on, 499, nil, last.AddDate(0, 0, 90), false},
		{"Disabled", program.UnusedNudge{ThresholdPoints: 500, AfterDays: 30}, 900, nil, last.AddDate(0, 0, 90), false},
		{"NudgedRecently", on, 900, ptr(last.AddDate(0, 0, 40)), last.AddDate(0, 0, 60), false},
		{"NudgedLongAgo", on, 900, ptr(last.AddDate(0, 0, 40)), last.AddDate(0, 0, 70), true},
		{"NudgeBeforeLastRedemptionIgnored", on, 900, ptr(last.AddDate(0, 0, -5)), last.AddDate(0, 0, 30), true},
		{"NegativeBalance", program.UnusedNudge{Enabled: true, AfterDays: 1}, -5, nil, last.AddDate(1, 0, 0), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ledger.NudgeDue(tc.n, tc.balance, last, tc.nudged, tc.now); got != tc.want {
				t.Errorf("NudgeDue = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIsBirthday(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		month time.Month
		day   int
		now   time.Time
		want  bool
	}{
		{"Today", time.May, 1, time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), true},
		{"Tomorrow", time.May, 2, time.Date(2026, 5, 1, 23, 59, 0, 0, time.UTC), false},
		{"LeapDayInLeapYear", time.February, 29, time.Date(2028, 2, 29, 8, 0, 0, 0, time.UTC), true},
		{"LeapDayOn28thOtherYears", time.February, 29, time.Date(2026, 2, 28, 8, 0, 0, 0, time.UTC), true},
		{"LeapDayNot28thInLeapYear", time.February, 29, time.Date(2028, 2, 28, 8, 0, 0, 0, time.UTC), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ledger.IsBirthday(tc.month, tc.day, tc.now, time.UTC); got != tc.want {
				t.Errorf("IsBirthday = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("ShopZone", func(t *testing.T) {
		t.Parallel()
		// 30 April 20:00 UTC is already 1 May in Sydney.
		syd := mustLoad(t, "Australia/Sydney")
		if !ledger.IsBirthday(time.May, 1, time.Date(2026, 4, 30, 20, 0, 0, 0, time.UTC), syd) {
			t.Error("birthday missed in the shop's zone")
		}
	})
}
