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
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/tenant"
	"github.com/perkbridge/perkbridge/app/vault"
	"github.com/perkbridge/perkbridge/app/worker"
)

// pipeline is every real part after intake, against the fakes: a shop
// installed by token exchange with the Shopify fake, the forwarding
// service pointed at the Klaviyo and CleverTap fakes, and (after start)
// inbox claimer running the loyalty engine with routing, and the delivery
// runner.
type pipeline struct {
	sf   *fake.Shopify
	kf   *fake.Klaviyo
	cf   *fake.CleverTap
	shop *store.Shop
	tn   *tenant.Service
	fwd  *forward.Service
}

const (
	pipelineKlaviyoKey = "pk_e2e_0123456789abcdef"
	pipelineCTAccount  = "E2E-ACC"
	pipelineCTPasscode = "E2E-PASS"
)

func newPipeline(tb testing.TB, b *bundle, domain string) *pipeline {
	tb.Helper()
	p := &pipeline{
		sf: fake.NewShopify(fake.ShopifyOptions{APIKey: "k", APISecret: secret}),
		kf: fake.NewKlaviyo(fake.KlaviyoOptions{Keys: []fake.KlaviyoKey{{Key: pipelineKlaviyoKey}}}),
		cf: fake.NewCleverTap(fake.CleverTapOptions{}),
	}
	p.sf.InstallShop(domain)
	p.cf.AddAccount(pipelineCTAccount, pipelineCTPasscode, "in1")
	ss, ks, cs := httptest.NewServer(p.sf), httptest.NewServer(p.kf), httptest.NewServer(p.cf)
	tb.Cleanup(ss.Close)
	tb.Cleanup(ks.Close)
	tb.Cleanup(cs.Close)

	v, _ := vault.New([]byte("0123456789abcdef0123456789abcdef"))
	p.tn = tenant.New(b.st, &shopify.App{APIKey: "k", APISecret: secret, ShopOrigin: ss.URL + "/{shop}"}, v, b.log)
	sh, err := p.tn.InstallFromIDToken(context.Background(), domain, p.sf.MintIDToken(domain, 1, time.Minute))
	if err != nil {
		tb.Fatal(err)
	}
	p.shop = sh
	p.fwd = forward.New(b.st, v, p.tn, b.log, forward.Options{KlaviyoOrigin: ks.URL, CleverTapOrigin: func(r string) string { return cs.URL + "/" + r }})
	return p
}

// connect connects the integrations of kinds with the fakes' credentials
// and defines event for each under name ("" keeps the catalog key).
func (p *pipeline) connect(tb testing.TB, event, name string, kinds ...string) {
	tb.Helper()
	ctx := context.Background()
	for _, kind := range kinds {
		var err error
		switch kind {
		case forward.KindKlaviyo:
			_, err = p.fwd.ConnectKlaviyo(ctx, p.shop.ID, forward.KlaviyoInput{CommonProperty: "email", PrivateAPIKey: pipelineKlaviyoKey})
		case forward.KindCleverTap:
			_, err = p.fwd.ConnectCleverTap(ctx, p.shop.ID, forward.CleverTapInput{CommonProperty: "customer_id", AccountID: pipelineCTAccount, Passcode: pipelineCTPasscode, Region: "in1"})
		}
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := p.fwd.CreateDefinition(ctx, p.shop.ID, kind, forward.DefinitionInput{Event: event, Name: name}); err != nil {
			tb.Fatal(err)
		}
	}
}

// start runs the inbox claimer (the real loyalty engine, routing in its
// transactions) and the delivery runner until the test ends.
func (p *pipeline) start(tb testing.TB, b *bundle, workerID string) {
	tb.Helper()
	inserter, _ := worker.NewClient(b.db.Pool, worker.Config{}, worker.Deps{})
	loyal := loyalty.New(b.st, p.tn, inserter, b.log, loyalty.WithEventsHook(forward.RouteHook))
	b.startWorker(tb, loyal, workerID)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = forward.NewRunner(b.db, p.fwd, forward.RunnerOptions{}).Run(runCtx) }()
	tb.Cleanup(func() { cancel(); <-done })
}
