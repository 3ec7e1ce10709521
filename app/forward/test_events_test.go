package forward_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/worker"
)

// TestService_SendTest: a test of an event definition goes through the
// real delivery path to that integration only (not to another one that
// receives the same event, not by the routing backstop), marked is_test;
// it keeps its payload once sent, is marked test in the log, and counts
// in no statistics. Bad input gets its field.
func TestService_SendTest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.connectKlaviyo("email")
	b.connectCleverTap("customer_id")
	kl := b.define("klaviyo", "coupon_created", "Reward Coupon")
	b.define("clevertap", "coupon_created", "")
	c := b.customer(uniqueShopifyID(), "tester@example.com", "")
	b.loyalty(c, 1234, "gold", 0, time.Time{})
	b.quietProfiles()

	d, err := b.svc.SendTest(ctx, b.shop.ID, "klaviyo", kl.ID, c.shopifyID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != "pending" || !d.Test || d.Integration != "klaviyo" || d.Event != "coupon_created" {
		t.Fatalf("queued %+v", d)
	}
	b.run(forward.RunnerOptions{})
	b.waitStatus(20*time.Second, map[string]int{"sent": 1})

	evs := b.kl.Events()
	if len(evs) != 1 || evs[0].Metric != "Reward Coupon" || evs[0].Properties[forward.FieldIsTest] != true ||
		evs[0].Profile.Email != "tester@example.com" || evs[0].Properties["coupon_code"] == nil {
		t.Fatalf("Klaviyo received %+v", evs)
	}
	if n := len(b.ct.Events()); n != 0 {
		t.Fatalf("CleverTap received %d events from a Klaviyo test", n)
	}
	got := b.delivery(uuidOf(t, d.EventID))
	var doc struct {
		Data struct {
			Attributes struct {
				Properties map[string]any `json:"properties"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(got.Payload, &doc); err != nil || doc.Data.Attributes.Properties[forward.FieldIsTest] != true ||
		doc.Data.Attributes.Properties["points_balance"] != float64(1234) {
		t.Fatalf("kept payload %s (%v)", got.Payload, err)
	}

	// The backstop does not route it to CleverTap, and no statistic counts it.
	if n, err := b.st.RouteUnrouted(ctx, b.shop.ID, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("backstop routed %d, %v", n, err)
	}
	st, err := b.svc.Stats(ctx, b.shop.ID, forward.StatsFilter{Bucket: "day"})
	if err != nil || st.Totals != (forward.StatusCounts{}) {
		t.Fatalf("stats %+v, %v", st.Totals, err)
	}
	byEvent, err := b.svc.StatsByEvent(ctx, b.shop.ID, forward.StatsFilter{})
	if err != nil || len(byEvent) != 0 {
		t.Fatalf("stats by event %+v, %v", byEvent, err)
	}
	// Past the retention it goes without leaving a count behind.
	if _, err := worker.ExpireDeliveryLog(ctx, b.st, time.Now().AddDate(0, 0, 100)); err != nil {
		t.Fatal(err)
	}
	var rolled int64
	b.st.Gorm().Raw(`SELECT count(*) FROM delivery_stats_hourly WHERE shop_id = ?`, b.shop.ID).Scan(&rolled)
	if rolled != 0 {
		t.Fatalf("a test was rolled up into the statistics (%d rows)", rolled)
	}

	// Bad input.
	for name, tc := range map[string]struct {
		kind  string
		def   int64
		cust  int64
		code  string
		field string
	}{
		"unknown customer":      {"klaviyo", kl.ID, 999, app.EINVALID, "customer_id"},
		"no customer":           {"klaviyo", kl.ID, 0, app.EINVALID, "customer_id"},
		"unknown definition":    {"klaviyo", 987654, c.shopifyID, app.ENOTFOUND, ""},
		"another integration's": {"clevertap", kl.ID, c.shopifyID, app.ENOTFOUND, ""},
		"unknown integration":   {"mailchimp", kl.ID, c.shopifyID, app.ENOTFOUND, ""},
	} {
		_, err := b.svc.SendTest(ctx, b.shop.ID, tc.kind, tc.def, tc.cust)
		if app.ErrorCode(err) != tc.code || (tc.field != "" && app.ErrorField(err) != tc.field) {
			t.Errorf("%s: %v (code %s, field %s)", name, err, app.ErrorCode(err), app.ErrorField(err))
		}
	}
}

func uuidOf(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
