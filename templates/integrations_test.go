package templates_test

import (
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/perkbridge/perkbridge/templates"
)

// requireLabels checks that every visible control in sel has a label: a
// <label for>, an enclosing <label>, or an aria-label.
func requireLabels(t *testing.T, d *goquery.Document, sel *goquery.Selection) {
	t.Helper()
	sel.Find("input, select, textarea").Each(func(_ int, s *goquery.Selection) {
		if typ, _ := s.Attr("type"); typ == "hidden" {
			return
		}
		if _, ok := s.Attr("aria-label"); ok {
			return
		}
		if s.ParentsFiltered("label").Length() > 0 {
			return
		}
		id, _ := s.Attr("id")
		if id == "" || d.Find(`label[for="`+id+`"]`).Length() != 1 {
			name, _ := s.Attr("name")
			t.Errorf("control %q (id %q) has no label", name, id)
		}
	})
}

func text(s *goquery.Selection) string { return strings.Join(strings.Fields(s.Text()), " ") }

func regions() []templates.Option {
	return []templates.Option{{Value: "eu1", Label: "Europe (eu1)"}, {Value: "in1", Label: "India (in1)"}, {Value: "sg1", Label: "Singapore (sg1)"}}
}

func TestIntegrationsPage_FailedInitialization(t *testing.T) {
	t.Parallel()
	reason := "Invalid credentials for region sg1 (Singapore). These credentials work in in1 (India): choose that server prefix."
	v := templates.IntegrationsView{
		Shell: shell(false),
		CleverTap: templates.CleverTapCard{
			State: templates.IntegrationState{Kind: "clevertap", Label: "CleverTap", Status: "not_connected", Reason: reason, DisconnectURL: "/app/integrations/clevertap/disconnect"},
			Form: templates.CleverTapForm{
				Action: "/app/integrations/clevertap?shop=shop-a.myshopify.com", CommonProperty: "customer_id", AccountID: "DEMO-ACC-0001",
				Region: "sg1", Regions: regions(), PasscodeHint: "••••••••CODE", Errors: templates.FieldErrors{"region": reason},
			},
		},
		Klaviyo: templates.KlaviyoCard{
			State: templates.IntegrationState{Kind: "klaviyo", Label: "Klaviyo", Status: "not_connected"},
			Form:  templates.KlaviyoForm{Action: "/app/integrations/klaviyo"},
		},
	}
	d := render(t, templates.IntegrationsPage(v))
	card := d.Find(`[data-testid="integration-clevertap"]`)
	if got := text(card.Find(`[data-testid="integration-status"]`)); got != "Not connected" {
		t.Errorf("status = %q", got)
	}
	banner := card.Find(`[data-testid="integration-reason"]`)
	if role, _ := banner.Attr("role"); role != "alert" {
		t.Errorf("reason banner role = %q", role)
	}
	if got := text(banner.Find(`[data-testid="integration-reason-text"]`)); got != reason {
		t.Errorf("reason = %q", got)
	}
	// The reason sits next to the server prefix, linked to it.
	if got := text(card.Find(`#clevertap-region-error`)); got != reason {
		t.Errorf("region error = %q", got)
	}
	region := card.Find(`#clevertap-region`)
	if inv, _ := region.Attr("aria-invalid"); inv != "true" {
		t.Error("region not marked invalid")
	}
	if db, _ := region.Attr("aria-describedby"); !strings.Contains(db, "clevertap-region-error") {
		t.Errorf("region aria-describedby = %q", db)
	}
	if v, _ := region.Find("option[selected]").Attr("value"); v != "sg1" {
		t.Errorf("selected region = %q", v)
	}
	if got := text(region.Find(`option[value="in1"]`)); got != "India (in1)" {
		t.Errorf("in1 option = %q", got)
	}
	// Nector's order: common property, Account ID, Passcode, server prefix;
	// then the identity choice.
	var names []string
	card.Find(`form[data-testid="clevertap-form"]`).Find("input, select").Each(func(_ int, s *goquery.Selection) {
		n, _ := s.Attr("name")
		names = append(names, n)
	})
	if got := strings.Join(names, ","); got != "common_property,metafield,account_id,passcode,region,identity_choices,phone_fallback" {
		t.Errorf("field order = %s", got)
	}
	if got := text(d.Find(`label[for="clevertap-account-id"]`)); got != "Account ID" {
		t.Errorf("account label = %q", got)
	}
	if !strings.Contains(text(d.Find(`#clevertap-account-id-hint`)), "Project ID") {
		t.Error("Account ID hint does not say it is CleverTap's Project ID")
	}
	pass := card.Find(`#clevertap-passcode`)
	if typ, _ := pass.Attr("type"); typ != "password" {
		t.Errorf("passcode type = %q", typ)
	}
	if v, _ := pass.Attr("value"); v != "" {
		t.Errorf("passcode rendered back: %q", v)
	}
	if got := text(card.Find(`[data-testid="clevertap-passcode-hint"]`)); got != "••••••••CODE" {
		t.Errorf("passcode hint = %q", got)
	}
	if v, _ := card.Find(`#clevertap-account-id`).Attr("value"); v != "DEMO-ACC-0001" {
		t.Errorf("account id = %q", v)
	}
	if !strings.Contains(text(d.Find(`#clevertap-common-property-hint`)), "Shopify and CleverTap already share") {
		t.Error("common property hint")
	}
	btn := card.Find(`[data-testid="clevertap-initialize"]`)
	if text(btn) != "Initialize" {
		t.Errorf("button = %q", text(btn))
	}
	if busy, _ := btn.Attr("data-busy-label"); busy != "Initializing…" {
		t.Errorf("busy label = %q", busy)
	}
	if a, _ := card.Find(`form[data-testid="clevertap-form"]`).Attr("action"); a != "/app/integrations/clevertap?shop=shop-a.myshopify.com" {
		t.Errorf("action = %q", a)
	}
	// A failed set-up can be removed; the form stays open (not folded).
	if card.Find(`[data-testid="clevertap-setup"]`).Length() != 0 {
		t.Error("the failed set-up is folded away")
	}
	if a, _ := card.Find(`[data-testid="clevertap-disconnect-form"]`).Attr("action"); a != "/app/integrations/clevertap/disconnect" {
		t.Errorf("disconnect action = %q", a)
	}
	// Klaviyo: not connected, nothing to disconnect, its own key field.
	kl := d.Find(`[data-testid="integration-klaviyo"]`)
	if kl.Find(`[data-testid="klaviyo-disconnect"]`).Length() != 0 {
		t.Error("Klaviyo offers a disconnect while not connected")
	}
	if typ, _ := kl.Find(`#klaviyo-key`).Attr("type"); typ != "password" {
		t.Errorf("key type = %q", typ)
	}
	if v, _ := kl.Find(`#klaviyo-common-property option[selected]`).Attr("value"); v != "" {
		t.Errorf("klaviyo common property preselected %q", v)
	}
	requireLabels(t, d, d.Find("main"))
	requireNonces(t, d)
}

