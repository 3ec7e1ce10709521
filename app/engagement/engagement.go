// Package engagement reads back what the loyalty events achieved in the
// sinks: the opens and clicks of the Klaviyo flows each event triggers,
// per local day of the shop, cached in engagement_daily (migration 00061).
//
// Klaviyo: the metrics the app created (one per event definition, named as
// the definition says) are resolved to ids with GET /api/metrics, whose
// flow-triggers relationship lists the flows each metric triggers. POST
// /api/metric-aggregates then counts Opened Email, Clicked Email and
// Clicked SMS per day, grouped by $attributed_flow and filtered to those
// flows; each flow's numbers go to the events whose metric triggers it
// (two flows on one metric add up; a flow on a metric the app did not
// create is never asked for). Opens are Opened Email; clicks are Clicked
// Email plus Clicked SMS (SMS has no open).
//
// The reporting endpoints have low limits (metrics 10/s 150/m,
// metric-aggregates 3/s 60/m per account), shared with whatever else uses
// the account, so every request takes a slot of the account's rate
// windows in the database (as the delivery runner does for events) and a
// 429 pauses the account's key in every process. A refresh asks only for
// days it needs: today and yesterday every Options.Every, older days until
// they were read once after they could no longer change (final).
//
// CleverTap has no API that attributes opens or clicks to the event that
// triggered a journey (its reports are per campaign, and live
// event-triggered campaigns never complete), so the Stats page says so
// instead of guessing.
package engagement

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/klaviyo"
	"github.com/perkbridge/perkbridge/app/store"
)

// Defaults.
const (
	// DefaultEvery is how often today's and yesterday's numbers are read
	// again while late opens and clicks still arrive.
	DefaultEvery = 6 * time.Hour
	// DefaultLookback is how many days (today included) are kept read.
	DefaultLookback = 90
	// DefaultMaxWait is the longest a refresh waits in place for a rate
	// slot; longer waits end the attempt with a *ThrottledError.
	DefaultMaxWait = 20 * time.Second
	// MinForceInterval is the least time between two "Refresh now"
	// re-reads of an integration.
	MinForceInterval = time.Minute
)

// Options configure a Service.
type Options struct {
	Every    time.Duration // default DefaultEvery
	Lookback int           // days; default DefaultLookback
	MaxWait  time.Duration // default DefaultMaxWait
	// RateGuard is store.TakeRate's guard: the longest expected time from a
	// grant to the request reaching Klaviyo. Default 250 ms.
	RateGuard time.Duration
	Now       func() time.Time // default time.Now
}

// Service refreshes and reads engagement.
type Service struct {
	st   *store.Store
	fwd  *forward.Service
	log  *slog.Logger
	opts Options
}

