package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestPageIntegrations_ConnectCleverTap(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	rec, d := b.page(t, pageShop, "/app/integrations")
	requireStatus(t, rec, http.StatusOK)
	if got := pageText(d.Find(`[data-testid="integration-clevertap"] [data-testid="integration-status"]`)); got != "Not connected" {
		t.Fatalf("status = %q", got)
	}
	action := formAction(t, d, `[data-testid="clevertap-form"]`)
	if u, _ := url.Parse(action); u.Path != "/app/integrations/clevertap" || u.Query().Get("shop") != pageShop {
		t.Errorf("action = %q", action)
	}
	if n := d.Find(`#clevertap-region option`).Length(); n != 7 {
		t.Errorf("regions = %d", n)
	}

	t.Run("InvalidInput", func(t *testing.T) {
		rec, d := b.submit(t, pageShop, action, url.Values{"common_property": {"customer_id"}, "region": {"in1"}})
		requireStatus(t, rec, http.StatusUnprocessableEntity)
		if got := pageText(d.Find(`#clevertap-account-id-error`)); !strings.Contains(got, "Account ID") {
			t.Errorf("account error = %q", got)
		}
		rec, d = b.submit(t, pageShop, action, url.Values{"common_property": {"metafield"}, "metafield": {"loyalty"}, "account_id": {pageCTAccount}, "passcode": {"x"}, "region": {"in1"}})
		requireStatus(t, rec, http.StatusUnprocessableEntity)
		if got := pageText(d.Find(`#clevertap-metafield-error`)); !strings.Contains(got, "namespace") {
			t.Errorf("metafield error = %q", got)
		}
		if v, _ := d.Find(`#clevertap-metafield`).Attr("value"); v != "loyalty" {
			t.Errorf("typed metafield not kept: %q", v)
		}
	})

	// The wrong server prefix: 422, the reason names the region that works,
	// beside the server prefix, and the passcode is not sent back.
	rec, d = b.submit(t, pageShop, action, url.Values{
		"common_property": {"customer_id"}, "account_id": {pageCTAccount}, "passcode": {pageCTPasscode}, "region": {"sg1"},
	})
	requireStatus(t, rec, http.StatusUnprocessableEntity)
	reason := pageText(d.Find(`[data-testid="integration-clevertap"] [data-testid="integration-reason-text"]`))
	if !strings.Contains(reason, "sg1 (Singapore)") || !strings.Contains(reason, "in1 (India)") {
		t.Fatalf("reason = %q", reason)
	}
	if got := pageText(d.Find(`#clevertap-region-error`)); got != reason {
		t.Errorf("region error = %q", got)
	}
	if v, _ := d.Find(`#clevertap-region option[selected]`).Attr("value"); v != "sg1" {
		t.Errorf("region kept = %q", v)
	}
	if strings.Contains(rec.Body.String(), pageCTPasscode) {
		t.Error("the passcode is in the page")
	}
	if got := pageText(d.Find(`[data-testid="clevertap-passcode-hint"]`)); !strings.HasSuffix(got, "CODE") || strings.Contains(got, "PAGE") {
		t.Errorf("passcode hint = %q", got)
	}

	// Fixed: the saved passcode is kept when left blank.
	rec, _ = b.submit(t, pageShop, action, url.Values{"common_property": {"customer_id"}, "account_id": {pageCTAccount}, "region": {"in1"}})
	u := requireRedirect(t, rec, "/app/integrations", "clevertap-connected")
	rec, d = b.page(t, pageShop, u.Path+"?"+u.RawQuery)
	requireStatus(t, rec, http.StatusOK)
	if got := pageText(d.Find(`[data-testid="flash"]`)); !strings.Contains(got, "CleverTap is connected.") {
		t.Errorf("flash = %q", got)
	}
	if href, _ := d.Find(`[data-testid="flash-link"]`).Attr("href"); !strings.HasPrefix(href, "/app/events?") {
		t.Errorf("flash link = %q", href)
	}
	ct := d.Find(`[data-testid="integration-clevertap"]`)
	if got := pageText(ct.Find(`[data-testid="integration-status"]`)); got != "Active" {
		t.Errorf("status = %q", got)
	}
	if got := pageText(ct.Find(`[data-testid="integration-active"]`)); !strings.Contains(got, "Project "+pageCTAccount+" in India (in1)") {
		t.Errorf("active = %q", got)
	}

	disconnect := formAction(t, d, `[data-testid="clevertap-disconnect-form"]`)

	// Shop B sees none of it.
	_, db := b.page(t, pageOtherShop, "/app/integrations")
	if got := pageText(db.Find(`[data-testid="integration-clevertap"] [data-testid="integration-status"]`)); got != "Not connected" {
		t.Errorf("shop B status = %q", got)
	}

	// Disconnect, then a second click changes nothing.
	rec, _ = b.submit(t, pageShop, disconnect, nil)
	requireRedirect(t, rec, "/app/integrations", "clevertap-disconnected")
	rec, _ = b.submit(t, pageShop, disconnect, nil)
	requireRedirect(t, rec, "/app/integrations", "clevertap-disconnected")
	_, d = b.page(t, pageShop, "/app/integrations")
	if got := pageText(d.Find(`[data-testid="integration-clevertap"] [data-testid="integration-status"]`)); got != "Not connected" {
		t.Errorf("status after disconnect = %q", got)
	}
}

