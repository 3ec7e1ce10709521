package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/perkbridge/perkbridge/app/config"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/tenant"
	"github.com/perkbridge/perkbridge/webhooks"
)

// Demo credentials for the sandbox sinks, shown in the demo's output so a
// merchant can walk through connecting integrations.
const (
	demoShop             = "perkbridge-demo.myshopify.com"
	demoKlaviyoKey       = "pk_demo_0123456789abcdef0123456789"
	demoCleverTapAccount = "DEMO-ACC-0001"
	demoCleverTapCode    = "DEMO-PASSCODE"
	demoCleverTapRegion  = "in1"
)

// demoEnv is the demo's sandbox: the same faithful fakes the tests use,
// served on loopback, standing in for Shopify, Klaviyo and CleverTap.
type demoEnv struct {
	shopify   *fake.Shopify
	klaviyo   *fake.Klaviyo
	clevertap *fake.CleverTap
	servers   []*http.Server
}

type demoCustomer struct {
	id                        int64
	email, phone, first, last string
}

var demoCustomers = []demoCustomer{
	{7001, "ada@example.com", "+14155550101", "Ada", "Lovelace"},
	{7002, "grace@example.com", "", "Grace", "Hopper"},
	{7003, "", "+14155550103", "Alan", "Turing"}, // phone only, as many POS customers are
	{7004, "katherine@example.com", "+14155550104", "Katherine", "Johnson"},
}

func startDemoSinks(ctx context.Context, cfg *config.Config, log *slog.Logger) (*demoEnv, error) {
	d := &demoEnv{
		shopify:   fake.NewShopify(fake.ShopifyOptions{APIKey: cfg.ShopifyAPIKey, APISecret: cfg.ShopifyAPISecret}),
		klaviyo:   fake.NewKlaviyo(fake.KlaviyoOptions{Keys: []fake.KlaviyoKey{{Key: demoKlaviyoKey}}}),
		clevertap: fake.NewCleverTap(fake.CleverTapOptions{}),
	}
	d.clevertap.AddAccount(demoCleverTapAccount, demoCleverTapCode, demoCleverTapRegion)
	d.shopify.InstallShop(demoShop)
	for _, c := range demoCustomers {
		d.shopify.AddCustomer(demoShop, fake.ShopifyCustomer{ID: c.id, Email: c.email, Phone: c.phone, FirstName: c.first, LastName: c.last,
			Metafields: map[string]string{"loyalty.member_id": fmt.Sprintf("M-%d", c.id)}})
	}
	origin := func(h http.Handler) (string, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		d.servers = append(d.servers, srv)
		go func() { _ = srv.Serve(ln) }()
		return "http://" + ln.Addr().String(), nil
	}
	s, err := origin(d.shopify)
	if err != nil {
		return nil, err
	}
	k, err := origin(d.klaviyo)
	if err != nil {
		return nil, err
	}
	c, err := origin(d.clevertap)
	if err != nil {
		return nil, err
	}
	cfg.ShopOrigin = s + "/{shop}"
	cfg.KlaviyoOrigin = k
	cfg.CleverTapOrigin = c + "/{region}"
	log.Info("demo sandbox started", "shopify", s, "klaviyo", k, "clevertap", c)
	return d, nil
}

// Seed installs the demo shop through the real token-exchange path and
// delivers a few signed webhooks through the real intake. Webhook ids are
// fixed, so seeding again on the next start is deduplicated.
func (d *demoEnv) Seed(ctx context.Context, tn *tenant.Service, appURL string, out io.Writer, log *slog.Logger) error {
	if _, err := tn.InstallFromIDToken(ctx, demoShop, d.shopify.MintIDToken(demoShop, 1, time.Minute)); err != nil {
		return fmt.Errorf("demo: install %s: %w", demoShop, err)
	}
	for _, c := range demoCustomers {
		body := fmt.Sprintf(`{"id":%d,"admin_graphql_api_id":"gid://shopify/Customer/%d","email":%s,"phone":%s,"first_name":%q,"last_name":%q,"state":"enabled","created_at":"2026-01-05T10:00:00Z","updated_at":"2026-01-05T10:00:00Z","currency":"USD"}`,
			c.id, c.id, jsonOrNull(c.email), jsonOrNull(c.phone), c.first, c.last)
		if err := d.send(ctx, appURL, "customers/create", fmt.Sprintf("demo-seed-customer-%d", c.id), []byte(body)); err != nil {
			return err
		}
	}
	paid, err := webhooks.Sample("orders/paid")
	if err != nil {
		return err
	}
	if err := d.send(ctx, appURL, "orders/paid", "demo-seed-order-1", paid); err != nil {
		return err
	}
	log.Info("demo shop seeded", "shop", demoShop, "customers", len(demoCustomers))
	fmt.Fprintf(out, "  Sandbox credentials: Klaviyo private key %s; CleverTap account %s, passcode %s, region %s\n",
		demoKlaviyoKey, demoCleverTapAccount, demoCleverTapCode, demoCleverTapRegion)
	return nil
}

func (d *demoEnv) send(ctx context.Context, appURL, topic, id string, body []byte) error {
	resp, err := d.shopify.SendWebhookWithID(ctx, appURL+"/webhooks", demoShop, topic, id, body)
	if err != nil {
		return fmt.Errorf("demo: send %s: %w", topic, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("demo: send %s: status %s", topic, resp.Status)
	}
	return nil
}

// Close stops the sandbox servers.
func (d *demoEnv) Close() {
	for _, s := range d.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.Shutdown(ctx)
		cancel()
	}
}

func jsonOrNull(s string) string {
	if s == "" {
		return "null"
	}
	return fmt.Sprintf("%q", s)
}
