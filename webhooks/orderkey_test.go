package webhooks

import "testing"

// TestOrderKey: every topic about an order names the same order the same
// way, so its webhooks are serialised; other topics have none; only a body
// that is not JSON at all is malformed.
func TestOrderKey(t *testing.T) {
	t.Parallel()
	const order = "820982911946154500" // the samples' (rounded) numeric order id
	for _, topic := range []string{"orders/create", "orders/paid", "orders/fulfilled", "orders/cancelled", "orders/updated", "orders/edited", "refunds/create"} {
		body, err := Sample(topic)
		if err != nil {
			t.Fatal(err)
		}
		if key, err := orderKey(topic, body); err != nil || key != order {
			t.Errorf("%s: key %q, %v; want %s", topic, key, err, order)
		}
	}
	cases := []struct {
		topic, body, key string
		malformed        bool
	}{
		{"customers/create", `{"id": 7}`, "", false},
		{"orders/paid", `{"admin_graphql_api_id": "gid://shopify/Order/42"}`, "42", false},
		{"orders/paid", `{"id": "not-a-number"}`, "not-a-number", false},
		{"orders/paid", `{"id": {"nested": 1}}`, "", false},
		{"orders/paid", `[1, 2]`, "", false},
		{"refunds/create", `{"order_id": null}`, "", false},
		{"orders/paid", `{"id": 1, "line_items": [`, "", true},
	}
	for _, tc := range cases {
		key, err := orderKey(tc.topic, []byte(tc.body))
		if key != tc.key || (err != nil) != tc.malformed {
			t.Errorf("%s %s: key %q, err %v", tc.topic, tc.body, key, err)
		}
	}
}
