package forward_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/forward"
)

// TestRunner_StoreCreditIssued: store_credit_issued reaches Klaviyo with
// its amount as the event's monetary value in the credit's currency, and
// its fields as properties (the fake checks the body against Klaviyo's
// schema).
func TestRunner_StoreCreditIssued(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.connectKlaviyo("email")
	b.define("klaviyo", "store_credit_issued", "")
	c := b.customer(uniqueShopifyID(), "ada@example.com", "")
	expires := time.Now().AddDate(0, 0, 90).UTC().Truncate(time.Second)
	ids := b.events(c, ev{key: "store_credit_issued", balance: 600, props: map[string]any{
		"amount": json.Number("5.00"), "currency": "USD", "points_spent": 500, "expires_at": expires.Format(time.RFC3339),
		"reward_id": "credit-5", "reward_name": "5.00 store credit",
	}})
	b.run(forward.RunnerOptions{})
	b.waitStatus(15*time.Second, map[string]int{"sent": 1})
	events := b.kl.Events()
	if len(events) != 1 || events[0].UniqueID != ids[0].String() {
		t.Fatalf("events %+v", events)
	}
	e := events[0]
	if e.Metric != "store_credit_issued" || e.Value == nil || *e.Value != 5 || e.ValueCurrency != "USD" ||
		e.Properties["amount"] != 5.0 || e.Properties["points_spent"] != 500.0 || e.Properties["reward_id"] != "credit-5" ||
		e.Properties["expires_at"] != expires.Format(klaviyoTime) {
		t.Fatalf("recorded %+v", e)
	}
}
