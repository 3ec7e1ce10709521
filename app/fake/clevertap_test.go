package fake_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/fake"
)

const (
	ctAccount  = "W84-RZR-RZ7Z"
	ctPasscode = "QAE-AWB-AAAL"
	ctEU       = "EU1-ACC-0001"
	ctInvalid  = `{"status":"fail","error":"Invalid Credentials","code":401}`
)

type cleverTapBundle struct {
	fake *fake.CleverTap
	srv  *httptest.Server
}

func setupCleverTap(t *testing.T, mutate ...func(*fake.CleverTapOptions)) *cleverTapBundle {
	t.Helper()
	opts := fake.CleverTapOptions{Now: newClock().Now}
	for _, m := range mutate {
		m(&opts)
	}
	f := fake.NewCleverTap(opts)
	f.AddAccount(ctAccount, ctPasscode, "us1")
	f.AddAccount(ctEU, ctPasscode, "eu1")
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &cleverTapBundle{fake: f, srv: srv}
}

func ctHeaders(extra ...string) []string {
	return append([]string{"X-CleverTap-Account-Id: " + ctAccount, "X-CleverTap-Passcode: " + ctPasscode, "Content-Type: application/json; charset=utf-8"}, extra...)
}

func (b *cleverTapBundle) upload(t *testing.T, body any, headers ...string) response {
	t.Helper()
	if headers == nil {
		headers = ctHeaders()
	}
	return do(t, "POST", b.srv.URL+"/us1/1/upload", body, headers...)
}

func ctEvent(name string, data map[string]any) map[string]any {
	if data == nil {
		data = map[string]any{"Points": 50, "Reason": "order"}
	}
	return map[string]any{"type": "event", "identity": "shopify:7293847561", "ts": 1787234591, "evtName": name, "evtData": data}
}

func records(recs ...any) map[string]any { return map[string]any{"d": recs} }

