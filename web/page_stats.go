package web

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/templates"
)

// statsRanges are the periods the statistics page offers.
var statsRanges = []templates.Option{
	{Value: "24h", Label: "Last 24 hours"},
	{Value: "7d", Label: "Last 7 days"},
	{Value: "30d", Label: "Last 30 days"},
	{Value: "custom", Label: "Custom dates"},
}

// maxCustomDays bounds a custom statistics range.
const maxCustomDays = 400

// statsPeriod is the period a request asks for.
type statsPeriod struct {
	from, to time.Time
	bucket   string // hour or day
	label    string
}

// parseStatsPeriod reads range, from and to: the last 24 hours by hour
// (the current hour included), the last 7 or 30 days by day (whole local
// days, today included), or custom dates (inclusive; by hour when at most
// two days). Periods end at a bucket's end, not at now, so deliveries
// written a moment after the page's clock read (or by a database whose
// clock runs ahead) still count.
func parseStatsPeriod(rng, rawFrom, rawTo string, now time.Time, loc *time.Location) (statsPeriod, templates.FieldErrors) {
	today := localMidnight(now, loc)
	tomorrow := today.AddDate(0, 0, 1)
	switch rng {
	case "24h":
		end := now.Truncate(time.Hour).Add(time.Hour)
		return statsPeriod{from: end.Add(-24 * time.Hour), to: end, bucket: "hour", label: "Last 24 hours, by hour"}, nil
	case "30d":
		return statsPeriod{from: today.AddDate(0, 0, -29), to: tomorrow, bucket: "day", label: "Last 30 days, by day"}, nil
	case "custom":
		errs := templates.FieldErrors{}
		from, err := parseDayOrTime(rawFrom, "from", false, loc)
		if err != nil || from.IsZero() {
			errs["from"] = "Enter the first day, such as 2026-11-01."
		}
		to, err := parseDayOrTime(rawTo, "to", true, loc)
		if err != nil || to.IsZero() {
			errs["to"] = "Enter the last day, such as 2026-11-23."
		}
		if len(errs) == 0 && !from.Before(to) {
			errs["to"] = "The last day must not be before the first."
		}
		if len(errs) == 0 && to.Sub(from) > maxCustomDays*24*time.Hour {
			errs["to"] = "Choose at most " + strconv.Itoa(maxCustomDays) + " days."
		}
		if len(errs) > 0 {
			return statsPeriod{}, errs
		}
		p := statsPeriod{from: from, to: to, bucket: "day"}
		if to.Sub(from) <= 49*time.Hour {
			p.bucket = "hour"
		}
		p.label = from.In(loc).Format("2 Jan 2006") + " to " + to.In(loc).Add(-time.Second).Format("2 Jan 2006") + ", by " + p.bucket
		return p, nil
	}
	return statsPeriod{from: today.AddDate(0, 0, -6), to: tomorrow, bucket: "day", label: "Last 7 days, by day"}, nil
}

