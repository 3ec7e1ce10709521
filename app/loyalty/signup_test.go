package loyalty_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
)

// customerPayload is a customers/create or customers/update body built from
// Shopify's sample (fixtures customers_create.json: every field of the
// real shape stays), with the fields that decide signup points set.
type customerPayload struct {
	ID        int64  // exact, above 2^53
	Email     string // "" sends null (a phone-only POS customer)
	Phone     string // "" sends null
	State     string // disabled, invited, enabled, declined
	CreatedAt time.Time
	UpdatedAt time.Time
	Note      string
}

func (c customerPayload) body(t testing.TB) []byte {
	t.Helper()
	b := sample(t, "customers/create")
	b = set(t, b, "id", c.ID)
	b = set(t, b, "admin_graphql_api_id", fmt.Sprintf("gid://shopify/Customer/%d", c.ID))
	b = set(t, b, "default_address.customer_id", c.ID)
	if c.Email == "" {
		b = setRaw(t, b, "email", "null")
		b = set(t, b, "verified_email", false)
	} else {
		b = set(t, b, "email", c.Email)
	}
	if c.Phone == "" {
		b = setRaw(t, b, "phone", "null")
	} else {
		b = set(t, b, "phone", c.Phone)
	}
	b = set(t, b, "state", c.State)
	// Shopify writes times in the shop's zone with an offset, as the sample.
	est := time.FixedZone("EST", -5*3600)
	b = set(t, b, "created_at", c.CreatedAt.In(est).Format(time.RFC3339))
	b = set(t, b, "updated_at", c.UpdatedAt.In(est).Format(time.RFC3339))
	return set(t, b, "note", c.Note)
}

// signupStep is one webhook of a signup case.
type signupStep struct {
	topic     string
	state     string
	updated   time.Duration // updated_at after created_at
	redeliver bool          // the same event again under a new webhook id
}

// TestSignup_AccountsNotRecords: signup points go to customers with an
// account (state enabled), once, whichever customers/* webhook first shows
// it; records (POS, checkout, invited, declined) earn nothing, and neither
// do accounts created before the install unless the program welcomes
// existing account holders. Each case is its own shop; the webhooks are
// signed HTTP deliveries through the real intake, inbox and one claimer
// worker (arrival order), the Processor and the Service.
func TestSignup_AccountsNotRecords(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := startIntake(t, b)
	inArrivalOrder := startSingleWorker(t, b, "signup")
	const cust int64 = 9_007_199_254_740_993 // above 2^53
	cases := []struct {
		name    string
		created time.Duration // created_at relative to the install
		email   string
		phone   string
		welcome bool
		steps   []signupStep
		points  int64 // signup points credited
	}{
		{name: "POSCustomerRecord", created: time.Hour, phone: "+14155550142",
			steps:  []signupStep{{topic: "customers/create", state: "disabled"}},
			points: 0},
		{name: "CheckoutRecordThenAddressUpdate", created: time.Hour, email: "guest@example.com",
			steps: []signupStep{
				{topic: "customers/create", state: "disabled"},
				{topic: "customers/update", state: "disabled", updated: time.Minute},
			},
			points: 0},
		{name: "AccountCreatedEnabled", created: time.Hour, email: "ada@example.com",
			steps: []signupStep{
				{topic: "customers/create", state: "enabled", redeliver: true},
				{topic: "customers/update", state: "enabled", updated: time.Minute}, // a later edit: no second signup
			},
			points: 100},
		{name: "InvitedThenEnabled", created: time.Hour, email: "bob@example.com",
			steps: []signupStep{
				{topic: "customers/create", state: "invited"},
				{topic: "customers/update", state: "invited", updated: time.Minute},
				{topic: "customers/update", state: "enabled", updated: 2 * time.Minute, redeliver: true},
				{topic: "customers/update", state: "enabled", updated: 3 * time.Minute},
			},
			points: 100},
		{name: "InvitedThenDeclined", created: time.Hour, email: "cyd@example.com",
			steps: []signupStep{
				{topic: "customers/create", state: "invited"},
				{topic: "customers/update", state: "declined", updated: time.Minute},
			},
			points: 0},
		{name: "EnabledUpdateBeforeItsCreate", created: time.Hour, email: "dee@example.com",
			steps: []signupStep{ // Shopify does not promise order: the newer state wins
				{topic: "customers/update", state: "enabled", updated: time.Minute},
				{topic: "customers/create", state: "invited"},
			},
			points: 100},
		{name: "ExistingAccountUpdatedAfterInstall", created: -400 * 24 * time.Hour, email: "old@example.com",
			steps:  []signupStep{{topic: "customers/update", state: "enabled", updated: 400*24*time.Hour + time.Hour}},
			points: 0},
		{name: "ExistingRecordEnabledAfterInstall", created: -30 * 24 * time.Hour, email: "late@example.com",
			steps:  []signupStep{{topic: "customers/update", state: "enabled", updated: 31 * 24 * time.Hour}},
			points: 0},
		{name: "RecordFromBeforeInstallBecomesAccount", created: -30 * 24 * time.Hour, email: "conv@example.com",
			steps: []signupStep{ // a checkout record seen after install, then the shopper creates the account
				{topic: "customers/update", state: "disabled", updated: 30*24*time.Hour + time.Hour},
				{topic: "customers/update", state: "enabled", updated: 30*24*time.Hour + 2*time.Hour, redeliver: true},
			},
			points: 100},
		{name: "ExistingAccountWelcomed", created: -400 * 24 * time.Hour, email: "old@example.com", welcome: true,
			steps: []signupStep{
				{topic: "customers/update", state: "enabled", updated: 400*24*time.Hour + time.Hour},
				{topic: "customers/update", state: "enabled", updated: 400*24*time.Hour + 2*time.Hour},
			},
			points: 100},
		{name: "ExistingRecordWelcomedStaysARecord", created: -400 * 24 * time.Hour, email: "rec@example.com", welcome: true,
			steps:  []signupStep{{topic: "customers/update", state: "disabled", updated: 400*24*time.Hour + time.Hour}},
			points: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			shop := b.newShop(t, "UTC")
			b.program(t, shop, func(s *program.Settings) { s.WelcomeExistingAccounts = tc.welcome })
			created := shop.InstalledAt.Add(tc.created)
			for i, st := range tc.steps {
				body := customerPayload{ID: cust, Email: tc.email, Phone: tc.phone, State: st.state,
					CreatedAt: created, UpdatedAt: created.Add(st.updated), Note: fmt.Sprintf("step %d", i)}.body(t)
				h := hook{event: uuid.NewString(), topic: st.topic, body: body, webhookID: uuid.NewString()}
				in.send(t, shop, h)
				if st.redeliver {
					h.webhookID = uuid.NewString()
					in.send(t, shop, h)
				}
			}
			settled(t, b, shop)
			inArrivalOrder()

			// The stored state is the newest one sent, whatever the order.
			newest := tc.steps[0]
			for _, st := range tc.steps {
				if st.updated >= newest.updated {
					newest = st
				}
			}
			c := b.customerRow(t, shop, cust)
			if c.State != newest.state {
				t.Fatalf("stored state %q, newest sent %q", c.State, newest.state)
			}
			if c.ShopifyCreatedAt == nil || !c.ShopifyCreatedAt.Equal(created.Truncate(time.Second)) {
				t.Fatalf("stored created_at %v, sent %v", c.ShopifyCreatedAt, created)
			}
			if got := b.balance(t, shop, cust); got != tc.points {
				t.Fatalf("balance %d, want %d", got, tc.points)
			}
			es := b.entries(t, shop, cust)
			ev := b.events(t, shop, "")
			if tc.points == 0 {
				if len(es) != 0 || len(ev) != 0 {
					t.Fatalf("a record earned: entries %v, %d events", keys(es), len(ev))
				}
				return
			}
			if len(es) != 1 || es[0].IdempotencyKey != fmt.Sprintf("signup:gid://shopify/Customer/%d", cust) || es[0].Points != tc.points {
				t.Fatalf("entries %v", keys(es))
			}
			if len(ev) != 1 || ev[0].Key != "wallet_points_rewarded" || props(t, ev[0])["reason"] != "signup" || ev[0].ShopifyCustomerID != cust {
				t.Fatalf("events %+v", ev)
			}
			b.reconcile(t, shop, cust)
		})
	}
}

