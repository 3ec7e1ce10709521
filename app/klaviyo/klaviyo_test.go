package klaviyo_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/klaviyo"
)

// These tests run the client against the shared fake Klaviyo (app/fake),
// which encodes Klaviyo's contract from the docs and the OpenAPI slices,
// independently of this package.

const (
	fullKey     = "pk_full0000000000000000000000000000"
	eventsKey   = "pk_events000000000000000000000000000" // events:write only
	accountsKey = "pk_accounts0000000000000000000000000" // accounts:read only
	unknownKey  = "pk_unknown0000000000000000000000000"
)

// clock is a settable clock shared by the fake and the code under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type bundle struct {
	fake  *fake.Klaviyo
	srv   *httptest.Server
	clock *clock
}

func setup(t *testing.T, mutate ...func(*fake.KlaviyoOptions)) *bundle {
	t.Helper()
	c := newClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	opts := fake.KlaviyoOptions{Now: c.Now, Keys: []fake.KlaviyoKey{
		{Key: fullKey, Scopes: []string{"events:write", "profiles:write", "accounts:read"}},
		{Key: eventsKey, Scopes: []string{"events:write"}},
		{Key: accountsKey, Scopes: []string{"accounts:read"}},
	}}
	for _, m := range mutate {
		m(&opts)
	}
	f := fake.NewKlaviyo(opts)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &bundle{fake: f, srv: srv, clock: c}
}

func (b *bundle) client(key string, opts ...klaviyo.Option) *klaviyo.Client {
	opts = append([]klaviyo.Option{klaviyo.WithHTTPClient(b.srv.Client())}, opts...)
	return klaviyo.NewClient(b.srv.URL, key, opts...)
}

func ptr[T any](v T) *T { return &v }

// pointsEarned is the sinks.md §1.2 example event.
func pointsEarned(mutate ...func(*klaviyo.Event)) klaviyo.Event {
	e := klaviyo.Event{
		Metric: "Loyalty Points Earned",
		Profile: klaviyo.Profile{
			Email: "sarah.mason@example.com", ExternalID: "shopify:7293847561",
			Properties: map[string]any{"loyalty_points_balance": 1250, "loyalty_tier": "Gold"},
		},
		Properties: map[string]any{
			"points": 50, "reason": "order", "order_id": "5544332211", "balance_after": 1250,
			"shop_domain": "example.myshopify.com", "note": "<b>&</b>",
		},
		Time:          time.Date(2026, 8, 20, 14, 3, 11, 789_000_000, time.UTC),
		Value:         ptr("12.50"),
		ValueCurrency: "USD",
		UniqueID:      "example.myshopify.com:points_earned:ledger_98765",
	}
	for _, m := range mutate {
		m(&e)
	}
	return e
}

func mustAPIError(t *testing.T, err error) *klaviyo.APIError {
	t.Helper()
	var ae *klaviyo.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v (%T), want *klaviyo.APIError", err, err)
	}
	return ae
}

// class names the one classification of an APIError.
func class(e *klaviyo.APIError) string {
	var out []string
	if e.Retryable() {
		out = append(out, "retryable")
	}
	if e.AuthFailure() {
		out = append(out, "auth")
	}
	if e.Permanent() {
		out = append(out, "permanent")
	}
	return strings.Join(out, "+")
}

