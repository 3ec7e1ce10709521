package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// seedDeliveries connects CleverTap, forwards wallet_points_rewarded and
// credits the test customer four times: one delivery each, set to sent,
// failed, skipped and left pending.
func seedDeliveries(t *testing.T, b *pageBundle) []int64 {
	t.Helper()
	b.connectCleverTap(t)
	b.createEvent(t, "clevertap", "wallet_points_rewarded")
	for i := 0; i < 4; i++ {
		b.credit(t, int64(10*(i+1)))
	}
	ids := b.deliveryIDs(t)
	if len(ids) != 4 {
		t.Fatalf("deliveries = %d, want 4", len(ids))
	}
	b.setDelivery(t, ids[0], "sent", 200, "", `{"status":"success","processed":1,"unprocessed":0}`, 1)
	b.setDelivery(t, ids[1], "failed", 400, "CleverTap refused the record (code 512)", `{"status":"fail","error":"<bad>"}`, 8)
	b.setDelivery(t, ids[2], "skipped", 0, "customer has no email address (phone-only customer)", "", 0)
	return ids
}

func TestPageStats(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	seedDeliveries(t, b)

	rec, d := b.page(t, pageShop, "/app/stats")
	requireStatus(t, rec, http.StatusOK)
	for status, want := range map[string]string{"sent": "1", "failed": "1", "skipped": "1", "pending": "1", "late": "0"} {
		if got := pageText(d.Find(`[data-testid="stats-total-` + status + `"] [data-testid="count"]`)); got != want {
			t.Errorf("%s total = %q, want %s", status, got, want)
		}
	}
	if !strings.HasPrefix(pageText(d.Find(`[data-testid="stats-range"]`)), "Last 7 days, by day") {
		t.Errorf("range = %q", pageText(d.Find(`[data-testid="stats-range"]`)))
	}
	svg := d.Find(`[data-testid="stats-chart-svg"]`)
	if n := svg.Find(`g.bar`).Length(); n != 7 {
		t.Errorf("bars = %d, want 7 days", n)
	}
	if label, _ := svg.Attr("aria-label"); !strings.Contains(label, "1 sent") || !strings.Contains(label, "1 failed") {
		t.Errorf("aria-label = %q", label)
	}
	row := d.Find(`[data-testid="stats-row"][data-integration="clevertap"][data-event="wallet_points_rewarded"]`)
	if got := pageText(row.Find(`[data-testid="stats-cell-failed"]`)); got != "1" {
		t.Errorf("row failed = %q", got)
	}
	// A number links to exactly those deliveries in the log.
	href, _ := row.Find(`[data-testid="stats-cell-failed"] a`).Attr("href")
	rec, d = b.page(t, pageShop, href)
	requireStatus(t, rec, http.StatusOK)
	rows := d.Find(`[data-testid="delivery-row"]`)
	if rows.Length() != 1 || rows.AttrOr("data-status", "") != "failed" {
		t.Errorf("log from the stats link: %d rows, status %q", rows.Length(), rows.AttrOr("data-status", ""))
	}

	// 24 hours by hour; custom ranges are validated.
	_, d = b.page(t, pageShop, "/app/stats?range=24h&integration=clevertap&event=wallet_points_rewarded")
	if n := d.Find(`[data-testid="stats-chart-svg"] g.bar`).Length(); n < 24 || n > 25 {
		t.Errorf("hour bars = %d", n)
	}
	today := time.Now().In(b.shop.Location()).Format("2006-01-02")
	_, d = b.page(t, pageShop, "/app/stats?range=custom&from="+today+"&to="+today)
	if got := pageText(d.Find(`[data-testid="stats-total-sent"] [data-testid="count"]`)); got != "1" {
		t.Errorf("custom range sent = %q", got)
	}
	rec, d = b.page(t, pageShop, "/app/stats?range=custom&from=2026-11-05&to=2026-11-01")
	requireStatus(t, rec, http.StatusUnprocessableEntity)
	if got := pageText(d.Find(`#stats-to-error`)); !strings.Contains(got, "must not be before") {
		t.Errorf("to error = %q", got)
	}

	// Shop B's statistics are its own.
	_, d = b.page(t, pageOtherShop, "/app/stats")
	if got := pageText(d.Find(`[data-testid="stats-total-sent"] [data-testid="count"]`)); got != "0" {
		t.Errorf("shop B sent = %q", got)
	}
}

