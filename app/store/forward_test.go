package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/store"
)

// fwd is the fixture of the forwarding tests: one shop with a customer and
// both integrations.
type fwd struct {
	st        *store.Store
	shop      *store.Shop
	customer  int64 // row id
	shopifyID int64
	klaviyo   *store.Integration
	clevertap *store.Integration
}

func fwdSetup(t *testing.T, st *store.Store, domain string) *fwd {
	t.Helper()
	ctx := context.Background()
	sh, err := st.SaveInstall(ctx, domain, store.Tokens{Scope: "read_customers", AccessToken: "sealed"})
	if err != nil {
		t.Fatal(err)
	}
	f := &fwd{st: st, shop: sh, shopifyID: 7293847561}
	c, _, err := st.UpsertCustomer(ctx, sh.ID, store.CustomerIdentity{ShopifyID: f.shopifyID, GID: "gid://shopify/Customer/7293847561", Email: "sarah@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	f.customer = c.ID
	f.klaviyo = fwdIntegration(t, st, sh.ID, store.IntegrationKlaviyo, store.IntegrationActive)
	f.clevertap = fwdIntegration(t, st, sh.ID, store.IntegrationCleverTap, store.IntegrationActive)
	return f
}

func fwdIntegration(t *testing.T, st *store.Store, shopID app.ShopID, kind, status string) *store.Integration {
	t.Helper()
	in, err := st.SaveIntegration(context.Background(), shopID, store.IntegrationSettings{
		Kind: kind, Status: status, CommonProperty: "email", AccountID: "acct-" + kind, Credentials: "v1.sealed", Validated: status == store.IntegrationActive,
	})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func (f *fwd) define(t *testing.T, in *store.Integration, ev string, channels []string, enabled bool) *store.EventDefinition {
	t.Helper()
	d, err := f.st.CreateEventDefinition(context.Background(), f.shop.ID, store.EventDefinition{
		IntegrationID: in.ID, Event: ev, Name: ev, Channels: channels, Enabled: enabled,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// event inserts a loyalty event row directly (the loyalty engine's insert
// is someone else's code) and returns its id.
func (f *fwd) event(t *testing.T, key, channel string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	err := f.st.Gorm().Exec(`INSERT INTO loyalty_events (id, shop_id, customer_id, shopify_customer_id, key, channel, occurred_at,
    properties, points_balance, tier, currency, source_key) VALUES (?, ?, ?, ?, ?, ?, now(), '{"points": 5}', 5, 'silver', 'USD', ?)`,
		id.String(), f.shop.ID, f.customer, f.shopifyID, key, channel, "test:"+id.String()).Error
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type routed struct {
	integration int64
	event       uuid.UUID
}

func (f *fwd) routed(t *testing.T) []routed {
	t.Helper()
	var rows []struct {
		IntegrationID int64
		EventID       uuid.UUID
	}
	if err := f.st.Gorm().Raw("SELECT integration_id, event_id FROM deliveries WHERE shop_id = ?", f.shop.ID).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := make([]routed, len(rows))
	for i, r := range rows {
		out[i] = routed{r.IntegrationID, r.EventID}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].integration != out[j].integration {
			return out[i].integration < out[j].integration
		}
		return out[i].event.String() < out[j].event.String()
	})
	return out
}

func sortRouted(rs []routed) []routed {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].integration != rs[j].integration {
			return rs[i].integration < rs[j].integration
		}
		return rs[i].event.String() < rs[j].event.String()
	})
	return rs
}

func TestStore_RouteEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.Tx(t)
	f := fwdSetup(t, st, "route.myshopify.com")
	kl, ct := f.klaviyo, f.clevertap
	f.define(t, kl, "wallet_points_rewarded", nil, true)
	f.define(t, kl, "coupon_redeemed", []string{"pos"}, true)
	f.define(t, kl, "tier_upgraded", nil, false) // disabled
	f.define(t, ct, "wallet_points_rewarded", []string{"online_store", "draft_order"}, true)
	f.define(t, ct, "review_submitted", nil, true)

	e1 := f.event(t, "wallet_points_rewarded", "online_store")
	e2 := f.event(t, "wallet_points_rewarded", "pos")
	e3 := f.event(t, "coupon_redeemed", "pos")
	e4 := f.event(t, "coupon_redeemed", "online_store")
	e5 := f.event(t, "tier_upgraded", "")
	e6 := f.event(t, "review_submitted", "")
	e7 := f.event(t, "birthday_reward", "") // no definition anywhere
	all := []uuid.UUID{e1, e2, e3, e4, e5, e6, e7}

	n, err := st.RouteEvents(ctx, f.shop.ID, all)
	if err != nil {
		t.Fatal(err)
	}
	want := sortRouted([]routed{{kl.ID, e1}, {kl.ID, e2}, {kl.ID, e3}, {ct.ID, e1}, {ct.ID, e6}})
	if got := f.routed(t); n != 5 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("routed %d: %v\nwant %v", n, got, want)
	}
	t.Run("SameEventsAgainNoDuplicates", func(t *testing.T) {
		n, err := st.RouteEvents(ctx, f.shop.ID, append(all, e1, e1))
		if err != nil || n != 0 {
			t.Fatalf("second routing created %d, %v", n, err)
		}
		if got := f.routed(t); len(got) != 5 {
			t.Fatalf("rows after re-routing: %v", got)
		}
	})
	t.Run("DeliveryRowsArePendingAndDue", func(t *testing.T) {
		rows, err := st.Deliveries(ctx, f.shop.ID, store.DeliveryQuery{})
		if err != nil || len(rows) != 5 {
			t.Fatalf("%d rows, %v", len(rows), err)
		}
		for _, d := range rows {
			if d.Status != store.DeliveryPending || d.Attempts != 0 || d.DefinitionID == nil || d.ShopifyCustomerID != f.shopifyID ||
				d.CustomerID != f.customer || d.Integration == "" {
				t.Fatalf("delivery %+v", d)
			}
		}
	})
	t.Run("ProfilesMarkedDirtyPerIntegration", func(t *testing.T) {
		ps, err := st.ProfileSyncs(ctx, f.shop.ID, f.customer)
		if err != nil || len(ps) != 2 {
			t.Fatalf("profile syncs %+v, %v", ps, err)
		}
		for _, p := range ps {
			// One bump per routing call that saw the customer's events.
			if p.Version != 2 || p.SyncedVersion != 0 {
				t.Fatalf("profile sync %+v", p)
			}
		}
	})
	t.Run("PausedIntegrationStillRouted_NotConnectedNot", func(t *testing.T) {
		ok, err := st.PauseIntegration(ctx, f.shop.ID, kl.ID, kl.Credentials, "test")
		if err != nil || !ok {
			t.Fatalf("pause: %v %v", ok, err)
		}
		if _, err := st.SaveIntegration(ctx, f.shop.ID, store.IntegrationSettings{Kind: store.IntegrationCleverTap, Status: store.IntegrationNotConnected, CommonProperty: "email"}); err != nil {
			t.Fatal(err)
		}
		e8 := f.event(t, "wallet_points_rewarded", "online_store")
		n, err := st.RouteEvents(ctx, f.shop.ID, []uuid.UUID{e8})
		if err != nil || n != 1 {
			t.Fatalf("routed %d, %v", n, err)
		}
		rows, _ := st.Deliveries(ctx, f.shop.ID, store.DeliveryQuery{Limit: 1})
		if rows[0].EventID != e8 || rows[0].IntegrationID != kl.ID {
			t.Fatalf("newest delivery %+v", rows[0])
		}
	})
}

