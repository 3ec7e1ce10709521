package clevertap_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/clevertap"
	"github.com/perkbridge/perkbridge/app/fake"
)

// These tests run the client against the shared fake CleverTap (app/fake),
// which encodes CleverTap's contract from the docs independently of this
// package. The fake reads the region from the first path segment, so the
// origin of an in1 account is srv.URL+"/in1".

const (
	account  = "W84-RZR-RZ7Z"
	passcode = "QAE-AWB-AAAL"
	region   = "in1"
	identity = "shopify:7293847561"
)

type bundle struct {
	fake *fake.CleverTap
	srv  *httptest.Server
}

func setup(t *testing.T, mutate ...func(*fake.CleverTapOptions)) *bundle {
	t.Helper()
	opts := fake.CleverTapOptions{Now: func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }}
	for _, m := range mutate {
		m(&opts)
	}
	f := fake.NewCleverTap(opts)
	f.AddAccount(account, passcode, region)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &bundle{fake: f, srv: srv}
}

// client returns a client for the in1 account, or for the region, account
// or passcode given in over ("region=us1", "passcode=x", "account=x").
func (b *bundle) client(t *testing.T, opts []clevertap.Option, over ...string) *clevertap.Client {
	t.Helper()
	reg, acct, pass := region, account, passcode
	for _, o := range over {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "region":
			reg = v
		case "account":
			acct = v
		case "passcode":
			pass = v
		}
	}
	origin, err := clevertap.Origin(b.srv.URL+"/{region}", reg)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]clevertap.Option{clevertap.WithHTTPClient(b.srv.Client())}, opts...)
	return clevertap.NewClient(origin, acct, pass, opts...)
}

func event(name string, data map[string]any) clevertap.Record {
	if data == nil {
		data = map[string]any{"Points": 50, "Reason": "order"}
	}
	return clevertap.Record{Type: clevertap.TypeEvent, Identity: identity, TS: 1787234591, EvtName: name, EvtData: data}
}

func events(n int) []clevertap.Record {
	out := make([]clevertap.Record, n)
	for i := range out {
		out[i] = event("Loyalty Points Earned", map[string]any{"Points": i, "Event ID": fmt.Sprintf("evt-%d", i)})
	}
	return out
}

func mustAPIError(t *testing.T, err error) *clevertap.APIError {
	t.Helper()
	var ae *clevertap.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v (%T), want *clevertap.APIError", err, err)
	}
	return ae
}

