package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/webhooks"
)

// TestEndToEnd_GuestOrderPointsWaitingReachesBothSinks: the sample
// orders/paid carries the customer record checkout created (state
// disabled, not an account). Its points wait for an account, and
// points_waiting reaches Klaviyo and CleverTap through the same routing and
// identity resolution as any customer's event: the record's email for
// Klaviyo, its Shopify id for CleverTap.
func TestEndToEnd_GuestOrderPointsWaitingReachesBothSinks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const shop = "e2e-guest.myshopify.com"

	p := newPipeline(t, b, shop)
	p.connect(t, "points_waiting", "Points Waiting", "klaviyo", "clevertap")
	p.start(t, b, "e2e-guest")
	before := time.Now()
	resp, err := p.sf.SendWebhookWithID(ctx, b.srv.URL+"/webhooks", shop, "orders/paid", "e2e-guest-paid-1", sample(t, "orders/paid"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("webhook status %d", resp.StatusCode)
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := p.kf.WaitForEvents(wctx, 1); err != nil {
		t.Fatalf("Klaviyo: %v", err)
	}
	if err := p.cf.WaitForEvents(wctx, 1); err != nil {
		t.Fatalf("CleverTap: %v", err)
	}
	ke := p.kf.Events()
	if len(ke) != 1 || ke[0].Metric != "Points Waiting" || ke[0].Profile.Email != "john@example.com" {
		t.Fatalf("Klaviyo events %+v", ke)
	}
	if pts, _ := ke[0].Properties["points"].(float64); pts != 404 {
		t.Fatalf("Klaviyo points %v (want 404 for the 404.95 order)", ke[0].Properties["points"])
	}
	until, _ := time.Parse(time.RFC3339, stringOf(ke[0].Properties["waiting_until"]))
	if want := before.AddDate(0, 0, 30); until.Before(want.Add(-time.Minute)) || until.After(want.Add(time.Hour)) {
		t.Fatalf("Klaviyo waiting_until %v, want about %v", ke[0].Properties["waiting_until"], want)
	}
	ce := p.cf.Events()
	if len(ce) != 1 || ce[0].Name != "Points Waiting" || ce[0].Identity != "115310627314723954" {
		t.Fatalf("CleverTap events %+v", ce)
	}
	// Nothing was credited: the record has no account yet.
	if n := b.count(t, "SELECT count(*) FROM ledger_entries"); n != 0 {
		t.Fatalf("%d ledger entries for a guest order", n)
	}
	if n := b.count(t, "SELECT count(*) FROM guest_points WHERE points = 404 AND email = 'john@example.com' AND claimed_at IS NULL"); n != 1 {
		t.Fatalf("%d waiting rows", n)
	}
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}

// TestCompliance_CustomerRedactDeletesGuestPoints: a guest's waiting points
// hold the order's email and phone without a customer row to cascade from;
// customers/data_request lists those of its email, customers/redact deletes
// those of its email and of its orders_to_redact, and nothing of another
// shopper or another shop.
func TestCompliance_CustomerRedactDeletesGuestPoints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	sh := b.installShop(t, "guest-privacy.myshopify.com")
	other := b.installShop(t, "guest-neighbour.myshopify.com")
	b.startWorker(t, webhooks.NoLoyalty{}, "w")
	now := time.Now()
	hold := func(s *store.Shop, orderID int64, email string) {
		t.Helper()
		gid := fmt.Sprintf("gid://shopify/Order/%d", orderID)
		o, err := b.st.UpsertLoyaltyOrder(ctx, s.ID, store.OrderSeen{OrderGID: gid, ShopifyID: orderID}, now)
		if err != nil {
			t.Fatal(err)
		}
		g := &store.GuestPoints{OrderID: o.ID, OrderGID: gid, Email: email, Points: 50, WaitingUntil: now.AddDate(0, 0, 30)}
		if _, err := b.st.InsertGuestPoints(ctx, s.ID, g, now); err != nil {
			t.Fatal(err)
		}
	}
	hold(sh, 1001, "john@example.com")  // the redacted email
	hold(sh, 299938, "jon@example.com") // an order to redact
	hold(sh, 1002, "grace@example.com") // someone else
	hold(other, 1001, "john@example.com")
	// A data request lists the waiting points held under the email.
	dr := bytes.ReplaceAll(sample(t, "customers/data_request"), []byte("{shop}.myshopify.com"), []byte(sh.Domain))
	b.send(t, delivery{topic: "customers/data_request", shop: sh.Domain, id: "guest-dr", body: dr})
	b.waitFor(t, "data request", func() bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE webhook_id = 'guest-dr' AND status IN ('processed','ignored')") == 1
	})
	reqs, err := b.st.DataRequests(ctx, sh.ID)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("%d exports, %v", len(reqs), err)
	}
	var export struct {
		GuestPoints []struct {
			OrderID string `json:"order_id"`
			Points  int64  `json:"points"`
		} `json:"guest_points"`
	}
	if err := json.Unmarshal(reqs[0].Export, &export); err != nil || len(export.GuestPoints) != 1 ||
		export.GuestPoints[0].OrderID != "gid://shopify/Order/1001" || export.GuestPoints[0].Points != 50 {
		t.Fatalf("export's guest points %+v (%v): %s", export.GuestPoints, err, reqs[0].Export)
	}

	body := bytes.ReplaceAll(sample(t, "customers/redact"), []byte("{shop}.myshopify.com"), []byte(sh.Domain))
	b.send(t, delivery{topic: "customers/redact", shop: sh.Domain, id: "guest-redact", body: body})
	b.waitFor(t, "redact", func() bool {
		return b.count(t, "SELECT count(*) FROM webhooks WHERE webhook_id = 'guest-redact' AND status IN ('processed','ignored')") == 1
	})
	if n := b.count(t, "SELECT count(*) FROM guest_points WHERE shop_id = $1 AND (email IN ('john@example.com', 'jon@example.com'))", sh.ID); n != 0 {
		t.Fatalf("%d waiting rows of the redacted shopper survived", n)
	}
	if n := b.count(t, "SELECT count(*) FROM guest_points WHERE shop_id = $1", sh.ID); n != 1 {
		t.Fatalf("%d rows left in the shop, want grace's only", n)
	}
	if n := b.count(t, "SELECT count(*) FROM guest_points WHERE shop_id = $1", other.ID); n != 1 {
		t.Fatal("redaction reached the other shop's waiting points")
	}
}