func TestClient_CreateEvent(t *testing.T) {
	t.Parallel()

	t.Run("RecordedExactly", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if err := b.client(fullKey).CreateEvent(context.Background(), pointsEarned()); err != nil {
			t.Fatal(err)
		}
		evs := b.fake.Events()
		if len(evs) != 1 {
			t.Fatalf("%d events recorded", len(evs))
		}
		ev := evs[0]
		wantProps := map[string]any{
			"points": 50.0, "reason": "order", "order_id": "5544332211", "balance_after": 1250.0,
			"shop_domain": "example.myshopify.com", "note": "<b>&</b>",
		}
		if !reflect.DeepEqual(ev.Properties, wantProps) {
			t.Errorf("properties = %#v", ev.Properties)
		}
		if want := time.Date(2026, 8, 20, 14, 3, 11, 0, time.UTC); !ev.Time.Equal(want) {
			t.Errorf("time = %v, want %v", ev.Time, want)
		}
		if ev.Metric != "Loyalty Points Earned" || ev.UniqueID != "example.myshopify.com:points_earned:ledger_98765" ||
			ev.Value == nil || *ev.Value != 12.5 || ev.ValueCurrency != "USD" || ev.Backfill || ev.Bulk || ev.Revision != "2026-07-15" {
			t.Errorf("event = %+v", ev)
		}
		if ev.Profile.Email != "sarah.mason@example.com" || ev.Profile.ExternalID != "shopify:7293847561" || ev.Profile.PhoneNumber != "" {
			t.Errorf("profile identifiers = %+v", ev.Profile)
		}
		if got := ev.ProfileAttributes["properties"]; !reflect.DeepEqual(got, map[string]any{"loyalty_points_balance": 1250.0, "loyalty_tier": "Gold"}) {
			t.Errorf("profile properties = %#v", got)
		}

		req := b.fake.Requests()[0]
		wantHeaders := map[string]string{
			"Authorization": "Klaviyo-API-Key " + fullKey, "Revision": "2026-07-15",
			"Accept": "application/vnd.api+json", "Content-Type": "application/vnd.api+json",
		}
		for h, want := range wantHeaders {
			if got := req.Header.Get(h); got != want {
				t.Errorf("header %s = %q, want %q", h, got, want)
			}
		}
		if req.Method != "POST" || req.Path != "/api/events/" {
			t.Errorf("%s %s", req.Method, req.Path)
		}
		for _, want := range []string{`"time":"2026-08-20T14:03:11+00:00"`, `"value":12.50`, `"type":"event"`, `"note":"<b>&</b>"`} {
			if !strings.Contains(string(req.Body), want) {
				t.Errorf("body lacks %s: %s", want, req.Body)
			}
		}
	})

	t.Run("Backfill", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if err := b.client(fullKey).CreateEvent(context.Background(), pointsEarned(func(e *klaviyo.Event) { e.Backfill = true })); err != nil {
			t.Fatal(err)
		}
		if evs := b.fake.Events(); len(evs) != 1 || !evs[0].Backfill {
			t.Fatalf("events %+v", evs)
		}
	})

	t.Run("MinimalEvent", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		e := klaviyo.Event{Metric: "tier_upgraded", Profile: klaviyo.Profile{PhoneNumber: "+15005550006"}, UniqueID: "u1"}
		if err := b.client(fullKey).CreateEvent(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		evs := b.fake.Events()
		// No time: Klaviyo (the fake) uses its receipt time.
		if len(evs) != 1 || !evs[0].Time.Equal(b.clock.Now()) || len(evs[0].Properties) != 0 || evs[0].Value != nil {
			t.Fatalf("events %+v", evs)
		}
	})
}

func TestClient_CreateEvent_DedupeByUniqueID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.client(fullKey)
	for range 2 {
		if err := c.CreateEvent(context.Background(), pointsEarned()); err != nil {
			t.Fatal(err)
		}
	}
	if n, d := len(b.fake.Events()), b.fake.Duplicates(); n != 1 || d != 1 {
		t.Fatalf("recorded %d, deduplicated %d; want 1 and 1", n, d)
	}
	if err := c.CreateEvent(context.Background(), pointsEarned(func(e *klaviyo.Event) { e.UniqueID += ":2" })); err != nil {
		t.Fatal(err)
	}
	if n := len(b.fake.Events()); n != 2 {
		t.Fatalf("another unique_id: recorded %d, want 2", n)
	}
}

