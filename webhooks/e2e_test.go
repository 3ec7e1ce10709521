package webhooks_test

import (
	"context"
	"testing"
	"time"

	"github.com/tidwall/sjson"
)

// TestEndToEnd_PaidOrderReachesBothSinks follows one signed orders/paid
// webhook through every real part: intake (HMAC, inbox, kick), the River
// worker, the loyalty engine (points earned), routing in the same
// transaction, and the delivery runner, until the Klaviyo and CleverTap
// fakes — which validate bodies like the real APIs — accept the event.
func TestEndToEnd_PaidOrderReachesBothSinks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const shop = "e2e-sinks.myshopify.com"

	p := newPipeline(t, b, shop)
	p.connect(t, "wallet_points_rewarded", "Loyalty Points Earned", "klaviyo", "clevertap")
	p.start(t, b, "e2e")
	sf, kf, cf := p.sf, p.kf, p.cf

	// Shopify delivers a member's paid order, signed with the app secret
	// (the sample's customer record is not an account: its points would
	// wait, guests_e2e_test.go).
	body, err := sjson.SetBytes(sample(t, "orders/paid"), "customer.state", "enabled")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := sf.SendWebhookWithID(ctx, b.srv.URL+"/webhooks", shop, "orders/paid", "e2e-paid-1", body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("webhook status %d", resp.StatusCode)
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := kf.WaitForEvents(wctx, 1); err != nil {
		t.Fatalf("Klaviyo: %v", err)
	}
	if err := cf.WaitForEvents(wctx, 1); err != nil {
		t.Fatalf("CleverTap: %v", err)
	}

	// Klaviyo got the event as its API expects it (the fake validated the
	// body against Klaviyo's OpenAPI schema before recording it).
	ke := kf.Events()
	if len(ke) != 1 {
		t.Fatalf("Klaviyo recorded %d events", len(ke))
	}
	if ke[0].Metric != "Loyalty Points Earned" || ke[0].Profile.Email != "john@example.com" || ke[0].UniqueID == "" {
		t.Fatalf("Klaviyo event %+v", ke[0])
	}
	if pts, _ := ke[0].Properties["points"].(float64); pts != 404 {
		t.Fatalf("Klaviyo points %v (want 404 for the 404.95 order)", ke[0].Properties["points"])
	}
	// CleverTap got a flat record keyed by the Shopify customer id.
	ce := cf.Events()
	if len(ce) != 1 {
		t.Fatalf("CleverTap recorded %d events", len(ce))
	}
	if ce[0].Name != "Loyalty Points Earned" || ce[0].Identity != "115310627314723954" || ce[0].TS == 0 {
		t.Fatalf("CleverTap event %+v", ce[0])
	}
	// Both deliveries are recorded as sent, once.
	b.waitFor(t, "two sent deliveries", func() bool {
		return b.count(t, "SELECT count(*) FROM deliveries WHERE status = 'sent'") == 2
	})
	if n := b.count(t, "SELECT count(*) FROM deliveries"); n != 2 {
		t.Fatalf("%d deliveries", n)
	}
}
