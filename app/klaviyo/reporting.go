package klaviyo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Reporting: reading engagement back (sinks.md §1.9). Metrics lists the
// account's metrics with the flows each one triggers; MetricAggregate
// counts a metric's events per interval, grouped by flow.

// Published limits of the reporting operations (spec 2026-07-15).
var (
	MetricsRate          = Rate{Burst: 10, Steady: 150} // GET /api/metrics
	MetricAggregatesRate = Rate{Burst: 3, Steady: 60}   // POST /api/metric-aggregates
)

// Native engagement metrics, named the same in every account (their ids
// differ per account).
const (
	MetricOpenedEmail  = "Opened Email"
	MetricClickedEmail = "Clicked Email"
	MetricClickedSMS   = "Clicked SMS"
)

// maxMetricPages bounds Metrics' paging (200 a page): an account with
// more than 10,000 metrics is not one we can report on sensibly.
const maxMetricPages = 50

// Metric is one metric of the account.
type Metric struct {
	ID   string
	Name string
	// FlowIDs are the flows the metric triggers (its flow-triggers).
	FlowIDs []string
}

// Flow is a flow some metric triggers.
type Flow struct {
	ID          string
	Name        string
	Status      string // draft, manual, live
	TriggerType string // "Metric" for the flows we report on
}

// Metrics is every metric of the account, with the flows each triggers.
type Metrics struct {
	Metrics []Metric
	Flows   map[string]Flow // by id
}

// ByName returns the metric named name.
func (m Metrics) ByName(name string) (Metric, bool) {
	for _, x := range m.Metrics {
		if x.Name == name {
			return x, true
		}
	}
	return Metric{}, false
}

