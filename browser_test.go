package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/webhooks"
)

// chromiumPath is Debian's Chromium, the browser the admin is tested in.
const chromiumPath = "/usr/bin/chromium"

// screenshotDir receives a PNG of every admin page the test visits.
const screenshotDir = "artifacts/screenshots"

// browser is a headless Chromium tab with what the test checks on the way:
// script exceptions, console errors (CSP violations among them) and
// requests to Shopify's CDN, which the offline demo must not make.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string
	cdn      []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser test skipped: %s is not installed (apt-get install chromium)", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx}
	if _, err := chromedp.Call(ctx, log.Enable, struct{}{}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	go func() {
		for ev, err := range chromedp.Events(ctx, runtime.ExceptionThrown) {
			if err != nil {
				return
			}
			b.problem("exception: " + ev.ExceptionDetails.Text + " " + ev.ExceptionDetails.URL)
		}
	}()
	go func() {
		for ev, err := range chromedp.Events(ctx, log.EntryAdded) {
			if err != nil {
				return
			}
			// Network entries are HTTP statuses (the 422s are on purpose);
			// the rest (scripts, CSP violations) must stay silent.
			if ev.Entry.Level == log.EntryLevelError && ev.Entry.Source != log.EntrySourceNetwork {
				b.problem("console: " + ev.Entry.Text + " " + ev.Entry.URL)
			}
		}
	}()
	go func() {
		for ev, err := range chromedp.Events(ctx, network.RequestWillBeSent) {
			if err != nil {
				return
			}
			if strings.Contains(ev.Request.URL, "cdn.shopify.com") {
				b.mu.Lock()
				b.cdn = append(b.cdn, ev.Request.URL)
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// do runs steps that return nothing.
func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// submit runs steps that load a page (a click on a submit button or a
// link) and returns the HTTP status of the page loaded.
func (b *browser) submit(steps ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, steps...)
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return resp.Status
}

// text returns the trimmed text of the first element sel matches.
func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

// textNow is the text of sel, or "" when nothing matches (no waiting).
func (b *browser) textNow(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(function(){const e=document.querySelector(`+jsString(sel)+`);return e?e.textContent:"";})()`))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

// choose picks an option of a select and tells the page, as a person would.
func (b *browser) choose(sel, value string) {
	b.t.Helper()
	b.do(
		chromedp.SetValue(chromedp.CSS(sel), value),
		chromedp.Evaluate[chromedp.Void](`document.querySelector(`+jsString(sel)+`).dispatchEvent(new Event("change", {bubbles: true}))`),
	)
}

// waitFor polls a JavaScript condition.
func (b *browser) waitFor(what, js string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		b.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// shot saves a PNG of the whole page as artifacts/screenshots/<name>.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(screenshotDir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	b.t.Logf("screenshot %s: %s", name, abs)
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// TestBrowser_MerchantConnectsCleverTapAndSeesEventsSent runs the demo as a
// merchant would, in headless Chromium and with no network beyond the app:
// they sign in, connect CleverTap with the wrong region and are told the
// region that works, fix it, choose wallet_points_rewarded for CleverTap,
// and after a paid order arrives see it sent on the statistics page and in
// the delivery log. Every page is saved as a screenshot.
func TestBrowser_MerchantConnectsCleverTapAndSeesEventsSent(t *testing.T) {
	t.Parallel()
	br := newBrowser(t)
	// The merchant connects by hand: no automatic connection, no traffic.
	base, out := mustRun(t, []string{"demo", "-connect=false", "-traffic=0"}, map[string]string{"DATABASE_URL": pgtest.NewURL(t)})
	waitFor(t, "the demo's admin URL", func() bool {
		return strings.Contains(out.String(), "/demo/login?shop="+demoShop)
	})
	nav := func(route string) chromedp.Action[chromedp.Void] {
		return chromedp.Click(chromedp.CSS(`[data-testid="nav-` + route + `"]`))
	}

	// Sign in: the home page greets a new merchant with the first steps.
	br.do(chromedp.Navigate(base + "/demo/login?shop=" + demoShop))
	if got := br.text(`[data-testid="shop-domain"]`); got != demoShop {
		t.Fatalf("home shop = %q", got)
	}
	if n := br.textNow(`[data-testid="setup-steps"]`); !strings.Contains(n, "Connect CleverTap or Klaviyo") {
		t.Errorf("setup steps = %q", n)
	}
	br.shot("home-first-run")

	// CleverTap with the wrong server prefix: the region that works is named.
	if st := br.submit(nav("app.integrations.list")); st != 200 {
		t.Fatalf("integrations: %d", st)
	}
	br.choose("#clevertap-common-property", "customer_id")
	br.do(
		chromedp.SendKeys(chromedp.CSS("#clevertap-account-id"), "DEMO-ACC-0001"),
		chromedp.SendKeys(chromedp.CSS("#clevertap-passcode"), "DEMO-PASSCODE"),
	)
	br.choose("#clevertap-region", "sg1")
	if st := br.submit(chromedp.Click(chromedp.CSS(`[data-testid="clevertap-initialize"]`))); st != 422 {
		t.Fatalf("wrong region answered %d, want 422", st)
	}
	reason := br.text(`[data-testid="integration-clevertap"] [data-testid="integration-reason-text"]`)
	if !strings.Contains(reason, "in1") || !strings.Contains(reason, "India") || !strings.Contains(reason, "sg1") {
		t.Fatalf("reason = %q, want it to name sg1 and the working region in1 (India)", reason)
	}
	if got := br.text(`[data-field="clevertap-region"]`); got != reason {
		t.Errorf("region field error = %q, want the reason", got)
	}
	if v := br.textNow(`#clevertap-passcode`); v != "" {
		t.Errorf("passcode rendered back: %q", v)
	}
	br.shot("integrations-wrong-region")

	// Fix the region; the saved passcode is kept when the field is blank.
	br.choose("#clevertap-region", "in1")
	if st := br.submit(chromedp.Click(chromedp.CSS(`[data-testid="clevertap-initialize"]`))); st != 200 {
		t.Fatalf("right region answered %d", st)
	}
	if flash := br.text(`[data-testid="flash"]`); !strings.Contains(flash, "CleverTap is connected") {
		t.Fatalf("flash = %q", flash)
	}
	if got := br.text(`[data-testid="integration-clevertap"] [data-testid="status-badge"]`); got != "Active" {
		t.Fatalf("CleverTap status = %q", got)
	}
	br.shot("integrations")

	// Create Event: the preview follows the choice; then wallet_points_rewarded.
	if st := br.submit(nav("app.events.list")); st != 200 {
		t.Fatalf("events: %d", st)
	}
	br.choose("#event-key", "coupon_created")
	// The preview is settled when it shows the choice and no request of
	// app.js is in flight (aria-busy): a late answer replaces the node.
	br.waitFor("the coupon_created preview", `!!document.querySelector('[data-preview]:not([aria-busy]) [data-testid="event-preview"][data-event="coupon_created"]')`)
	if d := br.text(`[data-testid="event-description"]`); !strings.Contains(d, "points into a reward coupon") && d == "" {
		t.Errorf("description = %q", d)
	}
	br.choose("#event-key", "wallet_points_rewarded")
	br.waitFor("the wallet_points_rewarded preview", `!!document.querySelector('[data-preview]:not([aria-busy]) [data-testid="event-preview"][data-event="wallet_points_rewarded"]')`)
	preview := br.textNow(`[data-testid="event-preview-body"]`)
	for _, want := range []string{`"evtName": "wallet_points_rewarded"`, `"evtData"`, `$D_`, `"points": 404`} {
		if !strings.Contains(preview, want) {
			t.Errorf("CleverTap preview lacks %s:\n%s", want, preview)
		}
	}
	br.shot("events-create")
	if st := br.submit(chromedp.Click(chromedp.CSS(`[data-testid="event-create-submit"]`))); st != 200 {
		t.Fatalf("create event: %d", st)
	}
	if flash := br.text(`[data-testid="flash"]`); !strings.Contains(flash, "event was created") {
		t.Fatalf("flash = %q", flash)
	}
	if got := br.text(`[data-testid="event-list-clevertap"] [data-testid="event-row"][data-event="wallet_points_rewarded"] [data-testid="event-toggle"]`); got != "On" {
		t.Fatalf("toggle = %q", got)
	}
	br.shot("events")

	// A new paid order of Ada (customer 7001), signed like Shopify's.
	body, err := webhooks.Sample("orders/paid")
	if err != nil {
		t.Fatal(err)
	}
	body = bytes.ReplaceAll(body, []byte("gid://shopify/Order/820982911946154508"), []byte("gid://shopify/Order/820982911946170001"))
	body = bytes.ReplaceAll(body, []byte(`"id": 820982911946154500`), []byte(`"id": 820982911946170001`))
	body = bytes.ReplaceAll(body, []byte("gid://shopify/Customer/115310627314723954"), []byte("gid://shopify/Customer/7001"))
	body = bytes.ReplaceAll(body, []byte(`"id": 115310627314723950`), []byte(`"id": 7001`))
	file := filepath.Join(t.TempDir(), "order.json")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	var cmdOut bytes.Buffer
	err = run(context.Background(), []string{"webhook", "-topic", "orders/paid", "-url", base + "/webhooks", "-shop", demoShop,
		"-secret", "demo-api-secret", "-id", "browser-order-1", "-file", file}, func(string) string { return "" }, &cmdOut, &cmdOut)
	if err != nil {
		t.Fatalf("webhook: %v %s", err, cmdOut.String())
	}

	// The statistics page shows it sent (reloaded until it is).
	if st := br.submit(nav("app.stats.show")); st != 200 {
		t.Fatalf("stats: %d", st)
	}
	row := `[data-testid="stats-row"][data-integration="clevertap"][data-event="wallet_points_rewarded"]`
	deadline := time.Now().Add(45 * time.Second)
	for br.textNow(row+` [data-testid="stats-cell-sent"]`) != "1" {
		if time.Now().After(deadline) {
			t.Fatalf("no sent wallet_points_rewarded on the statistics page; row: %q\n%s", br.textNow(row), out.String())
		}
		time.Sleep(300 * time.Millisecond)
		br.do(chromedp.Reload())
	}
	if got := br.text(`[data-testid="stats-total-sent"] [data-testid="count"]`); got != "1" {
		t.Errorf("sent total = %q", got)
	}
	br.shot("stats")

	// Into the delivery log, filtered to that event and status.
	if st := br.submit(chromedp.Click(chromedp.CSS(row + ` [data-testid="stats-cell-sent"] a`))); st != 200 {
		t.Fatalf("deliveries: %d", st)
	}
	if got := br.textNow(`[data-testid="delivery-row"][data-status="sent"] [data-testid="delivery-status-code"]`); got != "200" {
		t.Errorf("sink status code = %q", got)
	}
	if n, _ := chromedp.Run(br.ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="delivery-row"]').length`)); n != 1 {
		t.Errorf("filtered log rows = %d, want 1", n)
	}
	br.shot("deliveries")

	// The launch checklist, from the CleverTap card: the credentials and
	// the event that reached CleverTap are done.
	if st := br.submit(nav("app.integrations.list")); st != 200 {
		t.Fatalf("integrations: %d", st)
	}
	if st := br.submit(chromedp.Click(chromedp.CSS(`[data-testid="clevertap-launch-link"]`))); st != 200 {
		t.Fatalf("launch checklist: %d", st)
	}
	for key, want := range map[string]string{"credentials": "ok", "events": "ok"} {
		if got := br.attr(`[data-testid="launch-item"][data-key="`+key+`"]`, "data-state"); got != want {
			t.Errorf("checklist %s = %q, want %q", key, got, want)
		}
	}
	if got := br.attr(`[data-testid="launch-event"][data-event="wallet_points_rewarded"]`, "data-accepted"); got != "1" {
		t.Errorf("wallet_points_rewarded accepted %q times, want 1", got)
	}
	br.shot("launch-checklist")

	// The demo's sandbox inspector shows what CleverTap received: the event,
	// on the profile of Ada's customer id, reached from the admin home.
	br.do(chromedp.Navigate(base + "/demo/sinks/clevertap?refresh=0"))
	if got := br.text(`[data-testid="sink-record"][data-kind="event"][data-name="wallet_points_rewarded"] [data-testid="sink-record-identity"]`); got != "identity 7001" {
		t.Errorf("CleverTap inspector identity = %q, want identity 7001", got)
	}
	br.shot("demo-sinks-clevertap")
	br.do(chromedp.Navigate(base + "/app"))

	// Program settings: a typo is shown next to its field, and nothing saved.
	if st := br.submit(nav("app.program.edit")); st != 200 {
		t.Fatalf("program: %d", st)
	}
	br.shot("program")
	br.do(
		chromedp.SetValue(chromedp.CSS("#f-points-per-currency-unit"), "abc"),
		chromedp.SetValue(chromedp.CSS("#f-reminder-days"), "7, 30"),
	)
	if st := br.submit(chromedp.Click(chromedp.CSS(`[data-testid="program-save"]`))); st != 422 {
		t.Fatalf("invalid program answered %d", st)
	}
	if got := br.text(`[data-field="f-points-per-currency-unit"]`); got == "" {
		t.Error("no error beside points per currency unit")
	}
	if got := br.text(`[data-field="f-reminder-days"]`); !strings.Contains(got, "descending") {
		t.Errorf("reminder days error = %q", got)
	}
	if v, _ := chromedp.Run(br.ctx, chromedp.Value(chromedp.CSS("#f-points-per-currency-unit"))); v != "abc" {
		t.Errorf("typed value not kept: %q", v)
	}
	br.shot("program-errors")

	// Customers: find Ada, see her points, the event and its delivery.
	if st := br.submit(nav("app.customers.list")); st != 200 {
		t.Fatalf("customers: %d", st)
	}
	br.do(chromedp.SendKeys(chromedp.CSS("#customer-q"), "ada"))
	if st := br.submit(chromedp.Click(chromedp.CSS(`[data-testid="customer-search-submit"]`))); st != 200 {
		t.Fatalf("search: %d", st)
	}
	br.shot("customers")
	if st := br.submit(chromedp.Click(chromedp.CSS(`[data-testid="customer-link"]`))); st != 200 {
		t.Fatalf("customer: %d", st)
	}
	if got := br.text(`[data-testid="customer-shopify-id"]`); got != "7001" {
		t.Fatalf("customer = %q", got)
	}
	ev := br.text(`[data-testid="customer-event"][data-event="wallet_points_rewarded"]`)
	if !strings.Contains(ev, "CleverTap") || !strings.Contains(ev, "Sent") {
		t.Errorf("customer event = %q", ev)
	}
	br.do(
		chromedp.SendKeys(chromedp.CSS("#adjust-points"), "50"),
		chromedp.SendKeys(chromedp.CSS("#adjust-reason"), "Goodwill for a late parcel"),
	)
	if st := br.submit(chromedp.Click(chromedp.CSS(`[data-testid="adjust-submit"]`))); st != 200 {
		t.Fatalf("adjust: %d", st)
	}
	if flash := br.text(`[data-testid="flash"]`); !strings.Contains(flash, "adjusted") {
		t.Errorf("flash = %q", flash)
	}
	if got := br.text(`[data-testid="ledger-row"] [data-testid="ledger-points"]`); got != "+50" {
		t.Errorf("newest ledger entry = %q", got)
	}
	br.shot("customer")

	if st := br.submit(nav("app.webhooks")); st != 200 {
		t.Fatalf("webhooks: %d", st)
	}
	br.shot("webhooks")
	if st := br.submit(nav("app.home")); st != 200 {
		t.Fatalf("home: %d", st)
	}
	if got := br.text(`[data-testid="sent-total"]`); got == "0" {
		t.Errorf("home sent total = %q", got)
	}
	br.shot("home")

	// Inside the Shopify admin there is no cookie: app.js sends forms with
	// fetch and App Bridge's ID token. App Bridge cannot load offline, so a
	// stand-in gives a real ID token of the demo app; the page must update
	// in place (no navigation) both for a refusal (422) and a success.
	token := fake.NewShopify(fake.ShopifyOptions{APIKey: "demo-api-key", APISecret: "demo-api-secret"}).MintIDToken(demoShop, 42, 10*time.Minute)
	stub := `window.shopify = { idToken: async () => "` + token + `", toast: { show: (m) => { window.__toasts = (window.__toasts || []).concat([m]); } } };`
	if _, err := chromedp.Call(br.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: stub}); err != nil {
		t.Fatal(err)
	}
	if st := br.submit(nav("app.integrations.list")); st != 200 {
		t.Fatalf("integrations: %d", st)
	}
	br.do(chromedp.Evaluate[chromedp.Void](`window.__samePage = true`))
	br.choose("#klaviyo-common-property", "email")
	br.do(
		chromedp.SendKeys(chromedp.CSS("#klaviyo-key"), "pk_not_the_right_key_123"),
		chromedp.Click(chromedp.CSS(`[data-testid="klaviyo-initialize"]`)),
	)
	br.waitFor("the refusal beside the key", `(document.querySelector('#klaviyo-key-error') || {}).textContent?.includes('Klaviyo rejected the private API key')`)
	if same, _ := chromedp.Run(br.ctx, chromedp.Evaluate[bool](`window.__samePage === true`)); !same {
		t.Error("the refused form navigated instead of updating the page")
	}
	if focused, _ := chromedp.Run(br.ctx, chromedp.Evaluate[string](`document.activeElement && (document.activeElement.id || document.activeElement.dataset.testid || document.activeElement.tagName)`)); focused == "BODY" {
		t.Errorf("focus was lost after the update: %q", focused)
	}
	br.shot("integrations-klaviyo-refused")
	br.do(chromedp.SendKeys(chromedp.CSS("#klaviyo-key"), demoKlaviyoKey), chromedp.Click(chromedp.CSS(`[data-testid="klaviyo-initialize"]`)))
	br.waitFor("Klaviyo connected", `(document.querySelector('[data-testid="flash"]') || {}).textContent?.includes('Klaviyo is connected')`)
	loc, _ := chromedp.Run(br.ctx, chromedp.Evaluate[string](`window.__samePage === true ? location.href : "navigated"`))
	if !strings.Contains(loc, "done=klaviyo-connected") || strings.Contains(loc, "id_token") {
		t.Errorf("location after the fetch = %q", loc)
	}
	if got := br.text(`[data-testid="integration-klaviyo"] [data-testid="status-badge"]`); got != "Active" {
		t.Errorf("Klaviyo status = %q", got)
	}
	br.shot("integrations-both")

	br.mu.Lock()
	defer br.mu.Unlock()
	for _, p := range br.problems {
		t.Errorf("browser reported %s", p)
	}
	if len(br.cdn) > 0 {
		t.Errorf("the offline demo requested Shopify's CDN: %v", br.cdn)
	}
}
