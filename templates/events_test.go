package templates_test

import (
	"strings"
	"testing"

	"github.com/perkbridge/perkbridge/templates"
)

func eventsView() templates.EventsView {
	return templates.EventsView{
		Shell:           shell(false),
		IntegrationsURL: "/app/integrations",
		Create: templates.EventCreateForm{
			Action: "/app/events", PreviewURL: "/app/events/preview",
			Integrations: []templates.Option{{Value: "clevertap", Label: "CleverTap"}},
			Events: []templates.EventOption{
				{Key: "wallet_points_rewarded", Description: "Points were credited.", OrderDerived: true},
				{Key: "tier_upgraded", Description: "The customer's tier changed."},
			},
			Channels:    []templates.Option{{Value: "online_store", Label: "Online store"}, {Value: "pos", Label: "Point of sale"}},
			Integration: "clevertap", Event: "tier_upgraded", Selected: []string{"pos"}, Name: "Tier up",
			Errors: templates.FieldErrors{"channels": "Event tier_upgraded does not come from an order, so it has no sales channel: leave channels empty."},
		},
		Preview: templates.EventPreview{Integration: "clevertap", IntegrationLabel: "CleverTap", Event: "tier_upgraded",
			Format: "CleverTap Upload Events", Body: `{"evtData": {"tier_expires_at": "$D_1809165600"}}`},
		Lists: []templates.EventList{{Kind: "clevertap", Label: "CleverTap", Status: "active", Rows: []templates.EventRow{
			{ID: 7, Event: "wallet_points_rewarded", Name: "Points earned", Description: "Points were credited.", Channels: []string{"Online store"},
				Enabled: true, ToggleURL: "/app/events/clevertap/7/toggle", DeleteURL: "/app/events/clevertap/7/delete", StatsURL: "/s", LogURL: "/l"},
			{ID: 8, Event: "coupon_created", Name: "coupon_created", Enabled: false, ToggleURL: "/t8", DeleteURL: "/d8", StatsURL: "/s", LogURL: "/l"},
		}}},
	}
}

func TestEventsPage(t *testing.T) {
	t.Parallel()
	d := render(t, templates.EventsPage(eventsView()))
	form := d.Find(`form[data-testid="event-create-form"]`)
	if a, _ := form.Attr("action"); a != "/app/events" {
		t.Errorf("action = %q", a)
	}
	if u, _ := form.Attr("data-preview-url"); u != "/app/events/preview" {
		t.Errorf("preview url = %q", u)
	}
	if v, _ := form.Find(`#event-key option[selected]`).Attr("value"); v != "tier_upgraded" {
		t.Errorf("selected event = %q", v)
	}
	opt := form.Find(`#event-key option[value="wallet_points_rewarded"]`)
	if desc, _ := opt.Attr("data-description"); desc != "Points were credited." {
		t.Errorf("option description = %q", desc)
	}
	if od, _ := opt.Attr("data-order-derived"); od != "true" {
		t.Errorf("order derived = %q", od)
	}
	if got := text(form.Find(`[data-testid="event-description"]`)); got != "The customer's tier changed." {
		t.Errorf("description = %q", got)
	}
	if _, ok := form.Find(`[data-testid="event-channel-pos"]`).Attr("checked"); !ok {
		t.Error("pos not kept checked")
	}
	if got := text(form.Find(`#event-channels-error`)); !strings.Contains(got, "no sales channel") {
		t.Errorf("channels error = %q", got)
	}
	if v, _ := form.Find(`#event-name`).Attr("value"); v != "Tier up" {
		t.Errorf("name = %q", v)
	}
	preview := d.Find(`[data-testid="event-preview"]`)
	if ev, _ := preview.Attr("data-event"); ev != "tier_upgraded" {
		t.Errorf("preview event = %q", ev)
	}
	if got := preview.Find(`[data-testid="event-preview-body"]`).Text(); !strings.Contains(got, "$D_1809165600") {
		t.Errorf("preview body = %q", got)
	}
	if live, _ := d.Find(`[data-preview]`).Attr("aria-live"); live != "polite" {
		t.Errorf("preview aria-live = %q", live)
	}
	requireLabels(t, d, form)

	rows := d.Find(`[data-testid="event-list-clevertap"] [data-testid="event-row"]`)
	if rows.Length() != 2 {
		t.Fatalf("rows = %d", rows.Length())
	}
	on := rows.Eq(0)
	toggle := on.Find(`[data-testid="event-toggle"]`)
	if r, _ := toggle.Attr("role"); r != "switch" {
		t.Errorf("toggle role = %q", r)
	}
	if c, _ := toggle.Attr("aria-checked"); c != "true" || text(toggle) != "On" {
		t.Errorf("toggle = %q %q", c, text(toggle))
	}
	if v, _ := on.Find(`[data-testid="event-toggle-form"] input[name="enabled"]`).Attr("value"); v != "false" {
		t.Errorf("toggle sends enabled=%q", v)
	}
	if a, _ := on.Find(`[data-testid="event-delete-form"]`).Attr("action"); a != "/app/events/clevertap/7/delete" {
		t.Errorf("delete action = %q", a)
	}
	if got := text(on.Find(`[data-testid="event-row-name"]`)); got != "Points earned" {
		t.Errorf("name sent = %q", got)
	}
	if !strings.Contains(text(rows.Eq(1)), "All channels") {
		t.Error("no channel filter is not said as all channels")
	}
	if c, _ := rows.Eq(1).Find(`[data-testid="event-toggle"]`).Attr("aria-checked"); c != "false" {
		t.Errorf("off toggle = %q", c)
	}
	requireNonces(t, d)

	// Without a connected integration the page says what to do first.
	v := eventsView()
	v.Create.Integrations, v.Lists = nil, nil
	d = render(t, templates.EventsPage(v))
	if d.Find(`[data-testid="event-create-form"]`).Length() != 0 {
		t.Error("create form without an integration")
	}
	if href, _ := d.Find(`[data-testid="events-no-integration"] a`).Attr("href"); href != "/app/integrations" {
		t.Errorf("empty state link = %q", href)
	}
}
