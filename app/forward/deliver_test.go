package forward_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/klaviyo"
)

const klaviyoTime = "2006-01-02T15:04:05-07:00"

func TestRunner_KlaviyoEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.connectKlaviyo("email")
	b.define("klaviyo", "wallet_points_rewarded", "Loyalty Points Earned")
	b.define("klaviyo", "coupon_created", "")
	c := b.customer(uniqueShopifyID(), " Sarah.Mason@Example.com", "+1 (415) 555-0123")
	nextExpiry := time.Now().Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
	b.loyalty(c, 1250, "gold", 300, nextExpiry)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	lotExpires := at.AddDate(1, 0, 0)
	ids := b.events(c,
		ev{key: "wallet_points_rewarded", channel: "online_store", balance: 1250, tier: "gold", occurredAt: at,
			props: map[string]any{"points": 50, "reason": "order", "order_id": "5544332211", "order_name": "#1001", "lot_expires_at": lotExpires.Format(time.RFC3339)}},
		ev{key: "coupon_created", balance: 750, tier: "gold", occurredAt: at.Add(time.Second),
			props: map[string]any{"coupon_code": "PB-7KQ2", "discount_type": "fixed_amount", "discount_value": json.Number("5.00"), "points_spent": 500}},
		ev{key: "tier_upgraded", props: map[string]any{"tier": "gold"}}, // not defined: not routed
	)
	b.run(forward.RunnerOptions{})
	b.waitStatus(15*time.Second, map[string]int{"sent": 2})

	events := b.kl.Events()
	if len(events) != 2 || b.kl.Duplicates() != 0 {
		t.Fatalf("%d events, %d duplicates", len(events), b.kl.Duplicates())
	}
	byID := map[string]fake.KlaviyoEvent{}
	for _, e := range events {
		byID[e.UniqueID] = e
	}
	e := byID[ids[0].String()]
	wantProps := map[string]any{
		"points": 50.0, "reason": "order", "order_id": "5544332211", "order_name": "#1001",
		"lot_expires_at": lotExpires.Format(klaviyoTime),
		"event_id":       ids[0].String(), "occurred_at": at.Format(klaviyoTime), "shop": testShop,
		"customer_id": strconv.FormatInt(c.shopifyID, 10), "points_balance": 1250.0, "tier": "gold", "currency": "USD",
		"channel": "online_store",
	}
	if e.Metric != "Loyalty Points Earned" || !e.Time.Equal(at) || e.Backfill || e.Bulk || e.Value != nil ||
		e.Profile.Email != "sarah.mason@example.com" || e.Profile.PhoneNumber != "" || e.Profile.ExternalID != "" || // the phone rides along only on opt-in
		fmt.Sprint(e.Properties) != fmt.Sprint(wantProps) {
		t.Fatalf("recorded %+v\nwant properties %v", e, wantProps)
	}
	coupon := byID[ids[1].String()]
	if coupon.Metric != "coupon_created" || coupon.Value == nil || *coupon.Value != 5 || coupon.ValueCurrency != "USD" || coupon.Properties["channel"] != nil {
		t.Fatalf("coupon event %+v", coupon)
	}
	// The exact body the real API accepts (the fake validated it against
	// Klaviyo's OpenAPI schema; here its shape is checked too).
	for _, r := range b.kl.Requests() {
		if r.Path != "/api/events/" {
			continue
		}
		var doc struct {
			Data struct {
				Type       string `json:"type"`
				Attributes struct {
					UniqueID string `json:"unique_id"`
					Time     string `json:"time"`
					Metric   struct {
						Data struct {
							Type       string `json:"type"`
							Attributes struct{ Name string }
						}
					} `json:"metric"`
					Profile struct {
						Data struct {
							Type       string         `json:"type"`
							Attributes map[string]any `json:"attributes"`
						}
					} `json:"profile"`
				} `json:"attributes"`
			} `json:"data"`
		}
		if err := json.Unmarshal(r.Body, &doc); err != nil {
			t.Fatal(err)
		}
		a := doc.Data.Attributes
		if doc.Data.Type != "event" || a.Metric.Data.Type != "metric" || a.Profile.Data.Type != "profile" || a.Time == "" ||
			(a.UniqueID != ids[0].String() && a.UniqueID != ids[1].String()) || r.Header.Get("revision") != "2026-07-15" ||
			!strings.HasPrefix(r.Header.Get("Authorization"), "Klaviyo-API-Key ") {
			t.Fatalf("request %s %s", r.Header, r.Body)
		}
	}
	for _, d := range b.deliveries(forward.DeliveryFilter{}) {
		if d.Status != "sent" || d.Attempts != 1 || d.LastStatusCode == nil || *d.LastStatusCode != 202 || d.SentAt == nil || d.Integration != "klaviyo" {
			t.Fatalf("delivery %+v", d)
		}
	}
	// Profile sync: the customer's loyalty state, once. The events carry
	// the balance and tier on their profile too, so wait for what only
	// the sync sends (the expiring points).
	b.waitFor(10*time.Second, "profile sync", func() (bool, string) {
		ps := b.kl.Profiles()
		for _, p := range ps {
			if p.Email == "sarah.mason@example.com" && p.Properties["loyalty_points_balance"] == 1250.0 && p.Properties["loyalty_points_expiring"] != nil {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", ps)
	})
	p := b.kl.Profiles()[0]
	if p.Properties["loyalty_tier"] != "gold" || p.Properties["loyalty_points_expiring"] != 300.0 ||
		p.Properties["loyalty_next_expiry_at"] != nextExpiry.Format(klaviyoTime) || p.PhoneNumber != "" {
		t.Fatalf("profile %+v", p)
	}
}

func TestRunner_CleverTapEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.connectCleverTap("customer_id")
	b.define("clevertap", "wallet_points_rewarded", "Loyalty Points Earned", "online_store")
	b.define("clevertap", "coupon_created", "")
	c := b.customer(uniqueShopifyID(), "", "")
	b.loyalty(c, 1250, "gold", 0, time.Time{})
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	old := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second)
	lotExpires := at.AddDate(1, 0, 0)
	ids := b.events(c,
		ev{key: "wallet_points_rewarded", channel: "online_store", balance: 1250, tier: "gold", occurredAt: at,
			props: map[string]any{"points": 50, "reason": "order", "order_id": "5544332211", "lot_expires_at": lotExpires.Format(time.RFC3339)}},
		ev{key: "wallet_points_rewarded", channel: "pos"}, // filtered out by channel
		ev{key: "coupon_created", balance: 750, occurredAt: old,
			props: map[string]any{"coupon_code": "PB-7KQ2", "discount_type": "percentage", "discount_value": json.Number("12.5"), "points_spent": 500}},
	)
	b.run(forward.RunnerOptions{})
	b.waitStatus(15*time.Second, map[string]int{"sent": 1, "late": 1})

	events := b.ct.Events()
	if len(events) != 2 {
		t.Fatalf("%d events", len(events))
	}
	byName := map[string]fake.CleverTapEvent{}
	for _, e := range events {
		byName[e.Name] = e
	}
	e := byName["Loyalty Points Earned"]
	sid := strconv.FormatInt(c.shopifyID, 10)
	wantData := map[string]any{
		"points": int64(50), "reason": "order", "order_id": "5544332211",
		"lot_expires_at": "$D_" + strconv.FormatInt(lotExpires.Unix(), 10),
		"event_id":       ids[0].String(), "occurred_at": "$D_" + strconv.FormatInt(at.Unix(), 10), "shop": testShop,
		"customer_id": sid, "points_balance": int64(1250), "tier": "gold", "currency": "USD", "channel": "online_store",
	}
	if e.Identity != sid || e.TS != at.Unix() || e.Region != ctRegion || e.Account != ctAccount || fmt.Sprint(e.Data) != fmt.Sprint(wantData) {
		t.Fatalf("recorded %+v\nwant data %v", e, wantData)
	}
	for k, v := range e.Record {
		if _, nested := v.(map[string]any); nested && k != "evtData" {
			t.Fatalf("record field %s is nested", k)
		}
	}
	coupon := byName["coupon_created"]
	if coupon.TS != old.Unix() || coupon.Data["discount_value"] != 12.5 {
		t.Fatalf("coupon %+v", coupon)
	}
	if d := b.delivery(ids[2]); d.Status != "late" || d.SentAt == nil || *d.LastStatusCode != 200 {
		t.Fatalf("3-hour-old event %+v", d)
	}
	b.waitFor(10*time.Second, "profile sync", func() (bool, string) {
		for _, p := range b.ct.Profiles() {
			if p.Identity == sid && p.Data["loyalty_points_balance"] == int64(1250) && p.Data["loyalty_tier"] == "gold" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", b.ct.Profiles())
	})
	if b.ctCount.count(429) != 0 {
		t.Fatal("CleverTap answered 429")
	}
}