func TestStore_RouteUnrouted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.Tx(t)
	f := fwdSetup(t, st, "sweep.myshopify.com")
	old := f.event(t, "wallet_points_rewarded", "pos")
	// The definition is created after the event: not retroactive.
	d := f.define(t, f.klaviyo, "wallet_points_rewarded", nil, true)
	if err := st.Gorm().Exec("UPDATE loyalty_events SET created_at = now() - interval '1 minute' WHERE id = ?", old.String()).Error; err != nil {
		t.Fatal(err)
	}
	missed := f.event(t, "wallet_points_rewarded", "pos") // written after the definition, never routed
	if err := st.Gorm().Exec("UPDATE event_definitions SET created_at = now() - interval '30 seconds', updated_at = now() - interval '30 seconds' WHERE id = ?", d.ID).Error; err != nil {
		t.Fatal(err)
	}
	n, err := st.RouteUnrouted(ctx, f.shop.ID, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got := f.routed(t)
	if n != 1 || len(got) != 1 || got[0].event != missed {
		t.Fatalf("sweep routed %d: %v (old %s, missed %s)", n, got, old, missed)
	}
	// Never swept: the window back from now; swept: from the mark.
	now := time.Now()
	shops, err := st.ShopsToSweep(ctx, now, time.Hour)
	if err != nil || len(shops) != 1 || shops[0].ID != f.shop.ID || !shops[0].Since.Equal(now.Add(-time.Hour).Truncate(time.Microsecond)) {
		t.Fatalf("shops %+v, %v", shops, err)
	}
	if err := st.MarkSwept(ctx, now.Add(-3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if shops, _ = st.ShopsToSweep(ctx, now, time.Minute); len(shops) != 1 || !shops[0].Since.Equal(now.Add(-3*time.Hour-time.Minute).Truncate(time.Microsecond)) {
		t.Fatalf("from the mark: %+v", shops)
	}
	if err := st.MarkSwept(ctx, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if shops, _ = st.ShopsToSweep(ctx, now, time.Second); len(shops) != 0 {
		t.Fatalf("nothing written since the mark, still swept: %+v", shops)
	}
	if n, _ := st.RouteUnrouted(ctx, f.shop.ID, time.Now().Add(-time.Hour)); n != 0 {
		t.Fatalf("second sweep routed %d", n)
	}
	// An event written while a definition was disabled stays unrouted when
	// the definition is enabled again.
	off := f.define(t, f.clevertap, "coupon_created", nil, false)
	if err := st.Gorm().Exec("UPDATE event_definitions SET created_at = now() - interval '1 hour', updated_at = now() - interval '1 hour' WHERE id = ?", off.ID).Error; err != nil {
		t.Fatal(err)
	}
	whileOff := f.event(t, "coupon_created", "")
	if err := st.Gorm().Exec("UPDATE loyalty_events SET created_at = now() - interval '10 minutes' WHERE id = ?", whileOff.String()).Error; err != nil {
		t.Fatal(err)
	}
	off.Enabled = true
	if _, err := st.UpdateEventDefinition(ctx, f.shop.ID, *off); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.RouteUnrouted(ctx, f.shop.ID, time.Now().Add(-time.Hour)); n != 0 {
		t.Fatalf("the sweep replayed %d events of a disabled definition", n)
	}
}

// TestStore_ForwardTenantIsolation proves, table by table, that shop B can
// neither see nor change shop A's rows through the store API.
func TestStore_ForwardTenantIsolation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.Tx(t)
	a := fwdSetup(t, st, "tenant-a.myshopify.com")
	b := fwdSetup(t, st, "tenant-b.myshopify.com")
	def := a.define(t, a.klaviyo, "wallet_points_rewarded", nil, true)
	ev := a.event(t, "wallet_points_rewarded", "")
	if n, err := st.RouteEvents(ctx, a.shop.ID, []uuid.UUID{ev}); err != nil || n != 1 {
		t.Fatalf("route: %d %v", n, err)
	}
	rows, _ := st.Deliveries(ctx, a.shop.ID, store.DeliveryQuery{})
	if len(rows) != 1 {
		t.Fatalf("deliveries of A: %d", len(rows))
	}
	delivery := rows[0]
	if err := st.Gorm().Exec("UPDATE deliveries SET status = 'failed' WHERE id = ?", delivery.ID).Error; err != nil {
		t.Fatal(err)
	}

	t.Run("Integrations", func(t *testing.T) {
		list, err := st.Integrations(ctx, b.shop.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range list {
			if in.ShopID != b.shop.ID || in.ID == a.klaviyo.ID {
				t.Fatalf("B sees %+v", in)
			}
		}
		if ok, _ := st.PauseIntegration(ctx, b.shop.ID, a.klaviyo.ID, a.klaviyo.Credentials, "x"); ok {
			t.Fatal("B paused A's integration")
		}
		if err := st.DeleteIntegration(ctx, b.shop.ID, "klaviyo"); err != nil {
			t.Fatal(err) // B's own
		}
		if _, err := st.Integration(ctx, a.shop.ID, "klaviyo"); err != nil {
			t.Fatalf("A's integration went with B's: %v", err)
		}
		prev := *a.klaviyo
		prev.StatusReason = "hijacked"
		_ = st.RestoreIntegration(ctx, b.shop.ID, &prev)
		if got, _ := st.Integration(ctx, a.shop.ID, "klaviyo"); got.StatusReason == "hijacked" {
			t.Fatal("B restored over A's integration")
		}
	})
	t.Run("EventDefinitions", func(t *testing.T) {
		if _, err := st.EventDefinition(ctx, b.shop.ID, a.klaviyo.ID, def.ID); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("B read A's definition: %v", err)
		}
		if list, _ := st.EventDefinitions(ctx, b.shop.ID, a.klaviyo.ID); len(list) != 0 {
			t.Fatalf("B listed %v", list)
		}
		upd := *def
		upd.Enabled = false
		if _, err := st.UpdateEventDefinition(ctx, b.shop.ID, upd); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("B updated A's definition: %v", err)
		}
		if _, err := st.DeleteEventDefinition(ctx, b.shop.ID, a.klaviyo.ID, def.ID, "x"); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("B deleted A's definition: %v", err)
		}
		// The composite foreign key refuses a definition on another shop's
		// integration even if code tried. Run in a savepoint so the error
		// does not abort the test transaction.
		err := st.Tx(ctx, func(tx *store.Store) error {
			_, err := tx.CreateEventDefinition(ctx, b.shop.ID, store.EventDefinition{IntegrationID: a.klaviyo.ID, Event: "coupon_created", Name: "x", Enabled: true})
			return err
		})
		if app.ErrorCode(err) != app.EINVALID {
			t.Fatalf("definition on A's integration for B: %v", err)
		}
		if got, _ := st.EventDefinition(ctx, a.shop.ID, a.klaviyo.ID, def.ID); got == nil || !got.Enabled {
			t.Fatalf("A's definition changed: %+v", got)
		}
	})
	t.Run("Deliveries", func(t *testing.T) {
		if list, _ := st.Deliveries(ctx, b.shop.ID, store.DeliveryQuery{}); len(list) != 0 {
			t.Fatalf("B listed %v", list)
		}
		if _, err := st.DeliveryByID(ctx, b.shop.ID, delivery.ID); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("B read A's delivery: %v", err)
		}
		if _, err := st.RetryDelivery(ctx, b.shop.ID, delivery.ID); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("B retried A's delivery: %v", err)
		}
		if n, _ := st.RetryDeliveries(ctx, b.shop.ID, store.DeliveryQuery{}); n != 0 {
			t.Fatalf("B retried %d", n)
		}
		if got, _ := st.DeliveryByID(ctx, a.shop.ID, delivery.ID); got.Status != store.DeliveryFailed {
			t.Fatalf("A's delivery changed: %s", got.Status)
		}
		counts, _ := st.DeliveryCounts(ctx, b.shop.ID, store.DeliveryCountsQuery{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour), Bucket: "day", TimeZone: "UTC"})
		if len(counts) != 0 {
			t.Fatalf("B counted %v", counts)
		}
		// Routing A's event ids under B creates nothing.
		b.define(t, b.clevertap, "wallet_points_rewarded", nil, true) // B's klaviyo was deleted above
		if n, err := st.RouteEvents(ctx, b.shop.ID, []uuid.UUID{ev}); err != nil || n != 0 {
			t.Fatalf("B routed A's event: %d %v", n, err)
		}
		if n, err := st.RouteUnrouted(ctx, b.shop.ID, time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("B swept A's event: %d %v", n, err)
		}
	})
	t.Run("ProfileSyncs", func(t *testing.T) {
		if ps, _ := st.ProfileSyncs(ctx, b.shop.ID, a.customer); len(ps) != 0 {
			t.Fatalf("B read A's profile syncs: %v", ps)
		}
	})
	t.Run("CustomerIdentityCache", func(t *testing.T) {
		if err := st.CacheCustomerIdentity(ctx, b.shop.ID, a.customer, "x@evil.test", "+15550000000", map[string]string{"a.b": "c"}); err != nil {
			t.Fatal(err)
		}
		c, _ := st.CustomerByShopifyID(ctx, a.shop.ID, a.shopifyID)
		if c.Phone != "" || len(c.MetafieldMap()) != 0 {
			t.Fatalf("B wrote A's customer: %+v", c)
		}
	})
}

