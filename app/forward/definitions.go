package forward

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/store"
)

// DefinitionInput is the body of POST /api/v1/integrations/{kind}/events.
type DefinitionInput struct {
	Event    string   `json:"event"`
	Channels []string `json:"channels"` // empty: every channel
	Name     string   `json:"name"`     // empty: the event key
}

// DefinitionPatch is the body of PATCH /api/v1/integrations/{kind}/events/{id};
// nil fields are left alone. An empty name resets it to the event key.
type DefinitionPatch struct {
	Enabled  *bool     `json:"enabled"`
	Channels *[]string `json:"channels"`
	Name     *string   `json:"name"`
}

// DefinitionView is an event definition in the JSON API (DESIGN.md §6).
type DefinitionView struct {
	ID       int64    `json:"id"`
	Event    string   `json:"event"`
	Channels []string `json:"channels"`
	Name     string   `json:"name"`
	Enabled  bool     `json:"enabled"`
}

func definitionView(d *store.EventDefinition) DefinitionView {
	ch := []string(d.Channels)
	if ch == nil {
		ch = []string{}
	}
	return DefinitionView{ID: d.ID, Event: d.Event, Channels: ch, Name: d.Name, Enabled: d.Enabled}
}

// connected returns the shop's integration of kind, ENOTFOUND unless it
// was connected (definitions need an integration that was validated or is
// being re-validated; paused ones keep theirs).
func (s *Service) connected(ctx context.Context, shopID app.ShopID, kind string) (*store.Integration, error) {
	kind, err := parseKind(kind, "")
	if err != nil {
		return nil, err
	}
	in, err := s.st.Integration(ctx, shopID, kind)
	if app.ErrorCode(err) == app.ENOTFOUND || (err == nil && in.Status == store.IntegrationNotConnected) {
		return nil, app.Errorf(app.ENOTFOUND, "Connect %s before choosing the events it receives.", kind)
	}
	return in, err
}

// ListDefinitions returns the event definitions of the shop's integration.
func (s *Service) ListDefinitions(ctx context.Context, shopID app.ShopID, kind string) ([]DefinitionView, error) {
	in, err := s.connected(ctx, shopID, kind)
	if err != nil {
		return nil, err
	}
	defs, err := s.st.EventDefinitions(ctx, shopID, in.ID)
	if err != nil {
		return nil, err
	}
	out := make([]DefinitionView, len(defs))
	for i := range defs {
		out[i] = definitionView(&defs[i])
	}
	return out, nil
}

// CreateDefinition forwards a catalog event to the shop's integration from
// now on (not retroactively). An unknown event or channel is EINVALID, a
// second definition of the event ECONFLICT, an integration that is not
// connected ENOTFOUND.
func (s *Service) CreateDefinition(ctx context.Context, shopID app.ShopID, kind string, in DefinitionInput) (DefinitionView, error) {
	integ, err := s.connected(ctx, shopID, kind)
	if err != nil {
		return DefinitionView{}, err
	}
	key := event.Key(strings.TrimSpace(in.Event))
	def, ok := event.Lookup(key)
	if !ok {
		return DefinitionView{}, app.FieldError("event", "Unknown event %q.", in.Event)
	}
	channels, err := parseChannels(def, in.Channels)
	if err != nil {
		return DefinitionView{}, err
	}
	name, err := parseName(integ.Kind, key, in.Name)
	if err != nil {
		return DefinitionView{}, err
	}
	d, err := s.st.CreateEventDefinition(ctx, shopID, store.EventDefinition{
		IntegrationID: integ.ID, Event: string(key), Name: name, Channels: channels, Enabled: true,
	})
	if err != nil {
		return DefinitionView{}, err
	}
	return definitionView(d), nil
}

// UpdateDefinition changes a definition. Changes apply to events routed
// from now on; deliveries already queued keep their definition, and are
// sent under its current name.
func (s *Service) UpdateDefinition(ctx context.Context, shopID app.ShopID, kind string, id int64, p DefinitionPatch) (DefinitionView, error) {
	integ, err := s.connected(ctx, shopID, kind)
	if err != nil {
		return DefinitionView{}, err
	}
	d, err := s.st.EventDefinition(ctx, shopID, integ.ID, id)
	if err != nil {
		return DefinitionView{}, err
	}
	def, _ := event.Lookup(event.Key(d.Event))
	if p.Enabled != nil {
		d.Enabled = *p.Enabled
	}
	if p.Channels != nil {
		if d.Channels, err = parseChannels(def, *p.Channels); err != nil {
			return DefinitionView{}, err
		}
	}
	if p.Name != nil {
		if d.Name, err = parseName(integ.Kind, event.Key(d.Event), *p.Name); err != nil {
			return DefinitionView{}, err
		}
	}
	d, err = s.st.UpdateEventDefinition(ctx, shopID, *d)
	if err != nil {
		return DefinitionView{}, err
	}
	return definitionView(d), nil
}

// DeleteDefinition stops forwarding an event. Its deliveries still pending
// are marked skipped with the reason, not silently dropped.
func (s *Service) DeleteDefinition(ctx context.Context, shopID app.ShopID, kind string, id int64) error {
	integ, err := s.connected(ctx, shopID, kind)
	if err != nil {
		return err
	}
	_, err = s.st.DeleteEventDefinition(ctx, shopID, integ.ID, id, "The event definition was deleted before the event was sent.")
	return err
}

// parseChannels validates a channel filter. Only order-derived events have
// a channel; a filter on any other event would never match, so it is
// refused rather than silently muting the event.
func parseChannels(def event.Definition, in []string) (store.StringArray, error) {
	out := store.StringArray{}
	for _, raw := range in {
		c, err := event.ParseChannel(strings.TrimSpace(raw))
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, string(c)) {
			out = append(out, string(c))
		}
	}
	if len(out) > 0 && !def.OrderDerived {
		return nil, app.FieldError("channels", "Event %s does not come from an order, so it has no sales channel: leave channels empty.", def.Key)
	}
	slices.Sort(out)
	return out, nil
}

// parseName validates the name sent to the sink: the key by default, under
// 128 characters (Klaviyo's metric name limit), and for CleverTap free of
// the characters its SDKs strip from event names (. : $ ' " \).
func parseName(kind string, key event.Key, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return string(key), nil
	}
	if utf8.RuneCountInString(name) >= 128 {
		return "", app.FieldError("name", "The event name must be shorter than 128 characters.")
	}
	if kind == KindCleverTap && strings.ContainsAny(name, ".:$'\"\\") {
		return "", app.FieldError("name", "CleverTap event names cannot contain . : $ ' \" or \\.")
	}
	return name, nil
}