// TestRunner_Identity resolves each kind of common property, asking
// Shopify's GraphQL API when the customer row lacks the value.
func TestRunner_Identity(t *testing.T) {
	t.Parallel()
	t.Run("EmailLookedUpAndCached", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.connectKlaviyo("email")
		b.define("klaviyo", "wallet_points_rewarded", "")
		found := b.customer(uniqueShopifyID(), "", "+447700900123")     // phone-only row, Shopify knows the email
		phoneOnly := b.customer(uniqueShopifyID(), "", "+447700900124") // phone-only everywhere
		gone := b.customer(uniqueShopifyID(), "", "+447700900125")      // deleted in Shopify
		b.sh.AddCustomer(testShop, fake.ShopifyCustomer{ID: found.shopifyID, Email: "Found@Example.com", Phone: "+447700900123"})
		b.sh.AddCustomer(testShop, fake.ShopifyCustomer{ID: phoneOnly.shopifyID, Phone: "+447700900124"})
		f1 := b.events(found, rewarded(2, "")...)
		p1 := b.events(phoneOnly, rewarded(2, "")...)
		g1 := b.events(gone, rewarded(1, "")...)
		b.run(forward.RunnerOptions{})
		// The phone-only customer reaches Klaviyo by phone_number (the
		// Klaviyo fallback, on by default), counted apart.
		b.waitStatus(15*time.Second, map[string]int{"sent": 4, "skipped": 1})

		for _, id := range f1 {
			if d := b.delivery(id); d.Status != "sent" || d.IdentityFallback {
				t.Fatalf("found customer %+v", d)
			}
		}
		for _, e := range b.kl.Events() {
			switch e.Profile.PhoneNumber {
			case "": // keyed by the email; the phone stays out unless the merchant opts in
				if e.Profile.Email != "found@example.com" {
					t.Fatalf("event profile %+v", e.Profile)
				}
			case "+447700900124":
				if e.Profile.Email != "" {
					t.Fatalf("fallback event profile %+v", e.Profile)
				}
			default:
				t.Fatalf("event profile %+v", e.Profile)
			}
		}
		for _, id := range p1 {
			if d := b.delivery(id); d.Status != "sent" || !d.IdentityFallback {
				t.Fatalf("phone-only customer %+v", d)
			}
		}
		if d := b.delivery(g1[0]); d.Status != "skipped" || d.LastError != "customer not found in Shopify" {
			t.Fatalf("deleted customer %+v", d)
		}
		// The answer is cached on the row; each customer was asked once.
		row, _ := b.st.CustomerByShopifyID(context.Background(), b.shop.ID, found.shopifyID)
		if row.Email != "Found@Example.com" {
			t.Fatalf("email not cached: %+v", row)
		}
		if n := len(b.sh.Requests(testShop)); n != 3 {
			t.Fatalf("%d GraphQL requests, want one per customer", n)
		}
		// Skipped deliveries are counted, not dropped.
		st, _ := b.svc.Stats(context.Background(), b.shop.ID, forward.StatsFilter{})
		if st.Totals.Skipped != 1 || st.Totals.Sent != 4 {
			t.Fatalf("stats %+v", st.Totals)
		}
	})
	t.Run("PhoneForCleverTap", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.connectCleverTap("phone")
		b.define("clevertap", "wallet_points_rewarded", "")
		withPhone := b.customer(uniqueShopifyID(), "d@example.com", "") // email-only row; Shopify has the phone
		emailOnly := b.customer(uniqueShopifyID(), "e@example.com", "")
		b.sh.AddCustomer(testShop, fake.ShopifyCustomer{ID: withPhone.shopifyID, Email: "d@example.com", Phone: "+44 7700 900123"})
		b.sh.AddCustomer(testShop, fake.ShopifyCustomer{ID: emailOnly.shopifyID, Email: "e@example.com"})
		sent := b.events(withPhone, rewarded(1, "")...)
		skipped := b.events(emailOnly, rewarded(1, "")...)
		b.run(forward.RunnerOptions{})
		b.waitStatus(15*time.Second, map[string]int{"sent": 1, "skipped": 1})
		if evs := b.ct.Events(); len(evs) != 1 || evs[0].Identity != "+447700900123" || evs[0].Data["event_id"] != sent[0].String() {
			t.Fatalf("events %+v", evs)
		}
		if d := b.delivery(skipped[0]); d.LastError != "customer has no phone number (email-only customer)" {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("MetafieldToExternalID", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.connectKlaviyo("metafield:loyalty.member_id")
		b.define("klaviyo", "wallet_points_rewarded", "")
		lookedUp := b.customer(uniqueShopifyID(), "f@example.com", "")
		cached := b.customer(uniqueShopifyID(), "g@example.com", "")
		unset := b.customer(uniqueShopifyID(), "h@example.com", "")
		if err := b.st.SetCustomerMetafields(context.Background(), b.shop.ID, cached.shopifyID, map[string]string{"loyalty.member_id": "M-7"}); err != nil {
			t.Fatal(err)
		}
		b.sh.AddCustomer(testShop, fake.ShopifyCustomer{ID: lookedUp.shopifyID, Email: "f@example.com", Metafields: map[string]string{"loyalty.member_id": "M-42"}})
		b.sh.AddCustomer(testShop, fake.ShopifyCustomer{ID: unset.shopifyID, Email: "h@example.com"})
		b.events(lookedUp, rewarded(1, "")...)
		b.events(cached, rewarded(1, "")...)
		skipped := b.events(unset, rewarded(1, "")...)
		b.run(forward.RunnerOptions{})
		b.waitStatus(15*time.Second, map[string]int{"sent": 2, "skipped": 1})
		got := map[string]string{}
		for _, e := range b.kl.Events() {
			got[e.Profile.ExternalID] = e.Profile.Email
		}
		if fmt.Sprint(got) != "map[M-42:f@example.com M-7:g@example.com]" {
			t.Fatalf("external ids %v", got)
		}
		if d := b.delivery(skipped[0]); d.LastError != "metafield loyalty.member_id is not set" {
			t.Fatalf("%+v", d)
		}
		row, _ := b.st.CustomerByShopifyID(context.Background(), b.shop.ID, lookedUp.shopifyID)
		if row.MetafieldMap()["loyalty.member_id"] != "M-42" {
			t.Fatalf("metafield not cached: %s", row.Metafields)
		}
		if n := len(b.sh.Requests(testShop)); n != 2 { // the cached customer was not looked up
			t.Fatalf("%d GraphQL requests", n)
		}
	})
	t.Run("LookupsKeptPerProperty", func(t *testing.T) {
		t.Parallel()
		// Klaviyo on email looks the customer up first; CleverTap on a
		// metafield later must look again for its own value, not reuse the
		// email lookup (which would skip the customer for good).
		b := setup(t)
		b.connectKlaviyo("email")
		b.connectCleverTap("metafield:loyalty.member_id")
		b.define("klaviyo", "wallet_points_rewarded", "")
		c := b.customer(uniqueShopifyID(), "", "")
		b.sh.AddCustomer(testShop, fake.ShopifyCustomer{ID: c.shopifyID, Email: "both@example.com", Metafields: map[string]string{"loyalty.member_id": "M-99"}})
		b.events(c, rewarded(1, "")...)
		b.quietProfiles()
		b.run(forward.RunnerOptions{})
		b.waitStatus(15*time.Second, map[string]int{"sent": 1})
		b.define("clevertap", "wallet_points_rewarded", "")
		b.events(c, rewarded(1, "")...)
		b.waitStatus(15*time.Second, map[string]int{"sent": 3})
		if evs := b.ct.Events(); len(evs) != 1 || evs[0].Identity != "M-99" {
			t.Fatalf("CleverTap events %+v", evs)
		}
	})
}

