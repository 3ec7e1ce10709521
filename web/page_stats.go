package web

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app/engagement"
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
	if err := s.statsEngagement(c, &v, integrations, period, loc, f); err != nil {
		return err
	}
	return render(c, status, templates.StatsPage(v))
}

// routeAppEngagementRefresh is the Stats page's "Refresh now" (POST).
const routeAppEngagementRefresh = "app.stats.refresh_engagement"

// statsEngagement fills the page's opens and clicks: the totals, a column
// per row, the per-day chart, when they were last read from Klaviyo, and
// CleverTap's note.
func (s *server) statsEngagement(c echo.Context, v *templates.StatsView, integrations []forward.IntegrationView,
	period statsPeriod, loc *time.Location, f templates.StatsFilter) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	eng, err := s.engagement.Stats(c.Request().Context(), shop.ID, engagement.Filter{
		Integration: f.Integration, Event: f.Event, From: period.from, To: period.to, Location: loc,
	})
	if err != nil {
		return err
	}
	p := &v.Engagement
	for _, in := range integrations {
		if in.Status == store.IntegrationNotConnected || (f.Integration != "" && f.Integration != in.Kind) {
			continue
		}
		switch in.Kind {
		case forward.KindKlaviyo:
			p.Klaviyo = true
		case forward.KindCleverTap:
			p.CleverTap = true
			p.CleverTapURL = "https://" + orDefault(in.Region, "eu1") + ".dashboard.clevertap.com/"
		}
	}
	if p.Klaviyo {
		q := url.Values{}
		for _, k := range []string{"range", "from", "to", "integration", "event"} {
			if x := c.QueryParam(k); x != "" {
				q.Set(k, x)
			}
		}
		p.RefreshURL = s.pageURL(c, routeAppEngagementRefresh, q)
		p.Known, p.Opened, p.Clicked = eng.Known, eng.Totals.Opened, eng.Totals.Clicked
		if eng.RefreshedAt != nil {
			p.RefreshedAt = eng.RefreshedAt.In(loc).Format("2 Jan 2006, 15:04")
			p.NoFlows = eng.Flows == 0 && eng.LastError == ""
		}
		p.LastError = eng.LastError
		p.HourNote = period.bucket == "hour"
	}
	// An event whose flows were opened or clicked in the period has a row
	// even when none of its deliveries was created in it (the emails went
	// out before).
	if p.Klaviyo && eng.Known {
		have := map[string]bool{}
		for _, r := range v.Rows {
			if r.Integration == forward.KindKlaviyo {
				have[r.Event] = true
			}
		}
		for _, d := range event.Catalog() {
			if c := eng.ByEvent[string(d.Key)]; !have[string(d.Key)] && c != (engagement.Counts{}) {
				row := templates.StatsRow{Integration: forward.KindKlaviyo, IntegrationLabel: kindLabel(forward.KindKlaviyo), Event: string(d.Key)}
				for _, status := range templates.DeliveryStatuses() {
					row.Cells = append(row.Cells, templates.StatCell{Status: status})
				}
				v.Rows = append(v.Rows, row)
			}
		}
		order := map[string]int{}
		for i, d := range event.Catalog() {
			order[string(d.Key)] = i
		}
		kinds := map[string]int{}
		for i, k := range forward.Kinds() {
			kinds[k] = i
		}
		slices.SortStableFunc(v.Rows, func(a, b templates.StatsRow) int {
			if c := cmp.Compare(kinds[a.Integration], kinds[b.Integration]); c != 0 {
				return c
			}
			return cmp.Compare(order[a.Event], order[b.Event])
		})
	}
	for i := range v.Rows {
		r := &v.Rows[i]
		switch {
		case r.Integration == forward.KindCleverTap:
			r.Engagement.NotAvailable = true
		case eng.Known:
			ev := eng.ByEvent[r.Event]
			r.Engagement = templates.RowEngagement{Known: true, Opened: ev.Opened, Clicked: ev.Clicked}
		}
	}
	if !p.Klaviyo || !eng.Known || period.bucket != "day" {
		return nil
	}
	title := "Opens and clicks in the Klaviyo flows these events trigger"
	if f.Event != "" {
		title = "Opens and clicks in the Klaviyo flows " + f.Event + " triggers"
	}
	ch := templates.Chart{
		ID: "engagement-chart", Title: title, BucketHeader: "Day", Grouped: true,
		Series: []templates.ChartSeries{{Key: "opened", Label: "Opened"}, {Key: "clicked", Label: "Clicked"}},
	}
	starts := dayStarts(period.from, period.to, loc)
	for _, t := range starts {
		d := eng.Days[t.Format(time.DateOnly)]
		ch.Buckets = append(ch.Buckets, templates.ChartBucket{
			Label: t.Format("Mon 2"), Full: t.Format("Monday 2 January 2006"), Values: []int64{d.Opened, d.Clicked},
		})
	}
	ch.Summary = strconv.FormatInt(eng.Totals.Opened, 10) + " opens and " + strconv.FormatInt(eng.Totals.Clicked, 10) + " clicks, " + period.label + "."
	p.Chart = ch
	return nil
}

// dayStarts are the local midnights of the days [from, to) touches.
func dayStarts(from, to time.Time, loc *time.Location) []time.Time {
	var out []time.Time
	l := from.In(loc)
	for t := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc); t.Before(to); t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc) {
		out = append(out, t)
	}
	return out
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// handleEngagementRefreshPage queues a forced read of the shop's opens and
// clicks from Klaviyo ("Refresh now") and goes back to the same view. The
// job is unique while one is queued and the refresh itself keeps to the
// account's rate windows, so pressing it again sends nothing more.
func (s *server) handleEngagementRefreshPage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	if err := s.refreshEngagement(c.Request().Context(), shop.ID); err != nil {
		return err
	}
	q := url.Values{}
	for _, k := range []string{"range", "from", "to", "integration", "event"} {
		if x := c.QueryParam(k); x != "" {
			q.Set(k, x)
		}
	}
	return s.pageRedirect(c, routeAppStats, "engagement-refresh", q)
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
