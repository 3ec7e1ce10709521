package klaviyo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxBulkEvents is the most events one bulk request may carry (sinks.md
// §1.4).
const MaxBulkEvents = 1000

// Event is one event to record against a profile (sinks.md §1.2).
type Event struct {
	Metric     string  // metric name, e.g. "wallet_points_rewarded"
	Profile    Profile // at least one identifier is required
	Properties map[string]any
	// Time is when the event happened; Klaviyo keeps it to the second. The
	// zero time lets Klaviyo use the receipt time.
	Time time.Time
	// Value is a monetary value as a decimal string ("12.50"), sent as a
	// JSON number so no float rounding happens on our side. Nil: none.
	Value         *string
	ValueCurrency string // ISO 4217
	// UniqueID is the dedupe key: Klaviyo records the first event per
	// profile, metric and UniqueID, so retries are safe. Use the event id.
	// Without it Klaviyo keeps one event per profile and metric per second.
	UniqueID string
	// Backfill records the event without triggering flows (historic imports).
	Backfill bool
}

// Profile identifies a Klaviyo profile and carries custom properties
// (loyalty_points_balance, loyalty_tier, …) to set on it. Empty fields are
// left out of the request, so Klaviyo leaves them unchanged.
type Profile struct {
	Email       string
	PhoneNumber string // E.164
	ExternalID  string
	Properties  map[string]any
}

func (p Profile) identified() bool {
	return strings.TrimSpace(p.Email) != "" || strings.TrimSpace(p.PhoneNumber) != "" || strings.TrimSpace(p.ExternalID) != ""
}

// The request documents of Create Event, Bulk Create Events and Profile
// Import (shared/specs: EventCreateQueryV2, EventsBulkCreateJob,
// ProfileUpsertQuery).
type (
	eventDoc struct {
		Data eventResource `json:"data"`
	}
	eventResource struct {
		Type       string          `json:"type"`
		Attributes eventAttributes `json:"attributes"`
	}
	eventAttributes struct {
		Properties    map[string]any `json:"properties"`
		Time          string         `json:"time,omitempty"`
		Value         json.Number    `json:"value,omitempty"`
		ValueCurrency string         `json:"value_currency,omitempty"`
		UniqueID      string         `json:"unique_id,omitempty"`
		Backfill      bool           `json:"backfill,omitempty"`
		Metric        metricRel      `json:"metric"`
		Profile       *profileRel    `json:"profile,omitempty"` // single events only
	}
	metricRel struct {
		Data metricData `json:"data"`
	}
	metricData struct {
		Type       string           `json:"type"`
		Attributes metricAttributes `json:"attributes"`
	}
	metricAttributes struct {
		Name string `json:"name"`
	}
	profileRel struct {
		Data profileData `json:"data"`
	}
	profileData struct {
		Type       string            `json:"type"`
		Attributes profileAttributes `json:"attributes"`
	}
	profileAttributes struct {
		Email       string         `json:"email,omitempty"`
		PhoneNumber string         `json:"phone_number,omitempty"`
		ExternalID  string         `json:"external_id,omitempty"`
		Properties  map[string]any `json:"properties,omitempty"`
	}

	bulkDoc struct {
		Data bulkJob `json:"data"`
	}
	bulkJob struct {
		Type       string            `json:"type"`
		Attributes bulkJobAttributes `json:"attributes"`
	}
	bulkJobAttributes struct {
		EventsBulkCreate bulkItems `json:"events-bulk-create"`
	}
	bulkItems struct {
		Data []bulkItem `json:"data"`
	}
	bulkItem struct {
		Type       string             `json:"type"`
		Attributes bulkItemAttributes `json:"attributes"`
	}
	bulkItemAttributes struct {
		Profile profileRel `json:"profile"`
		Events  bulkEvents `json:"events"`
	}
	bulkEvents struct {
		Data []eventResource `json:"data"`
	}
)

// noProperties stands in for nil properties, which the schema requires to
// be an object. It is never written to.
var noProperties = map[string]any{}

// decimal is a JSON number without exponent, as a money amount is written.
var decimal = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// timeLayout writes ISO 8601 with a numeric offset, as Klaviyo's examples
// do ("2026-08-20T14:03:11+00:00").
const timeLayout = "2006-01-02T15:04:05-07:00"

func profileRef(p Profile) profileRel {
	return profileRel{Data: profileData{Type: "profile", Attributes: profileAttributes{
		Email: p.Email, PhoneNumber: p.PhoneNumber, ExternalID: p.ExternalID, Properties: p.Properties,
	}}}
}

// eventAttrs validates e and builds its attributes, without the profile.
func eventAttrs(e Event) (eventAttributes, error) {
	if strings.TrimSpace(e.Metric) == "" {
		return eventAttributes{}, invalid(ErrInvalidEvent, "The Klaviyo event has no metric name.", "empty metric name")
	}
	if !e.Profile.identified() {
		return eventAttributes{}, invalid(ErrInvalidEvent, "The Klaviyo event has no email, phone number or external id.",
			"no profile identifier for metric "+strconv.Quote(e.Metric))
	}
	a := eventAttributes{
		Properties: e.Properties, ValueCurrency: e.ValueCurrency, UniqueID: e.UniqueID, Backfill: e.Backfill,
		Metric: metricRel{Data: metricData{Type: "metric", Attributes: metricAttributes{Name: e.Metric}}},
	}
	if a.Properties == nil {
		a.Properties = noProperties
	}
	if !e.Time.IsZero() {
		a.Time = e.Time.UTC().Truncate(time.Second).Format(timeLayout)
	}
	if e.Value != nil {
		if !decimal.MatchString(*e.Value) {
			return eventAttributes{}, invalid(ErrInvalidEvent, "The Klaviyo event value is not a decimal amount.",
				"value "+strconv.Quote(*e.Value))
		}
		a.Value = json.Number(*e.Value)
	}
	return a, nil
}

// encodeEvent returns the Create Event document of e.
func encodeEvent(e Event) ([]byte, error) {
	a, err := eventAttrs(e)
	if err != nil {
		return nil, err
	}
	ref := profileRef(e.Profile)
	a.Profile = &ref
	body, err := marshal(eventDoc{Data: eventResource{Type: "event", Attributes: a}})
	if err != nil {
		return nil, invalid(ErrInvalidEvent, "The Klaviyo event properties cannot be encoded.", err.Error())
	}
	return body, nil
}

// EventBody returns the Create Event document CreateEvent sends for e (the
// delivery log shows it).
func EventBody(e Event) ([]byte, error) { return encodeEvent(e) }

// CreateEvent records one event (POST /api/events/). Klaviyo answers 202:
// validated and queued, not yet processed.
func (c *Client) CreateEvent(ctx context.Context, e Event) error {
	body, err := encodeEvent(e)
	if err != nil {
		return fmt.Errorf("klaviyo: create event: %w", err)
	}
	_, err = c.do(ctx, "create event", http.MethodPost, "/api/events/", body)
	return err
}

// BulkError is the 400 answer to a bulk request whose every error names an
// item of it. Klaviyo rejected the whole request: drop (or dead-letter) the
// events in Items and send the others again.
type BulkError struct {
	Err   *APIError
	Items map[int][]ErrorObject // by index into the events passed to BulkCreateEvents
}

// Error implements error.
func (e *BulkError) Error() string {
	return fmt.Sprintf("%d of the events rejected: %v", len(e.Items), e.Err)
}

// Unwrap returns the *APIError, so the classification helpers see a
// permanent 400.
func (e *BulkError) Unwrap() error { return e.Err }

// Failed returns the indexes of the rejected events, in order.
func (e *BulkError) Failed() []int {
	out := make([]int, 0, len(e.Items))
	for i := range e.Items {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

// itemPointer reads the group and, when the error is about one event, the
// event index from a bulk error pointer (sinks.md §1.4).
var itemPointer = regexp.MustCompile(`^/data/attributes/events-bulk-create/data/(\d+)(?:/attributes/events/data/(\d+))?(?:/|$)`)

// bulkGroup is the events of one profile, as indexes into the caller's
// slice.
type bulkGroup struct {
	profile Profile
	events  []int
}

// groupKey identifies a profile by all of its identifiers; emails compare
// without case, as Klaviyo's do.
func groupKey(p Profile) string {
	return strings.ToLower(strings.TrimSpace(p.Email)) + "\x00" + strings.TrimSpace(p.PhoneNumber) + "\x00" + strings.TrimSpace(p.ExternalID)
}

// sameProfile reports whether a and b share an identifier, and so may be
// the same Klaviyo profile.
func sameProfile(a, b Profile) bool {
	eq := func(x, y string) bool { x, y = strings.TrimSpace(x), strings.TrimSpace(y); return x != "" && x == y }
	return eq(strings.ToLower(a.Email), strings.ToLower(b.Email)) || eq(a.PhoneNumber, b.PhoneNumber) || eq(a.ExternalID, b.ExternalID)
}

// encodeBulk validates events and builds the bulk document, grouping events
// per profile in order of first appearance.
func encodeBulk(events []Event) ([]byte, []bulkGroup, error) {
	if len(events) > MaxBulkEvents {
		return nil, nil, invalid(ErrBatchTooLarge, fmt.Sprintf("A Klaviyo bulk request can carry at most %d events.", MaxBulkEvents),
			fmt.Sprintf("%d events", len(events)))
	}
	type seenKey struct{ metric, uniqueID string }
	seen := map[seenKey][]int{}
	var groups []bulkGroup
	byKey := map[string]int{}
	attrs := make([]eventAttributes, len(events))
	for i, e := range events {
		a, err := eventAttrs(e)
		if err != nil {
			return nil, nil, fmt.Errorf("event %d: %w", i, err)
		}
		attrs[i] = a
		if e.UniqueID != "" {
			// Repeating unique_id for one profile and metric fails the whole
			// bulk request (sinks.md §1.4). Klaviyo matches profiles by any
			// identifier, so any shared identifier counts as the same.
			k := seenKey{e.Metric, e.UniqueID}
			for _, j := range seen[k] {
				if sameProfile(events[j].Profile, e.Profile) {
					return nil, nil, invalid(ErrDuplicateEvent, "The Klaviyo bulk request repeats an event.",
						fmt.Sprintf("events %d and %d: unique_id %q, metric %q", j, i, e.UniqueID, e.Metric))
				}
			}
			seen[k] = append(seen[k], i)
		}
		key := groupKey(e.Profile)
		g, ok := byKey[key]
		if !ok {
			g = len(groups)
			byKey[key] = g
			groups = append(groups, bulkGroup{profile: Profile{Email: e.Profile.Email, PhoneNumber: e.Profile.PhoneNumber, ExternalID: e.Profile.ExternalID}})
		}
		// Profile properties of one group merge in order: the latest event
		// carries the latest balance and tier.
		if len(e.Profile.Properties) > 0 {
			if groups[g].profile.Properties == nil {
				groups[g].profile.Properties = make(map[string]any, len(e.Profile.Properties))
			}
			for k, v := range e.Profile.Properties {
				groups[g].profile.Properties[k] = v
			}
		}
		groups[g].events = append(groups[g].events, i)
	}
	doc := bulkDoc{Data: bulkJob{Type: "event-bulk-create-job"}}
	items := make([]bulkItem, len(groups))
	for gi, g := range groups {
		evs := make([]eventResource, len(g.events))
		for j, i := range g.events {
			evs[j] = eventResource{Type: "event", Attributes: attrs[i]}
		}
		items[gi] = bulkItem{Type: "event-bulk-create", Attributes: bulkItemAttributes{Profile: profileRef(g.profile), Events: bulkEvents{Data: evs}}}
	}
	doc.Data.Attributes.EventsBulkCreate.Data = items
	body, err := marshal(doc)
	if err != nil {
		return nil, nil, invalid(ErrInvalidEvent, "The Klaviyo event properties cannot be encoded.", err.Error())
	}
	return body, groups, nil
}

// BulkCreateEvents records up to MaxBulkEvents events in one request (POST
// /api/event-bulk-create-jobs/), grouped per profile. Its limits are far
// lower than CreateEvent's (10/s, 150/m): use it for backlogs and backfills.
//
// More than MaxBulkEvents events, or a unique_id repeated for one profile
// and metric, is refused before sending. A 400 whose errors all point at
// items returns a *BulkError naming the events to drop; any other failure
// returns an *APIError or *TransportError for the whole batch. Klaviyo
// rejects or accepts the request as a whole.
func (c *Client) BulkCreateEvents(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	body, groups, err := encodeBulk(events)
	if err != nil {
		return fmt.Errorf("klaviyo: bulk create events: %w", err)
	}
	_, err = c.do(ctx, "bulk create events", http.MethodPost, "/api/event-bulk-create-jobs/", body)
	var ae *APIError
	if err == nil || !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		return err
	}
	if be := bulkItems400(ae, groups); be != nil {
		return fmt.Errorf("klaviyo: bulk create events: %w", be)
	}
	return err
}

// bulkItems400 maps the errors of a bulk 400 to event indexes, or returns
// nil when any error does not name an item (then nothing is safe to
// resend alone).
func bulkItems400(ae *APIError, groups []bulkGroup) *BulkError {
	if len(ae.Errors) == 0 {
		return nil
	}
	items := map[int][]ErrorObject{}
	for _, x := range ae.Errors {
		m := itemPointer.FindStringSubmatch(x.Pointer)
		if m == nil {
			return nil
		}
		g, err := strconv.Atoi(m[1])
		if err != nil || g >= len(groups) {
			return nil
		}
		if m[2] == "" { // about the group's profile: all its events fail
			for _, i := range groups[g].events {
				items[i] = append(items[i], x)
			}
			continue
		}
		j, err := strconv.Atoi(m[2])
		if err != nil || j >= len(groups[g].events) {
			return nil
		}
		i := groups[g].events[j]
		items[i] = append(items[i], x)
	}
	return &BulkError{Err: ae, Items: items}
}
