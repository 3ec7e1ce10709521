package engagement

import (
	"context"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/forward"
)

// Counts are opens and clicks.
type Counts struct {
	Opened  int64 `json:"opened"`
	Clicked int64 `json:"clicked"`
}

func (c *Counts) add(o Counts) {
	c.Opened += o.Opened
	c.Clicked += o.Clicked
}

// Filter selects the engagement Stats reads: the integration (klaviyo,
// clevertap or "" for both), the event ("" for all) and the local days
// [From, To) touches in Location.
type Filter struct {
	Integration string
	Event       string
	From, To    time.Time
	Location    *time.Location
}

// Stats is the cached engagement of a period. Known is false when nothing
// of it was read yet, or the integration asked for cannot report it
// (CleverTap): then there is no number to show, not a zero.
type Stats struct {
	Known   bool
	Totals  Counts
	Days    map[string]Counts // local date (2006-01-02) → counts; read days only
	ByEvent map[string]Counts // Klaviyo's, by event key
	// Refresh state of the Klaviyo integration (nil RefreshedAt: never).
	Connected   bool
	RefreshedAt *time.Time
	LastError   string
	Flows       int
}

// Stats reads the cached opens and clicks of every local day [f.From, f.To)
// touches: whole days, since Klaviyo counts per day. Only Klaviyo can
// attribute them to an event; CleverTap's part is unknown.
func (s *Service) Stats(ctx context.Context, shopID app.ShopID, f Filter) (Stats, error) {
	out := Stats{Days: map[string]Counts{}, ByEvent: map[string]Counts{}}
	if f.Integration == forward.KindCleverTap {
		return out, nil
	}
	in, err := s.st.Integration(ctx, shopID, forward.KindKlaviyo)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	out.Connected = true
	if r, err := s.st.EngagementRefreshOf(ctx, shopID, in.ID); err == nil {
		out.RefreshedAt, out.LastError, out.Flows = r.RefreshedAt, r.LastError, r.Flows
	} else if app.ErrorCode(err) != app.ENOTFOUND {
		return out, err
	}
	loc := f.Location
	if loc == nil {
		loc = time.UTC
	}
	if !f.From.Before(f.To) {
		return out, nil
	}
	first, last := localDate(f.From, loc), localDate(f.To.Add(-time.Nanosecond), loc)
	rows, err := s.st.EngagementCounts(ctx, shopID, in.ID, f.Event, first, last)
	if err != nil {
		return out, err
	}
	for _, r := range rows {
		c := Counts{Opened: r.Opened, Clicked: r.Clicked}
		out.Known = true
		out.Totals.add(c)
		day := out.Days[dateKey(r.Day)]
		day.add(c)
		out.Days[dateKey(r.Day)] = day
		ev := out.ByEvent[r.Event]
		ev.add(c)
		out.ByEvent[r.Event] = ev
	}
	return out, nil
}
