package shopify

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	key := queryKey("{ shop { name } }")
	status := func(available float64) *Cost {
		return &Cost{RequestedQueryCost: 40, ThrottleStatus: ThrottleStatus{MaximumAvailable: 1000, CurrentlyAvailable: available, RestoreRate: 100}}
	}

	t.Run("UnknownNeverWaits", func(t *testing.T) {
		t.Parallel()
		b := newBucket()
		if w := b.reserve(t0, 5000); w != 0 {
			t.Fatalf("reserve on a fresh bucket = %v, want 0", w)
		}
		if c := b.expectedCost(key); c != defaultQueryCost {
			t.Fatalf("expectedCost = %v, want %v", c, defaultQueryCost)
		}
	})

	t.Run("RemembersRequestedCost", func(t *testing.T) {
		t.Parallel()
		b := newBucket()
		b.observe(t0, key, status(1000))
		if c := b.expectedCost(key); c != 40 {
			t.Fatalf("expectedCost = %v, want 40", c)
		}
		if c := b.expectedCost(queryKey("{ other }")); c != defaultQueryCost {
			t.Fatalf("expectedCost of another query = %v, want %v", c, defaultQueryCost)
		}
	})

	t.Run("WaitsForDeficit", func(t *testing.T) {
		t.Parallel()
		b := newBucket()
		b.observe(t0, key, status(10))
		// (50 − 10) / 100 pts/s = 400 ms.
		if w := b.reserve(t0, 50); w != 400*time.Millisecond {
			t.Fatalf("first reserve = %v, want 400ms", w)
		}
		// The second caller queues behind the first: (50 + 40) / 100.
		if w := b.reserve(t0, 50); w != 900*time.Millisecond {
			t.Fatalf("second reserve = %v, want 900ms", w)
		}
	})

	t.Run("RestoresOverTime", func(t *testing.T) {
		t.Parallel()
		b := newBucket()
		b.observe(t0, key, status(10))
		if w := b.reserve(t0.Add(400*time.Millisecond), 50); w != 0 {
			t.Fatalf("reserve after restore = %v, want 0", w)
		}
		if w := b.reserve(t0.Add(400*time.Millisecond), 1); w != 10*time.Millisecond {
			t.Fatalf("reserve on an empty bucket = %v, want 10ms", w)
		}
	})

	t.Run("CappedAtMaximum", func(t *testing.T) {
		t.Parallel()
		b := newBucket()
		b.observe(t0, key, status(0))
		// An hour restores far more than the maximum of 1000.
		later := t0.Add(time.Hour)
		if w := b.reserve(later, 1000); w != 0 {
			t.Fatalf("reserve of the maximum = %v, want 0", w)
		}
		if w := b.reserve(later, 100); w != time.Second {
			t.Fatalf("reserve beyond the cap = %v, want 1s", w)
		}
	})

	t.Run("CostAboveMaximumIsCapped", func(t *testing.T) {
		t.Parallel()
		b := newBucket()
		b.observe(t0, key, status(1000))
		if w := b.reserve(t0, 5000); w != 0 {
			t.Fatalf("reserve = %v, want 0 (capped to the maximum)", w)
		}
	})

	t.Run("ObserveReplacesEstimate", func(t *testing.T) {
		t.Parallel()
		b := newBucket()
		b.observe(t0, key, status(1000))
		b.reserve(t0, 1000)
		b.observe(t0, key, status(1000))
		if w := b.reserve(t0, 1000); w != 0 {
			t.Fatalf("reserve after a full status = %v, want 0", w)
		}
	})

	t.Run("Refund", func(t *testing.T) {
		t.Parallel()
		b := newBucket()
		b.observe(t0, key, status(0))
		b.reserve(t0, 100)
		b.refund(t0, 100)
		if w := b.reserve(t0, 100); w != time.Second {
			t.Fatalf("reserve after refund = %v, want 1s", w)
		}
	})
}