func TestIntegrationsPage_ActiveAndPaused(t *testing.T) {
	t.Parallel()
	checked := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	v := templates.IntegrationsView{
		Shell: shell(true),
		CleverTap: templates.CleverTapCard{
			State: templates.IntegrationState{Kind: "clevertap", Label: "CleverTap", Status: "active", ValidatedAt: &checked,
				Account: "Project DEMO-ACC-0001 in India (in1)", DisconnectURL: "/app/integrations/clevertap/disconnect"},
			Form: templates.CleverTapForm{Action: "/x", CommonProperty: "metafield", Metafield: "loyalty.member_id", Region: "in1", Regions: regions(),
				Errors: templates.FieldErrors{}},
		},
		Klaviyo: templates.KlaviyoCard{
			State: templates.IntegrationState{Kind: "klaviyo", Label: "Klaviyo", Status: "paused",
				Reason: "Klaviyo rejected the private API key (401 not_authenticated).", DisconnectURL: "/y"},
			Form: templates.KlaviyoForm{Action: "/z", CommonProperty: "email", KeyHint: "••••abcd"},
		},
	}
	d := render(t, templates.IntegrationsPage(v))
	ct := d.Find(`[data-testid="integration-clevertap"]`)
	if got := text(ct.Find(`[data-testid="integration-status"]`)); got != "Active" {
		t.Errorf("status = %q", got)
	}
	active := text(ct.Find(`[data-testid="integration-active"]`))
	if !strings.Contains(active, "Connected.") || !strings.Contains(active, "Project DEMO-ACC-0001 in India (in1)") || !strings.Contains(active, "23 Nov 2026") {
		t.Errorf("active banner = %q", active)
	}
	setup := ct.Find(`details[data-testid="clevertap-setup"]`)
	if setup.Length() != 1 {
		t.Fatal("an active set-up is not folded")
	}
	if _, open := setup.Attr("open"); open {
		t.Error("folded set-up is open without problems")
	}
	if v, _ := ct.Find(`#clevertap-metafield`).Attr("value"); v != "loyalty.member_id" {
		t.Errorf("metafield = %q", v)
	}
	kl := d.Find(`[data-testid="integration-klaviyo"]`)
	if got := text(kl.Find(`[data-testid="integration-status"]`)); got != "Paused" {
		t.Errorf("klaviyo status = %q", got)
	}
	if !strings.Contains(text(kl.Find(`[data-testid="integration-reason"]`)), "events are kept and wait") ||
		!strings.Contains(text(kl.Find(`[data-testid="integration-reason-text"]`)), "401 not_authenticated") {
		t.Errorf("paused banner = %q", text(kl.Find(`[data-testid="integration-reason"]`)))
	}
	if kl.Find(`[data-testid="klaviyo-setup"]`).Length() != 0 {
		t.Error("a paused set-up is folded away")
	}
	if got := text(kl.Find(`[data-testid="klaviyo-key-hint"]`)); got != "••••abcd" {
		t.Errorf("key hint = %q", got)
	}

	// A metafield problem is shown beside the metafield input.
	v.CleverTap.Form.Errors = templates.FieldErrors{"common_property": "Metafield key \"x\" must be 2 to 64 letters."}
	d = render(t, templates.IntegrationsPage(v))
	if _, open := d.Find(`details[data-testid="clevertap-setup"]`).Attr("open"); !open {
		t.Error("set-up with problems is not open")
	}
	if got := text(d.Find(`#clevertap-metafield-error`)); !strings.Contains(got, "must be 2 to 64") {
		t.Errorf("metafield error = %q", got)
	}
	if d.Find(`#clevertap-common-property-error`).Length() != 0 {
		t.Error("metafield problem shown on the select too")
	}
}
