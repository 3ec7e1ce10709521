package fake

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

// Klaviyo reporting, as sinks.md §1.9 and the slices get_metrics.json and
// query_metric_aggregates.json describe it: GET /api/metrics (with
// include=flow-triggers, the flows each metric triggers) and POST
// /api/metric-aggregates (counts of a metric per interval, grouped by
// flow). Metrics appear when an event first names them, as in Klaviyo;
// tests add flows and record opens and clicks on them.

// Native engagement metrics (sinks.md §1.9).
const (
	KlaviyoOpenedEmail  = "Opened Email"
	KlaviyoClickedEmail = "Clicked Email"
	KlaviyoClickedSMS   = "Clicked SMS"
)

// klaviyoMetricsPage is GET /api/metrics' page size ("Returns a maximum of
// 200 results per page").
const klaviyoMetricsPage = 200

// klaviyoMaxAggregateRange bounds a metric-aggregates query. [INFERRED] a
// year, as the Reporting API's timeframe.
const klaviyoMaxAggregateRange = 366 * 24 * time.Hour

// Integrations a metric can belong to. [INFERRED] the shape of the
// integration object (the spec only says "object").
var (
	klaviyoAPIIntegration    = map[string]any{"object": "integration", "id": "7FtS4J", "key": "api", "name": "API", "category": "API"}
	klaviyoNativeIntegration = map[string]any{"object": "integration", "id": "0rG4eQ", "key": "klaviyo", "name": "Klaviyo", "category": "Internal"}
)

type klaviyoMetric struct {
	id, name    string
	integration map[string]any
	created     time.Time
}

// KlaviyoFlow is a flow of the fake account. TriggerMetric names the
// metric that triggers it ("" for a list or date trigger).
type KlaviyoFlow struct {
	ID            string
	Name          string
	Status        string // draft, manual, live; default live
	TriggerMetric string
	Created       time.Time
}

// KlaviyoEngagement is one engagement event (an open or a click) a flow's
// message received: metric is KlaviyoOpenedEmail, KlaviyoClickedEmail or
// KlaviyoClickedSMS.
type KlaviyoEngagement struct {
	Metric  string
	FlowID  string
	Time    time.Time
	Profile string // for the unique measurement
}

// AddFlow adds a flow and returns its id. A flow triggered by a metric
// creates that metric if no event named it yet.
func (k *Klaviyo) AddFlow(f KlaviyoFlow) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if f.ID == "" {
		f.ID = newFlowID()
	}
	f.Status = orDefault(f.Status, "live")
	if f.Created.IsZero() {
		f.Created = now
	}
	if f.TriggerMetric != "" {
		k.metricLocked(f.TriggerMetric, klaviyoAPIIntegration, now)
	}
	k.flows = append(k.flows, &f)
	return f.ID
}

// RecordEngagement records n events of metric attributed to flowID, at
// at, each from its own profile. It creates the metric if needed.
func (k *Klaviyo) RecordEngagement(metric, flowID string, at time.Time, n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.metricLocked(metric, klaviyoNativeIntegration, k.now())
	for i := 0; i < n; i++ {
		k.engagement = append(k.engagement, KlaviyoEngagement{
			Metric: metric, FlowID: flowID, Time: at, Profile: fmt.Sprintf("p%d", len(k.engagement)),
		})
	}
	k.changed.notify()
}

// MetricID returns the id of the named metric, "" when it does not exist.
func (k *Klaviyo) MetricID(name string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, m := range k.metrics {
		if m.name == name {
			return m.id
		}
	}
	return ""
}

// metricLocked returns the metric named name, creating it.
func (k *Klaviyo) metricLocked(name string, integration map[string]any, now time.Time) *klaviyoMetric {
	if name == "" {
		return nil
	}
	for _, m := range k.metrics {
		if m.name == name {
			return m
		}
	}
	m := &klaviyoMetric{id: newFlowID(), name: name, integration: integration, created: now}
	k.metrics = append(k.metrics, m)
	return m
}

// newFlowID returns a 6-character id like Klaviyo's metric and flow ids.
func newFlowID() string {
	id := newKlaviyoID()
	return id[len(id)-6:]
}