func class(e *clevertap.APIError) string {
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

func TestClient_Upload_Success(t *testing.T) {
	t.Parallel()
	b := setup(t)
	expires := time.Date(2026, 9, 30, 0, 0, 0, 0, time.UTC)
	recs := []clevertap.Record{
		event("Loyalty Points Earned", map[string]any{"Points": 50, "Reason": "order", "Balance After": 1250, "Event ID": "evt-1"}),
		event("Loyalty Points Expiring", map[string]any{"Points Expiring": 300, "Expires At": clevertap.Date(expires)}),
		{Type: clevertap.TypeEvent, Identity: identity, EvtName: "Loyalty Tier Upgraded"}, // nil evtData is sent as {}
		{Type: clevertap.TypeProfile, Identity: identity, TS: 1787234591, EvtName: "ignored",
			ProfileData: map[string]any{"Email": "sarah.mason@example.com", "Loyalty Points": 1250, "Loyalty Tier": "Gold"}},
	}
	res, err := b.client(t, nil).Upload(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != clevertap.StatusSuccess || res.Processed != 4 || len(res.Unprocessed) != 0 || res.Retry() != nil {
		t.Fatalf("result %+v", res)
	}
	evs := b.fake.Events()
	if len(evs) != 3 {
		t.Fatalf("%d events", len(evs))
	}
	want := map[string]any{"Points": int64(50), "Reason": "order", "Balance After": int64(1250), "Event ID": "evt-1"}
	if evs[0].Name != "Loyalty Points Earned" || evs[0].Identity != identity || evs[0].TS != 1787234591 || evs[0].Region != region ||
		!reflect.DeepEqual(evs[0].Data, want) {
		t.Errorf("event 0 = %+v", evs[0])
	}
	if evs[1].Data["Expires At"] != "$D_1790726400" {
		t.Errorf("event 1 data %v", evs[1].Data)
	}
	if evs[2].TS != 0 || len(evs[2].Data) != 0 {
		t.Errorf("event 2 = %+v", evs[2])
	}
	ps := b.fake.Profiles()
	if len(ps) != 1 || ps[0].Identity != identity || ps[0].Data["Loyalty Tier"] != "Gold" || ps[0].Data["Loyalty Points"] != int64(1250) {
		t.Errorf("profiles %+v", ps)
	}

	req := b.fake.Requests()[0]
	for h, want := range map[string]string{"X-CleverTap-Account-Id": account, "X-CleverTap-Passcode": passcode, "Content-Type": "application/json"} {
		if got := req.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	if req.Method != "POST" || req.Path != "/in1/1/upload" || req.RawQuery != "" {
		t.Errorf("%s %s?%s", req.Method, req.Path, req.RawQuery)
	}
	var body struct{ D []map[string]any }
	if err := json.Unmarshal(req.Body, &body); err != nil {
		t.Fatal(err)
	}
	if _, ok := body.D[3]["evtName"]; ok || body.D[3]["type"] != "profile" {
		t.Errorf("profile record carries event fields: %v", body.D[3])
	}
	if d, ok := body.D[2]["evtData"].(map[string]any); !ok || len(d) != 0 {
		t.Errorf("event without data: %v", body.D[2])
	}
}

// TestRecord_Wire pins the exact bytes of each record type.
func TestRecord_Wire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rec  clevertap.Record
		want string
	}{
		{event("Loyalty Points Earned", nil),
			`{"type":"event","identity":"shopify:7293847561","ts":1787234591,"evtName":"Loyalty Points Earned","evtData":{"Points":50,"Reason":"order"}}`},
		{clevertap.Record{Type: "event", ObjectID: "__g1234", EvtName: "E"},
			`{"type":"event","objectId":"__g1234","evtName":"E","evtData":{}}`},
		{clevertap.Record{Type: "profile", Identity: "x", EvtName: "no", EvtData: map[string]any{"no": 1}, ProfileData: map[string]any{"DOB": "$D_0", "Note": "<&>"}},
			`{"type":"profile","identity":"x","profileData":{"DOB":"$D_0","Note":"<&>"}}`},
		{clevertap.Record{Type: "profile", Identity: "x"}, `{"type":"profile","identity":"x","profileData":{}}`},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // json.Marshal would re-escape "<&>" as \u003c…
		err := enc.Encode(tc.rec)
		if got := strings.TrimSuffix(buf.String(), "\n"); err != nil || got != tc.want {
			t.Errorf("MarshalJSON = %s, %v\nwant %s", got, err, tc.want)
		}
		body, err := clevertap.EncodeUpload([]clevertap.Record{tc.rec})
		if err != nil || string(body) != `{"d":[`+tc.want+`]}` {
			t.Errorf("EncodeUpload = %s, %v", body, err)
		}
	}
}

func TestClient_Upload_PartialAndFail(t *testing.T) {
	t.Parallel()

	t.Run("Partial", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.fake.PartialNext(1) // the first otherwise valid record answers 555
		recs := []clevertap.Record{
			event("A", nil),
			event("B", nil),
			event("App Launched", nil), // restricted system event: 513
			{Type: "event", Identity: identity, TS: 1787234591000, EvtName: "D", EvtData: map[string]any{}}, // ms: 525
		}
		c := b.client(t, nil)
		res, err := c.Upload(context.Background(), recs)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != clevertap.StatusPartial || res.Processed != 1 {
			t.Fatalf("result %+v", res)
		}
		type u struct {
			Index, Code int
			Retryable   bool
		}
		var got []u
		for _, x := range res.Unprocessed {
			got = append(got, u{x.Index, x.Code, x.Retryable})
			if !strings.Contains(x.Error, "ErrorCode") {
				t.Errorf("error text %q", x.Error)
			}
		}
		if want := []u{{0, 555, true}, {2, 513, false}, {3, 525, false}}; !reflect.DeepEqual(got, want) {
			t.Fatalf("unprocessed %+v, want %+v", got, want)
		}
		if evs := b.fake.Events(); len(evs) != 1 || evs[0].Name != "B" {
			t.Fatalf("persisted %+v", evs)
		}
		// Resend only the retryable record: no duplicate of B.
		var again []clevertap.Record
		for _, i := range res.Retry() {
			again = append(again, recs[i])
		}
		if res, err := c.Upload(context.Background(), again); err != nil || res.Status != clevertap.StatusSuccess {
			t.Fatalf("retry: %+v %v", res, err)
		}
		if evs := b.fake.Events(); len(evs) != 2 || evs[1].Name != "A" {
			t.Fatalf("after retry %+v", evs)
		}
	})

	t.Run("FailPermanent", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		recs := []clevertap.Record{
			{Type: "event", EvtName: "No identity", EvtData: map[string]any{}},                                // 523
			event("Nested", map[string]any{"items": []any{"a"}}),                                              // 512
			{Type: "profile", Identity: identity, ProfileData: map[string]any{"Phone": "5550006"}},            // 516
			{Type: "event", Identity: identity, EvtData: map[string]any{}},                                    // 509
			{Type: "token", Identity: identity},                                                               // 524
			{Type: "event", Identity: identity, ObjectID: "bad id!", EvtName: "E", EvtData: map[string]any{}}, // 526
		}
		res, err := b.client(t, nil).Upload(context.Background(), recs)
		if err != nil {
			t.Fatal(err)
		}
		var codes, idx []int
		for _, x := range res.Unprocessed {
			codes, idx = append(codes, x.Code), append(idx, x.Index)
			if x.Retryable {
				t.Errorf("code %d marked retryable", x.Code)
			}
		}
		if res.Status != clevertap.StatusFail || res.Processed != 0 || !slices.Equal(codes, []int{523, 512, 516, 509, 524, 526}) ||
			!slices.Equal(idx, []int{0, 1, 2, 3, 4, 5}) || res.Retry() != nil {
			t.Fatalf("result %+v", res)
		}
		if n := len(b.fake.Events()); n != 0 {
			t.Fatalf("%d events persisted", n)
		}
	})

	t.Run("FailAllRetryable", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.fake.PartialNext(2)
		res, err := b.client(t, nil).Upload(context.Background(), events(2))
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != clevertap.StatusFail || !slices.Equal(res.Retry(), []int{0, 1}) {
			t.Fatalf("result %+v", res)
		}
	})
}

