package ledger

import (
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

// TestPointsFast_MatchesBig proves the allocation-free path gives exactly
// the arbitrary-precision result wherever it answers.
func TestPointsFast_MatchesBig(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(20260501, 3))
	rates := []string{"1", "0.5", "0.0125", "3", "7.5", "10", "1000", "0.0001", "999.9999", "1E+2"}
	mults := []string{"1", "1.25", "1.5", "2", "10", "0.01", "9.99"}
	answered := 0
	for i := 0; i < 20000; i++ {
		var base int64
		switch rng.IntN(3) {
		case 0:
			base = rng.Int64N(1_000_000)
		case 1:
			base = rng.Int64N(1 << 50)
		default:
			base = rng.Int64()
		}
		rate := decimal.RequireFromString(rates[rng.IntN(len(rates))])
		mult := decimal.RequireFromString(mults[rng.IntN(len(mults))])
		exp := rng.IntN(4)
		want := pointsBig(base, rate, mult, exp)
		if got, ok := pointsFast(base, rate, mult, exp); ok {
			answered++
			if got != want {
				t.Fatalf("pointsFast(%d, %s, %s, %d) = %d, pointsBig = %d", base, rate, mult, exp, got, want)
			}
		}
	}
	if answered < 10000 {
		t.Errorf("fast path answered only %d of 20000", answered)
	}
}