func TestApp_BucketShared(t *testing.T) {
	t.Parallel()
	a := &App{}
	c1 := a.NewClient("a.myshopify.com", nil)
	c2 := a.NewClient("A.myshopify.com", nil)
	c3 := a.NewClient("b.myshopify.com", nil)
	other := (&App{}).NewClient("a.myshopify.com", nil)
	if c1.bucket == nil || c1.bucket != c2.bucket {
		t.Error("clients of one shop and App do not share a bucket")
	}
	if c1.bucket == c3.bucket {
		t.Error("two shops share a bucket")
	}
	if c1.bucket == other.bucket {
		t.Error("two Apps share a bucket")
	}
}

func TestCost_RetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cost Cost
		want time.Duration
	}{
		{Cost{RequestedQueryCost: 202, ThrottleStatus: ThrottleStatus{MaximumAvailable: 2000, CurrentlyAvailable: 35, RestoreRate: 100}}, 1670 * time.Millisecond},
		{Cost{RequestedQueryCost: 10, ThrottleStatus: ThrottleStatus{CurrentlyAvailable: 35, RestoreRate: 100}}, 0},
		{Cost{RequestedQueryCost: 10}, 0},
	}
	for _, tt := range tests {
		if got := tt.cost.RetryAfter(); got != tt.want {
			t.Errorf("RetryAfter(%+v) = %v, want %v", tt.cost, got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", time.Second},
		{"2", 2 * time.Second},
		{"2.0", 2 * time.Second},
		{"0.5", 500 * time.Millisecond},
		{now.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second},
		{now.Add(-3 * time.Second).Format(http.TimeFormat), 0},
		{"soon", time.Second},
		{"-1", time.Second},
		{"1e9", time.Minute}, // capped: a broken proxy never holds a request for years
		{now.AddDate(70, 0, 0).Format(http.TimeFormat), time.Minute},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.header != "" {
			h.Set("Retry-After", tt.header)
		}
		if got := retryAfter(h, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestGraphQLErrors(t *testing.T) {
	t.Parallel()
	if e := graphQLErrors(nil); e != nil {
		t.Errorf("graphQLErrors(nil) = %v", e)
	}
	if e := graphQLErrors([]byte(`[]`)); e != nil {
		t.Errorf("graphQLErrors([]) = %v", e)
	}
	e := graphQLErrors([]byte(`[{"message":"Throttled","extensions":{"code":"THROTTLED"}},{"message":"Field 'x' doesn't exist"}]`))
	if e == nil || len(e.Messages) != 2 || !e.HasCode("THROTTLED") || e.HasCode("ACCESS_DENIED") || e.Codes[1] != "" {
		t.Errorf("graphQLErrors = %+v", e)
	}
	if e := graphQLErrors([]byte(`"boom"`)); e == nil || len(e.Messages) != 1 || e.Messages[0] != "boom" {
		t.Errorf("graphQLErrors(string) = %+v", e)
	}
}

func TestErrorMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		want []string
	}{
		{`{"errors":"[API] Invalid API key or access token"}`, []string{"[API] Invalid API key or access token"}},
		{`{"errors":{"query":"Required parameter missing or invalid","b":["x","y"]}}`, []string{"b: x", "b: y", "query: Required parameter missing or invalid"}},
		{`{"errors":[{"message":"m1"},"m2"]}`, []string{"m1", "m2"}},
		{`<html>oops</html>`, nil},
	}
	for _, tt := range tests {
		got := errorMessages([]byte(tt.body))
		if len(got) != len(tt.want) {
			t.Errorf("errorMessages(%s) = %q, want %q", tt.body, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("errorMessages(%s) = %q, want %q", tt.body, got, tt.want)
			}
		}
	}
}

func TestSleepCtx(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleepCtx on a cancelled context = %v, want context.Canceled", err)
	}
	if err := sleepCtx(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("sleepCtx = %v", err)
	}
}