func TestClient_CreateEvent_Errors(t *testing.T) {
	t.Parallel()
	nested := map[string]any{"v": 1}
	for range 11 {
		nested = map[string]any{"n": nested}
	}
	tests := []struct {
		name    string
		key     string
		prepare func(*bundle)
		event   klaviyo.Event
		check   func(*testing.T, *klaviyo.APIError)
		class   string
	}{
		{name: "BadKey401", key: unknownKey, class: "auth", check: func(t *testing.T, e *klaviyo.APIError) {
			if e.Status != 401 || e.Code != "not_authenticated" || e.MissingScope() {
				t.Errorf("%+v", e)
			}
		}},
		{name: "MissingScope403", key: accountsKey, class: "auth", check: func(t *testing.T, e *klaviyo.APIError) {
			if e.Status != 403 || !e.MissingScope() || e.HTML || !strings.Contains(e.Detail, "events:write") {
				t.Errorf("%+v", e)
			}
		}},
		{name: "CloudflareHTML403", prepare: func(b *bundle) { b.fake.HTMLForbiddenNext(1) }, class: "retryable", check: func(t *testing.T, e *klaviyo.APIError) {
			if e.Status != 403 || !e.HTML || e.MissingScope() || !strings.Contains(e.Body, "<html") || len(e.Body) > 512 {
				t.Errorf("%+v", e)
			}
		}},
		{name: "Throttled429RetryAfterHeader", prepare: func(b *bundle) { b.fake.ThrottleNext(1, true) }, class: "retryable", check: func(t *testing.T, e *klaviyo.APIError) {
			if e.Status != 429 || e.Code != "throttled" || e.RetryAfter != time.Second {
				t.Errorf("%+v", e)
			}
		}},
		{name: "Throttled429NoHeaderDetailParsed", prepare: func(b *bundle) { b.fake.ThrottleNext(1, false) }, class: "retryable", check: func(t *testing.T, e *klaviyo.APIError) {
			if e.Status != 429 || e.RetryAfter != time.Second {
				t.Errorf("%+v", e)
			}
		}},
		{name: "500", prepare: func(b *bundle) { b.fake.FailNext(500, 1) }, class: "retryable"},
		{name: "502", prepare: func(b *bundle) { b.fake.FailNext(502, 1) }, class: "retryable"},
		{name: "503", prepare: func(b *bundle) { b.fake.FailNext(503, 1) }, class: "retryable"},
		{name: "504", prepare: func(b *bundle) { b.fake.FailNext(504, 1) }, class: "retryable"},
		{name: "408", prepare: func(b *bundle) { b.fake.FailNext(408, 1) }, class: "retryable"},
		{name: "409", prepare: func(b *bundle) { b.fake.FailNext(409, 1) }, class: "permanent"},
		{name: "InvalidPhone400", event: pointsEarned(func(e *klaviyo.Event) { e.Profile.PhoneNumber = "5550006" }), class: "permanent",
			check: wantPointer("/data/attributes/profile/data/attributes/phone_number")},
		{name: "TimeBefore2000", event: pointsEarned(func(e *klaviyo.Event) { e.Time = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC) }), class: "permanent",
			check: wantPointer("/data/attributes/time")},
		{name: "MetricNameTooLong", event: pointsEarned(func(e *klaviyo.Event) { e.Metric = strings.Repeat("m", 128) }), class: "permanent",
			check: wantPointer("/data/attributes/metric/data/attributes/name")},
		{name: "NestedTooDeep", event: pointsEarned(func(e *klaviyo.Event) { e.Properties = map[string]any{"deep": nested} }), class: "permanent",
			check: func(t *testing.T, e *klaviyo.APIError) {
				if e.Status != 400 || e.Code != "invalid" || !strings.HasPrefix(e.Pointer, "/data/attributes/properties/deep/") {
					t.Errorf("%+v", e)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			if tc.prepare != nil {
				tc.prepare(b)
			}
			if tc.key == "" {
				tc.key = fullKey
			}
			if tc.event.Metric == "" {
				tc.event = pointsEarned()
			}
			err := b.client(tc.key).CreateEvent(context.Background(), tc.event)
			ae := mustAPIError(t, err)
			if got := class(ae); got != tc.class {
				t.Errorf("class = %s, want %s (%v)", got, tc.class, err)
			}
			if klaviyo.IsRetryable(err) != (tc.class == "retryable") || klaviyo.IsAuthFailure(err) != (tc.class == "auth") {
				t.Errorf("helpers disagree with the class: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "klaviyo: create event: ") {
				t.Errorf("error text %q", err)
			}
			if tc.check != nil {
				tc.check(t, ae)
			}
			if n := len(b.fake.Events()); n != 0 {
				t.Errorf("%d events recorded", n)
			}
		})
	}
}

func wantPointer(p string) func(*testing.T, *klaviyo.APIError) {
	return func(t *testing.T, e *klaviyo.APIError) {
		t.Helper()
		if e.Status != 400 || e.Code != "invalid" || e.Pointer != p || e.HTML {
			t.Errorf("got %d %s %q, want 400 invalid %q", e.Status, e.Code, e.Pointer, p)
		}
	}
}

// TestClient_RetryAfterFromWindows drives the fake's real steady window for
// accounts (15/min) so the wait is 45 s, then reads it from the header or,
// with the header omitted, from the detail's plural "45 seconds".
func TestClient_RetryAfterFromWindows(t *testing.T) {
	t.Parallel()
	for _, omit := range []bool{false, true} {
		name := "Header"
		if omit {
			name = "DetailOnly"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(o *fake.KlaviyoOptions) { o.OmitRetryAfter = omit })
			c := b.client(fullKey)
			for i := range 15 {
				if _, err := c.Account(context.Background()); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				b.clock.Add(time.Second)
			}
			_, err := c.Account(context.Background())
			ae := mustAPIError(t, err)
			if ae.Status != 429 || !ae.Retryable() || ae.RetryAfter != 45*time.Second || klaviyo.RetryAfter(err) != 45*time.Second {
				t.Fatalf("%+v", ae)
			}
			if !strings.Contains(ae.Detail, "45 seconds") {
				t.Fatalf("detail %q", ae.Detail)
			}
		})
	}
}

