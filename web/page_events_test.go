package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/perkbridge/perkbridge/app/event"
)

func TestPageEvents(t *testing.T) {
	t.Parallel()
	b := setupPages(t)

	// Nothing connected: the page says to connect first.
	rec, d := b.page(t, pageShop, "/app/events")
	requireStatus(t, rec, http.StatusOK)
	if d.Find(`[data-testid="events-no-integration"]`).Length() != 1 {
		t.Fatal("no empty state")
	}

	b.connectCleverTap(t)
	rec, d = b.page(t, pageShop, "/app/events")
	requireStatus(t, rec, http.StatusOK)
	if n := d.Find(`#event-key option`).Length(); n != len(event.Catalog()) {
		t.Errorf("catalog events = %d", n)
	}
	if got := pageText(d.Find(`[data-testid="event-description"]`)); !strings.HasPrefix(got, "Points were credited") {
		t.Errorf("description = %q", got)
	}
	body := d.Find(`[data-testid="event-preview-body"]`).Text()
	var preview struct {
		D []struct {
			Type     string         `json:"type"`
			Identity string         `json:"identity"`
			EvtName  string         `json:"evtName"`
			EvtData  map[string]any `json:"evtData"`
		} `json:"d"`
	}
	if err := json.Unmarshal([]byte(body), &preview); err != nil || len(preview.D) != 1 {
		t.Fatalf("CleverTap preview is not an upload: %v\n%s", err, body)
	}
	rec0 := preview.D[0]
	if rec0.Type != "event" || rec0.EvtName != "wallet_points_rewarded" || rec0.Identity != "115310627314723954" {
		t.Errorf("record = %+v", rec0)
	}
	if s, _ := rec0.EvtData["lot_expires_at"].(string); !strings.HasPrefix(s, "$D_") {
		t.Errorf("lot_expires_at = %v, want a $D_ date", rec0.EvtData["lot_expires_at"])
	}
	for k, v := range rec0.EvtData {
		switch v.(type) {
		case map[string]any, []any:
			t.Errorf("evtData %s is nested: %v", k, v)
		}
	}

	// The preview fragment for Klaviyo: JSON:API with ISO times.
	previewURL, _ := d.Find(`[data-testid="event-create-form"]`).Attr("data-preview-url")
	pu, _ := url.Parse(previewURL)
	q := pu.Query()
	q.Set("integration", "klaviyo")
	q.Set("event", "coupon_created")
	q.Set("fragment", "1")
	rec = b.send(http.MethodGet, pu.Path+"?"+q.Encode(), nil, "Authorization", "Bearer "+b.token(pageShop), "Accept", "text/html")
	requireStatus(t, rec, http.StatusOK)
	frag := doc(t, rec)
	if strings.Contains(rec.Body.String(), "<html") {
		t.Error("the fragment is a whole page")
	}
	kbody := frag.Find(`[data-testid="event-preview-body"]`).Text()
	for _, want := range []string{`"unique_id"`, `"metric"`, `"name": "coupon_created"`, `"expires_at": "2026-07-30T10:00:00Z"`} {
		if !strings.Contains(kbody, want) {
			t.Errorf("Klaviyo preview lacks %s:\n%s", want, kbody)
		}
	}

	action := formAction(t, d, `[data-testid="event-create-form"]`)
	t.Run("Invalid", func(t *testing.T) {
		rec, d := b.submit(t, pageShop, action, url.Values{"integration": {"clevertap"}, "event": {"tier_upgraded"}, "channels": {"pos"}})
		requireStatus(t, rec, http.StatusUnprocessableEntity)
		if got := pageText(d.Find(`#event-channels-error`)); !strings.Contains(got, "no sales channel") {
			t.Errorf("channels error = %q", got)
		}
		if _, ok := d.Find(`[data-testid="event-channel-pos"]`).Attr("checked"); !ok {
			t.Error("channel choice lost")
		}
		rec, d = b.submit(t, pageShop, action, url.Values{"integration": {"clevertap"}, "event": {"tier_upgraded"}, "name": {"tier:up"}})
		requireStatus(t, rec, http.StatusUnprocessableEntity)
		if got := pageText(d.Find(`#event-name-error`)); !strings.Contains(got, "cannot contain") {
			t.Errorf("name error = %q", got)
		}
	})

	rec, _ = b.submit(t, pageShop, action, url.Values{"integration": {"clevertap"}, "event": {"wallet_points_rewarded"}, "channels": {"online_store", "pos"}, "name": {"Points earned"}})
	requireRedirect(t, rec, "/app/events", "event-created")
	rec, d = b.submit(t, pageShop, action, url.Values{"integration": {"clevertap"}, "event": {"wallet_points_rewarded"}})
	requireStatus(t, rec, http.StatusConflict)
	if got := pageText(d.Find(`#event-key-error`)); !strings.Contains(got, "already receives wallet_points_rewarded") {
		t.Errorf("duplicate error = %q", got)
	}

	_, d = b.page(t, pageShop, "/app/events")
	row := d.Find(`[data-testid="event-list-clevertap"] [data-testid="event-row"][data-event="wallet_points_rewarded"]`)
	if row.Length() != 1 {
		t.Fatal("no row")
	}
	if got := pageText(row.Find(`[data-testid="event-row-name"]`)); got != "Points earned" {
		t.Errorf("name = %q", got)
	}
	if !strings.Contains(pageText(row), "Online store, Point of sale") {
		t.Errorf("channels = %q", pageText(row))
	}
	rec, _ = b.submit(t, pageShop, formAction(t, d, `[data-testid="event-toggle-form"]`), url.Values{"enabled": {"false"}})
	requireRedirect(t, rec, "/app/events", "event-disabled")
	_, d = b.page(t, pageShop, "/app/events")
	if on, _ := d.Find(`[data-testid="event-row"]`).Attr("data-enabled"); on != "false" {
		t.Errorf("enabled after toggle = %q", on)
	}

	// Shop B cannot touch shop A's definition.
	rec, _ = b.submit(t, pageOtherShop, formAction(t, d, `[data-testid="event-delete-form"]`), nil)
	if rec.Code != http.StatusNotFound {
		t.Errorf("other shop's delete = %d", rec.Code)
	}
	rec, _ = b.submit(t, pageShop, formAction(t, d, `[data-testid="event-delete-form"]`), nil)
	requireRedirect(t, rec, "/app/events", "event-deleted")
	_, d = b.page(t, pageShop, "/app/events")
	if d.Find(`[data-testid="event-row"]`).Length() != 0 {
		t.Error("row still listed")
	}
}