// Metrics reads every metric of the account with include=flow-triggers
// (GET /api/metrics, scope metrics:read, 10/s 150/m), following the pages.
// Each page is one request: callers that rate-limit call wait before it
// through pageWait.
func (c *Client) Metrics(ctx context.Context, pageWait func(context.Context) error) (Metrics, error) {
	out := Metrics{Flows: map[string]Flow{}}
	path := "/api/metrics/?include=flow-triggers"
	for page := 0; path != ""; page++ {
		if page == maxMetricPages {
			return out, fmt.Errorf("klaviyo: metrics: more than %d pages", maxMetricPages)
		}
		if pageWait != nil {
			if err := pageWait(ctx); err != nil {
				return out, err
			}
		}
		raw, err := c.do(ctx, "metrics", http.MethodGet, path, nil)
		if err != nil {
			return out, err
		}
		var doc struct {
			Data []struct {
				ID         string `json:"id"`
				Attributes struct {
					Name string `json:"name"`
				} `json:"attributes"`
				Relationships struct {
					FlowTriggers struct {
						Data []struct {
							ID string `json:"id"`
						} `json:"data"`
					} `json:"flow-triggers"`
				} `json:"relationships"`
			} `json:"data"`
			Included []struct {
				Type       string `json:"type"`
				ID         string `json:"id"`
				Attributes struct {
					Name        string `json:"name"`
					Status      string `json:"status"`
					TriggerType string `json:"trigger_type"`
				} `json:"attributes"`
			} `json:"included"`
			Links struct {
				Next string `json:"next"`
			} `json:"links"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			return out, fmt.Errorf("klaviyo: metrics: decode response: %w", err)
		}
		for _, d := range doc.Data {
			m := Metric{ID: d.ID, Name: d.Attributes.Name}
			for _, f := range d.Relationships.FlowTriggers.Data {
				m.FlowIDs = append(m.FlowIDs, f.ID)
			}
			out.Metrics = append(out.Metrics, m)
		}
		for _, inc := range doc.Included {
			if inc.Type == "flow" {
				out.Flows[inc.ID] = Flow{ID: inc.ID, Name: inc.Attributes.Name, Status: inc.Attributes.Status, TriggerType: inc.Attributes.TriggerType}
			}
		}
		path = ""
		if doc.Links.Next != "" {
			// The next link is absolute on Klaviyo's host: keep its path and
			// query on our origin (tests and proxies use another one).
			u, err := url.Parse(doc.Links.Next)
			if err != nil {
				return out, fmt.Errorf("klaviyo: metrics: next link: %w", err)
			}
			path = u.RequestURI()
		}
	}
	return out, nil
}

// AggregateQuery is a metric-aggregates query counting one metric per day
// (or hour) over [From, To) in Timezone, grouped by the flow each event is
// attributed to, optionally only for some flows.
type AggregateQuery struct {
	MetricID string
	From, To time.Time
	Interval string // day (default) or hour
	Timezone string // IANA name; default UTC
	FlowIDs  []string
}

// Aggregate is the answer: per flow, one count per date.
type Aggregate struct {
	Dates  []time.Time
	ByFlow map[string][]int64 // flow id → counts aligned with Dates
}

// MetricAggregate counts q.MetricID's events (POST /api/metric-aggregates,
// scope metrics:read, 3/s 60/m) by $attributed_flow.
func (c *Client) MetricAggregate(ctx context.Context, q AggregateQuery) (Aggregate, error) {
	interval := q.Interval
	if interval == "" {
		interval = "day"
	}
	tz := q.Timezone
	if tz == "" {
		tz = "UTC"
	}
	const layout = "2006-01-02T15:04:05"
	// Datetimes without an offset are read in the query's time zone.
	var loc *time.Location = time.UTC
	if l, err := time.LoadLocation(tz); err == nil {
		loc = l
	}
	filter := []string{
		"greater-or-equal(datetime," + q.From.In(loc).Format(layout) + ")",
		"less-than(datetime," + q.To.In(loc).Format(layout) + ")",
	}
	if len(q.FlowIDs) > 0 {
		quoted := make([]string, len(q.FlowIDs))
		for i, id := range q.FlowIDs {
			quoted[i] = strconv.Quote(id)
		}
		filter = append(filter, "any($attributed_flow,["+strings.Join(quoted, ",")+"])")
	}
	body, err := marshal(map[string]any{"data": map[string]any{
		"type": "metric-aggregate",
		"attributes": map[string]any{
			"metric_id": q.MetricID, "measurements": []string{"count"}, "interval": interval,
			"timezone": tz, "filter": filter, "by": []string{"$attributed_flow"},
		},
	}})
	if err != nil {
		return Aggregate{}, fmt.Errorf("klaviyo: metric aggregate: %w", err)
	}
	raw, err := c.do(ctx, "metric aggregate", http.MethodPost, "/api/metric-aggregates/", body)
	if err != nil {
		return Aggregate{}, err
	}
	var doc struct {
		Data struct {
			Attributes struct {
				Dates []string `json:"dates"`
				Data  []struct {
					Dimensions   []string             `json:"dimensions"`
					Measurements map[string][]float64 `json:"measurements"`
				} `json:"data"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return Aggregate{}, fmt.Errorf("klaviyo: metric aggregate: decode response: %w", err)
	}
	out := Aggregate{ByFlow: map[string][]int64{}}
	for _, d := range doc.Data.Attributes.Dates {
		t, err := time.Parse(time.RFC3339, d)
		if err != nil {
			return Aggregate{}, fmt.Errorf("klaviyo: metric aggregate: date %q: %w", d, err)
		}
		out.Dates = append(out.Dates, t)
	}
	for _, row := range doc.Data.Attributes.Data {
		if len(row.Dimensions) == 0 || row.Dimensions[0] == "" {
			// Events attributed to no flow (a campaign, or none).
			continue
		}
		counts := make([]int64, len(out.Dates))
		for i, v := range row.Measurements["count"] {
			if i < len(counts) {
				counts[i] = int64(v)
			}
		}
		prev := out.ByFlow[row.Dimensions[0]]
		for i := range prev {
			counts[i] += prev[i]
		}
		out.ByFlow[row.Dimensions[0]] = counts
	}
	return out, nil
}