func TestPageIntegrations_Klaviyo(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	_, d := b.page(t, pageShop, "/app/integrations")
	action := formAction(t, d, `[data-testid="klaviyo-form"]`)

	rec, d := b.submit(t, pageShop, action, url.Values{"common_property": {"email"}, "private_api_key": {"sk_wrong"}})
	requireStatus(t, rec, http.StatusUnprocessableEntity)
	if got := pageText(d.Find(`#klaviyo-key-error`)); !strings.Contains(got, "pk_") {
		t.Errorf("key format error = %q", got)
	}
	rec, d = b.submit(t, pageShop, action, url.Values{"common_property": {"email"}, "private_api_key": {"pk_not_a_real_key_123"}})
	requireStatus(t, rec, http.StatusUnprocessableEntity)
	if got := pageText(d.Find(`#klaviyo-key-error`)); !strings.Contains(got, "Klaviyo rejected the private API key") {
		t.Errorf("rejected key error = %q", got)
	}
	if v, _ := d.Find(`#klaviyo-common-property option[selected]`).Attr("value"); v != "email" {
		t.Errorf("common property kept = %q", v)
	}
	rec, _ = b.submit(t, pageShop, action, url.Values{"common_property": {"phone"}, "private_api_key": {pageKlaviyoKey}})
	requireRedirect(t, rec, "/app/integrations", "klaviyo-connected")
	_, d = b.page(t, pageShop, "/app/integrations")
	kl := d.Find(`[data-testid="integration-klaviyo"]`)
	if got := pageText(kl.Find(`[data-testid="integration-status"]`)); got != "Active" {
		t.Errorf("status = %q", got)
	}
	if v, _ := kl.Find(`#klaviyo-common-property option[selected]`).Attr("value"); v != "phone" {
		t.Errorf("stored common property = %q", v)
	}
	if strings.Contains(d.Text(), pageKlaviyoKey) {
		t.Error("the key is in the page")
	}
	// Identity choices: the fallback is on and the phone stays out by
	// default; the form saves both (an unchecked box is off), with the
	// stored key kept.
	if _, on := kl.Find(`[data-testid="klaviyo-phone-fallback"]`).Attr("checked"); !on {
		t.Error("phone fallback not on by default")
	}
	if _, on := kl.Find(`[data-testid="klaviyo-send-phone"]`).Attr("checked"); on {
		t.Error("send phone on by default")
	}
	rec, _ = b.submit(t, pageShop, action, url.Values{"common_property": {"email"}, "identity_choices": {"1"}, "send_phone": {"true"}})
	requireRedirect(t, rec, "/app/integrations", "klaviyo-connected")
	v, err := b.forward.Get(t.Context(), b.shop.ID, "klaviyo")
	if err != nil || v.PhoneFallback || !v.SendPhone || v.Status != "active" {
		t.Fatalf("saved choices %+v, %v", v, err)
	}

	// A plain form post inside the admin has no session: it must come
	// through app.js with the ID token.
	rec = b.send(http.MethodPost, action, strings.NewReader("common_property=email"), "Content-Type", pageFormType)
	requireStatus(t, rec, http.StatusUnauthorized)
	// An unknown integration is not found.
	rec, _ = b.submit(t, pageShop, "/app/integrations/mailchimp", url.Values{})
	requireStatus(t, rec, http.StatusNotFound)
}