func TestClient_Upload_HTTPErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		over    []string
		prepare func(*bundle)
		class   string
		status  int
	}{
		{name: "WrongRegion", over: []string{"region=us1"}, class: "auth", status: 401},
		{name: "EURegionForIndianAccount", over: []string{"region=eu1"}, class: "auth", status: 401},
		{name: "WrongPasscode", over: []string{"passcode=WRONG"}, class: "auth", status: 401},
		{name: "UnknownAccount", over: []string{"account=NOPE"}, class: "auth", status: 401},
		{name: "Throttled429", prepare: func(b *bundle) { b.fake.ThrottleNext(1) }, class: "retryable", status: 429},
		{name: "500", prepare: func(b *bundle) { b.fake.FailNext(500, 1) }, class: "retryable", status: 500},
		{name: "503", prepare: func(b *bundle) { b.fake.FailNext(503, 1) }, class: "retryable", status: 503},
		// 502, like 504, may follow an upload that was ingested.
		{name: "502PossiblyDelivered", prepare: func(b *bundle) { b.fake.FailNext(502, 1) }, class: "retryable", status: 502},
		{name: "400", prepare: func(b *bundle) { b.fake.FailNext(400, 1) }, class: "permanent", status: 400},
		{name: "403", prepare: func(b *bundle) { b.fake.FailNext(403, 1) }, class: "auth", status: 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			if tc.prepare != nil {
				tc.prepare(b)
			}
			res, err := b.client(t, nil, tc.over...).Upload(context.Background(), events(2))
			ae := mustAPIError(t, err)
			if res != nil || ae.Status != tc.status || ae.Code != tc.status || ae.Message == "" || class(ae) != tc.class {
				t.Fatalf("%+v class %s, want %d %s", ae, class(ae), tc.status, tc.class)
			}
			if clevertap.IsRetryable(err) != (tc.class == "retryable") || clevertap.IsAuthFailure(err) != (tc.class == "auth") ||
				clevertap.IsTimeout(err) || clevertap.PossiblyDelivered(err) != (tc.status == 502) {
				t.Fatalf("helpers disagree: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "clevertap: upload: ") {
				t.Errorf("error text %q", err)
			}
			if tc.status == 401 && ae.Message != "Invalid Credentials" {
				t.Errorf("message %q", ae.Message)
			}
			if n := len(b.fake.Events()); n != 0 {
				t.Fatalf("%d events persisted", n)
			}
		})
	}
}

