package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/config"
	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/simulate"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/tenant"
	"github.com/perkbridge/perkbridge/templates"
	"github.com/perkbridge/perkbridge/webhooks"
)

// Demo credentials for the sandbox sinks. The demo connects both
// integrations with them through the real Initialize path, and prints them
// so a merchant can walk through connecting integrations again by hand.
const (
	demoShop             = "perkbridge-demo.myshopify.com"
	demoKlaviyoKey       = "pk_demo_0123456789abcdef0123456789"
	demoCleverTapAccount = "DEMO-ACC-0001"
	demoCleverTapCode    = "DEMO-PASSCODE"
	demoCleverTapRegion  = "in1"
)

// demoEvents are the seeds' example events, defined on both integrations.
var demoEvents = []event.Key{
	event.WalletPointsRewarded, event.CouponCreated, event.TierUpgraded, event.ReferralCompleted, event.BirthdayReward,
}

// demoOptions are the demo command's flags.
type demoOptions struct {
	traffic float64 // simulated actions per second; 0: none
	connect bool    // connect the sandbox sinks and define the example events
}

func parseDemoFlags(args []string, stderr io.Writer) (demoOptions, error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o demoOptions
	fs.BoolVar(&o.connect, "connect", true, "connect the sandbox Klaviyo and CleverTap and define the example events; -connect=false leaves them for you to connect by hand")
	fs.Float64Var(&o.traffic, "traffic", 1, "simulated shopper actions per second (orders, refunds, sign-ups, referrals, redemptions); 0 turns the simulator off")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.traffic < 0 || o.traffic > 200 {
		return o, fmt.Errorf("demo: -traffic must be between 0 and 200 actions per second")
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("demo: unexpected argument %q", fs.Arg(0))
	}
	return o, nil
}

