package job_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/job"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	cases := map[int]time.Duration{0: 2 * time.Second, 1: 2 * time.Second, 3: 8 * time.Second, 9: 512 * time.Second, 10: 10 * time.Minute, 25: 10 * time.Minute}
	for attempt, want := range cases {
		if got := job.Backoff(attempt); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", attempt, got, want)
		}
	}
}

func TestOutcomeErrors(t *testing.T) {
	t.Parallel()
	base := errors.New("malformed payload")
	p := fmt.Errorf("handler: %w", job.Permanent(base))
	if !job.IsPermanent(p) || !errors.Is(p, base) {
		t.Fatal("Permanent lost through wrapping")
	}
	if job.IsPermanent(base) {
		t.Fatal("plain error reported permanent")
	}
	var ig *job.IgnoredError
	if !errors.As(fmt.Errorf("x: %w", job.Ignore("unknown topic")), &ig) || ig.Reason != "unknown topic" {
		t.Fatal("Ignore not recoverable")
	}
	if (job.Retention{}).Kind() != "retention" || (job.CreateCoupon{}).Kind() != "create_coupon" {
		t.Fatal("kinds must never change once shipped")
	}
}
