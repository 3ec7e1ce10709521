package ledger_test

import (
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/ledger"
)

func TestReviewRequestDue(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	// Fulfilled on Saturday 7 March 2026 at 12:00 in New York, the day
	// before clocks go forward: 14 days later is 21 March, 12:00 EDT,
	// which is one hour less than 14×24 hours.
	fulfilled := time.Date(2026, 3, 7, 12, 0, 0, 0, ny)
	due := time.Date(2026, 3, 21, 12, 0, 0, 0, ny)
	cases := []struct {
		name string
		days int
		now  time.Time
		want bool
	}{
		{"JustBefore", 14, due.Add(-time.Second), false},
		{"Exactly", 14, due, true},
		{"After", 14, due.Add(48 * time.Hour), true},
		{"Not24hMultiples", 14, fulfilled.Add(14*24*time.Hour - 30*time.Minute), true},
		{"NeverWhenZero", 0, due.AddDate(1, 0, 0), false},
		{"NeverWhenNegative", -1, due.AddDate(1, 0, 0), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ledger.ReviewRequestDue(fulfilled.UTC(), tc.days, tc.now.UTC(), ny); got != tc.want {
				t.Errorf("ReviewRequestDue(%d days, %s) = %v, want %v", tc.days, tc.now.In(ny), got, tc.want)
			}
		})
	}
	if ledger.ReviewRequestDue(time.Time{}, 1, due, ny) {
		t.Error("an order with no fulfilment time is never due")
	}
}
