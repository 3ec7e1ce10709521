package tier_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/tier"
)

// levels are the defaults: Bronze 0, Silver 50000, Gold 150000.
func levels() []program.Tier { return program.Defaults().Tiers.Levels }

func TestEvaluate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		levels   []program.Tier
		value    int64
		want     string
		wantNext string
		wantGap  int64
	}{
		{"Zero", levels(), 0, "bronze", "silver", 50000},
		{"OneBelowSilver", levels(), 49999, "bronze", "silver", 1},
		{"UpgradeAtThreshold", levels(), 50000, "silver", "gold", 100000},
		{"BetweenSilverAndGold", levels(), 120000, "silver", "gold", 30000},
		{"TopHasNoNext", levels(), 150000, "gold", "", 0},
		{"FarAboveTop", levels(), 1 << 50, "gold", "", 0},
		{"NegativeValueStaysLowest", levels(), -10, "", "bronze", 10},
		{"AnyInputOrder", []program.Tier{levels()[2], levels()[0], levels()[1]}, 60000, "silver", "gold", 90000},
		{"NoLevels", nil, 500, "", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cur, next, gap := tier.Evaluate(tc.levels, tc.value)
			nextKey := ""
			if next != nil {
				nextKey = next.Key
			}
			if cur.Key != tc.want || nextKey != tc.wantNext || gap != tc.wantGap {
				t.Errorf("Evaluate(%d) = %q, next %q, gap %d; want %q, %q, %d", tc.value, cur.Key, nextKey, gap, tc.want, tc.wantNext, tc.wantGap)
			}
		})
	}
}

func TestTransition(t *testing.T) {
	t.Parallel()
	const (
		windowEnd = program.DowngradeWindowEnd
		never     = program.DowngradeNever
	)
	cases := []struct {
		name        string
		prev        string
		value       int64
		policy      program.Downgrade
		windowEnded bool
		want        tier.Direction // "" means no change
		wantTo      string
		wantFrom    string
	}{
		{"UpgradeAtThreshold", "bronze", 50000, windowEnd, false, tier.Upgraded, "silver", "bronze"},
		{"NoUpgradeOneBelow", "bronze", 49999, windowEnd, false, "", "", ""},
		{"UpgradeSkipsLevels", "bronze", 150000, never, false, tier.Upgraded, "gold", "bronze"},
		{"UpgradeUnderNever", "silver", 150000, never, false, tier.Upgraded, "gold", "silver"},
		{"Same", "silver", 60000, windowEnd, true, "", "", ""},
		{"NoDowngradeBeforeWindowEnd", "gold", 60000, windowEnd, false, "", "", ""},
		{"DowngradeAtWindowEnd", "gold", 60000, windowEnd, true, tier.Downgraded, "silver", "gold"},
		{"DowngradeStraightToReachedTier", "gold", 100, windowEnd, true, tier.Downgraded, "bronze", "gold"},
		{"NeverDowngradesUnderNever", "gold", 100, never, true, "", "", ""},
		{"NewCustomerEntersLowest", "", 0, windowEnd, false, tier.Entered, "bronze", ""},
		{"NewCustomerStraightToSilver", "", 70000, windowEnd, false, tier.Upgraded, "silver", ""},
		{"DeletedTierTreatedAsNone", "platinum", 0, never, false, tier.Entered, "bronze", ""},
		{"DeletedTierThenHigher", "platinum", 160000, never, false, tier.Upgraded, "gold", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			now := tier.Assess(levels(), tc.value)
			c, ok := tier.Transition(tc.prev, now, tc.policy, tc.windowEnded)
			if ok != (tc.want != "") {
				t.Fatalf("Transition(%q → %d) = %+v, %v; want change %q", tc.prev, tc.value, c, ok, tc.want)
			}
			if !ok {
				return
			}
			from := ""
			if c.From != nil {
				from = c.From.Key
			}
			if c.Direction != tc.want || c.To.Key != tc.wantTo || from != tc.wantFrom {
				t.Errorf("Change = %s %q → %q, want %s %q → %q", c.Direction, from, c.To.Key, tc.want, tc.wantFrom, tc.wantTo)
			}
			if c.AmountToNext != now.AmountToNext || (c.Next == nil) != (now.Next == nil) {
				t.Errorf("Change does not carry the next tier: %+v", c)
			}
		})
	}
}