// queryErrors checks a GET's query against the operation's parameters:
// unknown parameters, values outside an enum, and filters on fields or
// operators the operation does not allow (the description lists them).
// [INFERRED] the detail wording.
func queryErrors(op *klaviyoOp, q url.Values) []klaviyoError {
	var errs []klaviyoError
	for _, name := range sortedKeys(valuesMap(q)) {
		var p *openapi3.Parameter
		for _, ref := range op.params {
			if ref.Value.Name == name {
				p = ref.Value
			}
		}
		if p == nil {
			errs = append(errs, kErr(400, "invalid", "Invalid input.", fmt.Sprintf("'%s' is not a valid query parameter for this resource.", name), map[string]any{"parameter": name}))
			continue
		}
		val := q.Get(name)
		if p.Schema != nil && p.Schema.Value != nil && p.Schema.Value.Items != nil && p.Schema.Value.Items.Value != nil {
			allowed := p.Schema.Value.Items.Value.Enum
			for _, item := range strings.Split(val, ",") {
				if len(allowed) > 0 && !slices.Contains(allowed, any(item)) {
					errs = append(errs, kErr(400, "invalid", "Invalid input.", fmt.Sprintf("'%s' is not an allowed %s parameter for this resource.", item, name), map[string]any{"parameter": name}))
				}
			}
		}
		if name == "filter" {
			if e := checkGetFilter(p.Description, val); e != "" {
				errs = append(errs, kErr(400, "invalid", "Invalid input.", e, map[string]any{"parameter": "filter"}))
			}
		}
	}
	return errs
}

func valuesMap(q url.Values) map[string]any {
	out := make(map[string]any, len(q))
	for k := range q {
		out[k] = nil
	}
	return out
}

var getFilterTerm = regexp.MustCompile(`^([a-z-]+)\(([A-Za-z_.$]+),(.+)\)$`)

// checkGetFilter validates a GET filter against the "Allowed field(s)/
// operator(s)" list of the parameter's description, e.g.
// "`integration.name`: `equals`".
func checkGetFilter(description, filter string) string {
	allowed := map[string][]string{}
	for _, line := range strings.Split(description, "<br>") {
		field, ops, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(field, "`") {
			continue
		}
		for _, o := range strings.Split(ops, ",") {
			allowed[strings.Trim(field, "` ")] = append(allowed[strings.Trim(field, "` ")], strings.Trim(o, "` "))
		}
	}
	for _, term := range splitTerms(filter) {
		m := getFilterTerm.FindStringSubmatch(term)
		if m == nil {
			return fmt.Sprintf("Invalid filter provided: %s", term)
		}
		if !slices.Contains(allowed[m[2]], m[1]) {
			return fmt.Sprintf("'%s' is not an allowed filter for the field '%s'.", m[1], m[2])
		}
	}
	return ""
}

// splitTerms splits "and(a,b)" or "a" into its terms.
func splitTerms(filter string) []string {
	filter = strings.TrimSpace(filter)
	if strings.HasPrefix(filter, "and(") && strings.HasSuffix(filter, ")") {
		inner := filter[4 : len(filter)-1]
		var out []string
		depth, start := 0, 0
		for i, r := range inner {
			switch r {
			case '(', '[':
				depth++
			case ')', ']':
				depth--
			case ',':
				if depth == 0 {
					out = append(out, inner[start:i])
					start = i + 1
				}
			}
		}
		return append(out, inner[start:])
	}
	return []string{filter}
}

// serveMetrics answers GET /api/metrics: the account's metrics in creation
// order, 200 a page, optionally filtered by integration name or category,
// with each metric's flow-triggers and the flows in included when asked.
func (k *Klaviyo) serveMetrics(w http.ResponseWriter, q url.Values) {
	include := strings.Split(q.Get("include"), ",")
	withFlows := slices.Contains(include, "flow-triggers")
	var field, want string
	if f := q.Get("filter"); f != "" {
		m := getFilterTerm.FindStringSubmatch(f)
		field, want = m[2], strings.Trim(m[3], `'"`)
	}
	k.mu.Lock()
	var all []map[string]any
	var included []map[string]any
	seenFlow := map[string]bool{}
	for _, m := range k.metrics {
		switch field {
		case "integration.name":
			if m.integration["name"] != want {
				continue
			}
		case "integration.category":
			if m.integration["category"] != want {
				continue
			}
		}
		self := klaviyoBaseURL + "/api/metrics/" + m.id + "/"
		triggers := map[string]any{"links": map[string]any{
			"self": self + "relationships/flow-triggers/", "related": self + "flow-triggers/",
		}}
		if withFlows {
			data := []any{}
			for _, f := range k.flows {
				if f.TriggerMetric == m.name {
					data = append(data, map[string]any{"type": "flow", "id": f.ID})
					if !seenFlow[f.ID] {
						seenFlow[f.ID] = true
						included = append(included, flowDoc(f))
					}
				}
			}
			triggers["data"] = data
		}
		ts := m.created.UTC().Format("2006-01-02T15:04:05.000000")
		all = append(all, map[string]any{
			"type": "metric", "id": m.id,
			"attributes":    map[string]any{"name": m.name, "created": ts, "updated": ts, "integration": m.integration},
			"relationships": map[string]any{"flow-triggers": triggers},
			"links":         map[string]any{"self": self},
		})
	}
	k.mu.Unlock()
	offset, _ := strconv.Atoi(q.Get("page[cursor]"))
	offset = min(max(offset, 0), len(all))
	end := min(offset+klaviyoMetricsPage, len(all))
	links := map[string]any{"self": klaviyoBaseURL + "/api/metrics/"}
	if end < len(all) {
		next := url.Values{}
		for key, v := range q {
			next[key] = v
		}
		next.Set("page[cursor]", strconv.Itoa(end))
		links["next"] = klaviyoBaseURL + "/api/metrics/?" + next.Encode()
	}
	doc := map[string]any{"data": nonNil(all[offset:end]), "links": links}
	if withFlows {
		doc["included"] = nonNil(included)
	}
	writeJSON(w, http.StatusOK, klaviyoMediaType, doc)
}