func TestClient_TransportErrors(t *testing.T) {
	t.Parallel()

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.fake.SetSlow(5 * time.Second)
		c := klaviyo.NewClient(b.srv.URL, fullKey, klaviyo.WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}))
		err := c.CreateEvent(context.Background(), pointsEarned())
		var te *klaviyo.TransportError
		if !errors.As(err, &te) || !te.Timeout() || !klaviyo.IsRetryable(err) || klaviyo.IsAuthFailure(err) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("ContextDeadline", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.fake.SetSlow(5 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := b.client(fullKey).CreateEvent(ctx, pointsEarned())
		var te *klaviyo.TransportError
		if !errors.As(err, &te) || !te.Timeout() || !klaviyo.IsRetryable(err) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("ConnectionRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		url := b.srv.URL
		b.srv.Close()
		err := klaviyo.NewClient(url, fullKey).CreateEvent(context.Background(), pointsEarned())
		var te *klaviyo.TransportError
		if !errors.As(err, &te) || te.Timeout() || !klaviyo.IsRetryable(err) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestClient_ClientSideRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		call  func(*klaviyo.Client) error
		isErr error
	}{
		{"NoMetric", func(c *klaviyo.Client) error {
			return c.CreateEvent(context.Background(), pointsEarned(func(e *klaviyo.Event) { e.Metric = " " }))
		}, klaviyo.ErrInvalidEvent},
		{"NoIdentifier", func(c *klaviyo.Client) error {
			return c.CreateEvent(context.Background(), pointsEarned(func(e *klaviyo.Event) { e.Profile = klaviyo.Profile{} }))
		}, klaviyo.ErrInvalidEvent},
		{"ValueNotDecimal", func(c *klaviyo.Client) error {
			return c.CreateEvent(context.Background(), pointsEarned(func(e *klaviyo.Event) { e.Value = ptr("12,50") }))
		}, klaviyo.ErrInvalidEvent},
		{"ValueExponent", func(c *klaviyo.Client) error {
			return c.CreateEvent(context.Background(), pointsEarned(func(e *klaviyo.Event) { e.Value = ptr("1e3") }))
		}, klaviyo.ErrInvalidEvent},
		{"UnencodableProperty", func(c *klaviyo.Client) error {
			return c.CreateEvent(context.Background(), pointsEarned(func(e *klaviyo.Event) { e.Properties = map[string]any{"f": func() {}} }))
		}, klaviyo.ErrInvalidEvent},
		{"ProfileWithoutIdentifier", func(c *klaviyo.Client) error {
			return c.ImportProfile(context.Background(), klaviyo.Profile{Properties: map[string]any{"loyalty_tier": "Gold"}})
		}, klaviyo.ErrInvalidEvent},
		{"BulkOver1000", func(c *klaviyo.Client) error { return c.BulkCreateEvents(context.Background(), manyEvents(1001)) }, klaviyo.ErrBatchTooLarge},
		{"BulkDuplicate", func(c *klaviyo.Client) error {
			return c.BulkCreateEvents(context.Background(), []klaviyo.Event{pointsEarned(), pointsEarned()})
		}, klaviyo.ErrDuplicateEvent},
		{"BulkDuplicateSharedIdentifier", func(c *klaviyo.Client) error {
			// Different identifier sets that share the email may be one
			// Klaviyo profile, so the repeat is refused too.
			return c.BulkCreateEvents(context.Background(), []klaviyo.Event{
				pointsEarned(func(e *klaviyo.Event) { e.Profile = klaviyo.Profile{Email: "Sarah.Mason@example.com"} }),
				pointsEarned(func(e *klaviyo.Event) { e.Profile = klaviyo.Profile{Email: "sarah.mason@example.com", ExternalID: "x"} }),
			})
		}, klaviyo.ErrDuplicateEvent},
		{"BulkInvalidItem", func(c *klaviyo.Client) error {
			return c.BulkCreateEvents(context.Background(), []klaviyo.Event{pointsEarned(func(e *klaviyo.Event) { e.Metric = "" })})
		}, klaviyo.ErrInvalidEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			err := tc.call(b.client(fullKey))
			if !errors.Is(err, tc.isErr) || app.ErrorCode(err) != app.EINVALID || app.ErrorMessage(err) == "" {
				t.Fatalf("err = %v, want %v as EINVALID", err, tc.isErr)
			}
			if klaviyo.IsRetryable(err) || klaviyo.IsAuthFailure(err) {
				t.Fatalf("a client-side refusal is classified retryable or auth: %v", err)
			}
			if n := len(b.fake.Requests()); n != 0 {
				t.Fatalf("%d requests sent", n)
			}
		})
	}
}