func TestClient_Upload_Size(t *testing.T) {
	t.Parallel()

	t.Run("Over1000Refused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.client(t, nil).Upload(context.Background(), events(1001))
		if !errors.Is(err, clevertap.ErrBatchTooLarge) || app.ErrorCode(err) != app.EINVALID || clevertap.IsRetryable(err) {
			t.Fatalf("err = %v", err)
		}
		if n := len(b.fake.Requests()); n != 0 {
			t.Fatalf("%d requests sent", n)
		}
	})

	t.Run("Exactly1000", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		res, err := b.client(t, nil).Upload(context.Background(), events(1000))
		if err != nil || res.Status != clevertap.StatusSuccess || res.Processed != 1000 || len(b.fake.Events()) != 1000 {
			t.Fatalf("%+v %v", res, err)
		}
	})

	t.Run("EmptySendsNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		res, err := b.client(t, nil).Upload(context.Background(), nil)
		if err != nil || res.Status != clevertap.StatusSuccess || len(b.fake.Requests()) != 0 {
			t.Fatalf("%+v %v", res, err)
		}
	})
}

// TestClient_Upload_Concurrency429 holds 15 uploads open in the slow fake,
// then sends 5 more: CleverTap allows 15 in flight per account, so each of
// those is a retryable 429 without Retry-After.
func TestClient_Upload_Concurrency429(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.SetSlow(time.Minute)
	c := b.client(t, nil)
	held, release := context.WithCancel(context.Background())
	defer release()
	heldErrs := make(chan error, 15)
	for range 15 {
		go func() {
			_, err := c.Upload(held, events(1))
			heldErrs <- err
		}()
	}
	wait, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.fake.WaitForInFlight(wait, 15); err != nil {
		t.Fatalf("15 uploads never in flight: %v", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Go(func() { _, errs[i] = c.Upload(context.Background(), events(1)) })
	}
	wg.Wait()
	for i, err := range errs {
		ae := mustAPIError(t, err)
		if ae.Status != 429 || !ae.Retryable() || !clevertap.IsRetryable(err) || clevertap.PossiblyDelivered(err) {
			t.Errorf("extra upload %d: %+v", i, ae)
		}
	}
	if got := b.fake.MaxInFlight(); got < 16 {
		t.Errorf("fake saw at most %d in flight", got)
	}
	// Abandoning the held uploads: they were written, so CleverTap may
	// still ingest them (the fake does, once its delay is cut short).
	release()
	for range 15 {
		err := <-heldErrs
		if !errors.Is(err, context.Canceled) || !clevertap.PossiblyDelivered(err) || clevertap.IsTimeout(err) {
			t.Errorf("held upload: %v", err)
		}
	}
	if err := b.fake.WaitForIdle(wait); err != nil {
		t.Fatal(err)
	}
}

// TestClient_WithMaxInFlight shows the client-side cap keeping 40
// concurrent callers at 10 requests in flight, so none gets a 429.
func TestClient_WithMaxInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fake.SetSlow(20 * time.Millisecond)
	c := b.client(t, []clevertap.Option{clevertap.WithMaxInFlight(10)})
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Go(func() { _, errs[i] = c.Upload(context.Background(), events(1)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := b.fake.MaxInFlight(); got > 10 || got < 2 {
		t.Fatalf("max in flight %d, want 2..10", got)
	}
	if n := len(b.fake.Events()); n != 40 {
		t.Fatalf("%d events", n)
	}

	t.Run("SlotWaitIsNotATimeout", func(t *testing.T) {
		b := setup(t)
		b.fake.SetSlow(time.Minute)
		c := b.client(t, []clevertap.Option{clevertap.WithMaxInFlight(1)})
		held, release := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _, _ = c.Upload(held, events(1)); close(done) }()
		wait, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.fake.WaitForInFlight(wait, 1); err != nil {
			t.Fatal(err)
		}
		ctx, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel2()
		_, err := c.Upload(ctx, events(1))
		if !errors.Is(err, context.DeadlineExceeded) || clevertap.IsTimeout(err) || clevertap.PossiblyDelivered(err) {
			t.Errorf("waiting for a slot: %v", err)
		}
		release()
		<-done
	})
}

func TestClient_Upload_Timeout(t *testing.T) {
	t.Parallel()
	for _, accept := range []bool{true, false} {
		t.Run(fmt.Sprintf("accept=%v", accept), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.fake.TimeoutNext(1, accept)
			c := b.client(t, []clevertap.Option{clevertap.WithHTTPClient(&http.Client{Timeout: 100 * time.Millisecond})})
			_, err := c.Upload(context.Background(), events(1))
			var te *clevertap.TransportError
			if !clevertap.IsTimeout(err) || !clevertap.PossiblyDelivered(err) || !clevertap.IsRetryable(err) || !errors.As(err, &te) || !te.Written {
				t.Fatalf("err = %v", err)
			}
			want := 0
			if accept {
				want = 1 // ingested although the answer was lost
			}
			if n := len(b.fake.Events()); n != want {
				t.Fatalf("%d events, want %d", n, want)
			}
			// The one retry DESIGN.md §5 allows: with accept, a duplicate.
			if res, err := c.Upload(context.Background(), events(1)); err != nil || res.Status != clevertap.StatusSuccess {
				t.Fatalf("retry: %+v %v", res, err)
			}
			if n := len(b.fake.Events()); n != want+1 {
				t.Fatalf("%d events after the retry, want %d", n, want+1)
			}
		})
	}

	t.Run("ContextDeadline", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.fake.TimeoutNext(1, false)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := b.client(t, nil).Upload(ctx, events(1))
		if !clevertap.IsTimeout(err) || !clevertap.PossiblyDelivered(err) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("NeverSent", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		origin := b.srv.URL + "/in1"
		b.srv.Close()
		_, err := clevertap.NewClient(origin, account, passcode).Upload(context.Background(), events(1))
		var te *clevertap.TransportError
		if !errors.As(err, &te) || te.Written || clevertap.IsTimeout(err) || clevertap.PossiblyDelivered(err) || !clevertap.IsRetryable(err) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestClient_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		over     []string
		prepare  func(*bundle)
		wantErr  string // class, or "" for nil
		requests []string
	}{
		{name: "OK", requests: []string{"POST /in1/1/upload?dryRun=1"}},
		{name: "WrongPasscode", over: []string{"passcode=WRONG"}, wantErr: "auth", requests: []string{"POST /in1/1/upload?dryRun=1"}},
		{name: "WrongRegion", over: []string{"region=sg1"}, wantErr: "auth", requests: []string{"POST /sg1/1/upload?dryRun=1"}},
		{name: "WrongAccount", over: []string{"account=NOPE"}, wantErr: "auth", requests: []string{"POST /in1/1/upload?dryRun=1"}},
		{name: "DryRunRefusedFallsBack", prepare: func(b *bundle) { b.fake.FailNext(400, 1) },
			requests: []string{"POST /in1/1/upload?dryRun=1", "GET /in1/1/profile.json?identity=perkbridge-credential-check"}},
		{name: "DryRunRefusedFallbackFails", prepare: func(b *bundle) { b.fake.FailNext(404, 2) }, wantErr: "permanent",
			requests: []string{"POST /in1/1/upload?dryRun=1", "GET /in1/1/profile.json?identity=perkbridge-credential-check"}},
		{name: "ServerError", prepare: func(b *bundle) { b.fake.FailNext(503, 1) }, wantErr: "retryable",
			requests: []string{"POST /in1/1/upload?dryRun=1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			if tc.prepare != nil {
				tc.prepare(b)
			}
			err := b.client(t, nil, tc.over...).Validate(context.Background())
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if got := class(mustAPIError(t, err)); got != tc.wantErr {
				t.Fatalf("class %s, want %s: %v", got, tc.wantErr, err)
			}
			var got []string
			for _, r := range b.fake.Requests() {
				got = append(got, r.Method+" "+r.Path+"?"+r.RawQuery)
			}
			if !slices.Equal(got, tc.requests) {
				t.Fatalf("requests %q, want %q", got, tc.requests)
			}
			// The probe is never persisted.
			if ps := b.fake.Profiles(); len(ps) != 0 {
				t.Fatalf("probe persisted: %+v", ps)
			}
		})
	}
}

func TestDate(t *testing.T) {
	t.Parallel()
	ist := time.FixedZone("IST", 5*3600+1800)
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Unix(1790726400, 0), "$D_1790726400"},
		{time.Date(2026, 9, 30, 5, 30, 0, 999_999_999, ist), "$D_1790726400"},
		{time.Unix(0, 0), "$D_0"},
		{time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), "$D_-86400"},
	}
	for _, tc := range tests {
		if got := clevertap.Date(tc.t); got != tc.want {
			t.Errorf("Date(%v) = %s, want %s", tc.t, got, tc.want)
		}
	}
}