func nonNil(v []map[string]any) []map[string]any {
	if v == nil {
		return []map[string]any{}
	}
	return v
}

// flowDoc renders a FlowResponseObjectResource.
func flowDoc(f *KlaviyoFlow) map[string]any {
	ts := f.Created.UTC().Format("2006-01-02T15:04:05+00:00")
	trigger := "Metric"
	if f.TriggerMetric == "" {
		trigger = "Added to List"
	}
	return map[string]any{
		"type": "flow", "id": f.ID,
		"attributes": map[string]any{"name": f.Name, "status": f.Status, "archived": false, "created": ts, "updated": ts, "trigger_type": trigger},
		"links":      map[string]any{"self": klaviyoBaseURL + "/api/flows/" + f.ID + "/"},
	}
}

var (
	aggTimeFilter = regexp.MustCompile(`^(greater-or-equal|greater-than|less-than|less-or-equal)\(datetime,([^)]+)\)$`)
	aggFlowFilter = regexp.MustCompile(`^(any|equals)\((\$attributed_flow|\$flow),(.+)\)$`)
	quoted        = regexp.MustCompile(`["']([^"']*)["']`)
)

// serveMetricAggregates answers POST /api/metric-aggregates (the body
// already passed the schema): the recorded engagement of metric_id between
// the datetime filters, counted per interval in the query's time zone and
// grouped by flow when by names $attributed_flow or $flow.
func (k *Klaviyo) serveMetricAggregates(w http.ResponseWriter, doc map[string]any, _ klaviyoCall) {
	attrs, _ := mapPath(doc, "data", "attributes").(map[string]any)
	const p = "/data/attributes"
	tz, _ := attrs["timezone"].(string)
	tz = orDefault(tz, "UTC")
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" || tz == "Factory" {
		writeKlaviyo(w, http.StatusBadRequest, invalid(p+"/timezone", fmt.Sprintf("'%s' is not a valid timezone.", tz)))
		return
	}
	interval, _ := attrs["interval"].(string)
	interval = orDefault(interval, "day")
	var from, to time.Time
	var flows []string
	flowFilter := false
	for i, raw := range stringsOf(attrs["filter"]) {
		f := strings.TrimSpace(raw)
		if m := aggTimeFilter.FindStringSubmatch(f); m != nil {
			t, ok := parseAggTime(m[2], loc)
			if !ok {
				writeKlaviyo(w, http.StatusBadRequest, invalid(fmt.Sprintf("%s/filter/%d", p, i), "Invalid datetime: "+m[2]))
				return
			}
			switch m[1] {
			case "greater-or-equal":
				from = t
			case "greater-than":
				from = t.Add(time.Microsecond)
			case "less-than":
				to = t
			case "less-or-equal":
				to = t.Add(time.Microsecond)
			}
			continue
		}
		if m := aggFlowFilter.FindStringSubmatch(f); m != nil {
			flowFilter = true
			for _, q := range quoted.FindAllStringSubmatch(m[3], -1) {
				flows = append(flows, q[1])
			}
			continue
		}
		// [INFERRED] the answer to a filter the fake does not model.
		writeKlaviyo(w, http.StatusBadRequest, invalid(fmt.Sprintf("%s/filter/%d", p, i), "Invalid filter provided: "+f))
		return
	}
	switch {
	case from.IsZero() || to.IsZero():
		// The spec: the filter "must include time range".
		writeKlaviyo(w, http.StatusBadRequest, invalid(p+"/filter", "The filter must include a time range: greater-or-equal and less-than on datetime."))
		return
	case !from.Before(to):
		writeKlaviyo(w, http.StatusBadRequest, invalid(p+"/filter", "The start of the time range must be before its end."))
		return
	case to.Sub(from) > klaviyoMaxAggregateRange:
		writeKlaviyo(w, http.StatusBadRequest, invalid(p+"/filter", "The time range must not exceed one year."))
		return
	}
	byFlow := false
	for _, b := range stringsOf(attrs["by"]) {
		byFlow = byFlow || b == "$attributed_flow" || b == "$flow"
	}
	measurements := stringsOf(attrs["measurements"])
	metricID, _ := attrs["metric_id"].(string)

	k.mu.Lock()
	defer k.mu.Unlock()
	var metric *klaviyoMetric
	for _, m := range k.metrics {
		if m.id == metricID {
			metric = m
		}
	}
	if metric == nil {
		// [INFERRED] an unknown metric id.
		writeKlaviyo(w, http.StatusNotFound, kErr(404, "not_found", "Not found.", fmt.Sprintf("Metric with id %s does not exist.", metricID), pointer(p+"/metric_id")))
		return
	}
	var starts []time.Time
	for t := truncInterval(from.In(loc), interval); t.Before(to); t = nextInterval(t, interval) {
		starts = append(starts, t)
	}
	type group struct {
		count    []int64
		profiles []map[string]bool
	}
	groups := map[string]*group{}
	for _, e := range k.engagement {
		if e.Metric != metric.name || e.Time.Before(from) || !e.Time.Before(to) {
			continue
		}
		if flowFilter && !slices.Contains(flows, e.FlowID) {
			continue
		}
		dim := ""
		if byFlow {
			dim = e.FlowID
		}
		g := groups[dim]
		if g == nil {
			g = &group{count: make([]int64, len(starts)), profiles: make([]map[string]bool, len(starts))}
			groups[dim] = g
		}
		i := sort.Search(len(starts), func(i int) bool { return starts[i].After(e.Time) }) - 1
		if i < 0 {
			continue
		}
		g.count[i]++
		if g.profiles[i] == nil {
			g.profiles[i] = map[string]bool{}
		}
		g.profiles[i][e.Profile] = true
	}
	dates := make([]string, len(starts))
	for i, t := range starts {
		dates[i] = t.Format("2006-01-02T15:04:05-07:00")
	}
	rows := []any{}
	dims := make([]string, 0, len(groups))
	for d := range groups {
		dims = append(dims, d)
	}
	sort.Strings(dims)
	for _, d := range dims {
		g := groups[d]
		ms := map[string]any{}
		for _, m := range measurements {
			vals := make([]float64, len(starts))
			for i := range starts {
				switch m {
				case "count":
					vals[i] = float64(g.count[i])
				case "unique":
					vals[i] = float64(len(g.profiles[i]))
				}
			}
			ms[m] = vals
		}
		dimensions := []string{}
		if byFlow {
			dimensions = append(dimensions, d)
		}
		rows = append(rows, map[string]any{"dimensions": dimensions, "measurements": ms})
	}
	writeJSON(w, http.StatusOK, klaviyoMediaType, map[string]any{
		"data": map[string]any{
			"type": "metric-aggregate", "id": randomHex(16),
			"attributes": map[string]any{"dates": dates, "data": rows},
			"links":      map[string]any{"self": klaviyoBaseURL + "/api/metric-aggregates/"},
		},
		"links": map[string]any{"self": klaviyoBaseURL + "/api/metric-aggregates/"},
	})
}

// parseAggTime reads a filter datetime ("ISO 8601 format
// (YYYY-MM-DDTHH:MM:SS.mmmmmm)"); one without an offset is in loc.
func parseAggTime(s string, loc *time.Location) (time.Time, bool) {
	s = strings.Trim(strings.TrimSpace(s), `'"`)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// truncInterval is the start of t's interval in t's zone. [INFERRED]
// weeks start on Monday.
func truncInterval(t time.Time, interval string) time.Time {
	y, m, d := t.Date()
	switch interval {
	case "hour":
		return time.Date(y, m, d, t.Hour(), 0, 0, 0, t.Location())
	case "week":
		day := time.Date(y, m, d, 0, 0, 0, 0, t.Location())
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	case "month":
		return time.Date(y, m, 1, 0, 0, 0, 0, t.Location())
	}
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

func nextInterval(t time.Time, interval string) time.Time {
	switch interval {
	case "hour":
		return t.Add(time.Hour)
	case "week":
		return t.AddDate(0, 0, 7)
	case "month":
		return t.AddDate(0, 1, 0)
	}
	return t.AddDate(0, 0, 1)
}