func TestCleverTap_Upload(t *testing.T) {
	t.Parallel()
	b := setupCleverTap(t)
	body := records(
		ctEvent("Loyalty Points Earned", nil),
		ctEvent("Loyalty Points Expiring", map[string]any{"Points Expiring": 300, "Expires At": "$D_1790726400"}),
		map[string]any{"type": "profile", "identity": "shopify:7293847561", "ts": 1787234591,
			"profileData": map[string]any{"Email": "sarah.mason@example.com", "Loyalty Points": 1250, "Loyalty Tier": "Gold"}},
	)
	r := b.upload(t, body)
	if r.Status != 200 || string(r.Body) != `{"status":"success","processed":3,"unprocessed":[]}` {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	evs := b.fake.Events()
	if len(evs) != 2 || evs[0].Name != "Loyalty Points Earned" || evs[0].Identity != "shopify:7293847561" || evs[0].TS != 1787234591 ||
		evs[0].Region != "us1" || evs[0].Data["Points"] != int64(50) || !evs[0].Time.Equal(time.Unix(1787234591, 0)) {
		t.Fatalf("events %+v", evs)
	}
	ps := b.fake.Profiles()
	if len(ps) != 1 || ps[0].Data["Loyalty Tier"] != "Gold" {
		t.Fatalf("profiles %+v", ps)
	}
	if ups := b.fake.Uploads(); len(ups) != 1 || len(ups[0].Records) != 3 || ups[0].Status != "success" {
		t.Fatalf("uploads %+v", ups)
	}

	t.Run("HostRouting", func(t *testing.T) {
		for host, acct := range map[string]string{"us1.api.clevertap.com": ctAccount, "api.clevertap.com": ctEU, "eu1.api.clevertap.com": ctEU} {
			req, _ := http.NewRequest("POST", b.srv.URL+"/1/upload", strings.NewReader(`{"d":[{"type":"event","identity":"x","evtName":"E","evtData":{}}]}`))
			req.Host = host
			req.Header.Set("X-CleverTap-Account-Id", acct)
			req.Header.Set("X-CleverTap-Passcode", ctPasscode)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(got), `"status":"success"`) {
				t.Fatalf("%s: %d %s", host, resp.StatusCode, got)
			}
		}
	})

	t.Run("NoDedupe", func(t *testing.T) {
		before := len(b.fake.Events())
		one := records(ctEvent("Loyalty Points Earned", nil))
		b.upload(t, one)
		b.upload(t, one)
		if n := len(b.fake.Events()) - before; n != 2 {
			t.Fatalf("repeated upload created %d events, want 2", n)
		}
	})

	t.Run("DryRun", func(t *testing.T) {
		before := len(b.fake.Events())
		r := do(t, "POST", b.srv.URL+"/us1/1/upload?dryRun=1", records(ctEvent("Loyalty Points Earned", nil)), ctHeaders()...)
		if r.Status != 200 || string(r.Body) != `{"status":"success","processed":1,"unprocessed":[]}` {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		ups := b.fake.Uploads()
		if len(b.fake.Events()) != before || !ups[len(ups)-1].DryRun {
			t.Fatal("dry run persisted")
		}
	})
}

func TestCleverTap_Credentials(t *testing.T) {
	t.Parallel()
	b := setupCleverTap(t)
	body := records(ctEvent("Loyalty Points Earned", nil))
	cases := []struct {
		name    string
		url     string
		headers []string
	}{
		{"WrongPasscode", "/us1/1/upload", []string{"X-CleverTap-Account-Id: " + ctAccount, "X-CleverTap-Passcode: nope", "Content-Type: application/json"}},
		{"UnknownAccount", "/us1/1/upload", []string{"X-CleverTap-Account-Id: nope", "X-CleverTap-Passcode: " + ctPasscode, "Content-Type: application/json"}},
		{"WrongRegion", "/in1/1/upload", ctHeaders()},
		{"NoRegion", "/1/upload", ctHeaders()},
		{"MissingHeaders", "/us1/1/upload", []string{"Content-Type: application/json"}},
		{"WrongContentType", "/us1/1/upload", []string{"X-CleverTap-Account-Id: " + ctAccount, "X-CleverTap-Passcode: " + ctPasscode, "Content-Type: text/plain"}},
	}
	for _, tc := range cases {
		r := do(t, "POST", b.srv.URL+tc.url, body, tc.headers...)
		if r.Status != 401 || string(r.Body) != ctInvalid {
			t.Errorf("%s: %d %s", tc.name, r.Status, r.Body)
		}
	}
	if n := len(b.fake.Events()); n != 0 {
		t.Fatalf("%d events persisted", n)
	}
}

func TestCleverTap_BadRequests(t *testing.T) {
	t.Parallel()
	b := setupCleverTap(t)
	var many []any
	for range 1001 {
		many = append(many, ctEvent("E", nil))
	}
	for name, body := range map[string]any{"InvalidJSON": `{"d":[`, "NoD": `{"data":[]}`, "Over1000": records(many...)} {
		r := b.upload(t, body)
		if r.Status != 400 || path(r.JSON(t), "status") != "fail" || path(r.JSON(t), "code") != 400.0 {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	var thousand []any
	for range 1000 {
		thousand = append(thousand, ctEvent("E", nil))
	}
	if r := b.upload(t, records(thousand...)); r.Status != 200 || path(r.JSON(t), "processed") != 1000.0 {
		t.Fatalf("1000 records: %d", r.Status)
	}
}

func TestCleverTap_RecordValidation(t *testing.T) {
	t.Parallel()
	props := func(n int) map[string]any {
		m := map[string]any{}
		for i := range n {
			m["p"+strconv.Itoa(i)] = i
		}
		return m
	}
	ev := func(mutate func(map[string]any)) map[string]any {
		e := ctEvent("Loyalty Points Earned", nil)
		mutate(e)
		return e
	}
	cases := []struct {
		name   string
		record any
		code   int
		error  string // the message before ". Skipped record number"
	}{
		{"509MissingName", ev(func(e map[string]any) { delete(e, "evtName") }), 509, "Event Name is incorrect. ErrorCode: 509 - Event name is mandatory"},
		{"509NonStringName", ev(func(e map[string]any) { e["evtName"] = 1234 }), 509, "Event Name is incorrect. ErrorCode: 509 - Event name is mandatory"},
		{"512NestedObject", ev(func(e map[string]any) { e["evtData"] = map[string]any{"order": map[string]any{"id": 1}} }), 512, "Event Data is incorrect. ErrorCode: 512"},
		{"512ArrayOutsideCharged", ev(func(e map[string]any) { e["evtData"] = map[string]any{"Items": []any{map[string]any{"sku": "a"}}} }), 512, "Event Data is incorrect. ErrorCode: 512"},
		{"512MissingEvtData", ev(func(e map[string]any) { delete(e, "evtData") }), 512, "Event Data is incorrect. ErrorCode: 512"},
		{"513Restricted", ev(func(e map[string]any) { e["evtName"] = "App Launched" }), 513, "Event Name is incorrect. ErrorCode: 513 - Trying to raise a restricted system event"},
		{"522TooManyProperties", ev(func(e map[string]any) { e["evtData"] = props(101) }), 522, "Event Data is incorrect. ErrorCode: 522"},
		{"523NoIdentity", ev(func(e map[string]any) { delete(e, "identity") }), 523, "Identity is incorrect. ErrorCode: 523"},
		{"523EmptyIdentity", ev(func(e map[string]any) { e["identity"] = "" }), 523, "Identity is incorrect. ErrorCode: 523"},
		{"524BadType", ev(func(e map[string]any) { e["type"] = "evt" }), 524, "Record type is incorrect. ErrorCode: 524"},
		{"524NotAnObject", "just a string", 524, "Record type is incorrect. ErrorCode: 524"},
		{"525StringTS", ev(func(e map[string]any) { e["ts"] = "1787234591" }), 525, "Timestamp is incorrect. ErrorCode: 525"},
		{"525Milliseconds", ev(func(e map[string]any) { e["ts"] = 1787234591000 }), 525, "Timestamp is incorrect. ErrorCode: 525"},
		{"525Fraction", ev(func(e map[string]any) { e["ts"] = 1787234591.5 }), 525, "Timestamp is incorrect. ErrorCode: 525"},
		{"526BadObjectID", ev(func(e map[string]any) { e["objectId"] = "not valid!" }), 526, "Identity is incorrect. ErrorCode: 526"},
		{"515ProfileEmail", map[string]any{"type": "profile", "identity": "x", "profileData": map[string]any{"Email": "nope"}}, 515, "Profile Data is incorrect. ErrorCode: 515"},
		{"516ProfilePhone", map[string]any{"type": "profile", "identity": "x", "profileData": map[string]any{"Phone": "5145551234"}}, 516, "Profile Data is incorrect. ErrorCode: 516"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupCleverTap(t)
			// The bad record is number 2 of 2: the answer is partial.
			r := b.upload(t, records(ctEvent("Loyalty Points Earned", nil), tc.record))
			m := r.JSON(t)
			errText, _ := path(m, "unprocessed", 0, "error").(string)
			if r.Status != 200 || m["status"] != "partial" || m["processed"] != 1.0 || path(m, "unprocessed", 0, "code") != float64(tc.code) ||
				path(m, "unprocessed", 0, "status") != "fail" || path(m, "unprocessed", 0, "record") == nil ||
				!strings.HasPrefix(errText, tc.error) || !strings.HasSuffix(errText, ". Skipped record number : 2") {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if n := len(b.fake.Events()); n != 1 {
				t.Fatalf("%d events persisted, want 1", n)
			}
		})
	}

	t.Run("ObservedBody509", func(t *testing.T) {
		t.Parallel()
		b := setupCleverTap(t)
		rec := map[string]any{"evtData": map[string]any{"name": 1234, "revenue": 4.99}, "type": "event", "identity": "user123"}
		r := b.upload(t, records(ctEvent("A", nil), rec, ctEvent("B", nil)))
		want := compactJSON(t, `{"status":"partial","processed":2,"unprocessed":[
  {"status":"fail","code":509,
   "error":"Event Name is incorrect. ErrorCode: 509 - Event name is mandatory. Skipped record number : 2",
   "record":{"evtData":{"name":1234,"revenue":4.99},"identity":"user123","type":"event"}}]}`)
		if string(r.Body) != want {
			t.Fatalf("got  %s\nwant %s", r.Body, want)
		}
	})

	t.Run("AllFail", func(t *testing.T) {
		t.Parallel()
		b := setupCleverTap(t)
		r := b.upload(t, records(ctEvent("Notification Sent", nil)))
		m := r.JSON(t)
		if r.Status != 200 || m["status"] != "fail" || m["processed"] != 0.0 ||
			path(m, "unprocessed", 0, "error") != "Event Name is incorrect. ErrorCode: 513 - Trying to raise a restricted system event. Skipped record number : 1" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	})

	t.Run("ChargedItemsAllowed", func(t *testing.T) {
		t.Parallel()
		b := setupCleverTap(t)
		r := b.upload(t, records(ctEvent("Charged", map[string]any{"Amount": 10, "Items": []any{map[string]any{"sku": "a", "qty": 1}}})))
		if path(r.JSON(t), "status") != "success" {
			t.Fatalf("%s", r.Body)
		}
	})

	t.Run("ConfigurableN", func(t *testing.T) {
		t.Parallel()
		b := setupCleverTap(t, func(o *fake.CleverTapOptions) { o.MaxEventProperties = 5 })
		r := b.upload(t, records(ctEvent("E", props(5)), ctEvent("E", props(6))))
		if path(r.JSON(t), "processed") != 1.0 || path(r.JSON(t), "unprocessed", 0, "code") != 522.0 {
			t.Fatalf("%s", r.Body)
		}
	})

	t.Run("528Discarded", func(t *testing.T) {
		t.Parallel()
		b := setupCleverTap(t, func(o *fake.CleverTapOptions) { o.DiscardedEvents = []string{"Old Event"} })
		r := b.upload(t, records(ctEvent("Old Event", nil)))
		if path(r.JSON(t), "unprocessed", 0, "code") != 528.0 {
			t.Fatalf("%s", r.Body)
		}
	})
}

func TestCleverTap_Concurrency(t *testing.T) {
	t.Parallel()
	b := setupCleverTap(t)
	b.fake.SetSlow(time.Minute) // held until the clients cancel
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 15 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, "POST", b.srv.URL+"/us1/1/upload", strings.NewReader(`{"d":[]}`))
			req.Header.Set("X-CleverTap-Account-Id", ctAccount)
			req.Header.Set("X-CleverTap-Passcode", ctPasscode)
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := b.fake.WaitForInFlight(wctx, 15); err != nil {
		t.Fatal(err)
	}
	r := b.upload(t, records(ctEvent("E", nil)))
	if r.Status != 429 || r.Header.Get("Retry-After") != "" || string(r.Body) != `{"status":"fail","error":"Too many concurrent requests","code":429}` {
		t.Fatalf("16th: %d %v %s", r.Status, r.Header, r.Body)
	}
	// Another account has its own slots.
	b.fake.SetSlow(0)
	r = do(t, "POST", b.srv.URL+"/eu1/1/upload?dryRun=1", `{"d":[]}`,
		"X-CleverTap-Account-Id: "+ctEU, "X-CleverTap-Passcode: "+ctPasscode, "Content-Type: application/json")
	cancel()
	wg.Wait()
	if r.Status == 429 {
		t.Fatal("other account throttled")
	}
	if err := b.fake.WaitForIdle(wctx); err != nil {
		t.Fatal(err)
	}
	if got := b.fake.MaxInFlight(); got != 16 {
		t.Fatalf("MaxInFlight %d, want 16", got)
	}
	if r := b.upload(t, records(ctEvent("E", nil))); r.Status != 200 {
		t.Fatalf("after drain: %d %s", r.Status, r.Body)
	}
}

func TestCleverTap_ProfileRead(t *testing.T) {
	t.Parallel()
	b := setupCleverTap(t)
	get := func(headers ...string) response {
		return do(t, "GET", b.srv.URL+"/us1/1/profile.json?identity=shopify:1", nil, headers...)
	}
	if r := get(ctHeaders()...); r.Status != 200 || path(r.JSON(t), "status") != "fail" || path(r.JSON(t), "error") == nil {
		t.Fatalf("unknown: %d %s", r.Status, r.Body)
	}
	if r := get("X-CleverTap-Account-Id: "+ctAccount, "X-CleverTap-Passcode: nope"); r.Status != 401 || string(r.Body) != ctInvalid {
		t.Fatalf("bad creds: %d %s", r.Status, r.Body)
	}
	b.upload(t, records(map[string]any{"type": "profile", "identity": "shopify:1", "profileData": map[string]any{"Loyalty Tier": "Gold"}}))
	if r := get(ctHeaders()...); r.Status != 200 || path(r.JSON(t), "status") != "success" || path(r.JSON(t), "record", "profileData", "Loyalty Tier") != "Gold" {
		t.Fatalf("known: %d %s", r.Status, r.Body)
	}
}

func TestCleverTap_ProfileReadConcurrency(t *testing.T) {
	t.Parallel()
	b := setupCleverTap(t)
	b.fake.SetSlow(time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, "GET", b.srv.URL+"/us1/1/profile.json?identity=x", nil)
			req.Header.Set("X-CleverTap-Account-Id", ctAccount)
			req.Header.Set("X-CleverTap-Passcode", ctPasscode)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := b.fake.WaitForInFlight(wctx, 3); err != nil {
		t.Fatal(err)
	}
	r := do(t, "GET", b.srv.URL+"/us1/1/profile.json?identity=x", nil, ctHeaders()...)
	b.fake.SetSlow(0)
	cancel()
	wg.Wait()
	if r.Status != 429 {
		t.Fatalf("4th read: %d %s", r.Status, r.Body)
	}
}

func TestCleverTap_Faults(t *testing.T) {
	t.Parallel()

	t.Run("FailNext", func(t *testing.T) {
		t.Parallel()
		b := setupCleverTap(t)
		b.fake.FailNext(503, 1)
		if r := b.upload(t, records(ctEvent("E", nil))); r.Status != 503 || path(r.JSON(t), "status") != "fail" {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if r := b.upload(t, records(ctEvent("E", nil))); r.Status != 200 || len(b.fake.Events()) != 1 {
			t.Fatalf("after: %d", r.Status)
		}
	})

	t.Run("PartialNext", func(t *testing.T) {
		t.Parallel()
		b := setupCleverTap(t)
		b.fake.PartialNext(2)
		r := b.upload(t, records(ctEvent("A", nil), ctEvent("B", nil), ctEvent("C", nil)))
		m := r.JSON(t)
		if m["status"] != "partial" || m["processed"] != 1.0 || path(m, "unprocessed", 0, "code") != 555.0 || path(m, "unprocessed", 1, "code") != 555.0 ||
			path(m, "unprocessed", 1, "error") != "Server error. ErrorCode: 555 - Miscellaneous server error. Skipped record number : 2" {
			t.Fatalf("%s", r.Body)
		}
		if evs := b.fake.Events(); len(evs) != 1 || evs[0].Name != "C" {
			t.Fatalf("persisted %+v", evs)
		}
	})

	t.Run("ThrottleStorm", func(t *testing.T) {
		t.Parallel()
		b := setupCleverTap(t)
		b.fake.ThrottleNext(2)
		for range 2 {
			if r := b.upload(t, records(ctEvent("E", nil))); r.Status != 429 || r.Header.Get("Retry-After") != "" {
				t.Fatalf("%d %v", r.Status, r.Header)
			}
		}
		if r := b.upload(t, records(ctEvent("E", nil))); r.Status != 200 {
			t.Fatalf("after: %d", r.Status)
		}
	})

	t.Run("Slow", func(t *testing.T) {
		t.Parallel()
		b := setupCleverTap(t, func(o *fake.CleverTapOptions) { o.Slow = 50 * time.Millisecond })
		start := time.Now()
		if r := b.upload(t, records(ctEvent("E", nil))); r.Status != 200 || time.Since(start) < 50*time.Millisecond {
			t.Fatalf("%d after %v", r.Status, time.Since(start))
		}
	})

	for _, accept := range []bool{true, false} {
		t.Run(fmt.Sprintf("Timeout/accept=%v", accept), func(t *testing.T) {
			t.Parallel()
			b := setupCleverTap(t)
			b.fake.TimeoutNext(1, accept)
			client := &http.Client{Timeout: 100 * time.Millisecond}
			req, _ := http.NewRequest("POST", b.srv.URL+"/us1/1/upload", strings.NewReader(`{"d":[{"type":"event","identity":"x","evtName":"E","evtData":{}}]}`))
			req.Header.Set("X-CleverTap-Account-Id", ctAccount)
			req.Header.Set("X-CleverTap-Passcode", ctPasscode)
			req.Header.Set("Content-Type", "application/json")
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
				t.Fatal("request did not time out")
			}
			want := 0
			if accept {
				want = 1
			}
			if n := len(b.fake.Events()); n != want {
				t.Fatalf("%d events persisted, want %d", n, want)
			}
			// The retry lands: with accept, the event is now duplicated.
			if r := b.upload(t, records(map[string]any{"type": "event", "identity": "x", "evtName": "E", "evtData": map[string]any{}})); r.Status != 200 {
				t.Fatalf("retry: %d", r.Status)
			}
			if n := len(b.fake.Events()); n != want+1 {
				t.Fatalf("%d events after retry, want %d", n, want+1)
			}
		})
	}
}

func TestCleverTap_WaitForEvents(t *testing.T) {
	t.Parallel()
	b := setupCleverTap(t)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- b.fake.WaitForEvents(ctx, 3)
	}()
	b.upload(t, records(ctEvent("A", nil), ctEvent("B", nil), ctEvent("C", nil)))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