func TestRunner_KlaviyoFaults(t *testing.T) {
	t.Parallel()
	// exactlyOnce checks that Klaviyo recorded every event once. The fake
	// dedupes on (profile, metric, unique_id) like Klaviyo: a retry of an
	// event Klaviyo already took is accepted and not recorded again
	// (Duplicates). Only a request whose answer was lost (a timeout) can be
	// retried after Klaviyo took it, so Duplicates is at most the number of
	// timed-out attempts, and zero in every other run.
	exactlyOnce := func(t *testing.T, b *bundle, ids []uuid.UUID, maxDupes int) {
		t.Helper()
		got := distinctKlaviyo(b.kl.Events())
		for _, id := range ids {
			if got[id.String()] != 1 {
				t.Fatalf("event %s recorded %d times", id, got[id.String()])
			}
		}
		if len(got) != len(ids) || len(b.kl.Events()) != len(ids) || b.kl.Duplicates() > maxDupes {
			t.Fatalf("%d events, %d distinct, %d duplicates (max %d)", len(b.kl.Events()), len(got), b.kl.Duplicates(), maxDupes)
		}
	}
	start := func(t *testing.T, n int, opts ...setupOpts) (*bundle, []uuid.UUID) {
		b := setup(t, opts...)
		b.connectKlaviyo("email")
		b.define("klaviyo", "wallet_points_rewarded", "")
		ids := b.events(b.customer(uniqueShopifyID(), "k@example.com", ""), rewarded(n, "")...)
		b.quietProfiles()
		return b, ids
	}

	t.Run("ServerErrors", func(t *testing.T) {
		t.Parallel()
		b, ids := start(t, 20)
		b.kl.FailNext(503, 6)
		b.run(forward.RunnerOptions{})
		b.waitStatus(20*time.Second, map[string]int{"sent": 20})
		exactlyOnce(t, b, ids, 0)
		if b.klCount.count(503) != 6 || b.klCount.count(429) != 0 {
			t.Fatalf("503s %d, 429s %d", b.klCount.count(503), b.klCount.count(429))
		}
	})
	for _, withRA := range []bool{true, false} {
		t.Run(fmt.Sprint("Throttled/RetryAfter=", withRA), func(t *testing.T) {
			t.Parallel()
			b, ids := start(t, 10)
			b.kl.ThrottleNext(4, withRA)
			b.run(forward.RunnerOptions{})
			b.waitStatus(20*time.Second, map[string]int{"sent": 10})
			exactlyOnce(t, b, ids, 0)
			// A 429 does not spend the retry budget.
			for _, d := range b.deliveries(forward.DeliveryFilter{}) {
				if d.Attempts != 1 {
					t.Fatalf("delivery after 429: %+v", d)
				}
			}
		})
	}
	t.Run("Timeouts", func(t *testing.T) {
		t.Parallel()
		b, ids := start(t, 8, setupOpts{httpTimeout: 300 * time.Millisecond})
		b.kl.SetSlow(time.Second)
		b.run(forward.RunnerOptions{})
		b.waitFor(10*time.Second, "timed-out requests", func() (bool, string) {
			return len(b.kl.Requests()) >= 9, fmt.Sprint(len(b.kl.Requests()))
		})
		b.kl.SetSlow(0)
		b.waitStatus(20*time.Second, map[string]int{"sent": 8})
		timedOut := 0
		for _, d := range b.deliveries(forward.DeliveryFilter{}) {
			timedOut += d.Attempts - 1
		}
		if timedOut == 0 {
			t.Fatal("no attempt timed out")
		}
		exactlyOnce(t, b, ids, timedOut)
	})
	t.Run("RevokedKeyPausesThenReconnectDrains", func(t *testing.T) {
		t.Parallel()
		b, ids := start(t, 12)
		b.kl.RevokeKey(klaviyoKey)
		b.run(forward.RunnerOptions{})
		// The runner pauses the integration, then gives the batch back.
		b.waitFor(10*time.Second, "pause", func() (bool, string) {
			v, _ := b.svc.Get(context.Background(), b.shop.ID, "klaviyo")
			for _, d := range b.deliveries(forward.DeliveryFilter{}) {
				if d.Attempts != 0 {
					return false, fmt.Sprintf("%+v", d)
				}
			}
			return v.Status == "paused", fmt.Sprintf("%+v", v)
		})
		v, _ := b.svc.Get(context.Background(), b.shop.ID, "klaviyo")
		if !strings.Contains(v.StatusReason, "Klaviyo rejected the private API key (401 not_authenticated)") {
			t.Fatalf("reason %q", v.StatusReason)
		}
		// Nothing is dropped: every event waits, without spending attempts.
		if c := b.counts(); c["pending"] != 12 {
			t.Fatalf("while paused %v", c)
		}
		for _, d := range b.deliveries(forward.DeliveryFilter{}) {
			if d.Attempts != 0 || (d.LastStatusCode != nil && *d.LastStatusCode != 401) {
				t.Fatalf("paused delivery %+v", d)
			}
		}
		const fixed = "pk_fixed_00000000000000000"
		b.kl.AddKey(fake.KlaviyoKey{Key: fixed})
		if v, err := b.svc.ConnectKlaviyo(context.Background(), b.shop.ID, forward.KlaviyoInput{CommonProperty: "email", PrivateAPIKey: fixed}); err != nil || v.Status != "active" {
			t.Fatalf("reconnect %+v %v", v, err)
		}
		b.waitStatus(20*time.Second, map[string]int{"sent": 12})
		exactlyOnce(t, b, ids, 0)
	})
	t.Run("PermanentErrorFailsAtOnce_RetryByHand", func(t *testing.T) {
		t.Parallel()
		b, ids := start(t, 1)
		b.kl.FailNext(400, 1)
		b.run(forward.RunnerOptions{})
		b.waitStatus(10*time.Second, map[string]int{"failed": 1})
		d := b.delivery(ids[0])
		if d.Attempts != 1 || *d.LastStatusCode != 400 || !strings.HasPrefix(d.LastError, "Klaviyo refused the event: 400") || d.ResponseExcerpt == "" {
			t.Fatalf("%+v", d)
		}
		// The Create Event document that was refused is kept beside the
		// answer: what the retry sends again.
		var doc struct {
			Data struct {
				Type       string `json:"type"`
				Attributes struct {
					UniqueID   string         `json:"unique_id"`
					Properties map[string]any `json:"properties"`
				} `json:"attributes"`
			} `json:"data"`
		}
		if err := json.Unmarshal(d.Payload, &doc); err != nil || doc.Data.Type != "event" || doc.Data.Attributes.UniqueID == "" ||
			doc.Data.Attributes.Properties["event_id"] != ids[0].String() {
			t.Fatalf("payload kept %s (%v)", d.Payload, err)
		}
		ctx := context.Background()
		if _, err := b.svc.Retry(ctx, b.shop.ID, d.ID); err != nil {
			t.Fatal(err)
		}
		b.waitStatus(10*time.Second, map[string]int{"sent": 1})
		if _, err := b.svc.Retry(ctx, b.shop.ID, d.ID); app.ErrorCode(err) != app.ECONFLICT {
			t.Fatalf("retrying a sent delivery: %v", err)
		}
		exactlyOnce(t, b, ids, 0)
	})
	t.Run("RetryBudgetEndsInFailed", func(t *testing.T) {
		t.Parallel()
		b, ids := start(t, 1)
		b.kl.FailNext(500, 100)
		b.run(forward.RunnerOptions{MaxAttempts: 3})
		b.waitStatus(10*time.Second, map[string]int{"failed": 1})
		if d := b.delivery(ids[0]); d.Attempts != 3 || !strings.Contains(d.LastError, "gave up after 3 attempts") || *d.LastStatusCode != 500 {
			t.Fatalf("%+v", d)
		}
	})
}