func TestStore_EventDefinitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.Tx(t)
	f := fwdSetup(t, st, "defs.myshopify.com")
	d := f.define(t, f.klaviyo, "coupon_redeemed", []string{"pos", "online_store"}, true)
	if fmt.Sprint([]string(d.Channels)) != "[pos online_store]" {
		t.Fatalf("channels %v", d.Channels)
	}
	err := st.Tx(ctx, func(tx *store.Store) error {
		_, err := tx.CreateEventDefinition(ctx, f.shop.ID, store.EventDefinition{IntegrationID: f.klaviyo.ID, Event: "coupon_redeemed", Name: "again", Enabled: true})
		return err
	})
	if app.ErrorCode(err) != app.ECONFLICT {
		t.Fatalf("duplicate definition: %v", err)
	}
	d.Channels, d.Name = nil, "Coupon used"
	got, err := st.UpdateEventDefinition(ctx, f.shop.ID, *d)
	if err != nil || len(got.Channels) != 0 || got.Name != "Coupon used" {
		t.Fatalf("update: %+v %v", got, err)
	}
	// Deleting a definition skips its pending deliveries, with the reason.
	ev := f.event(t, "coupon_redeemed", "pos")
	if n, _ := st.RouteEvents(ctx, f.shop.ID, []uuid.UUID{ev}); n != 1 {
		t.Fatal("not routed")
	}
	skipped, err := st.DeleteEventDefinition(ctx, f.shop.ID, f.klaviyo.ID, d.ID, "definition deleted")
	if err != nil || skipped != 1 {
		t.Fatalf("delete: %d %v", skipped, err)
	}
	rows, _ := st.Deliveries(ctx, f.shop.ID, store.DeliveryQuery{})
	if len(rows) != 1 || rows[0].Status != store.DeliverySkipped || rows[0].LastError != "definition deleted" {
		t.Fatalf("after delete: %+v", rows)
	}
}

