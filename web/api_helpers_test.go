package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/store"
)

// Credentials the fake sinks of setupAPI accept.
const (
	klaviyoKeyA   = "pk_test_shop_a_0123456789abcdef"
	klaviyoKeyB   = "pk_test_shop_b_0123456789abcdef"
	ctAccountA    = "TEST-ACC-000A"
	ctAccountB    = "TEST-ACC-000B"
	ctPasscodeA   = "PASS-CODE-000A"
	ctPasscodeB   = "PASS-CODE-000B"
	ctRegion      = "in1" // where both CleverTap accounts live
	testUserActor = "user:42"
)

// apiBundle is the test bundle with fake Klaviyo and CleverTap servers
// behind the forward service (KLAVIYO_API_ORIGIN, CLEVERTAP_API_ORIGIN).
type apiBundle struct {
	*testBundle
	kl *fake.Klaviyo
	ct *fake.CleverTap
}

// setupAPI builds the bundle with the sink fakes. Klaviyo's rate limits are
// off: several connects in one test are not what these tests are about.
func setupAPI(t *testing.T) *apiBundle {
	t.Helper()
	kl := fake.NewKlaviyo(fake.KlaviyoOptions{
		Keys:              []fake.KlaviyoKey{{Key: klaviyoKeyA}, {Key: klaviyoKeyB}},
		DisableRateLimits: true,
	})
	klSrv := httptest.NewServer(kl)
	t.Cleanup(klSrv.Close)
	ct := fake.NewCleverTap(fake.CleverTapOptions{})
	ct.AddAccount(ctAccountA, ctPasscodeA, ctRegion)
	ct.AddAccount(ctAccountB, ctPasscodeB, ctRegion)
	ctSrv := httptest.NewServer(ct)
	t.Cleanup(ctSrv.Close)
	b := setup(t, func(o *setupOpts) {
		o.env = map[string]string{
			"KLAVIYO_API_ORIGIN":   klSrv.URL,
			"CLEVERTAP_API_ORIGIN": ctSrv.URL + "/{region}",
		}
	})
	return &apiBundle{testBundle: b, kl: kl, ct: ct}
}

// call sends an authenticated API request. body is marshalled to JSON,
// except a string, which is sent as is (for malformed bodies); nil sends
// none. headers are pairs ("Name", "value", ...).
func (b *apiBundle) call(method, target, token string, body any, headers ...string) *httptest.ResponseRecorder {
	var r io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(v)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		r = bytes.NewReader(raw)
	}
	h := append([]string{"Authorization", "Bearer " + token, "Accept", "application/json"}, headers...)
	if r != nil {
		h = append(h, "Content-Type", "application/json")
	}
	return b.send(method, target, r, h...)
}

// connectKlaviyo connects the shop's Klaviyo through the API.
func (b *apiBundle) connectKlaviyo(t *testing.T, sh *store.Shop, key string) map[string]any {
	t.Helper()
	rec := b.call(http.MethodPut, "/api/v1/integrations/klaviyo", b.token(sh.Domain),
		map[string]any{"common_property": "email", "private_api_key": key})
	requireStatus(t, rec, http.StatusOK)
	v := decodeJSON[map[string]any](t, rec)
	if v["status"] != "active" {
		t.Fatalf("klaviyo not active: %v", v)
	}
	return v
}

// connectCleverTap connects the shop's CleverTap (region in1) through the API.
func (b *apiBundle) connectCleverTap(t *testing.T, sh *store.Shop, account, passcode string) map[string]any {
	t.Helper()
	rec := b.call(http.MethodPut, "/api/v1/integrations/clevertap", b.token(sh.Domain),
		map[string]any{"common_property": "customer_id", "account_id": account, "passcode": passcode, "region": ctRegion})
	requireStatus(t, rec, http.StatusOK)
	v := decodeJSON[map[string]any](t, rec)
	if v["status"] != "active" {
		t.Fatalf("clevertap not active: %v", v)
	}
	return v
}

// define creates an event definition through the API and returns its id.
func (b *apiBundle) define(t *testing.T, sh *store.Shop, kind, event string) int64 {
	t.Helper()
	rec := b.call(http.MethodPost, "/api/v1/integrations/"+kind+"/events", b.token(sh.Domain), map[string]any{"event": event})
	requireStatus(t, rec, http.StatusCreated)
	return int64(decodeJSON[map[string]any](t, rec)["id"].(float64))
}