func TestRunner_CleverTapFaults(t *testing.T) {
	t.Parallel()
	start := func(t *testing.T, n int, opts ...setupOpts) (*bundle, []uuid.UUID) {
		b := setup(t, opts...)
		b.connectCleverTap("customer_id")
		b.define("clevertap", "wallet_points_rewarded", "")
		ids := b.events(b.customer(uniqueShopifyID(), "", ""), rewarded(n, "")...)
		b.quietProfiles()
		return b, ids
	}
	once := func(t *testing.T, b *bundle, ids []uuid.UUID) {
		t.Helper()
		copies := cleverTapCopies(b.ct.Events())
		for _, id := range ids {
			if copies[id.String()] != 1 {
				t.Fatalf("event %s reached CleverTap %d times", id, copies[id.String()])
			}
		}
		if len(b.ct.Events()) != len(ids) {
			t.Fatalf("%d events for %d", len(b.ct.Events()), len(ids))
		}
	}
	t.Run("ServerErrors", func(t *testing.T) {
		t.Parallel()
		b, ids := start(t, 30)
		b.ct.FailNext(500, 2)
		b.run(forward.RunnerOptions{})
		b.waitStatus(20*time.Second, map[string]int{"sent": 30})
		once(t, b, ids)
	})
	t.Run("PartialRetriesOnly555", func(t *testing.T) {
		t.Parallel()
		b, ids := start(t, 30)
		b.ct.PartialNext(4)
		b.run(forward.RunnerOptions{CleverTapTasks: 1}) // one batch of 30 meets the four 555s
		b.waitStatus(20*time.Second, map[string]int{"sent": 30})
		once(t, b, ids)
		var ups []fake.CleverTapUpload
		for _, u := range b.ct.Uploads() {
			if !u.DryRun { // the credential check
				ups = append(ups, u)
			}
		}
		// Only the four 555 records were sent again (maybe split over
		// concurrent batches).
		resent := 0
		for _, u := range ups[1:] {
			resent += len(u.Records)
		}
		if ups[0].Status != "partial" || ups[0].Processed != 26 || resent != 4 {
			t.Fatalf("uploads: first %s/%d, then %d records", ups[0].Status, ups[0].Processed, resent)
		}
	})
	t.Run("RefusedRecordFailsWithItsCode", func(t *testing.T) {
		t.Parallel()
		b, ids := start(t, 3)
		b.define("clevertap", "coupon_created", "App Launched") // a restricted system event name
		c := b.customer(uniqueShopifyID(), "", "")
		bad := b.events(c, ev{key: "coupon_created", props: map[string]any{"coupon_code": "X", "discount_type": "percentage", "discount_value": 10, "points_spent": 100}})
		b.quietProfiles()
		b.run(forward.RunnerOptions{})
		b.waitStatus(20*time.Second, map[string]int{"sent": 3, "failed": 1})
		d := b.delivery(bad[0])
		if d.Attempts != 1 || *d.LastStatusCode != 513 || !strings.Contains(d.LastError, "ErrorCode: 513 - Trying to raise a restricted system event") {
			t.Fatalf("%+v", d)
		}
		// The log keeps the record that was sent, beside the answer.
		var sent struct {
			EvtName  string         `json:"evtName"`
			Identity string         `json:"identity"`
			EvtData  map[string]any `json:"evtData"`
		}
		if err := json.Unmarshal(d.Payload, &sent); err != nil || sent.EvtName != "App Launched" || sent.EvtData["coupon_code"] != "X" || sent.Identity == "" {
			t.Fatalf("payload kept %s (%v)", d.Payload, err)
		}
		for _, id := range ids {
			if p := b.delivery(id).Payload; p != nil {
				t.Fatalf("a confirmed delivery keeps its payload %s", p)
			}
		}
		once(t, b, ids)
	})
	t.Run("UnnamedRefusalConfirmsNothing", func(t *testing.T) {
		t.Parallel()
		// CleverTap refuses one record of four without saying which: the
		// three it did take are not knowable, so none is counted as sent.
		// Each is unconfirmed with the reason, and retrying one by hand
		// sends it again.
		b, ids := start(t, 4)
		b.ct.UnnamedRefusalNext(1)
		b.run(forward.RunnerOptions{CleverTapInFlight: 1}) // one upload of the four
		b.waitStatus(20*time.Second, map[string]int{"unconfirmed": 4})
		ups := 0
		for _, u := range b.ct.Uploads() {
			if len(u.Records) > 0 && fmt.Sprint(u.Records[0].(map[string]any)["type"]) == "event" {
				ups++
			}
		}
		if got := len(b.ct.Events()); got != 3 || ups != 1 {
			t.Fatalf("the fake kept %d events in %d uploads, want 3 in 1", got, ups)
		}
		d := b.delivery(ids[0])
		if d.Status != "unconfirmed" || d.SentAt == nil || !strings.Contains(d.LastError, "does not say whether this event was ingested") ||
			!strings.Contains(d.LastError, "3 of 4 records processed, 1 refused, 1 of the refusals name no record") {
			t.Fatalf("%+v", d)
		}
		st, err := b.svc.Stats(context.Background(), b.shop.ID, forward.StatsFilter{Bucket: "day"})
		if err != nil || st.Totals.Sent != 0 || st.Totals.Unconfirmed != 4 {
			t.Fatalf("stats %+v, %v", st.Totals, err)
		}
		if !strings.Contains(string(d.Payload), `"evtName"`) {
			t.Fatalf("unconfirmed payload %s", d.Payload)
		}
		if _, err := b.svc.Retry(context.Background(), b.shop.ID, d.ID); err != nil {
			t.Fatal(err)
		}
		b.waitStatus(20*time.Second, map[string]int{"unconfirmed": 3, "sent": 1})
		if d = b.delivery(ids[0]); d.Status != "sent" || d.Payload != nil || d.LastError != "" {
			t.Fatalf("after the retry %+v", d)
		}
	})
	t.Run("DiscardedEventIsFinal528", func(t *testing.T) {
		t.Parallel()
		// The account discards "Loyalty Reward": CleverTap answers 528 for
		// the record. It is failed at once, says so, and is not sent again.
		b, _ := start(t, 0, setupOpts{clevertap: fake.CleverTapOptions{DiscardedEvents: []string{"Loyalty Reward"}}})
		b.define("clevertap", "coupon_created", "Loyalty Reward")
		c := b.customer(uniqueShopifyID(), "", "")
		bad := b.events(c, ev{key: "coupon_created", props: map[string]any{"coupon_code": "X", "discount_type": "percentage", "discount_value": 10, "points_spent": 100}})
		b.run(forward.RunnerOptions{})
		b.waitStatus(20*time.Second, map[string]int{"failed": 1})
		d := b.delivery(bad[0])
		if d.Attempts != 1 || *d.LastStatusCode != 528 || !strings.Contains(d.LastError, "discarded the event (code 528)") {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("Throttled", func(t *testing.T) {
		t.Parallel()
		b, ids := start(t, 10)
		b.ct.ThrottleNext(3)
		b.run(forward.RunnerOptions{})
		b.waitStatus(20*time.Second, map[string]int{"sent": 10})
		once(t, b, ids)
		for _, d := range b.deliveries(forward.DeliveryFilter{}) {
			if d.Attempts != 1 {
				t.Fatalf("429 spent an attempt: %+v", d)
			}
		}
	})
	t.Run("TimeoutAcceptedRetriedOnceFlagged", func(t *testing.T) {
		t.Parallel()
		b, ids := start(t, 40, setupOpts{httpTimeout: 400 * time.Millisecond})
		b.ct.TimeoutNext(1, true)                       // CleverTap ingests the batch, the answer is lost
		b.run(forward.RunnerOptions{CleverTapTasks: 1}) // one batch, so the timeout meets all 40 events
		b.waitStatus(20*time.Second, map[string]int{"sent": 40})
		// The accepted batch came back once: at most one duplicate of each
		// of its events, and every one of them is flagged.
		copies := cleverTapCopies(b.ct.Events())
		for _, id := range ids {
			if n := copies[id.String()]; n != 2 {
				t.Fatalf("event %s reached CleverTap %d times; want the batch plus its one retry", id, n)
			}
		}
		for _, d := range b.deliveries(forward.DeliveryFilter{}) {
			if !d.PossiblyDuplicated || d.Attempts != 2 {
				t.Fatalf("%+v", d)
			}
		}
	})
	t.Run("SecondTimeoutFailsNotResent", func(t *testing.T) {
		t.Parallel()
		b, ids := start(t, 5, setupOpts{httpTimeout: 300 * time.Millisecond})
		b.ct.TimeoutNext(2, true)
		// One task: the retry goes out as one batch and meets the second
		// timeout whole (several tasks may split it, and only the part that
		// meets the timeout fails).
		b.run(forward.RunnerOptions{CleverTapTasks: 1})
		b.waitStatus(20*time.Second, map[string]int{"failed": 5})
		for _, d := range b.deliveries(forward.DeliveryFilter{}) {
			if !d.PossiblyDuplicated || !strings.Contains(d.LastError, "already retried once") {
				t.Fatalf("%+v", d)
			}
		}
		if copies := cleverTapCopies(b.ct.Events()); copies[ids[0].String()] != 2 {
			t.Fatalf("copies %v", copies)
		}
	})
	t.Run("BadPasscodePausesThenReconnectDrains", func(t *testing.T) {
		t.Parallel()
		b, ids := start(t, 15)
		b.ct.AddAccount(ctAccount, "ROTATED-PASS", ctRegion) // the merchant rotated the passcode in CleverTap
		b.run(forward.RunnerOptions{})
		b.waitFor(10*time.Second, "pause", func() (bool, string) {
			v, _ := b.svc.Get(context.Background(), b.shop.ID, "clevertap")
			for _, d := range b.deliveries(forward.DeliveryFilter{}) {
				if d.Attempts != 0 {
					return false, fmt.Sprintf("%+v", d)
				}
			}
			return v.Status == "paused", fmt.Sprintf("%+v", v)
		})
		v, _ := b.svc.Get(context.Background(), b.shop.ID, "clevertap")
		if !strings.HasPrefix(v.StatusReason, "CleverTap rejected the Account ID, passcode or region (401 Invalid Credentials)") {
			t.Fatalf("reason %q", v.StatusReason)
		}
		if c := b.counts(); c["pending"] != 15 {
			t.Fatalf("while paused %v", c)
		}
		if v, err := b.svc.ConnectCleverTap(context.Background(), b.shop.ID, forward.CleverTapInput{
			CommonProperty: "customer_id", AccountID: ctAccount, Passcode: "ROTATED-PASS", Region: ctRegion}); err != nil || v.Status != "active" {
			t.Fatalf("reconnect %+v %v", v, err)
		}
		b.waitStatus(20*time.Second, map[string]int{"sent": 15})
		once(t, b, ids)
	})
}

// TestRunner_CrashedRunnerRowsComeBack simulates a runner that claimed
// rows and died before recording outcomes: the rows come back when the
// lease expires. For CleverTap the previous holder may have uploaded
// them, so they are sent once more and flagged.
func TestRunner_CrashedRunnerRowsComeBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, kind := range []string{"klaviyo", "clevertap"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			if kind == "klaviyo" {
				b.connectKlaviyo("customer_id")
			} else {
				b.connectCleverTap("customer_id")
			}
			b.define(kind, "wallet_points_rewarded", "")
			ids := b.events(b.customer(uniqueShopifyID(), "", ""), rewarded(5, "")...)
			in, _ := b.st.Integration(ctx, b.shop.ID, kind)
			claimed, err := b.st.ClaimDeliveries(ctx, in.ID, 100, 300*time.Millisecond) // then "crash"
			if err != nil || len(claimed) != 5 {
				t.Fatalf("claimed %d, %v", len(claimed), err)
			}
			b.run(forward.RunnerOptions{})
			b.waitStatus(15*time.Second, map[string]int{"sent": 5})
			for _, id := range ids {
				d := b.delivery(id)
				if d.Attempts != 2 || d.PossiblyDuplicated != (kind == "clevertap") {
					t.Fatalf("%+v", d)
				}
			}
		})
	}
}

