package forward_test

import (
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/forward"
)

// TestScaledBackoff: DELIVERY_RETRY_UNIT keeps the schedule's shape (2^n
// units, capped at 600, ±20% jitter) in another unit, so an outage of 600
// units takes the same number of attempts whatever the unit.
func TestScaledBackoff(t *testing.T) {
	t.Parallel()
	for _, unit := range []time.Duration{time.Second, 10 * time.Millisecond} {
		b := forward.ScaledBackoff(unit)
		for n, units := range map[int]int64{1: 2, 2: 4, 5: 32, 9: 512, 10: 600, 12: 600} {
			want := time.Duration(units) * unit
			for range 50 {
				got := b(n)
				if got < want*8/10 || got > want*12/10 {
					t.Fatalf("unit %s, attempt %d: %s, want %s ±20%%", unit, n, got, want)
				}
			}
		}
	}
}