func TestPageDeliveries(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	ids := seedDeliveries(t, b)
	// The failed one keeps what was sent (the runner stores it).
	if err := b.db.Gorm.Exec(`UPDATE deliveries SET last_payload = ? WHERE id = ?`,
		`{"d":[{"type":"event","evtName":"wallet_points_rewarded","evtData":{"points":50}}]}`, ids[1]).Error; err != nil {
		t.Fatal(err)
	}

	rec, d := b.page(t, pageShop, "/app/deliveries")
	requireStatus(t, rec, http.StatusOK)
	if n := d.Find(`[data-testid="delivery-row"]`).Length(); n != 4 {
		t.Fatalf("rows = %d", n)
	}
	row := func(d *goquery.Document, id int64) *goquery.Selection {
		return d.Find(`[data-testid="delivery-row"][data-delivery-id="` + ftoa(id) + `"]`)
	}
	failed := row(d, ids[1])
	if got := pageText(failed.Find(`[data-testid="delivery-status-code"]`)); got != "400" {
		t.Errorf("status code = %q", got)
	}
	if got := failed.Find(`[data-testid="delivery-response"]`).Text(); got != `{"status":"fail","error":"<bad>"}` {
		t.Errorf("excerpt = %q", got)
	}
	if got := pageText(failed.Find(`[data-testid="delivery-attempts"]`)); got != "8" {
		t.Errorf("attempts = %q", got)
	}
	if got := failed.Find(`[data-testid="delivery-payload"] pre`).Text(); !strings.Contains(got, "\n") || !strings.Contains(got, `"evtName": "wallet_points_rewarded"`) {
		t.Errorf("payload shown = %q", got)
	}
	if n := row(d, ids[0]).Find(`[data-testid="delivery-payload"]`).Length(); n != 0 {
		t.Error("a sent delivery shows a payload")
	}
	if got := pageText(row(d, ids[2]).Find(`[data-testid="delivery-explanation"]`)); got != "Not sent: customer has no email address (phone-only customer)." {
		t.Errorf("skipped explanation = %q", got)
	}
	if got := pageText(row(d, ids[3]).Find(`[data-testid="delivery-explanation"]`)); !strings.Contains(got, "Queued") {
		t.Errorf("pending explanation = %q", got)
	}
	if row(d, ids[0]).Find(`[data-testid="retry-form"]`).Length() != 0 {
		t.Error("a sent delivery offers a retry")
	}
	if href, _ := row(d, ids[0]).Find(`[data-testid="delivery-customer"]`).Attr("href"); !strings.HasPrefix(href, "/app/customers/7001?") {
		t.Errorf("customer link = %q", href)
	}

	// Filters, kept through a retry.
	rec, d = b.page(t, pageShop, "/app/deliveries?status=failed&integration=clevertap&customer_id=7001")
	requireStatus(t, rec, http.StatusOK)
	if n := d.Find(`[data-testid="delivery-row"]`).Length(); n != 1 {
		t.Fatalf("failed rows = %d", n)
	}
	if got := pageText(d.Find(`[data-testid="retry-all"]`)); got != "Retry all failed" {
		t.Errorf("retry all label = %q", got)
	}
	rec, _ = b.submit(t, pageShop, formAction(t, d, `[data-testid="retry-form"]`), nil)
	u := requireRedirect(t, rec, "/app/deliveries", "retried")
	if u.Query().Get("status") != "failed" || u.Query().Get("customer_id") != "7001" {
		t.Errorf("filter not kept: %s", u)
	}
	if got := b.deliveryStatus(t, ids[1]); got != "pending" {
		t.Errorf("after retry = %q", got)
	}
	// A second retry of the same delivery is refused with the reason.
	rec, d = b.submit(t, pageShop, formAction(t, d, `[data-testid="retry-form"]`), nil)
	requireStatus(t, rec, http.StatusConflict)
	if got := pageText(d.Find(`[data-testid="deliveries-error"]`)); !strings.Contains(got, "already pending") {
		t.Errorf("conflict = %q", got)
	}

	// Retry all (failed and skipped) matching the filter.
	_, d = b.page(t, pageShop, "/app/deliveries")
	rec, _ = b.submit(t, pageShop, formAction(t, d, `[data-testid="retry-all-form"]`), nil)
	u = requireRedirect(t, rec, "/app/deliveries", "retried-all")
	if u.Query().Get("n") != "1" {
		t.Errorf("retried n = %q", u.Query().Get("n"))
	}
	_, d = b.page(t, pageShop, u.Path+"?"+u.RawQuery)
	if got := pageText(d.Find(`[data-testid="flash"]`)); !strings.Contains(got, "1 delivery was queued again") {
		t.Errorf("flash = %q", got)
	}
	if got := b.deliveryStatus(t, ids[2]); got != "pending" {
		t.Errorf("skipped after retry all = %q", got)
	}

	// Bad filters are shown beside their fields.
	rec, d = b.page(t, pageShop, "/app/deliveries?customer_id=ada&from=yesterday")
	requireStatus(t, rec, http.StatusUnprocessableEntity)
	if d.Find(`#filter-customer-error`).Length() != 1 || d.Find(`#filter-from-error`).Length() != 1 {
		t.Error("filter errors not shown")
	}

	// Shop B sees nothing of shop A, and cannot retry its deliveries.
	_, d = b.page(t, pageOtherShop, "/app/deliveries")
	if n := d.Find(`[data-testid="delivery-row"]`).Length(); n != 0 {
		t.Errorf("shop B rows = %d", n)
	}
	rec, _ = b.submit(t, pageOtherShop, "/app/deliveries/"+ftoa(ids[0])+"/retry?"+url.Values{"shop": {pageOtherShop}}.Encode(), nil)
	if rec.Code != http.StatusNotFound {
		t.Errorf("shop B retry = %d", rec.Code)
	}
}