// TestRunner_ThrottledResendKeepsTheDuplicateFlag: a CleverTap batch whose
// holder died without an outcome may be in CleverTap; its resend is
// flagged possibly duplicated even when that resend is first throttled
// (429) and only sent on a later claim, which no longer sees the dead
// holder's lease. Found by the fault matrix (a kill, then a 429 storm).
func TestRunner_ThrottledResendKeepsTheDuplicateFlag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.connectCleverTap("customer_id")
	b.define("clevertap", "wallet_points_rewarded", "")
	ids := b.events(b.customer(uniqueShopifyID(), "", ""), rewarded(3, "")...)
	in, _ := b.st.Integration(ctx, b.shop.ID, "clevertap")
	if claimed, err := b.st.ClaimDeliveries(ctx, in.ID, 100, 300*time.Millisecond); err != nil || len(claimed) != 3 { // then "crash"
		t.Fatalf("claimed %d, %v", len(claimed), err)
	}
	// The next upload is the events' resend (no profile sync competes).
	if err := b.db.Gorm.Exec("DELETE FROM profile_syncs").Error; err != nil {
		t.Fatal(err)
	}
	b.ct.ThrottleNext(1)
	b.run(forward.RunnerOptions{})
	b.waitStatus(15*time.Second, map[string]int{"sent": 3})
	for _, id := range ids {
		if d := b.delivery(id); !d.PossiblyDuplicated {
			t.Fatalf("resent after a lost outcome and a 429, not flagged: %+v", d)
		}
	}
	if n := len(b.ct.Events()); n != 3 {
		t.Fatalf("CleverTap received %d events, want the 3 of the one resend", n)
	}
}