func TestStore_StringArray(t *testing.T) {
	t.Parallel()
	st := pgtest.Tx(t)
	in := store.StringArray{"a", `b,"c"`, `back\slash`, "", "NULL", "ü {x}"}
	var out store.StringArray
	if err := st.Gorm().Raw("SELECT ?::text[]", in).Row().Scan(&out); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%q", out) != fmt.Sprintf("%q", in) {
		t.Fatalf("round trip %q != %q", out, in)
	}
}

func TestStore_ClaimAndRecordDeliveries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	st := store.New(db.Gorm)
	f := fwdSetup(t, st, "claim.myshopify.com")
	f.define(t, f.klaviyo, "wallet_points_rewarded", nil, true)
	var ids []uuid.UUID
	for range 30 {
		ids = append(ids, f.event(t, "wallet_points_rewarded", ""))
	}
	if _, err := st.RouteEvents(ctx, f.shop.ID, ids); err != nil {
		t.Fatal(err)
	}
	// Concurrent claims never overlap.
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := st.ClaimDeliveries(ctx, f.klaviyo.ID, 7, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for _, d := range got {
				seen[d.ID]++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("delivery %d claimed %d times", id, n)
		}
	}
	if len(seen) != 30 {
		t.Fatalf("claimed %d of 30", len(seen))
	}
	if again, _ := st.ClaimDeliveries(ctx, f.klaviyo.ID, 100, time.Minute); len(again) != 0 {
		t.Fatalf("leased rows claimed again: %d", len(again))
	}

	t.Run("ExpiredLeaseIsReclaimedAndFlagged", func(t *testing.T) {
		if err := st.Gorm().Exec("UPDATE deliveries SET next_attempt_at = now() - interval '1 second' WHERE integration_id = ?", f.klaviyo.ID).Error; err != nil {
			t.Fatal(err)
		}
		got, err := st.ClaimDeliveries(ctx, f.klaviyo.ID, 100, time.Minute)
		if err != nil || len(got) != 30 {
			t.Fatalf("reclaimed %d, %v", len(got), err)
		}
		for _, d := range got {
			if d.PrevLease == nil || d.Attempts != 2 || d.Name != "wallet_points_rewarded" || d.Email != "sarah@example.com" ||
				d.Currency != "USD" || string(d.Properties) != `{"points": 5}` {
				t.Fatalf("reclaimed %+v", d)
			}
		}
		// A stale holder's outcome (attempt 1) is not applied.
		n, err := st.RecordDeliveryOutcomes(ctx, []store.DeliveryOutcome{{ID: got[0].ID, Attempts: 1, Status: store.DeliverySent}})
		if err != nil || n != 0 {
			t.Fatalf("stale outcome applied: %d %v", n, err)
		}
		outs := []store.DeliveryOutcome{
			{ID: got[0].ID, Attempts: 2, Status: store.DeliverySent, StatusCode: 202},
			{ID: got[1].ID, Attempts: 2, Status: store.DeliveryFailed, StatusCode: 400, Error: "bad", Excerpt: "\x00" + strings.Repeat("é", 600)},
			{ID: got[2].ID, Attempts: 2, Status: store.DeliveryPending, Uncount: true, StatusCode: 429, NextAttemptAt: time.Now().Add(time.Hour)},
			{ID: got[3].ID, Attempts: 2, Status: store.DeliveryPending, Release: true, NextAttemptAt: time.Now()},
			{ID: got[4].ID, Attempts: 2, Status: store.DeliveryLate, PossiblyDuplicated: true, StatusCode: 200},
		}
		if n, err := st.RecordDeliveryOutcomes(ctx, outs); err != nil || n != 5 {
			t.Fatalf("recorded %d, %v", n, err)
		}
		check := func(i int, f func(d *store.DeliveryRow) bool) {
			t.Helper()
			d, _ := st.DeliveryByID(ctx, got[i].ShopID, got[i].ID)
			if !f(d) {
				b, _ := json.Marshal(d)
				t.Fatalf("outcome %d: %s", i, b)
			}
		}
		check(0, func(d *store.DeliveryRow) bool {
			return d.Status == "sent" && d.SentAt != nil && *d.LastStatusCode == 202 && d.LeaseUntil == nil && d.Attempts == 2
		})
		check(1, func(d *store.DeliveryRow) bool {
			return d.Status == "failed" && len(d.ResponseExcerpt) <= 512 && len(d.ResponseExcerpt) >= 510 && !strings.Contains(d.ResponseExcerpt, "\x00") && d.LastError == "bad"
		})
		check(2, func(d *store.DeliveryRow) bool {
			return d.Status == "pending" && d.Attempts == 1 && *d.LastStatusCode == 429
		})
		check(3, func(d *store.DeliveryRow) bool {
			return d.Status == "pending" && d.Attempts == 1 && d.LastStatusCode == nil
		})
		check(4, func(d *store.DeliveryRow) bool { return d.Status == "late" && d.PossiblyDuplicated && d.SentAt != nil })
	})
}