// handleStatsPage shows deliveries by status for a period: totals, a
// chart per hour or day, and per event and integration, each number
// linking to those deliveries in the log.
func (s *server) handleStatsPage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	loc, err := s.shopLocation(c, shop.ID)
	if err != nil {
		return err
	}
	f := templates.StatsFilter{
		Action: s.e.Reverse(routeAppStats), Hidden: s.pageHidden(c), Ranges: statsRanges,
		Range: c.QueryParam("range"), From: c.QueryParam("from"), To: c.QueryParam("to"),
		Integration: c.QueryParam("integration"), Event: c.QueryParam("event"),
		Integrations: kindOptions(),
	}
	if f.Range == "" {
		f.Range = "7d"
		if f.From != "" || f.To != "" {
			f.Range = "custom"
		}
	}
	for _, d := range event.Catalog() {
		f.Events = append(f.Events, templates.Option{Value: string(d.Key), Label: string(d.Key)})
	}
	status := http.StatusOK
	if f.Integration != "" && f.Integration != forward.KindCleverTap && f.Integration != forward.KindKlaviyo {
		f.Integration = ""
	}
	if f.Event != "" && !event.Key(f.Event).Valid() {
		f.Event = ""
	}
	period, errs := parseStatsPeriod(f.Range, f.From, f.To, s.now(), loc)
	if len(errs) > 0 {
		f.Errors = errs
		status = http.StatusUnprocessableEntity
		period, _ = parseStatsPeriod("7d", "", "", s.now(), loc)
	}
	v := templates.StatsView{
		Shell:      s.pageShell(c, "Statistics", routeAppStats),
		Filter:     f,
		RangeLabel: period.label + " · times in " + loc.String(),
	}
	logLink := func(kind, key, status string) string {
		q := url.Values{"from": {period.from.Format(time.RFC3339Nano)}, "to": {period.to.Format(time.RFC3339Nano)}}
		if kind != "" {
			q.Set("integration", kind)
		}
		if key != "" {
			q.Set("event", key)
		}
		if status != "" {
			q.Set("status", status)
		}
		return s.pageURL(c, routeAppDeliveries, q)
	}
	// Per event and integration, the pairs with deliveries in the period, in
	// the catalog's order within each connected integration.
	integrations, err := s.forward.List(ctx, shop.ID)
	if err != nil {
		return err
	}
	byEvent, err := s.forward.StatsByEvent(ctx, shop.ID, forward.StatsFilter{
		Integration: f.Integration, Event: f.Event, From: period.from, To: period.to,
	})
	if err != nil {
		return err
	}
	// The cards sum the table's query, so the numbers on one page always
	// agree while deliveries change state; the chart has its own query.
	var sums forward.StatusCounts
	counts := map[[2]string]forward.StatusCounts{}
	for _, es := range byEvent {
		counts[[2]string{es.Integration, es.Event}] = es.Totals
		sums.Merge(es.Totals)
	}
	for _, st := range templates.DeliveryStatuses() {
		v.Totals = append(v.Totals, templates.StatCell{Status: st, Count: sums.Of(st), URL: logLink(f.Integration, f.Event, st)})
	}
	total, err := s.forward.Stats(ctx, shop.ID, forward.StatsFilter{
		Integration: f.Integration, Event: f.Event, From: period.from, To: period.to, Bucket: period.bucket, Location: loc,
	})
	if err != nil {
		return err
	}
	v.Chart = statsChart(total, period, loc, f)
	for _, in := range integrations {
		if in.Status == store.IntegrationNotConnected || (f.Integration != "" && f.Integration != in.Kind) {
			continue
		}
		for _, d := range event.Catalog() {
			st, ok := counts[[2]string{in.Kind, string(d.Key)}]
			if !ok {
				continue
			}
			row := templates.StatsRow{Integration: in.Kind, IntegrationLabel: kindLabel(in.Kind), Event: string(d.Key)}
			for _, status := range templates.DeliveryStatuses() {
				n := st.Of(status)
				row.Total += n
				row.Cells = append(row.Cells, templates.StatCell{Status: status, Count: n, URL: logLink(in.Kind, string(d.Key), status)})
			}
			if row.Total > 0 {
				v.Rows = append(v.Rows, row)
			}
		}
	}
	return render(c, status, templates.StatsPage(v))
}

// statsChart stacks the statuses of each bucket.
func statsChart(st forward.Stats, p statsPeriod, loc *time.Location, f templates.StatsFilter) templates.Chart {
	what := "all events"
	if f.Event != "" {
		what = f.Event
	}
	to := "every integration"
	if f.Integration != "" {
		to = kindLabel(f.Integration)
	}
	c := templates.Chart{ID: "stats-chart", Title: "Deliveries of " + what + " to " + to, BucketHeader: "Day"}
	if p.bucket == "hour" {
		c.BucketHeader = "Hour"
	}
	for _, s := range templates.DeliveryStatuses() {
		c.Series = append(c.Series, templates.ChartSeries{Key: s, Label: statusWord(s)})
	}
	for _, b := range st.Buckets {
		t := b.Start.In(loc)
		cb := templates.ChartBucket{Label: t.Format("Mon 2"), Full: t.Format("Monday 2 January 2006")}
		if p.bucket == "hour" {
			cb.Label, cb.Full = t.Format("15:04"), t.Format("Mon 2 Jan, 15:04")+"–"+t.Add(time.Hour).Format("15:04")
		}
		for _, s := range templates.DeliveryStatuses() {
			cb.Values = append(cb.Values, b.StatusCounts.Of(s))
		}
		c.Buckets = append(c.Buckets, cb)
	}
	t := st.Totals
	c.Summary = strconv.FormatInt(t.Sent, 10) + " sent, " + strconv.FormatInt(t.Late, 10) + " late, " +
		strconv.FormatInt(t.Unconfirmed, 10) + " unconfirmed, " + strconv.FormatInt(t.Pending, 10) + " pending, " + strconv.FormatInt(t.Failed, 10) + " failed and " +
		strconv.FormatInt(t.Skipped, 10) + " skipped, " + p.label + "."
	return c
}

// statusWord is a delivery status as a chart series name.
func statusWord(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