func manyEvents(n int) []klaviyo.Event {
	evs := make([]klaviyo.Event, n)
	for i := range evs {
		evs[i] = pointsEarned(func(e *klaviyo.Event) {
			e.UniqueID = "ledger_" + itoa(i)
			e.Profile.Email = "c" + itoa(i%7) + "@example.com"
			e.Profile.ExternalID = "shopify:" + itoa(i%7)
		})
	}
	return evs
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestClient_BulkCreateEvents(t *testing.T) {
	t.Parallel()

	t.Run("OKGroupedPerProfile", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		p1 := klaviyo.Profile{Email: "p1@example.com", Properties: map[string]any{"loyalty_points_balance": 100, "loyalty_tier": "Silver"}}
		p1later := klaviyo.Profile{Email: "p1@example.com", Properties: map[string]any{"loyalty_points_balance": 150}}
		p2 := klaviyo.Profile{ExternalID: "shopify:2"}
		evs := []klaviyo.Event{
			{Metric: "wallet_points_rewarded", Profile: p1, UniqueID: "e1", Properties: map[string]any{"points": 100}, Backfill: true},
			{Metric: "wallet_points_rewarded", Profile: p2, UniqueID: "e2"},
			{Metric: "wallet_points_rewarded", Profile: p1later, UniqueID: "e3", Properties: map[string]any{"points": 50}},
			// Same unique_id, other metric: allowed.
			{Metric: "tier_upgraded", Profile: klaviyo.Profile{Email: "P1@example.com"}, UniqueID: "e1"},
		}
		if err := b.client(fullKey).BulkCreateEvents(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
		got := b.fake.Events()
		if len(got) != 4 {
			t.Fatalf("%d events recorded", len(got))
		}
		for _, ev := range got {
			if !ev.Bulk {
				t.Errorf("not bulk: %+v", ev)
			}
		}
		if !got[0].Backfill || got[1].Backfill {
			t.Errorf("backfill flags %v %v", got[0].Backfill, got[1].Backfill)
		}
		req := b.fake.Requests()[0]
		if req.Path != "/api/event-bulk-create-jobs/" {
			t.Errorf("path %s", req.Path)
		}
		var doc struct {
			Data struct {
				Type       string `json:"type"`
				Attributes struct {
					Items struct {
						Data []struct {
							Attributes struct {
								Profile struct {
									Data struct {
										Attributes map[string]any `json:"attributes"`
									} `json:"data"`
								} `json:"profile"`
								Events struct {
									Data []any `json:"data"`
								} `json:"events"`
							} `json:"attributes"`
						} `json:"data"`
					} `json:"events-bulk-create"`
				} `json:"attributes"`
			} `json:"data"`
		}
		if err := json.Unmarshal(req.Body, &doc); err != nil {
			t.Fatal(err)
		}
		items := doc.Data.Attributes.Items.Data
		if doc.Data.Type != "event-bulk-create-job" || len(items) != 2 || len(items[0].Attributes.Events.Data) != 3 || len(items[1].Attributes.Events.Data) != 1 {
			t.Fatalf("grouping: %s", req.Body)
		}
		wantProps := map[string]any{"loyalty_points_balance": 150.0, "loyalty_tier": "Silver"}
		if got := items[0].Attributes.Profile.Data.Attributes["properties"]; !reflect.DeepEqual(got, wantProps) {
			t.Errorf("merged profile properties = %#v", got)
		}
		if ps := b.fake.Profiles(); len(ps) != 2 || ps[0].Properties["loyalty_points_balance"] != 150.0 {
			t.Errorf("profiles %+v", ps)
		}
	})

	t.Run("Exactly1000", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if err := b.client(fullKey).BulkCreateEvents(context.Background(), manyEvents(1000)); err != nil {
			t.Fatal(err)
		}
		if n := len(b.fake.Events()); n != 1000 {
			t.Fatalf("%d events recorded", n)
		}
	})

	t.Run("PerItemErrorsThenRetryRest", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		p1 := klaviyo.Profile{Email: "p1@example.com"}
		p2 := klaviyo.Profile{Email: "p2@example.com"}
		bad := klaviyo.Profile{Email: "p3@example.com", PhoneNumber: "12"}
		evs := []klaviyo.Event{
			{Metric: "m", Profile: p1, UniqueID: "0"},
			{Metric: "m", Profile: p1, UniqueID: "1", Time: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)}, // group 0, event 1
			{Metric: "m", Profile: p2, UniqueID: "2"},
			{Metric: "m", Profile: bad, UniqueID: "3"}, // group 2's profile: both its events fail
			{Metric: "m", Profile: bad, UniqueID: "4"},
		}
		c := b.client(fullKey)
		err := c.BulkCreateEvents(context.Background(), evs)
		var be *klaviyo.BulkError
		if !errors.As(err, &be) {
			t.Fatalf("err = %v, want *BulkError", err)
		}
		if got := be.Failed(); !reflect.DeepEqual(got, []int{1, 3, 4}) {
			t.Fatalf("failed = %v", got)
		}
		if p := be.Items[1][0].Pointer; p != "/data/attributes/events-bulk-create/data/0/attributes/events/data/1/attributes/time" {
			t.Errorf("item 1 pointer %q", p)
		}
		if p := be.Items[4][0].Pointer; p != "/data/attributes/events-bulk-create/data/2/attributes/profile/data/attributes/phone_number" {
			t.Errorf("item 4 pointer %q", p)
		}
		if ae := mustAPIError(t, err); ae.Status != 400 || !ae.Permanent() || klaviyo.IsRetryable(err) {
			t.Errorf("classification of the bulk 400: %v", err)
		}
		if n := len(b.fake.Events()); n != 0 {
			t.Fatalf("rejected request recorded %d events", n)
		}
		var rest []klaviyo.Event
		for i, e := range evs {
			if _, failed := be.Items[i]; !failed {
				rest = append(rest, e)
			}
		}
		if err := c.BulkCreateEvents(context.Background(), rest); err != nil {
			t.Fatalf("retry of the rest: %v", err)
		}
		if n := len(b.fake.Events()); n != 2 {
			t.Fatalf("%d events after the retry, want 2", n)
		}
	})

	t.Run("Unattributed400IsAPIError", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.fake.FailNext(400, 1)
		err := b.client(fullKey).BulkCreateEvents(context.Background(), manyEvents(3))
		var be *klaviyo.BulkError
		if errors.As(err, &be) || !mustAPIError(t, err).Permanent() {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("RevisionWithoutBulk", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		err := b.client(fullKey, klaviyo.WithRevision("2024-02-15")).BulkCreateEvents(context.Background(), manyEvents(2))
		if ae := mustAPIError(t, err); ae.Status != 404 || ae.Detail != "No valid revisions found for method" || !ae.Permanent() {
			t.Fatalf("%+v", ae)
		}
		if got := b.fake.Requests()[0].Header.Get("revision"); got != "2024-02-15" {
			t.Fatalf("revision header %q", got)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if err := b.client(fullKey).BulkCreateEvents(context.Background(), nil); err != nil || len(b.fake.Requests()) != 0 {
			t.Fatalf("err %v, %d requests", err, len(b.fake.Requests()))
		}
	})
}

func TestClient_ImportProfile(t *testing.T) {
	t.Parallel()

	t.Run("CreateThenUpdate", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		c := b.client(fullKey)
		p := klaviyo.Profile{Email: "sarah.mason@example.com", ExternalID: "shopify:7293847561",
			Properties: map[string]any{"loyalty_points_balance": 1250, "loyalty_tier": "Gold", "loyalty_referral_url": "https://example.com/r/SARAH10"}}
		if err := c.ImportProfile(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		// An update sends only what changed; the rest stays.
		if err := c.ImportProfile(context.Background(), klaviyo.Profile{Email: p.Email, Properties: map[string]any{"loyalty_points_balance": 1300}}); err != nil {
			t.Fatal(err)
		}
		ps := b.fake.Profiles()
		want := map[string]any{"loyalty_points_balance": 1300.0, "loyalty_tier": "Gold", "loyalty_referral_url": "https://example.com/r/SARAH10"}
		if len(ps) != 1 || !reflect.DeepEqual(ps[0].Properties, want) || ps[0].ExternalID != "shopify:7293847561" {
			t.Fatalf("profiles %+v", ps)
		}
		req := b.fake.Requests()[0]
		if req.Path != "/api/profile-import/" || !strings.HasPrefix(string(req.Body), `{"data":{"type":"profile","attributes":{`) {
			t.Fatalf("%s %s", req.Path, req.Body)
		}
	})

	t.Run("Conflict409", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		c := b.client(fullKey)
		for _, p := range []klaviyo.Profile{{Email: "a@example.com", ExternalID: "x1"}, {Email: "b@example.com", ExternalID: "x2"}} {
			if err := c.ImportProfile(context.Background(), p); err != nil {
				t.Fatal(err)
			}
		}
		err := c.ImportProfile(context.Background(), klaviyo.Profile{Email: "a@example.com", ExternalID: "x2"})
		ae := mustAPIError(t, err)
		if ae.Status != 409 || ae.Code != "duplicate_profile" || !ae.Permanent() || ae.Errors[0].Meta["duplicate_profile_id"] == nil {
			t.Fatalf("%+v", ae)
		}
	})

	t.Run("MissingScope", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		err := b.client(eventsKey).ImportProfile(context.Background(), klaviyo.Profile{Email: "a@example.com"})
		if ae := mustAPIError(t, err); !ae.MissingScope() || !ae.AuthFailure() || !strings.Contains(ae.Detail, "profiles:write") {
			t.Fatalf("%+v", ae)
		}
	})
}

