package webhooks_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/tenant"
	"github.com/perkbridge/perkbridge/app/vault"
	"github.com/perkbridge/perkbridge/app/worker"
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

	// Shopify, Klaviyo and CleverTap fakes.
	sf := fake.NewShopify(fake.ShopifyOptions{APIKey: "k", APISecret: secret})
	sf.InstallShop(shop)
	ss := httptest.NewServer(sf)
	t.Cleanup(ss.Close)
	kf := fake.NewKlaviyo(fake.KlaviyoOptions{Keys: []fake.KlaviyoKey{{Key: "pk_e2e_0123456789abcdef"}}})
	ks := httptest.NewServer(kf)
	t.Cleanup(ks.Close)
	cf := fake.NewCleverTap(fake.CleverTapOptions{})
	cf.AddAccount("E2E-ACC", "E2E-PASS", "in1")
	cs := httptest.NewServer(cf)
	t.Cleanup(cs.Close)

	v, _ := vault.New([]byte("0123456789abcdef0123456789abcdef"))
	app := &shopify.App{APIKey: "k", APISecret: secret, ShopOrigin: ss.URL + "/{shop}"}
	tn := tenant.New(b.st, app, v, b.log)
	sh, err := tn.InstallFromIDToken(ctx, shop, sf.MintIDToken(shop, 1, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	fwd := forward.New(b.st, v, tn, b.log, forward.Options{KlaviyoOrigin: ks.URL, CleverTapOrigin: func(r string) string { return cs.URL + "/" + r }})
	if _, err := fwd.ConnectKlaviyo(ctx, sh.ID, forward.KlaviyoInput{CommonProperty: "email", PrivateAPIKey: "pk_e2e_0123456789abcdef"}); err != nil {
		t.Fatal(err)
	}
	if _, err := fwd.ConnectCleverTap(ctx, sh.ID, forward.CleverTapInput{CommonProperty: "customer_id", AccountID: "E2E-ACC", Passcode: "E2E-PASS", Region: "in1"}); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"klaviyo", "clevertap"} {
		if _, err := fwd.CreateDefinition(ctx, sh.ID, kind, forward.DefinitionInput{Event: "wallet_points_rewarded", Name: "Loyalty Points Earned"}); err != nil {
			t.Fatal(err)
		}
	}

	// The worker runs the real loyalty engine with routing in its
	// transactions, and the runner sends.
	inserter, _ := worker.NewClient(b.db.Pool, worker.Config{}, worker.Deps{})
	loyal := loyalty.New(b.st, tn, inserter, b.log, loyalty.WithEventsHook(forward.RouteHook))
	b.startWorker(t, loyal, "e2e")
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = forward.NewRunner(b.db, fwd, forward.RunnerOptions{}).Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	// Shopify delivers the paid order, signed with the app secret.
	resp, err := sf.SendWebhookWithID(ctx, b.srv.URL+"/webhooks", shop, "orders/paid", "e2e-paid-1", sample(t, "orders/paid"))
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