func TestRunner_ProfileSyncCoalesces(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.connectKlaviyo("email")
	b.define("klaviyo", "wallet_points_rewarded", "")
	c := b.customer(uniqueShopifyID(), "p@example.com", "")
	b.loyalty(c, 500, "silver", 0, time.Time{})
	for range 10 { // ten separate transactions, each bumps the profile
		b.events(c, rewarded(1, "")...)
	}
	imports := func() int {
		n := 0
		for _, r := range b.kl.Requests() {
			if r.Path == "/api/profile-import/" {
				n++
			}
		}
		return n
	}
	b.run(forward.RunnerOptions{})
	b.waitStatus(15*time.Second, map[string]int{"sent": 10})
	synced := func() (bool, string) {
		ps, _ := b.st.ProfileSyncs(context.Background(), b.shop.ID, c.id)
		return len(ps) == 1 && ps[0].SyncedVersion == ps[0].Version, fmt.Sprintf("%+v", ps)
	}
	b.waitFor(10*time.Second, "profile synced", synced)
	if n := imports(); n != 1 {
		t.Fatalf("%d profile imports for ten changes", n)
	}
	// An event that changes nothing the profile shows sends nothing more.
	b.events(c, rewarded(1, "")...)
	b.waitStatus(15*time.Second, map[string]int{"sent": 11})
	b.waitFor(10*time.Second, "profile synced", synced)
	if n := imports(); n != 1 {
		t.Fatalf("%d profile imports after an unchanged state", n)
	}
	b.loyalty(c, 900, "gold", 0, time.Time{})
	b.events(c, rewarded(1, "")...)
	b.waitFor(10*time.Second, "profile updated", func() (bool, string) {
		ps := b.kl.Profiles()
		return len(ps) == 1 && ps[0].Properties["loyalty_points_balance"] == 900.0 && ps[0].Properties["loyalty_tier"] == "gold", fmt.Sprintf("%+v", ps)
	})
	if n := imports(); n != 2 {
		t.Fatalf("%d profile imports", n)
	}
}

// TestRunner_TwoRunners runs two runners ("two processes") on one backlog:
// every event is delivered once, CleverTap never has more than 10 uploads
// in flight, and Klaviyo never answers 429.
func TestRunner_TwoRunners(t *testing.T) {
	t.Parallel()
	t.Run("CleverTap", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{clevertap: fake.CleverTapOptions{Slow: 30 * time.Millisecond}})
		b.connectCleverTap("customer_id")
		b.define("clevertap", "wallet_points_rewarded", "")
		var ids []uuid.UUID
		for range 4 {
			ids = append(ids, b.events(b.customer(uniqueShopifyID(), "", ""), rewarded(500, "")...)...)
		}
		opts := forward.RunnerOptions{CleverTapBatch: 25, CleverTapTasks: 8, Workers: 12}
		opts.ID = "process-1"
		b.run(opts)
		opts.ID = "process-2"
		b.run(opts)
		b.waitStatus(60*time.Second, map[string]int{"sent": 2000})
		copies := cleverTapCopies(b.ct.Events())
		for _, id := range ids {
			if copies[id.String()] != 1 {
				t.Fatalf("event %s reached CleverTap %d times", id, copies[id.String()])
			}
		}
		if m := b.ct.MaxInFlight(); m > 10 || b.ctCount.count(429) != 0 {
			t.Fatalf("max in flight %d, 429s %d", m, b.ctCount.count(429))
		}
		t.Logf("CleverTap max in flight with two runners: %d (cap 10)", b.ct.MaxInFlight())
	})
	t.Run("Klaviyo", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.connectKlaviyo("email")
		b.define("klaviyo", "wallet_points_rewarded", "")
		var ids []uuid.UUID
		for i := range 3 {
			ids = append(ids, b.events(b.customer(uniqueShopifyID(), fmt.Sprintf("two%d@example.com", i), ""), rewarded(300, "")...)...)
		}
		opts := forward.RunnerOptions{DisableBulk: true} // singles: the tight limit (350/s)
		opts.ID = "process-1"
		b.run(opts)
		opts.ID = "process-2"
		b.run(opts)
		b.waitStatus(60*time.Second, map[string]int{"sent": 900})
		got := distinctKlaviyo(b.kl.Events())
		if len(got) != 900 || len(b.kl.Events()) != 900 || b.kl.Duplicates() != 0 {
			t.Fatalf("%d events, %d distinct, %d duplicates", len(b.kl.Events()), len(got), b.kl.Duplicates())
		}
		if n := b.klCount.count(429); n != 0 {
			t.Fatalf("Klaviyo answered 429 %d times", n)
		}
	})
	t.Run("KlaviyoBulkAboveSteady", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.connectKlaviyo("email")
		b.define("klaviyo", "wallet_points_rewarded", "")
		var ids []uuid.UUID
		for i := range 6 {
			c := b.customer(uniqueShopifyID(), fmt.Sprintf("bulk%d@example.com", i), "")
			evs := rewarded(200, "")
			if i == 0 { // two-day-old events are backfilled
				for j := range evs {
					evs[j].occurredAt = time.Now().Add(-48 * time.Hour)
				}
			}
			ids = append(ids, b.events(c, evs...)...)
		}
		// More events than the events budget's steady window (made small
		// here, so the test does not send 3,500 first): the rest go in
		// bulk jobs.
		opts := forward.RunnerOptions{EventsRate: klaviyo.Rate{Burst: 100, Steady: 300}}
		opts.ID = "process-1"
		b.run(opts)
		opts.ID = "process-2"
		b.run(opts)
		// Events sent one by one are confirmed (sent); those of a bulk
		// job are accepted, unconfirmed: Klaviyo never confirms them.
		b.waitFor(60*time.Second, "1200 deliveries settled", func() (bool, string) {
			got := b.counts()
			return got["sent"]+got["unconfirmed"] == 1200, fmt.Sprint(got)
		})
		bulk, backfilled := 0, 0
		for _, e := range b.kl.Events() {
			if e.Bulk {
				bulk++
			}
			if e.Backfill {
				backfilled++
			}
		}
		if len(distinctKlaviyo(b.kl.Events())) != 1200 || b.kl.Duplicates() != 0 || b.klCount.count(429) != 0 || bulk == 0 || backfilled != 200 {
			t.Fatalf("%d distinct, %d dupes, %d 429s, %d bulk, %d backfilled", len(distinctKlaviyo(b.kl.Events())), b.kl.Duplicates(),
				b.klCount.count(429), bulk, backfilled)
		}
		if got := b.counts(); got["unconfirmed"] != bulk || got["sent"] != 1200-bulk {
			t.Fatalf("deliveries %v, want %d unconfirmed (the bulk ones) and the rest sent", got, bulk)
		}
		var reason string
		if err := b.st.Gorm().Raw(`SELECT last_error FROM deliveries WHERE shop_id = ? AND status = 'unconfirmed' LIMIT 1`, b.shop.ID).Scan(&reason).Error; err != nil ||
			!strings.Contains(reason, "bulk job") {
			t.Fatalf("unconfirmed reason %q, %v", reason, err)
		}
		t.Logf("%d of 1200 events went in bulk requests", bulk)
	})
}