func TestMultiplier(t *testing.T) {
	t.Parallel()
	on := program.Defaults().Tiers
	off := on
	off.Enabled = false
	cases := []struct {
		name  string
		tiers program.Tiers
		key   string
		want  string
	}{
		{"Gold", on, "gold", "1.5"},
		{"Bronze", on, "bronze", "1"},
		{"UnknownKeyIsOne", on, "platinum", "1"},
		{"NoTierIsOne", on, "", "1"},
		{"TiersOffIsOne", off, "gold", "1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tier.Multiplier(tc.tiers, tc.key); !got.Equal(decimal.RequireFromString(tc.want)) {
				t.Errorf("Multiplier = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestWindowStart(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		now    time.Time
		months int
		loc    *time.Location
		want   time.Time
	}{
		{"TwelveMonths", time.Date(2026, 5, 14, 15, 30, 0, 0, time.UTC), 12, time.UTC, time.Date(2025, 5, 14, 0, 0, 0, 0, time.UTC)},
		{"ClampsToFebruary", time.Date(2026, 3, 31, 9, 0, 0, 0, time.UTC), 1, time.UTC, time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC)},
		{"LeapDay", time.Date(2028, 2, 29, 9, 0, 0, 0, time.UTC), 12, time.UTC, time.Date(2027, 2, 28, 0, 0, 0, 0, time.UTC)},
		{"LifetimeIsZero", time.Date(2026, 5, 14, 0, 0, 0, 0, time.UTC), 0, time.UTC, time.Time{}},
		{"ShopZone", time.Date(2026, 5, 14, 23, 0, 0, 0, time.UTC), 6, time.FixedZone("IST", 19800), time.Date(2025, 11, 15, 0, 0, 0, 0, time.FixedZone("IST", 19800))},
		{"NilZoneIsUTC", time.Date(2026, 5, 14, 23, 0, 0, 0, time.UTC), 1, nil, time.Date(2026, 4, 14, 0, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tier.WindowStart(tc.now, tc.months, tc.loc); !got.Equal(tc.want) {
				t.Errorf("WindowStart = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMeasure(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 14, 15, 0, 0, 0, time.UTC)
	acts := []tier.Activity{
		{At: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Value: 100000}, // outside 12 months
		{At: time.Date(2025, 5, 14, 0, 0, 0, 0, time.UTC), Value: 30000}, // first instant of the window
		{At: time.Date(2025, 5, 13, 23, 59, 0, 0, time.UTC), Value: 7},   // a minute before it
		{At: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), Value: 25000},
		{At: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Value: -5000}, // a refund
		{At: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), Value: 999},   // in the future: ignored
	}
	rolling := program.Defaults().Tiers
	lifetime := rolling
	lifetime.Window = program.WindowLifetime
	cases := []struct {
		name  string
		tiers program.Tiers
		acts  []tier.Activity
		want  int64
	}{
		{"Rolling", rolling, acts, 50000},
		{"Lifetime", lifetime, acts, 150007},
		{"NeverNegative", rolling, []tier.Activity{{At: now, Value: -10}}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tier.Measure(tc.tiers, tc.acts, now, time.UTC); got != tc.want {
				t.Errorf("Measure = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestDowngradeDue(t *testing.T) {
	t.Parallel()
	since := time.Date(2025, 5, 14, 10, 0, 0, 0, time.UTC)
	rolling := program.Defaults().Tiers // rolling 12 months, window_end
	never := rolling
	never.Downgrade = program.DowngradeNever
	lifetime := rolling
	lifetime.Window = program.WindowLifetime
	cases := []struct {
		name          string
		tiers         program.Tiers
		now           time.Time
		afterReversal bool
		want          bool
		wantExpiry    *time.Time
	}{
		{"BeforeWindowEnd", rolling, since.AddDate(1, 0, 0).Add(-time.Second), false, false, ptr(since.AddDate(1, 0, 0))},
		{"AtWindowEnd", rolling, since.AddDate(1, 0, 0), false, true, ptr(since.AddDate(1, 0, 0))},
		{"NeverPolicy", never, since.AddDate(5, 0, 0), true, false, nil},
		{"LifetimeWithoutReversal", lifetime, since.AddDate(5, 0, 0), false, false, nil},
		{"LifetimeAfterReversal", lifetime, since.AddDate(0, 0, 1), true, true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tier.DowngradeDue(tc.tiers, since, tc.now, time.UTC, tc.afterReversal); got != tc.want {
				t.Errorf("DowngradeDue = %v, want %v", got, tc.want)
			}
			got := tier.ExpiresAt(tc.tiers, since, time.UTC)
			if (got == nil) != (tc.wantExpiry == nil) || (got != nil && !got.Equal(*tc.wantExpiry)) {
				t.Errorf("ExpiresAt = %v, want %v", got, tc.wantExpiry)
			}
		})
	}
}

func ptr(t time.Time) *time.Time { return &t }
