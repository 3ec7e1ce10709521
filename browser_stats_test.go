package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/webhooks"
)

// TestBrowser_StatsShowsOpensAndClicks runs the demo (sandbox Klaviyo with
// a "Points earned" flow on wallet_points_rewarded and two weeks of opens
// and clicks) and looks at the Stats page in headless Chromium: the opens
// and clicks read back from Klaviyo per event, their daily chart, when
// they were read, "Refresh now", and why CleverTap has none. The page is
// saved as artifacts/screenshots/stats-opens-clicks.png.
func TestBrowser_StatsShowsOpensAndClicks(t *testing.T) {
	t.Parallel()
	br := newBrowser(t)
	dbURL := pgtest.NewURL(t)
	base, out := mustRun(t, []string{"demo", "-traffic=0"}, map[string]string{"DATABASE_URL": dbURL})
	waitFor(t, "the demo's admin URL", func() bool {
		return strings.Contains(out.String(), "/demo/login?shop="+demoShop)
	})
	// A paid order of Ada (customer 7001), once the seed's customers/create
	// made her a member (the seed's own order may be processed before that,
	// and then waits as guest points): so the delivery chart has something.
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	waitFor(t, "Ada's account", func() bool {
		var n int
		_ = conn.QueryRow(context.Background(), "SELECT count(*) FROM customers WHERE shopify_id = 7001").Scan(&n)
		return n == 1
	})
	sendOrder(t, base, "browser-stats-order-1")
	br.do(chromedp.Navigate(base + "/demo/login?shop=" + demoShop))
	if st := br.submit(chromedp.Click(chromedp.CSS(`[data-testid="nav-app.stats.show"]`))); st != 200 {
		t.Fatalf("stats: %d", st)
	}
	// The demo queues a refresh once seeded; reload until it was read and
	// Ada's order was sent to Klaviyo.
	row := `[data-testid="stats-row"][data-integration="klaviyo"][data-event="wallet_points_rewarded"]`
	deadline := time.Now().Add(45 * time.Second)
	for br.textNow(`[data-testid="stats-total-opened"] [data-testid="count"]`) == "" ||
		strings.Trim(br.textNow(row+` [data-testid="stats-cell-sent"]`), "0") == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no opens or no sent delivery on the statistics page; table: %q\n%s", br.textNow(`[data-testid="stats-table"]`), out.String())
		}
		time.Sleep(300 * time.Millisecond)
		br.do(chromedp.Reload())
	}
	opened, _ := strconv.Atoi(strings.ReplaceAll(br.text(`[data-testid="stats-total-opened"] [data-testid="count"]`), ",", ""))
	clicked, _ := strconv.Atoi(strings.ReplaceAll(br.text(`[data-testid="stats-total-clicked"] [data-testid="count"]`), ",", ""))
	// The sandbox's last 7 days (demo.go seedFlows): 6+(7i mod 11) opens and
	// 1+(3i mod 5) email clicks a day, plus an SMS click every third day;
	// the 7-day view covers days 0 to 6.
	wantOpened, wantClicked := 0, 0
	for i := 0; i < 7; i++ {
		wantOpened += 6 + (i*7)%11
		wantClicked += 1 + (i*3)%5
		if i%3 == 0 {
			wantClicked++
		}
	}
	if opened != wantOpened || clicked != wantClicked {
		t.Errorf("opened %d clicked %d, the sandbox recorded %d and %d", opened, clicked, wantOpened, wantClicked)
	}
	if got := br.textNow(row + ` [data-testid="stats-cell-opened"]`); got != strconv.Itoa(opened) {
		t.Errorf("wallet_points_rewarded row opened = %q, want %d", got, opened)
	}
	if n, _ := chromedp.Run(br.ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="engagement-chart-svg"] g.bar').length`)); n != 7 {
		t.Errorf("engagement chart bars = %d, want 7", n)
	}
	if got := br.text(`[data-testid="engagement-refreshed"]`); !strings.Contains(got, "Last refreshed") {
		t.Errorf("refreshed = %q", got)
	}
	if got := br.text(`[data-testid="engagement-clevertap"]`); !strings.Contains(got, "CleverTap does not report opens and clicks per triggering event") {
		t.Errorf("CleverTap note = %q", got)
	}
	br.shot("stats-opens-clicks")

	// Refresh now queues a read and says so.
	if st := br.submit(chromedp.Click(chromedp.CSS(`[data-testid="engagement-refresh"]`))); st != 200 {
		t.Fatalf("refresh now: %d", st)
	}
	if flash := br.text(`[data-testid="flash"]`); !strings.Contains(flash, "being read from Klaviyo") {
		t.Errorf("flash = %q", flash)
	}

	br.mu.Lock()
	defer br.mu.Unlock()
	for _, p := range br.problems {
		t.Errorf("browser reported %s", p)
	}
}

// sendOrder posts the sample orders/paid of customer 7001 as Shopify would.
func sendOrder(t *testing.T, base, id string) {
	t.Helper()
	body, err := webhooks.Sample("orders/paid")
	if err != nil {
		t.Fatal(err)
	}
	body = bytes.ReplaceAll(body, []byte("gid://shopify/Order/820982911946154508"), []byte("gid://shopify/Order/820982911946180001"))
	body = bytes.ReplaceAll(body, []byte(`"id": 820982911946154500`), []byte(`"id": 820982911946180001`))
	body = bytes.ReplaceAll(body, []byte("gid://shopify/Customer/115310627314723954"), []byte("gid://shopify/Customer/7001"))
	body = bytes.ReplaceAll(body, []byte(`"id": 115310627314723950`), []byte(`"id": 7001`))
	file := filepath.Join(t.TempDir(), "order.json")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = run(context.Background(), []string{"webhook", "-topic", "orders/paid", "-url", base + "/webhooks", "-shop", demoShop,
		"-secret", "demo-api-secret", "-id", id, "-file", file}, func(string) string { return "" }, &out, &out)
	if err != nil {
		t.Fatalf("webhook: %v %s", err, out.String())
	}
}