func TestService_Deliveries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.connectKlaviyo("email")
	b.connectCleverTap("customer_id")
	b.define("klaviyo", "wallet_points_rewarded", "")
	b.define("clevertap", "wallet_points_rewarded", "")
	b.define("clevertap", "coupon_created", "")
	c1 := b.customer(uniqueShopifyID(), "", "+14155550100") // no email: skipped at Klaviyo
	c2 := b.customer(uniqueShopifyID(), "d2@example.com", "")
	b.events(c1, rewarded(2, "")...)
	b.events(c2, rewarded(1, "")...)
	b.events(c2, ev{key: "coupon_created", props: map[string]any{"coupon_code": "C", "discount_type": "percentage", "discount_value": 10, "points_spent": 100}})
	b.run(forward.RunnerOptions{})
	b.waitStatus(15*time.Second, map[string]int{"sent": 5, "skipped": 2})

	all := b.deliveries(forward.DeliveryFilter{})
	body, _ := json.Marshal(all[0])
	for _, key := range []string{`"id":`, `"event_id":`, `"event":`, `"integration":`, `"status":`, `"attempts":`, `"last_status_code":`,
		`"last_error":`, `"customer_id":"`, `"created_at":`, `"sent_at":`, `"possibly_duplicated":`, `"response_excerpt":`} {
		if !strings.Contains(string(body), key) {
			t.Fatalf("delivery JSON lacks %s: %s", key, body)
		}
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			t.Fatal("not newest first")
		}
	}
	for _, tc := range []struct {
		f    forward.DeliveryFilter
		want int
	}{
		{forward.DeliveryFilter{Status: "skipped"}, 2},
		{forward.DeliveryFilter{Integration: "klaviyo"}, 3},
		{forward.DeliveryFilter{Integration: "clevertap", Event: "coupon_created"}, 1},
		{forward.DeliveryFilter{CustomerID: strconv.FormatInt(c1.shopifyID, 10)}, 4},
		{forward.DeliveryFilter{CustomerID: "gid://shopify/Customer/" + strconv.FormatInt(c2.shopifyID, 10), Status: "sent"}, 3},
		{forward.DeliveryFilter{Limit: 2}, 2},
		{forward.DeliveryFilter{Before: all[1].ID}, len(all) - 2},
		{forward.DeliveryFilter{From: time.Now().Add(time.Hour)}, 0},
	} {
		if got := len(b.deliveries(tc.f)); got != tc.want {
			t.Errorf("filter %+v: %d deliveries, want %d", tc.f, got, tc.want)
		}
	}
	for _, tc := range []struct {
		f     forward.DeliveryFilter
		field string
	}{
		{forward.DeliveryFilter{Status: "delivered"}, "status"},
		{forward.DeliveryFilter{Event: "points_earned"}, "event"},
		{forward.DeliveryFilter{Integration: "mailchimp"}, "integration"},
		{forward.DeliveryFilter{CustomerID: "abc"}, "customer_id"},
		{forward.DeliveryFilter{From: time.Now(), To: time.Now().Add(-time.Hour)}, "from"},
	} {
		if _, err := b.svc.ListDeliveries(ctx, b.shop.ID, tc.f); fieldOf(err) != tc.field {
			t.Errorf("filter %+v: %v; want a %s field error", tc.f, err, tc.field)
		}
	}
	// RetryAll puts skipped ones back; they are skipped again (still no
	// email), with the reason.
	if _, err := b.svc.RetryAll(ctx, b.shop.ID, forward.DeliveryFilter{Status: "sent"}); fieldOf(err) != "status" {
		t.Fatalf("retry all sent: %v", err)
	}
	n, err := b.svc.RetryAll(ctx, b.shop.ID, forward.DeliveryFilter{Integration: "klaviyo"})
	if err != nil || n != 2 {
		t.Fatalf("retried %d, %v", n, err)
	}
	b.waitStatus(15*time.Second, map[string]int{"sent": 5, "skipped": 2})
	if _, err := b.svc.Retry(ctx, b.shop.ID, 999999); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("retry unknown: %v", err)
	}
}

func TestRunner_Sweep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.connectKlaviyo("email")
	b.connectCleverTap("email")
	b.define("klaviyo", "wallet_points_rewarded", "")
	c := b.customer(uniqueShopifyID(), "sw@example.com", "")
	// An event written without routing (a code path that forgot the hook).
	id := uuid.New()
	if err := b.st.Gorm().Exec(`INSERT INTO loyalty_events (id, shop_id, customer_id, shopify_customer_id, key, channel, occurred_at,
    properties, points_balance, tier, currency, source_key) VALUES (?, ?, ?, ?, 'wallet_points_rewarded', '', now(), '{"points": 1, "reason": "manual"}', 1, '', 'USD', 'sweep')`,
		id.String(), b.shop.ID, c.id, c.shopifyID).Error; err != nil {
		t.Fatal(err)
	}
	// A CleverTap check cut off by a crash long ago.
	if err := b.st.Gorm().Exec("UPDATE integrations SET status = 'initializing', updated_at = now() - interval '1 hour' WHERE kind = 'clevertap'").Error; err != nil {
		t.Fatal(err)
	}
	r := forward.NewRunner(b.db, b.svc, forward.RunnerOptions{})
	if err := r.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if d := b.delivery(id); d.Status != "pending" || d.Integration != "klaviyo" {
		t.Fatalf("swept delivery %+v", d)
	}
	if v, _ := b.svc.Get(ctx, b.shop.ID, "clevertap"); v.Status != "paused" || !strings.Contains(v.StatusReason, "interrupted") {
		t.Fatalf("stale initializing integration %+v", v)
	}
	if err := r.Sweep(ctx); err != nil || len(b.deliveries(forward.DeliveryFilter{})) != 1 {
		t.Fatalf("second sweep: %v", err)
	}

	// Every sweeper down for three hours: an event missed two hours ago is
	// still repaired, from the shop's mark, not a window back from now.
	late := uuid.New()
	if err := b.st.Gorm().Exec(`INSERT INTO loyalty_events (id, shop_id, customer_id, shopify_customer_id, key, channel, occurred_at,
    properties, points_balance, tier, currency, source_key, created_at) VALUES (?, ?, ?, ?, 'wallet_points_rewarded', '', now(), '{"points": 2, "reason": "manual"}', 3, '', 'USD', 'sweep-late', now() - interval '2 hours')`,
		late.String(), b.shop.ID, c.id, c.shopifyID).Error; err != nil {
		t.Fatal(err)
	}
	if err := b.st.Gorm().Exec(`UPDATE shops SET routing_swept_until = now() - interval '3 hours'`).Error; err != nil {
		t.Fatal(err)
	}
	if err := b.st.Gorm().Exec(`UPDATE event_definitions SET updated_at = now() - interval '4 hours'`).Error; err != nil {
		t.Fatal(err)
	}
	if err := r.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if d := b.delivery(late); d.Status != "pending" {
		t.Fatalf("event missed during the outage: %+v", d)
	}
}

