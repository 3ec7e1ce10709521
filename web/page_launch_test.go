package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/store"
)

// TestPageLaunch_NamesExactlyTheGaps: on a shop seeded with known gaps
// (one member without the common property, one event never accepted, a
// failure, a late event, test orders on), the launch checklist names
// exactly those, each with its fix; what is done says so.
func TestPageLaunch_NamesExactlyTheGaps(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	ctx := context.Background()
	b.connectCleverTap(t)
	if _, err := b.forward.ConnectCleverTap(ctx, b.shop.ID, forward.CleverTapInput{CommonProperty: "email", AccountID: pageCTAccount, Region: pageCTRegion}); err != nil {
		t.Fatal(err)
	}
	b.createEvent(t, "clevertap", "wallet_points_rewarded")
	b.createEvent(t, "clevertap", "coupon_created")
	// A phone-only member beside Ada.
	if _, _, err := b.st.UpsertCustomer(ctx, b.shop.ID, store.CustomerIdentity{ShopifyID: 7002, GID: "gid://shopify/Customer/7002",
		Phone: "+14155550102", FirstName: "Grace", LastName: "Hopper"}); err != nil {
		t.Fatal(err)
	}
	actx := app.WithActor(ctx, pageLoyaltyActor)
	if _, err := b.loyalty.Adjust(actx, b.shop.ID, 7002, 50, "welcome", ""); err != nil {
		t.Fatal(err)
	}
	b.credit(t, 10)
	b.credit(t, 20)
	ids := b.deliveryIDs(t)
	if len(ids) != 3 {
		t.Fatalf("%d deliveries", len(ids))
	}
	b.setDelivery(t, ids[0], "skipped", 0, "customer has no email address (phone-only customer)", "", 0)
	b.setDelivery(t, ids[1], "sent", 200, "", "", 1)
	b.setDelivery(t, ids[2], "failed", 400, "CleverTap refused the record: Invalid identity", "", 1)
	if err := b.db.Gorm.Exec(`UPDATE deliveries SET status = 'late', sent_at = now() WHERE id = ?`, ids[0]).Error; err != nil {
		t.Fatal(err)
	}
	settings, _, _ := b.st.ProgramSettings(ctx, b.shop.ID)
	settings.CountTestOrders = true
	if err := b.st.SaveProgramSettings(ctx, b.shop.ID, settings); err != nil {
		t.Fatal(err)
	}

	rec, d := b.page(t, pageShop, "/app/integrations/clevertap/launch")
	requireStatus(t, rec, http.StatusOK)
	want := map[string]string{"credentials": "ok", "common_property": "warn", "events": "todo", "failures": "warn", "late": "warn", "test_orders": "warn"}
	items := d.Find(`[data-testid="launch-item"]`)
	if items.Length() != len(want) {
		t.Fatalf("%d items, want %d", items.Length(), len(want))
	}
	for key, state := range want {
		it := d.Find(`[data-testid="launch-item"][data-key="` + key + `"]`)
		if got := it.AttrOr("data-state", ""); got != state {
			t.Errorf("%s = %q (%s), want %q", key, got, pageText(it), state)
		}
	}
	if d.Find(`[data-testid="launch-not-ready"]`).Length() != 1 {
		t.Error("a checklist with items to do says ready")
	}
	cov := d.Find(`[data-key="common_property"]`)
	if got := pageText(cov.Find(`[data-testid="launch-detail"]`)); !strings.Contains(got, "1 of 2 members (50%)") || !strings.Contains(got, "phone fallback could use") {
		t.Errorf("coverage = %q", got)
	}
	if got := pageText(cov.Find(`[data-testid="launch-missing"]`)); !strings.Contains(got, "Grace Hopper") || strings.Contains(got, "Ada") {
		t.Errorf("missing members = %q", got)
	}
	ev := d.Find(`[data-key="events"]`)
	if got := ev.Find(`[data-event="coupon_created"]`).AttrOr("data-accepted", ""); got != "0" {
		t.Errorf("coupon_created accepted %q", got)
	}
	if got := ev.Find(`[data-event="wallet_points_rewarded"]`).AttrOr("data-accepted", ""); got != "2" { // sent and late
		t.Errorf("wallet_points_rewarded accepted %q", got)
	}
	if ev.Find(`[data-testid="launch-test-form"]`).Length() != 2 {
		t.Error("no test form per event")
	}
	if got := pageText(d.Find(`[data-key="failures"] [data-testid="launch-failures"]`)); !strings.Contains(got, "Invalid identity") {
		t.Errorf("failures = %q", got)
	}
	for key, path := range map[string]string{"failures": "/app/deliveries", "late": "/app/deliveries", "test_orders": "/app/program", "common_property": "/app/integrations"} {
		if href := d.Find(`[data-key="`+key+`"] [data-testid="launch-fix"]`).AttrOr("href", ""); !strings.HasPrefix(href, path) {
			t.Errorf("%s fix = %q, want %s…", key, href, path)
		}
	}

	// The API answers the same; Klaviyo, never connected, has one item.
	rec = b.api(http.MethodGet, "/api/v1/integrations/clevertap/checklist", b.token(pageShop))
	requireStatus(t, rec, http.StatusOK)
	var cl forward.Checklist
	if err := json.Unmarshal(rec.Body.Bytes(), &cl); err != nil || cl.Ready || len(cl.Items) != 6 {
		t.Fatalf("API %s", rec.Body.String())
	}
	rec = b.api(http.MethodGet, "/api/v1/integrations/klaviyo/checklist", b.token(pageShop))
	if err := json.Unmarshal(rec.Body.Bytes(), &cl); err != nil || cl.Ready || len(cl.Items) != 1 || cl.Items[0].Key != "credentials" || cl.Items[0].State != "todo" {
		t.Fatalf("Klaviyo checklist %s", rec.Body.String())
	}
	// Shop B's checklist knows nothing of shop A.
	rec = b.api(http.MethodGet, "/api/v1/integrations/clevertap/checklist", b.token(pageOtherShop))
	if err := json.Unmarshal(rec.Body.Bytes(), &cl); err != nil || len(cl.Items) != 1 {
		t.Fatalf("shop B checklist %s", rec.Body.String())
	}
}