func TestClient_Account(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		key   string
		check func(*testing.T, *klaviyo.Account, error)
	}{
		{"OK", fullKey, func(t *testing.T, a *klaviyo.Account, err error) {
			if err != nil {
				t.Fatal(err)
			}
			want := klaviyo.Account{ID: "AbC123", PublicAPIKey: "AbC123", Timezone: "US/Eastern", PreferredCurrency: "USD", Locale: "en-US",
				Industry: "Apparel", OrganizationName: "Example Shop", WebsiteURL: "https://example.com",
				DefaultSenderName: "Example Shop", DefaultSenderEmail: "hello@example.com"}
			if *a != want {
				t.Fatalf("account = %+v", *a)
			}
		}},
		{"BadKey", unknownKey, func(t *testing.T, a *klaviyo.Account, err error) {
			ae := mustAPIError(t, err)
			if a != nil || ae.Status != 401 || !ae.AuthFailure() || ae.MissingScope() {
				t.Fatalf("%+v", ae)
			}
		}},
		{"KeyWithoutAccountsRead", eventsKey, func(t *testing.T, a *klaviyo.Account, err error) {
			ae := mustAPIError(t, err)
			if a != nil || ae.Status != 403 || !ae.AuthFailure() || !ae.MissingScope() || !strings.Contains(ae.Detail, "accounts:read") {
				t.Fatalf("%+v", ae)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			a, err := b.client(tc.key).Account(context.Background())
			tc.check(t, a, err)
			req := b.fake.Requests()[0]
			if req.Method != "GET" || req.Path != "/api/accounts/" || req.Header.Get("Content-Type") != "" || len(req.Body) != 0 {
				t.Fatalf("%s %s %v", req.Method, req.Path, req.Header)
			}
		})
	}
}