// TestRunner_KlaviyoProfileRidesOnEvent: the event that leaves the
// customer's balance and tier as they are now sets them on the profile
// (attributes.properties), so the flow it triggers shows the new balance;
// an older event, whose balance is no longer the customer's, does not.
func TestRunner_KlaviyoProfileRidesOnEvent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.connectKlaviyo("email")
	b.define("klaviyo", "wallet_points_rewarded", "")
	c := b.customer(uniqueShopifyID(), "ride@example.com", "")
	b.loyalty(c, 250, "gold", 0, time.Time{})
	ids := b.events(c,
		ev{key: "wallet_points_rewarded", balance: 100, tier: "silver", occurredAt: time.Now().Add(-time.Minute)},
		ev{key: "wallet_points_rewarded", balance: 250, tier: "gold"})
	b.quietProfiles()
	b.run(forward.RunnerOptions{})
	b.waitStatus(20*time.Second, map[string]int{"sent": 2})
	props := map[string]map[string]any{}
	for _, r := range b.kl.Requests() {
		if r.Path != "/api/events/" {
			continue
		}
		var doc struct {
			Data struct {
				Attributes struct {
					UniqueID string `json:"unique_id"`
					Profile  struct {
						Data struct {
							Attributes struct {
								Properties map[string]any `json:"properties"`
							} `json:"attributes"`
						} `json:"data"`
					} `json:"profile"`
				} `json:"attributes"`
			} `json:"data"`
		}
		if err := json.Unmarshal(r.Body, &doc); err != nil {
			t.Fatal(err)
		}
		props[doc.Data.Attributes.UniqueID] = doc.Data.Attributes.Profile.Data.Attributes.Properties
	}
	if p := props[ids[1].String()]; p["loyalty_points_balance"] != 250.0 || p["loyalty_tier"] != "gold" {
		t.Fatalf("current event's profile properties %v", p)
	}
	if p := props[ids[0].String()]; p != nil {
		t.Fatalf("a stale event set profile properties %v", p)
	}
	if got := b.kl.Profiles(); len(got) != 1 || got[0].Properties["loyalty_points_balance"] != 250.0 {
		t.Fatalf("profile %+v", got)
	}
}

// TestRunner_IdentityChoices: the merchant's identity choices per
// integration. Klaviyo with send_phone lets the phone ride along; Klaviyo
// without the fallback skips a phone-only customer; CleverTap's fallback
// (off by default) sends them keyed by the phone; CleverTap profiles carry
// Email and Phone. Saving the integration again without the choices keeps
// them.
func TestRunner_IdentityChoices(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	on, off := true, false
	v, err := b.svc.ConnectKlaviyo(ctx, b.shop.ID, forward.KlaviyoInput{CommonProperty: "email", PrivateAPIKey: klaviyoKey, SendPhone: &on, PhoneFallback: &off})
	if err != nil || !v.SendPhone || v.PhoneFallback {
		t.Fatalf("connect %+v, %v", v, err)
	}
	// Saved again without the choices (a new key, say): they stay.
	if v, err = b.svc.ConnectKlaviyo(ctx, b.shop.ID, forward.KlaviyoInput{CommonProperty: "email"}); err != nil || !v.SendPhone || v.PhoneFallback {
		t.Fatalf("reconnect %+v, %v", v, err)
	}
	ct, err := b.svc.ConnectCleverTap(ctx, b.shop.ID, forward.CleverTapInput{CommonProperty: "email", AccountID: ctAccount, Passcode: ctPasscode, Region: ctRegion, PhoneFallback: &on})
	if err != nil || !ct.PhoneFallback {
		t.Fatalf("connect CleverTap %+v, %v", ct, err)
	}
	b.define("klaviyo", "wallet_points_rewarded", "")
	b.define("clevertap", "wallet_points_rewarded", "")
	both := b.customer(uniqueShopifyID(), "both@example.com", "+14155550140")
	phoneOnly := b.customer(uniqueShopifyID(), "", "+14155550141")
	b.sh.AddCustomer(testShop, fake.ShopifyCustomer{ID: phoneOnly.shopifyID, Phone: "+14155550141"})
	bothIDs := b.events(both, rewarded(1, "")...)
	poIDs := b.events(phoneOnly, rewarded(1, "")...)
	b.run(forward.RunnerOptions{})
	b.waitStatus(20*time.Second, map[string]int{"sent": 3, "skipped": 1})

	if evs := b.kl.Events(); len(evs) != 1 || evs[0].Profile.Email != "both@example.com" || evs[0].Profile.PhoneNumber != "+14155550140" {
		t.Fatalf("Klaviyo events %+v", evs)
	}
	for _, d := range b.deliveries(forward.DeliveryFilter{}) {
		switch {
		case d.EventID == poIDs[0].String() && d.Integration == "klaviyo":
			if d.Status != "skipped" || !strings.Contains(d.LastError, "phone-only") {
				t.Fatalf("Klaviyo without the fallback %+v", d)
			}
		case d.EventID == poIDs[0].String():
			if d.Status != "sent" || !d.IdentityFallback {
				t.Fatalf("CleverTap fallback %+v", d)
			}
		case d.EventID == bothIDs[0].String() && d.IdentityFallback:
			t.Fatalf("not a fallback %+v", d)
		}
	}
	ids := map[string]bool{}
	for _, e := range b.ct.Events() {
		ids[e.Identity] = true
	}
	if !ids["both@example.com"] || !ids["+14155550141"] || len(ids) != 2 {
		t.Fatalf("CleverTap identities %v", ids)
	}
	b.waitFor(10*time.Second, "CleverTap profile with Email and Phone", func() (bool, string) {
		for _, p := range b.ct.Profiles() {
			if p.Identity == "both@example.com" && p.Data["Email"] == "both@example.com" && p.Data["Phone"] == "+14155550140" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", b.ct.Profiles())
	})
}

// TestRunner_KlaviyoFreshBurstGoesSingle: a burst of fresh events (no
// backlog) goes as single events, which Klaviyo confirms one by one: all
// sent, none in a bulk job.
func TestRunner_KlaviyoFreshBurstGoesSingle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.connectKlaviyo("email")
	b.define("klaviyo", "wallet_points_rewarded", "")
	b.events(b.customer(uniqueShopifyID(), "burst@example.com", ""), rewarded(200, "")...)
	b.quietProfiles()
	b.run(forward.RunnerOptions{})
	b.waitStatus(60*time.Second, map[string]int{"sent": 200})
	for _, e := range b.kl.Events() {
		if e.Bulk {
			t.Fatal("a fresh burst went in a bulk job")
		}
	}
}

// TestRunner_KlaviyoResendsByKeyIdentifier: with the phone riding along
// (send_phone), Klaviyo refuses a phone its validation finds invalid
// (400 on .../phone_number); the event is sent again by its key, the
// email, and is not lost.
func TestRunner_KlaviyoResendsByKeyIdentifier(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{klaviyo: fake.KlaviyoOptions{InvalidPhones: []string{"+10000000000"}}})
	on := true
	if _, err := b.svc.ConnectKlaviyo(context.Background(), b.shop.ID, forward.KlaviyoInput{CommonProperty: "email", PrivateAPIKey: klaviyoKey, SendPhone: &on}); err != nil {
		t.Fatal(err)
	}
	b.define("klaviyo", "wallet_points_rewarded", "")
	bad := b.customer(uniqueShopifyID(), "odd-phone@example.com", "+10000000000")
	good := b.customer(uniqueShopifyID(), "fine@example.com", "+14155550150")
	b.events(bad, rewarded(1, "")...)
	b.events(good, rewarded(1, "")...)
	b.quietProfiles()
	b.run(forward.RunnerOptions{})
	b.waitStatus(15*time.Second, map[string]int{"sent": 2})
	byEmail := map[string]string{}
	for _, e := range b.kl.Events() {
		byEmail[e.Profile.Email] = e.Profile.PhoneNumber
	}
	if len(byEmail) != 2 || byEmail["odd-phone@example.com"] != "" || byEmail["fine@example.com"] != "+14155550150" {
		t.Fatalf("events by email → phone: %v", byEmail)
	}
	if n := b.klCount.count(400); n != 1 {
		t.Fatalf("Klaviyo answered 400 %d times, want once (then the resend by email)", n)
	}
}