func TestStore_SinkLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	st := store.New(db.Gorm)
	t.Run("RateNeverOverGrants", func(t *testing.T) {
		// An hour-long window keeps the test clear of window edges.
		win := []store.RateWindow{{Per: time.Hour, Limit: 25}, {Per: 2 * time.Hour, Limit: 1000}}
		var mu sync.Mutex
		total := 0
		var wg sync.WaitGroup
		for range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					g, _, err := st.TakeRate(ctx, "test:rate", 1, win, 0)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					total += g
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if total != 25 {
			t.Fatalf("granted %d of a limit of 25", total)
		}
		g, wait, err := st.TakeRate(ctx, "test:rate", 3, win, 0)
		if err != nil || g != 0 || wait <= 0 || wait > time.Hour {
			t.Fatalf("over the limit: %d %s %v", g, wait, err)
		}
	})
	t.Run("PartialGrant", func(t *testing.T) {
		win := []store.RateWindow{{Per: time.Hour, Limit: 10}}
		if g, _, _ := st.TakeRate(ctx, "test:partial", 7, win, 0); g != 7 {
			t.Fatalf("first grant %d", g)
		}
		if g, _, _ := st.TakeRate(ctx, "test:partial", 7, win, 0); g != 3 {
			t.Fatalf("second grant %d, want the 3 left", g)
		}
	})
	t.Run("GuardCountsTheNextWindow", func(t *testing.T) {
		// With a guard as long as the window, every grant also counts in
		// the next window, so two successive windows never exceed the limit.
		win := []store.RateWindow{{Per: time.Second, Limit: 4}}
		g1, _, _ := st.TakeRate(ctx, "test:guard", 4, win, time.Second)
		var n int
		if err := st.Gorm().Raw("SELECT count(*) FROM sink_rate_windows WHERE key = 'test:guard' AND count = ?", g1).Scan(&n).Error; err != nil || n != 2 {
			t.Fatalf("grant counted in %d windows, want 2 (%v)", n, err)
		}
	})
	t.Run("PauseRate", func(t *testing.T) {
		win := []store.RateWindow{{Per: time.Hour, Limit: 100}}
		if err := st.PauseRate(ctx, "test:paused", 3*time.Second); err != nil {
			t.Fatal(err)
		}
		g, wait, err := st.TakeRate(ctx, "test:paused", 1, win, 0)
		if err != nil || g != 0 || wait < 2*time.Second || wait > 3*time.Second {
			t.Fatalf("paused key granted %d, wait %s, %v", g, wait, err)
		}
		if g, _, _ := st.TakeRate(ctx, "test:other", 1, win, 0); g != 1 {
			t.Fatal("a pause leaked to another key")
		}
	})
	t.Run("Leases", func(t *testing.T) {
		var held []store.Lease
		for i := range 3 {
			l, ok, err := st.AcquireLease(ctx, "test:lease", 3, fmt.Sprint("h", i), time.Minute)
			if err != nil || !ok {
				t.Fatalf("lease %d: %v %v", i, ok, err)
			}
			held = append(held, l)
		}
		if _, ok, _ := st.AcquireLease(ctx, "test:lease", 3, "h9", time.Minute); ok {
			t.Fatal("a fourth of three slots was granted")
		}
		// Releasing with the wrong holder does nothing.
		if err := st.ReleaseLease(ctx, store.Lease{Key: "test:lease", Slot: held[0].Slot, Holder: "intruder"}); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := st.AcquireLease(ctx, "test:lease", 3, "h9", time.Minute); ok {
			t.Fatal("a foreign release freed a slot")
		}
		if err := st.ReleaseLease(ctx, held[1]); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := st.AcquireLease(ctx, "test:lease", 3, "h10", 50*time.Millisecond); !ok {
			t.Fatal("a released slot was not free")
		}
		// An expired slot (a crashed holder) is free again by itself.
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, ok, _ := st.AcquireLease(ctx, "test:lease", 3, "h11", time.Minute); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("an expired slot never came back")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("Sweep", func(t *testing.T) {
		if err := st.PruneSinkLimits(ctx, time.Now().Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
		var n int
		_ = st.Gorm().Raw("SELECT count(*) FROM sink_rate_windows").Scan(&n)
		if n != 0 {
			t.Fatalf("%d windows left", n)
		}
		err := st.Tx(ctx, func(tx *store.Store) error {
			ok, err := tx.TryAdvisoryXactLock(ctx, 42)
			if err != nil || !ok {
				return fmt.Errorf("lock: %v %v", ok, err)
			}
			return st.Tx(ctx, func(other *store.Store) error { // another connection
				ok, err := other.TryAdvisoryXactLock(ctx, 42)
				if err != nil || ok {
					return fmt.Errorf("second holder: %v %v", ok, err)
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestStore_RouteEvents_Batch: inside an inbox batch RouteEvents only
// collects; RouteBatchEvents routes what the batch kept, and the events of
// a webhook rolled back to its savepoint route nothing.
func TestStore_RouteEvents_Batch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := pgtest.Tx(t)
	f := fwdSetup(t, st, "route-batch.myshopify.com")
	f.define(t, f.klaviyo, "wallet_points_rewarded", nil, true)
	batch := st.WithBatchReads()

	if err := batch.Savepoint(ctx, "wh"); err != nil {
		t.Fatal(err)
	}
	undone := f.event(t, "wallet_points_rewarded", "online_store")
	if n, err := batch.RouteEvents(ctx, f.shop.ID, []uuid.UUID{undone}); err != nil || n != 0 {
		t.Fatalf("routing in a batch created %d, %v; want only collected", n, err)
	}
	if err := batch.RollbackTo(ctx, "wh"); err != nil {
		t.Fatal(err)
	}
	kept := f.event(t, "wallet_points_rewarded", "online_store")
	if _, err := batch.RouteEvents(ctx, f.shop.ID, []uuid.UUID{kept}); err != nil {
		t.Fatal(err)
	}
	if got := f.routed(t); len(got) != 0 {
		t.Fatalf("deliveries before the batch routes: %v", got)
	}
	n, err := batch.RouteBatchEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []routed{{f.klaviyo.ID, kept}}
	if got := f.routed(t); n != 1 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("batch routed %d: %v; want %v", n, got, want)
	}
	if n, err := batch.RouteBatchEvents(ctx); err != nil || n != 0 {
		t.Fatalf("routing the batch again: %d, %v", n, err)
	}
}