// testCustomer is a customer row of a test shop.
type testCustomer struct {
	id        int64 // row id
	shopifyID int64
}

func (b *apiBundle) customer(t *testing.T, sh *store.Shop, shopifyID int64, email string) testCustomer {
	t.Helper()
	c, _, err := b.st.UpsertCustomer(context.Background(), sh.ID, store.CustomerIdentity{
		ShopifyID: shopifyID, GID: "gid://shopify/Customer/" + itoa(shopifyID), Email: email, FirstName: "Ada",
	})
	if err != nil {
		t.Fatal(err)
	}
	return testCustomer{id: c.ID, shopifyID: shopifyID}
}

// emit inserts loyalty events of c and routes them in the same
// transaction, as the loyalty engine does with forward.RouteHook: the
// deliveries are the forward service's own rows.
func (b *apiBundle) emit(t *testing.T, sh *store.Shop, c testCustomer, keys ...string) []uuid.UUID {
	t.Helper()
	ids := make([]uuid.UUID, len(keys))
	err := b.st.Tx(context.Background(), func(tx *store.Store) error {
		for i, key := range keys {
			ids[i] = uuid.New()
			props := `{"points": 10, "reason": "order", "order_id": "5544332211", "order_name": "#1001"}`
			if err := tx.Gorm().Exec(`INSERT INTO loyalty_events (id, shop_id, customer_id, shopify_customer_id, key, channel, occurred_at,
    properties, points_balance, tier, currency, source_key) VALUES (?, ?, ?, ?, ?, 'online_store', ?, ?, 100, 'silver', 'USD', ?)`,
				ids[i].String(), sh.ID, c.id, c.shopifyID, key, time.Now().UTC(), props, "test:"+ids[i].String()).Error; err != nil {
				return err
			}
		}
		return forward.RouteHook(context.Background(), tx, sh.ID, ids)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// setDelivery sets a delivery's outcome and creation time, standing in for
// the runner (which these tests do not run).
func (b *apiBundle) setDelivery(t *testing.T, sh *store.Shop, eventID uuid.UUID, kind, status string, createdAt time.Time) int64 {
	t.Helper()
	var ids []int64
	err := b.db.Gorm.Raw(`UPDATE deliveries d SET status = ?, created_at = ?, attempts = CASE WHEN ? = 'pending' THEN 0 ELSE 1 END,
    last_status_code = CASE WHEN ? = 'failed' THEN 400 END, last_error = CASE WHEN ? = 'failed' THEN 'refused' ELSE '' END,
    sent_at = CASE WHEN ? IN ('sent', 'late') THEN ?::timestamptz END
FROM integrations i WHERE i.id = d.integration_id AND i.kind = ? AND d.shop_id = ? AND d.event_id = ? RETURNING d.id`,
		status, createdAt, status, status, status, status, createdAt, kind, sh.ID, eventID.String()).Scan(&ids).Error
	if err != nil || len(ids) != 1 {
		t.Fatalf("set delivery %s/%s: %v (%d rows)", kind, eventID, err, len(ids))
	}
	return ids[0]
}

func (b *apiBundle) deliveryStatus(t *testing.T, id int64) string {
	t.Helper()
	var status string
	if err := b.db.Gorm.Raw("SELECT status FROM deliveries WHERE id = ?", id).Scan(&status).Error; err != nil {
		t.Fatal(err)
	}
	return status
}

// requireAPIError checks an error answer: status, the {"error":{...}}
// shape, code and field (field "" must be absent), and returns the error
// object.
func requireAPIError(t *testing.T, rec *httptest.ResponseRecorder, status int, code, field string) map[string]any {
	t.Helper()
	requireStatus(t, rec, status)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	body := decodeJSON[map[string]any](t, rec)
	e, ok := body["error"].(map[string]any)
	if !ok || len(body) != 1 {
		t.Fatalf("error body = %s", rec.Body.String())
	}
	if e["code"] != code {
		t.Errorf("code = %v, want %s; body %s", e["code"], code, rec.Body.String())
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("no message: %s", rec.Body.String())
	}
	got, has := e["field"]
	if field == "" && has {
		t.Errorf("field = %v, want none", got)
	}
	if field != "" && got != field {
		t.Errorf("field = %v, want %s; body %s", got, field, rec.Body.String())
	}
	return e
}

// requireKeys fails unless m has every key.
func requireKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks %q: %v", what, k, m)
		}
	}
}