// TestSignup_ImportBurstIsSilent: a customer import of 1,000 records sent
// as customers/create through the real intake and workers (records without
// accounts created now, and accounts created in Shopify long before the
// install, as a migration from another platform brings) stores every
// customer and writes not one ledger entry or loyalty event: nothing goes
// to Klaviyo or CleverTap.
func TestSignup_ImportBurstIsSilent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := startIntake(t, b)
	startRiver(t, b, "import", 8)
	shop := b.newShop(t, "UTC")
	const n = 1000
	for i := range n {
		c := customerPayload{ID: 8_000_000_000_000_000_000 + int64(i), Email: fmt.Sprintf("imported-%d@example.com", i)}
		switch i % 4 {
		case 0, 1: // a CSV import: records, created now
			c.State, c.CreatedAt = "disabled", shop.InstalledAt.Add(time.Minute)
		case 2: // invited in bulk: still no account
			c.State, c.CreatedAt = "invited", shop.InstalledAt.Add(time.Minute)
		case 3: // accounts from before the install
			c.State, c.CreatedAt = "enabled", shop.InstalledAt.Add(-time.Duration(1+i)*time.Hour)
		}
		c.UpdatedAt = c.CreatedAt
		in.send(t, shop, hook{event: uuid.NewString(), topic: "customers/create", body: c.body(t), webhookID: uuid.NewString()})
	}
	settled(t, b, shop)
	if got := b.count(t, "SELECT count(*) FROM webhooks WHERE shop_id = $1 AND status = $2", shop.ID, store.WebhookProcessed); got != n {
		t.Fatalf("%d of %d webhooks processed", got, n)
	}
	if got := b.count(t, "SELECT count(*) FROM customers WHERE shop_id = $1", shop.ID); got != n {
		t.Fatalf("%d customers stored", got)
	}
	if got := b.count(t, "SELECT count(*) FROM loyalty_events WHERE shop_id = $1", shop.ID); got != 0 {
		t.Fatalf("%d loyalty events for an import", got)
	}
	if got := b.count(t, "SELECT count(*) FROM ledger_entries WHERE shop_id = $1", shop.ID); got != 0 {
		t.Fatalf("%d ledger entries for an import", got)
	}
}