// New returns a Service.
func New(st *store.Store, fwd *forward.Service, log *slog.Logger, opts Options) *Service {
	if opts.Every <= 0 {
		opts.Every = DefaultEvery
	}
	if opts.Lookback <= 0 {
		opts.Lookback = DefaultLookback
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	if opts.RateGuard <= 0 {
		opts.RateGuard = 250 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{st: st, fwd: fwd, log: log, opts: opts}
}

// ThrottledError says Klaviyo (or our own rate windows) asked to wait
// before the next request: retry the refresh after Wait.
type ThrottledError struct{ Wait time.Duration }

func (e *ThrottledError) Error() string {
	return "engagement: klaviyo reporting is rate limited; retry in " + e.Wait.Round(time.Second).String()
}

// Report is what one Refresh did.
type Report struct {
	Days     int // (event, day) rows written
	Requests int // requests sent to Klaviyo
	Flows    int // flows triggered by the app's metrics
	Skipped  bool
}

// engagementMetrics maps Klaviyo's native metrics to what they count.
var engagementMetrics = []struct {
	name    string
	clicked bool
}{
	{klaviyo.MetricOpenedEmail, false},
	{klaviyo.MetricClickedEmail, true},
	{klaviyo.MetricClickedSMS, true},
}

// Refresh reads the shop's Klaviyo engagement for the days that need it
// and caches it. force re-reads today and yesterday even when they were
// read less than Options.Every ago ("Refresh now"), at most once per
// MinForceInterval. A shop without an active Klaviyo integration has
// nothing to refresh.
func (s *Service) Refresh(ctx context.Context, shopID app.ShopID, force bool) (Report, error) {
	in, client, err := s.fwd.KlaviyoReporting(ctx, shopID)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return Report{Skipped: true}, nil
	}
	if err != nil {
		return Report{}, err
	}
	sh, err := s.st.Shop(ctx, shopID)
	if err != nil {
		return Report{}, err
	}
	loc := sh.Location()
	now := s.opts.Now()
	defs, err := s.st.EventDefinitions(ctx, shopID, in.ID)
	if err != nil {
		return Report{}, err
	}
	eventsOf := map[string][]string{} // metric name → event keys
	var events []string
	for _, d := range defs {
		eventsOf[d.Name] = append(eventsOf[d.Name], d.Event)
		events = append(events, d.Event)
	}
	if force {
		last, err := s.st.EngagementRefreshOf(ctx, shopID, in.ID)
		if err == nil && last.RefreshedAt != nil && now.Sub(*last.RefreshedAt) < MinForceInterval {
			force = false
		}
	}
	today := localDate(now, loc)
	first := today.AddDate(0, 0, -(s.opts.Lookback - 1))
	existing, err := s.st.EngagementDays(ctx, shopID, in.ID, first, today)
	if err != nil {
		return Report{}, err
	}
	have := map[[2]string]store.EngagementDay{}
	for _, d := range existing {
		have[[2]string{d.Event, dateKey(d.Day)}] = d
	}
	// The days some event needs read.
	var need []time.Time
	for d := first; !d.After(today); d = d.AddDate(0, 0, 1) {
		for _, ev := range events {
			row, ok := have[[2]string{ev, dateKey(d)}]
			if !ok || (!row.Final && (force || now.Sub(row.RefreshedAt) >= s.opts.Every || !d.AddDate(0, 0, 2).After(today))) {
				need = append(need, d)
				break
			}
		}
	}
	if len(need) == 0 {
		return Report{Skipped: true}, nil
	}
	rep, err := s.read(ctx, shopID, in, client, loc, now, need, eventsOf)
	if err != nil {
		s.recordFailure(ctx, shopID, in.ID, now, err)
		return rep, err
	}
	if err := s.st.RecordEngagementRefresh(ctx, shopID, in.ID, now, "", rep.Flows); err != nil {
		return rep, err
	}
	return rep, nil
}

// read asks Klaviyo for the days in need and saves them.
func (s *Service) read(ctx context.Context, shopID app.ShopID, in *store.Integration, client *klaviyo.Client,
	loc *time.Location, now time.Time, need []time.Time, eventsOf map[string][]string) (Report, error) {
	var rep Report
	metricsKey, aggKey := rateKey(in, "metrics"), rateKey(in, "metric-aggregates")
	metrics, err := client.Metrics(ctx, func(ctx context.Context) error {
		rep.Requests++
		return s.take(ctx, metricsKey, klaviyo.MetricsRate)
	})
	if err != nil {
		return rep, s.classify(ctx, metricsKey, err)
	}
	// Which events each flow counts for. Only flows on the app's own
	// metrics are asked for.
	flowEvents := map[string][]string{}
	var flows []string
	names := make([]string, 0, len(eventsOf))
	for name := range eventsOf {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		m, ok := metrics.ByName(name)
		if !ok {
			continue // no event was ever sent under this name
		}
		for _, f := range m.FlowIDs {
			if _, seen := flowEvents[f]; !seen {
				flows = append(flows, f)
			}
			flowEvents[f] = append(flowEvents[f], eventsOf[name]...)
		}
	}
	rep.Flows = len(flows)
	type counts struct{ opened, clicked int64 }
	got := map[[2]string]*counts{} // (event, date) → counts
	from, to := need[0], need[len(need)-1].AddDate(0, 0, 1)
	for _, em := range engagementMetrics {
		if len(flows) == 0 {
			break // nothing triggered by the app's events: every count is 0
		}
		m, ok := metrics.ByName(em.name)
		if !ok {
			continue // the account never recorded this metric: 0
		}
		rep.Requests++
		if err := s.take(ctx, aggKey, klaviyo.MetricAggregatesRate); err != nil {
			return rep, err
		}
		agg, err := client.MetricAggregate(ctx, klaviyo.AggregateQuery{
			MetricID: m.ID, From: localMidnight(from, loc), To: localMidnight(to, loc),
			Interval: "day", Timezone: loc.String(), FlowIDs: flows,
		})
		if err != nil {
			return rep, s.classify(ctx, aggKey, err)
		}
		for flow, series := range agg.ByFlow {
			for i, n := range series {
				if n == 0 || i >= len(agg.Dates) {
					continue
				}
				day := dateKey(agg.Dates[i].In(loc))
				for _, ev := range flowEvents[flow] {
					c := got[[2]string{ev, day}]
					if c == nil {
						c = &counts{}
						got[[2]string{ev, day}] = c
					}
					if em.clicked {
						c.clicked += n
					} else {
						c.opened += n
					}
				}
			}
		}
	}
	var rows []store.EngagementDay
	seen := map[string]bool{}
	for _, evs := range eventsOf {
		for _, ev := range evs {
			if seen[ev] {
				continue
			}
			seen[ev] = true
			for _, d := range need {
				row := store.EngagementDay{
					IntegrationID: in.ID, Event: ev, Day: d, RefreshedAt: now,
					// Read a full day after the day ended: late opens are in.
					Final: !now.Before(localMidnight(d.AddDate(0, 0, 2), loc)),
				}
				if c := got[[2]string{ev, dateKey(d)}]; c != nil {
					row.Opened, row.Clicked = c.opened, c.clicked
				}
				rows = append(rows, row)
			}
		}
	}
	if err := s.st.SaveEngagementDays(ctx, shopID, rows); err != nil {
		return rep, err
	}
	rep.Days = len(rows)
	s.log.InfoContext(ctx, "engagement refreshed", "shop", shopID, "days", len(need), "flows", len(flows), "requests", rep.Requests)
	return rep, nil
}

// take waits for a slot of key's rate windows (shared by every process
// through the database), or returns a *ThrottledError when the wait is
// longer than Options.MaxWait.
func (s *Service) take(ctx context.Context, key string, r klaviyo.Rate) error {
	w := []store.RateWindow{{Per: time.Second, Limit: r.Burst}, {Per: time.Minute, Limit: r.Steady}}
	for {
		g, wait, err := s.st.TakeRate(ctx, key, 1, w, s.opts.RateGuard)
		if err != nil {
			return err
		}
		if g > 0 {
			return nil
		}
		if wait > s.opts.MaxWait {
			return &ThrottledError{Wait: wait}
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// classify turns a Klaviyo error into the refresh's answer: a 429 pauses
// the key in every process and is a *ThrottledError.
func (s *Service) classify(ctx context.Context, key string, err error) error {
	var ae *klaviyo.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests {
		wait := ae.RetryAfter
		if wait <= 0 {
			wait = 5 * time.Second // no Retry-After and no detail (sinks.md §1.6)
		}
		if perr := s.st.PauseRate(context.WithoutCancel(ctx), key, wait); perr != nil {
			return perr
		}
		return &ThrottledError{Wait: wait}
	}
	return err
}

// recordFailure keeps the last success and says why this attempt failed.
func (s *Service) recordFailure(ctx context.Context, shopID app.ShopID, integrationID int64, now time.Time, err error) {
	msg := "Klaviyo could not be read: " + err.Error()
	var ae *klaviyo.APIError
	var te *ThrottledError
	switch {
	case errors.As(err, &te):
		msg = "Klaviyo is limiting reporting requests; the numbers are read again in " + te.Wait.Round(time.Second).String() + "."
	case errors.As(err, &ae) && ae.AuthFailure():
		msg = fmt.Sprintf("Klaviyo refused to report (%d %s): the private API key needs the metrics:read scope to read opens and clicks.", ae.Status, ae.Code)
	}
	if rerr := s.st.RecordEngagementRefresh(context.WithoutCancel(ctx), shopID, integrationID, now, msg, 0); rerr != nil {
		s.log.ErrorContext(ctx, "recording engagement refresh", "shop", shopID, "err", rerr)
	}
}

// rateKey is the key of one of the account's reporting limits, next to
// the delivery runner's "klaviyo:<account>:events" (Klaviyo counts per
// account and operation).
func rateKey(in *store.Integration, op string) string {
	acct := in.AccountID
	if acct == "" {
		acct = "integration-" + strconv.FormatInt(in.ID, 10)
	}
	return "klaviyo:" + acct + ":" + op
}

// localDate is t's calendar date in loc, as midnight UTC (how the store
// carries dates).
func localDate(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// localMidnight is the instant date (a localDate) starts in loc.
func localMidnight(date time.Time, loc *time.Location) time.Time {
	y, m, d := date.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

func dateKey(t time.Time) string { return t.Format(time.DateOnly) }