type tier string

type money struct{ amount string }

func (m money) MarshalJSON() ([]byte, error) { return []byte(m.amount), nil }

func TestFlattenValue(t *testing.T) {
	t.Parallel()
	when := time.Unix(1790726400, 0)
	var nilPtr *int
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"String", "Gold", "Gold"},
		{"NamedString", tier("Gold"), "Gold"},
		{"Int", 50, 50},
		{"Int64", int64(1250), int64(1250)},
		{"Float", 4.99, 4.99},
		{"Bool", true, true},
		{"Nil", nil, nil},
		{"NilPointer", nilPtr, nil},
		{"Pointer", ptr(7), 7},
		{"Time", when, "$D_1790726400"},
		{"TimePointer", &when, "$D_1790726400"},
		{"NaN", math.NaN(), "NaN"},
		{"Inf", math.Inf(1), "+Inf"},
		{"Bytes", []byte("abc"), "abc"},
		{"JSONNumber", json.Number("12.50"), json.Number("12.50")},
		{"ScalarMarshaler", money{"12.50"}, json.Number("12.50")},
		{"Slice", []string{"a", "b"}, `["a","b"]`},
		{"Map", map[string]any{"k": 1}, `{"k":1}`},
		{"Struct", struct{ A int }{1}, `{"A":1}`},
		{"Unencodable", make(chan int), "chan"}, // fmt.Sprint: an address, prefix checked below
	}
	for _, tc := range tests {
		got := clevertap.FlattenValue(tc.in)
		if tc.name == "Unencodable" {
			if s, ok := got.(string); !ok || s == "" {
				t.Errorf("%s: %#v", tc.name, got)
			}
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: FlattenValue(%#v) = %#v, want %#v", tc.name, tc.in, got, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestFlatten_AcceptedByFake shows flattened data passing the fake's 512
// check that raw nested data fails.
func TestFlatten_AcceptedByFake(t *testing.T) {
	t.Parallel()
	b := setup(t)
	data := map[string]any{"Product Titles": []string{"Mug", "Tee"}, "Meta": map[string]any{"a": 1}, "Expires At": time.Unix(1790726400, 0), "Points": 5}
	if clevertap.Flatten(nil) != nil {
		t.Fatal("Flatten(nil) != nil")
	}
	res, err := b.client(t, nil).Upload(context.Background(), []clevertap.Record{
		event("Raw", data),
		event("Flat", clevertap.Flatten(data)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != clevertap.StatusPartial || len(res.Unprocessed) != 1 || res.Unprocessed[0].Index != 0 || res.Unprocessed[0].Code != 512 {
		t.Fatalf("result %+v", res)
	}
	evs := b.fake.Events()
	want := map[string]any{"Product Titles": `["Mug","Tee"]`, "Meta": `{"a":1}`, "Expires At": "$D_1790726400", "Points": int64(5)}
	if len(evs) != 1 || !reflect.DeepEqual(evs[0].Data, want) {
		t.Fatalf("events %+v", evs)
	}
}

// TestFlatten_FitsLimits: keys over 120 characters and values over 512
// bytes (sinks.md §2.4) are cut, at a character boundary, so the record is
// accepted; unflattened, the fake refuses it.
func TestFlatten_FitsLimits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	longKey := strings.Repeat("k", 130)
	// 300 two-byte characters: 600 bytes, cut to 256 characters (512 bytes).
	long := strings.Repeat("é", 300)
	data := map[string]any{longKey: "x", "Note": long, "Tags": strings.Repeat("ab", 400) + "é"}
	flat := clevertap.Flatten(data)
	if _, ok := flat[strings.Repeat("k", 120)]; !ok || len(flat) != 3 {
		t.Fatalf("keys %v", slices.Collect(maps.Keys(flat)))
	}
	if got := flat["Note"].(string); len(got) != 512 || got != strings.Repeat("é", 256) {
		t.Fatalf("Note is %d bytes", len(got))
	}
	if got := flat["Tags"].(string); len(got) != 512 || !utf8.ValidString(got) {
		t.Fatalf("Tags is %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
	// Two keys cut to the same name: the first in sorted order keeps it.
	twin := clevertap.Flatten(map[string]any{longKey + "b": 2, longKey + "a": 1})
	if len(twin) != 1 || twin[strings.Repeat("k", 120)] != 1 {
		t.Fatalf("twins %v", twin)
	}
	res, err := b.client(t, nil).Upload(context.Background(), []clevertap.Record{event("Raw", data), event("Fitted", flat)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Unprocessed) != 1 || res.Unprocessed[0].Index != 0 || res.Unprocessed[0].Code != 512 {
		t.Fatalf("result %+v", res)
	}
}

// TestParseUpload covers the answer shapes of sinks.md §2.5 that the fake
// does not produce: no "Skipped record number" (index from the echoed
// record, an object or a JSON string), and 200 answers without records.
func TestParseUpload(t *testing.T) {
	t.Parallel()
	recs := []clevertap.Record{event("A", nil), event("B", nil), event("A", nil), event("C", nil)}
	echo := func(r clevertap.Record) string { b, _ := json.Marshal(r); return string(b) }
	quoted := func(s string) string { b, _ := json.Marshal(s); return string(b) }

	body := `{"status":"partial","processed":1,"unprocessed":[` +
		`{"status":"fail","code":509,"error":"Event Name is incorrect. ErrorCode: 509 - Event name is mandatory.","record":` + echo(recs[0]) + `},` +
		`{"status":"fail","code":"555","error":"Server error","record":` + quoted(echo(recs[2])) + `},` +
		`{"status":"fail","code":513,"error":"x","record":` + echo(recs[3]) + `},` +
		`{"status":"fail","code":512,"error":"x","record":{"type":"event","identity":"someone else"}}]}`
	res, err := clevertap.ParseUpload([]byte(body), recs)
	if err != nil {
		t.Fatal(err)
	}
	var idx []int
	for _, u := range res.Unprocessed {
		idx = append(idx, u.Index)
	}
	// recs[0] and recs[2] are equal: the second echo claims the second copy.
	if !slices.Equal(idx, []int{0, 2, 3, -1}) || !res.Unprocessed[1].Retryable || res.Unprocessed[1].Code != 555 || !slices.Equal(res.Retry(), []int{2}) {
		t.Fatalf("%+v", res)
	}

	// Skipped record number out of range: fall back to the echo.
	body = `{"status":"fail","processed":0,"unprocessed":[{"code":509,"error":"x. Skipped record number : 9","record":` + echo(recs[1]) + `}]}`
	if res, err := clevertap.ParseUpload([]byte(body), recs); err != nil || res.Unprocessed[0].Index != 1 {
		t.Fatalf("%+v %v", res, err)
	}

	for _, tc := range []struct {
		body, class string
		possibly    bool
	}{
		{`{"status":"fail","error":"Too many concurrent requests","code":429}`, "retryable", true},
		{`{"status":"fail","error":"Invalid Credentials","code":401}`, "auth", true},
		{`<html>oops</html>`, "permanent", true},
		{`{"status":"queued"}`, "permanent", true},
	} {
		_, err := clevertap.ParseUpload([]byte(tc.body), recs)
		ae := mustAPIError(t, err)
		if ae.Status != 200 || class(ae) != tc.class || clevertap.PossiblyDelivered(err) != tc.possibly {
			t.Errorf("%s: %+v class %s", tc.body, ae, class(ae))
		}
	}
}

func TestAPIError_Classification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status, code int
		want         string
	}{
		{400, 400, "permanent"}, {401, 401, "auth"}, {403, 403, "auth"}, {404, 404, "permanent"}, {405, 405, "permanent"},
		{408, 0, "retryable"}, {409, 0, "permanent"}, {413, 0, "permanent"}, {423, 0, "retryable"}, {429, 429, "retryable"},
		{500, 500, "retryable"}, {502, 0, "retryable"}, {503, 503, "retryable"}, {504, 0, "retryable"},
		{200, 429, "retryable"}, {200, 0, "permanent"},
	}
	for _, tc := range tests {
		e := &clevertap.APIError{Status: tc.status, Code: tc.code}
		if got := class(e); got != tc.want {
			t.Errorf("%d/%d: %s, want %s", tc.status, tc.code, got, tc.want)
		}
	}
}

func TestRegions(t *testing.T) {
	t.Parallel()
	var codes []string
	for _, r := range clevertap.Regions {
		codes = append(codes, r.Code)
		if r.Name == "" {
			t.Errorf("%s has no name", r.Code)
		}
	}
	if want := []string{"eu1", "in1", "sg1", "us1", "aps3", "mec1", "sk1"}; !slices.Equal(codes, want) {
		t.Fatalf("codes %v", codes)
	}
	// The fake serves the same set.
	if a, b := slices.Sorted(slices.Values(codes)), slices.Sorted(slices.Values(fake.CleverTapRegions)); !slices.Equal(a, b) {
		t.Fatalf("regions %v, fake %v", a, b)
	}
	tests := []struct{ template, region, want string }{
		{"", "eu1", "https://api.clevertap.com"},
		{"", "in1", "https://in1.api.clevertap.com"},
		{"", "mec1", "https://mec1.api.clevertap.com"},
		{"https://{region}.api.clevertap.com", "eu1", "https://eu1.api.clevertap.com"},
		{"http://127.0.0.1:9001/{region}/", "sk1", "http://127.0.0.1:9001/sk1"},
	}
	for _, tc := range tests {
		if got, err := clevertap.Origin(tc.template, tc.region); err != nil || got != tc.want {
			t.Errorf("Origin(%q, %q) = %q, %v; want %q", tc.template, tc.region, got, err, tc.want)
		}
	}
	if _, err := clevertap.Origin("", "in"); err == nil {
		t.Error("legacy region in accepted")
	}
	if r, ok := clevertap.LookupRegion(clevertap.DefaultRegion); !ok || r.Host != "api.clevertap.com" {
		t.Errorf("default region %+v", r)
	}
}

func BenchmarkEncodeUpload1000(b *testing.B) {
	recs := make([]clevertap.Record, 1000)
	for i := range recs {
		recs[i] = event("Loyalty Points Earned", map[string]any{
			"Points": 50, "Reason": "order", "Order ID": "5544332211", "Balance After": 1250,
			"Event ID": fmt.Sprintf("example.myshopify.com:points_earned:ledger_%d", i), "Expires At": "$D_1790726400",
		})
	}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		body, err := clevertap.EncodeUpload(recs)
		if err != nil {
			b.Fatal(err)
		}
		n = len(body)
	}
	b.SetBytes(int64(n))
}
