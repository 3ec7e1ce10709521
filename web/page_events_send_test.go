package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPageEvents_SendTest: the merchant sends a test of an event from the
// events page to a customer; the log shows it, marked Test, and the JSON
// API does the same with 202. A customer id that is not one is refused
// with its field.
func TestPageEvents_SendTest(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	b.connectCleverTap(t)
	b.createEvent(t, "clevertap", "coupon_created")

	_, d := b.page(t, pageShop, "/app/events")
	action := formAction(t, d, `[data-testid="event-test-form"]`)
	rec, _ := b.submit(t, pageShop, action, url.Values{"customer_id": {"7001"}})
	u := requireRedirect(t, rec, "/app/deliveries", "test-sent")
	if u.Query().Get("customer_id") != "7001" || u.Query().Get("event") != "coupon_created" || u.Query().Get("integration") != "clevertap" {
		t.Fatalf("redirect %s", u)
	}
	rec, d = b.page(t, pageShop, u.Path+"?"+u.RawQuery)
	requireStatus(t, rec, http.StatusOK)
	row := d.Find(`[data-testid="delivery-row"]`)
	if row.Length() != 1 || row.Find(`[data-testid="delivery-test"]`).Length() != 1 {
		t.Fatalf("log rows %d, test badge %d", row.Length(), row.Find(`[data-testid="delivery-test"]`).Length())
	}
	if !strings.Contains(pageText(d.Find(`[data-testid="flash"], .banner`)), "test was queued") {
		t.Errorf("flash %q", pageText(d.Find(".banner")))
	}

	// Not a customer of this shop: the form says so, nothing is queued.
	rec, d = b.submit(t, pageShop, action, url.Values{"customer_id": {"9001"}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "No customer 9001") {
		t.Fatalf("another shop's customer: %d %s", rec.Code, truncate(rec.Body.String(), 300))
	}

	// The API: 202 with the delivery, marked test.
	id := strings.Split(strings.TrimPrefix(action, "/app/events/clevertap/"), "/")[0]
	rec = b.send(http.MethodPost, "/api/v1/integrations/clevertap/events/"+id+"/test", strings.NewReader(`{"customer_id":"7001"}`),
		"Authorization", "Bearer "+b.token(pageShop), "Content-Type", "application/json")
	requireStatus(t, rec, http.StatusAccepted)
	var v struct {
		Test   bool   `json:"test"`
		Status string `json:"status"`
		Event  string `json:"event"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || !v.Test || v.Status != "pending" || v.Event != "coupon_created" {
		t.Fatalf("API answer %s", rec.Body.String())
	}
	rec = b.send(http.MethodPost, "/api/v1/integrations/clevertap/events/"+id+"/test", strings.NewReader(`{"customer_id":"abc"}`),
		"Authorization", "Bearer "+b.token(pageShop), "Content-Type", "application/json")
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `"field":"customer_id"`) {
		t.Fatalf("bad id: %d %s", rec.Code, rec.Body.String())
	}
}
