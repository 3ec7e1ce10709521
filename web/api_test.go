package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/perkbridge/perkbridge/app/store"
)

func TestAPI_Integrations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sh := b.install(t, "shop-a.myshopify.com")
	rec := b.api(http.MethodGet, "/api/v1/integrations", b.token(sh.Domain))
	requireStatus(t, rec, http.StatusOK)
	got := decodeJSON[[]map[string]any](t, rec)
	want := []map[string]any{
		{"kind": "clevertap", "status": "not_connected", "status_reason": "", "common_property": "", "phone_fallback": false, "send_phone": false},
		{"kind": "klaviyo", "status": "not_connected", "status_reason": "", "common_property": "", "phone_fallback": true, "send_phone": false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("integrations = %v, want %v", got, want)
	}
}

func TestAPI_Customers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sh := b.install(t, "shop-a.myshopify.com")
	tok := b.token(sh.Domain)

	rec := b.api(http.MethodGet, "/api/v1/customers/999", tok)
	requireStatus(t, rec, http.StatusNotFound)
	if e := decodeJSON[apiError](t, rec); e.Error.Code != "not_found" {
		t.Errorf("unknown customer: %+v", e)
	}
	rec = b.api(http.MethodGet, "/api/v1/customers/abc", tok)
	requireStatus(t, rec, http.StatusUnprocessableEntity)
	if e := decodeJSON[apiError](t, rec); e.Error.Code != "invalid" || e.Error.Field != "shopify_customer_id" {
		t.Errorf("bad id: %+v", e)
	}
}

func TestAPI_Webhooks(t *testing.T) {
	t.Parallel()

	t.Run("ListFiltersAndOmitsBodies", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		sh := b.install(t, "shop-a.myshopify.com")
		failed := b.addWebhook(t, sh, "orders/paid", store.WebhookFailed, "bad json")
		b.addWebhook(t, sh, "customers/create", store.WebhookProcessed, "")
		tok := b.token(sh.Domain)

		rec := b.api(http.MethodGet, "/api/v1/webhooks", tok)
		requireStatus(t, rec, http.StatusOK)
		if strings.Contains(rec.Body.String(), "secret_body") || strings.Contains(rec.Body.String(), `"body"`) {
			t.Errorf("list carries bodies: %s", rec.Body.String())
		}
		if all := decodeJSON[[]map[string]any](t, rec); len(all) != 2 {
			t.Errorf("list = %d rows", len(all))
		}
		rec = b.api(http.MethodGet, "/api/v1/webhooks?status=failed&topic=orders/paid", tok)
		requireStatus(t, rec, http.StatusOK)
		rows := decodeJSON[[]map[string]any](t, rec)
		if len(rows) != 1 || rows[0]["id"] != float64(failed) || rows[0]["status"] != "failed" || rows[0]["last_error"] != "bad json" || rows[0]["topic"] != "orders/paid" {
			t.Errorf("filtered = %v", rows)
		}
		rec = b.api(http.MethodGet, "/api/v1/webhooks?status=exploded", tok)
		requireStatus(t, rec, http.StatusUnprocessableEntity)
		if e := decodeJSON[apiError](t, rec); e.Error.Field != "status" {
			t.Errorf("bad status: %+v", e)
		}
	})

	t.Run("ReprocessResetsAndKicks", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		sh := b.install(t, "shop-a.myshopify.com")
		failed := b.addWebhook(t, sh, "orders/paid", store.WebhookFailed, "bad json")
		processed := b.addWebhook(t, sh, "orders/paid", store.WebhookProcessed, "")
		tok := b.token(sh.Domain)

		rec := b.api(http.MethodPost, "/api/v1/webhooks/"+itoa(failed)+"/reprocess", tok)
		requireStatus(t, rec, http.StatusAccepted)
		if got := decodeJSON[map[string]any](t, rec); got["status"] != "pending" || got["id"] != float64(failed) {
			t.Errorf("answer = %v", got)
		}
		if got := b.webhookStatus(t, failed); got != store.WebhookPending {
			t.Errorf("status = %q", got)
		}
		if calls := b.reprocessCalls(); !reflect.DeepEqual(calls, []int64{failed}) {
			t.Errorf("kicks = %v", calls)
		}

		rec = b.api(http.MethodPost, "/api/v1/webhooks/"+itoa(processed)+"/reprocess", tok)
		requireStatus(t, rec, http.StatusConflict)
		if got := b.webhookStatus(t, processed); got != store.WebhookProcessed {
			t.Errorf("processed row changed to %q", got)
		}
		requireStatus(t, b.api(http.MethodPost, "/api/v1/webhooks/987654/reprocess", tok), http.StatusNotFound)
		if calls := b.reprocessCalls(); len(calls) != 1 {
			t.Errorf("kicks = %v", calls)
		}
	})
}

func TestAPI_DataRequests(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.install(t, "shop-a.myshopify.com")
	other := b.install(t, "shop-b.myshopify.com")
	ctx := context.Background()
	if err := b.st.SaveDataRequest(ctx, a.ID, 77, 1001, json.RawMessage(`{"customer":{"email":"ada@example.com"}}`)); err != nil {
		t.Fatal(err)
	}
	if err := b.st.SaveDataRequest(ctx, other.ID, 88, 2002, json.RawMessage(`{"customer":{"email":"b@example.com"}}`)); err != nil {
		t.Fatal(err)
	}
	rec := b.api(http.MethodGet, "/api/v1/data_requests", b.token(a.Domain))
	requireStatus(t, rec, http.StatusOK)
	var got []struct {
		ShopifyRequestID  int64           `json:"shopify_request_id"`
		ShopifyCustomerID int64           `json:"shopify_customer_id"`
		Export            json.RawMessage `json:"export"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ShopifyRequestID != 77 || got[0].ShopifyCustomerID != 1001 || !strings.Contains(string(got[0].Export), "ada@example.com") {
		t.Errorf("data requests = %s", rec.Body.String())
	}
	// No exports yet is an empty list, not null.
	fresh := b.install(t, "shop-c.myshopify.com")
	rec = b.api(http.MethodGet, "/api/v1/data_requests", b.token(fresh.Domain))
	if strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Errorf("empty list = %q", rec.Body.String())
	}
}