// demoEnv is the demo's sandbox: the same faithful fakes the tests use,
// served on loopback, standing in for Shopify, Klaviyo and CleverTap.
type demoEnv struct {
	shopify   *fake.Shopify
	klaviyo   *fake.Klaviyo
	clevertap *fake.CleverTap
	servers   []*http.Server
	origins   struct{ shopify, klaviyo, clevertap string }
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
	// The demo store's published theme has the rewards launcher turned on,
	// as after the merchant's first visit to the theme editor; the home
	// checklist reads it like a real shop's.
	d.shopify.SetTheme(demoShop, fake.ShopifyTheme{ID: 1, Name: "Dawn", Role: "MAIN", Files: map[string]string{
		"config/settings_data.json": `{"current":{"blocks":{"1":{"type":"shopify://apps/perkbridge/blocks/` + loyalty.ThemeEmbedHandle + `/demo","disabled":false}}}}`,
	}})
	for _, c := range demoCustomers {
		d.addCustomer(simulate.Customer{ID: c.id, Email: c.email, Phone: c.phone, FirstName: c.first, LastName: c.last})
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
	var err error
	if d.origins.shopify, err = origin(d.shopify); err != nil {
		return nil, err
	}
	if d.origins.klaviyo, err = origin(d.klaviyo); err != nil {
		return nil, err
	}
	if d.origins.clevertap, err = origin(d.clevertap); err != nil {
		return nil, err
	}
	cfg.ShopOrigin = d.origins.shopify + "/{shop}"
	cfg.KlaviyoOrigin = d.origins.klaviyo
	cfg.CleverTapOrigin = d.origins.clevertap + "/{region}"
	log.Info("demo sandbox started", "shopify", d.origins.shopify, "klaviyo", d.origins.klaviyo, "clevertap", d.origins.clevertap)
	return d, nil
}

// addCustomer registers a shopper with the Shopify sandbox, so that the
// app's GraphQL look-ups (identity, order counts) find them.
func (d *demoEnv) addCustomer(c simulate.Customer) {
	d.shopify.AddCustomer(demoShop, fake.ShopifyCustomer{ID: c.ID, Email: c.Email, Phone: c.Phone, FirstName: c.FirstName, LastName: c.LastName,
		Metafields: map[string]string{"loyalty.member_id": fmt.Sprintf("M-%d", c.ID)}})
}

// Seed installs the demo shop through the real token-exchange path,
// delivers a few signed webhooks through the real intake, and connects the
// sandbox Klaviyo and CleverTap through the real Initialize path with the
// seeds' example events. Webhook ids are fixed and connecting skips what
// is already set up, so seeding again on the next start changes nothing.
func (d *demoEnv) Seed(ctx context.Context, st *store.Store, tn *tenant.Service, fwd *forward.Service, loyal *loyalty.Service, appURL string, connect bool, log *slog.Logger) (*store.Shop, error) {
	sh, err := tn.InstallFromIDToken(ctx, demoShop, d.shopify.MintIDToken(demoShop, 1, time.Minute))
	if err != nil {
		return nil, fmt.Errorf("demo: install %s: %w", demoShop, err)
	}
	// The demo's program shows every moment: referrals on, and review
	// requests the day after fulfilment. A program the merchant saved on
	// an earlier run is left as it is.
	if _, saved, err := st.ProgramSettings(ctx, sh.ID); err != nil {
		return nil, err
	} else if !saved {
		settings := program.Defaults()
		settings.Referral.Enabled = true
		settings.ReviewRequestDays = 1
		if err := loyal.SaveProgram(ctx, sh.ID, settings); err != nil {
			return nil, fmt.Errorf("demo: program: %w", err)
		}
	}
	// Connect first, so the seed's own events already reach the sinks.
	if connect {
		if err := d.connect(ctx, fwd, sh.ID); err != nil {
			return nil, err
		}
	}
	// The seeded shoppers sign up now, after the install, so they earn the
	// signup points as new accounts do (records from before an install earn
	// none unless the program welcomes existing account holders).
	now := time.Now().UTC().Format(time.RFC3339)
	for _, c := range demoCustomers {
		body := fmt.Sprintf(`{"id":%d,"admin_graphql_api_id":"gid://shopify/Customer/%d","email":%s,"phone":%s,"first_name":%q,"last_name":%q,"state":"enabled","verified_email":true,"created_at":%q,"updated_at":%q,"currency":"USD","addresses":[],"tax_exemptions":[],"default_address":null}`,
			c.id, c.id, jsonOrNull(c.email), jsonOrNull(c.phone), c.first, c.last, now, now)
		if err := d.send(ctx, appURL, "customers/create", fmt.Sprintf("demo-seed-customer-%d", c.id), []byte(body)); err != nil {
			return nil, err
		}
	}
	paid, err := webhooks.Sample("orders/paid")
	if err != nil {
		return nil, err
	}
	if err := d.send(ctx, appURL, "orders/paid", "demo-seed-order-1", paid); err != nil {
		return nil, err
	}
	log.Info("demo shop seeded", "shop", demoShop, "customers", len(demoCustomers))
	return sh, nil
}

// connect connects each sandbox sink that is not active yet, through
// forward.Service's Initialize (the credentials are validated against the
// sandbox exactly as against the real service), and defines the example
// events that are missing.
func (d *demoEnv) connect(ctx context.Context, fwd *forward.Service, shopID app.ShopID) error {
	ctx = app.WithActor(ctx, "demo")
	connect := map[string]func() (forward.IntegrationView, error){
		forward.KindKlaviyo: func() (forward.IntegrationView, error) {
			return fwd.ConnectKlaviyo(ctx, shopID, forward.KlaviyoInput{CommonProperty: "email", PrivateAPIKey: demoKlaviyoKey})
		},
		forward.KindCleverTap: func() (forward.IntegrationView, error) {
			return fwd.ConnectCleverTap(ctx, shopID, forward.CleverTapInput{CommonProperty: "customer_id",
				AccountID: demoCleverTapAccount, Passcode: demoCleverTapCode, Region: demoCleverTapRegion})
		},
	}
	for _, kind := range forward.Kinds() {
		cur, err := fwd.Get(ctx, shopID, kind)
		if err != nil {
			return err
		}
		if cur.Status != store.IntegrationActive {
			v, err := connect[kind]()
			if err != nil {
				return fmt.Errorf("demo: connect %s: %w", kind, err)
			}
			if v.Status != store.IntegrationActive {
				return fmt.Errorf("demo: connect %s: %s (%s)", kind, v.Status, v.StatusReason)
			}
		}
		defs, err := fwd.ListDefinitions(ctx, shopID, kind)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, def := range defs {
			have[def.Event] = true
		}
		for _, ev := range demoEvents {
			if have[string(ev)] {
				continue
			}
			if _, err := fwd.CreateDefinition(ctx, shopID, kind, forward.DefinitionInput{Event: string(ev)}); err != nil {
				return fmt.Errorf("demo: define %s on %s: %w", ev, kind, err)
			}
		}
	}
	return nil
}

// Simulator returns the demo's traffic simulator against appURL: its
// shoppers start from the seeded customers and every new one is registered
// with the Shopify sandbox first.
func (d *demoEnv) Simulator(appURL, secret string, rate float64, log *slog.Logger) *simulate.Simulator {
	members := make([]simulate.Customer, 0, len(demoCustomers))
	for _, c := range demoCustomers {
		members = append(members, simulate.Customer{ID: c.id, Email: c.email, Phone: c.phone, FirstName: c.first, LastName: c.last})
	}
	return simulate.New(simulate.Options{
		AppURL: appURL, Shop: demoShop, Secret: secret, Rate: rate, Members: members,
		OnCustomer: d.addCustomer, Logger: log,
	})
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

// demoSinkRecords is how many records an inspector page lists.
const demoSinkRecords = 200

// SinkView is what the sandbox sink of kind received, newest first (the
// web server's Deps.DemoSinks).
func (d *demoEnv) SinkView(kind string) (templates.DemoSinksView, bool) {
	var v templates.DemoSinksView
	switch kind {
	case forward.KindKlaviyo:
		v.Title, v.Account = "Klaviyo", "private key "+demoKlaviyoKey[:8]+"…"
		events, profiles := d.klaviyo.Events(), d.klaviyo.Profiles()
		v.Events, v.Profiles = int64(len(events)), int64(len(profiles))
		for _, e := range events {
			name := e.Metric
			if e.Bulk {
				name += " (bulk)"
			}
			v.Records = append(v.Records, templates.SinkRecord{At: e.ReceivedAt, Kind: "event", Name: name,
				Identity: klaviyoIdentity(e.Profile.Email, e.Profile.PhoneNumber, e.Profile.ExternalID), Properties: fields(e.Properties)})
		}
		for _, p := range profiles {
			v.Records = append(v.Records, templates.SinkRecord{At: p.Updated, Kind: "profile", Name: "profile",
				Identity: klaviyoIdentity(p.Email, p.PhoneNumber, p.ExternalID), Properties: fields(p.Properties)})
		}
	case forward.KindCleverTap:
		v.Title, v.Account = "CleverTap", "account "+demoCleverTapAccount+", region "+demoCleverTapRegion
		events, profiles := d.clevertap.Events(), d.clevertap.Profiles()
		v.Events, v.Profiles = int64(len(events)), int64(len(profiles))
		for _, e := range events {
			v.Records = append(v.Records, templates.SinkRecord{At: e.ReceivedAt, Kind: "event", Name: e.Name,
				Identity: "identity " + e.Identity, Properties: fields(e.Data)})
		}
		for _, p := range profiles {
			v.Records = append(v.Records, templates.SinkRecord{At: p.Updated, Kind: "profile", Name: "profile",
				Identity: "identity " + p.Identity, Properties: fields(p.Data)})
		}
	default:
		return v, false
	}
	sort.SliceStable(v.Records, func(i, j int) bool { return v.Records[i].At.After(v.Records[j].At) })
	if len(v.Records) > demoSinkRecords {
		v.Records = v.Records[:demoSinkRecords]
	}
	return v, true
}

func klaviyoIdentity(email, phone, external string) string {
	var parts []string
	if email != "" {
		parts = append(parts, "email "+email)
	}
	if phone != "" {
		parts = append(parts, "phone "+phone)
	}
	if external != "" {
		parts = append(parts, "external_id "+external)
	}
	return strings.Join(parts, ", ")
}

// fields lists properties by key, values as text (strings bare, the rest
// as JSON).
func fields(m map[string]any) []templates.SinkField {
	out := make([]templates.SinkField, 0, len(m))
	for k, val := range m {
		s, ok := val.(string)
		if !ok {
			b, _ := json.Marshal(val)
			s = string(b)
		}
		out = append(out, templates.SinkField{Key: k, Value: s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Close stops the sandbox servers.
func (d *demoEnv) Close() {
	var wg sync.WaitGroup
	for _, s := range d.servers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = s.Shutdown(ctx)
		})
	}
	wg.Wait()
}

// printDemoBanner tells, in plain words, what started, where, with which
// sandbox credentials, and how to stop.
func printDemoBanner(out io.Writer, d *demoEnv, url, dbWhere, secret string, o demoOptions) {
	state, defined := "connected", demoEventList()
	if !o.connect {
		state, defined = "not connected (-connect=false): connect it in the admin with", "none yet (-connect=false)"
	}
	fmt.Fprintf(out, `
Perkbridge demo is running.

  Admin        %[1]s/demo/login?shop=%[2]s
  Webhooks     %[1]s/webhooks (signed with the client secret %[3]q)
  Database     %[4]s

  Sandbox Shopify    %[5]s (store %[2]s, installed through token exchange)
  Sandbox Klaviyo    %[6]s: %[13]s private key %[7]s, common property email
  Sandbox CleverTap  %[8]s: %[13]s account %[9]s, passcode %[10]s, region %[11]s, common property customer_id
  Events defined     %[12]s
  What they received %[1]s/demo/sinks/klaviyo and %[1]s/demo/sinks/clevertap
`, url, demoShop, secret, dbWhere, d.origins.shopify, d.origins.klaviyo, demoKlaviyoKey,
		d.origins.clevertap, demoCleverTapAccount, demoCleverTapCode, demoCleverTapRegion, defined, state+",")
	traffic := o.traffic
	if traffic > 0 {
		unit := "actions"
		if traffic == 1 {
			unit = "action"
		}
		fmt.Fprintf(out, "  Traffic            simulated shoppers, %g %s a second (orders online and at POS, refunds,\n"+
			"                     cancellations, sign-ups, referrals, fulfilments, storefront redemptions); -traffic=0 turns it off\n", traffic, unit)
	} else {
		fmt.Fprintf(out, "  Traffic            off (-traffic=0); send some with: go run . simulate -url %s -rate 2\n", url)
	}
	fmt.Fprintf(out, "\n  Stop with Ctrl-C. The data stays; the next run picks up where this one stopped.\n\n")
}

func demoEventList() string {
	names := make([]string, len(demoEvents))
	for i, ev := range demoEvents {
		names[i] = string(ev)
	}
	return strings.Join(names, ", ")
}

func jsonOrNull(s string) string {
	if s == "" {
		return "null"
	}
	return fmt.Sprintf("%q", s)
}