// TestAPIError_Classification pins the sinks.md §3.5 table: exactly one
// class per answer.
func TestAPIError_Classification(t *testing.T) {
	t.Parallel()
	jsonErr := []klaviyo.ErrorObject{{Code: "x"}}
	tests := []struct {
		err  klaviyo.APIError
		want string
	}{
		{klaviyo.APIError{Status: 400, Errors: jsonErr}, "permanent"},
		{klaviyo.APIError{Status: 400, HTML: true}, "permanent"},
		{klaviyo.APIError{Status: 401, Errors: jsonErr}, "auth"},
		{klaviyo.APIError{Status: 401, HTML: true}, "auth"},
		{klaviyo.APIError{Status: 403, Errors: jsonErr}, "auth"},
		{klaviyo.APIError{Status: 403, HTML: true}, "retryable"},
		{klaviyo.APIError{Status: 403}, "retryable"},
		{klaviyo.APIError{Status: 404}, "permanent"},
		{klaviyo.APIError{Status: 405}, "permanent"},
		{klaviyo.APIError{Status: 408}, "retryable"},
		{klaviyo.APIError{Status: 409}, "permanent"},
		{klaviyo.APIError{Status: 410}, "permanent"},
		{klaviyo.APIError{Status: 413}, "permanent"},
		{klaviyo.APIError{Status: 415}, "permanent"},
		{klaviyo.APIError{Status: 422}, "permanent"},
		{klaviyo.APIError{Status: 423}, "retryable"},
		{klaviyo.APIError{Status: 429}, "retryable"},
		{klaviyo.APIError{Status: 500}, "retryable"},
		{klaviyo.APIError{Status: 502}, "retryable"},
		{klaviyo.APIError{Status: 503}, "retryable"},
		{klaviyo.APIError{Status: 504}, "retryable"},
	}
	for _, tc := range tests {
		if got := class(&tc.err); got != tc.want {
			t.Errorf("%d html=%v errors=%d: %s, want %s", tc.err.Status, tc.err.HTML, len(tc.err.Errors), got, tc.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header, detail string
		want           time.Duration
	}{
		{"7", "", 7 * time.Second},
		{"1.5", "", 1500 * time.Millisecond},
		{now.Add(30 * time.Second).Format(http.TimeFormat), "", 30 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), "", 0},
		{"", "Request was throttled. Expected available in 1 second.", time.Second},
		{"", "Request was throttled. Expected available in 12 seconds.", 12 * time.Second},
		{"", "Request was throttled. Expected available in 0 seconds.", 0},
		{"soon", "Expected available in 3 seconds.", 3 * time.Second},
		{"3", "Expected available in 9 seconds.", 3 * time.Second}, // the header wins
		{"-4", "", 0},
		{"", "", 0},
	}
	for _, tc := range tests {
		if got := klaviyo.RetryAfterOf(tc.header, tc.detail, now); got != tc.want {
			t.Errorf("(%q, %q) = %v, want %v", tc.header, tc.detail, got, tc.want)
		}
	}
}

func BenchmarkEncodeEvent(b *testing.B) {
	e := pointsEarned()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := klaviyo.EncodeEvent(e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeBulk1000(b *testing.B) {
	evs := manyEvents(1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := klaviyo.EncodeBulk(evs); err != nil {
			b.Fatal(err)
		}
	}
}
