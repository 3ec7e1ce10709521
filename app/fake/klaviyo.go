package fake

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
)

// The fake Klaviyo encodes reference sinks.md §1 and the OpenAPI slices in
// klaviyospec/ (copied unchanged from Klaviyo's public spec, revision
// 2026-07-15): request schemas, x-klaviyo-ratelimit and x-klaviyo-scopes
// are read from those files.

//go:embed klaviyospec/*.json
var klaviyoSpecFS embed.FS

const (
	klaviyoMediaType   = "application/vnd.api+json"
	klaviyoBaseURL     = "https://a.klaviyo.com"
	klaviyoMaxBody     = 5 << 20   // §1.6: 5 MB decompressed for all new APIs
	klaviyoMaxProfile  = 100 << 10 // §1.5: profile writes ≤ 100 KB
	klaviyoMaxString   = 100 << 10 // §1.2: each string ≤ 100 KB
	klaviyoMaxProps    = 300       // §1.2: strictest of 300 (older revisions) and 400
	klaviyoMaxArray    = 4000      // §1.2
	klaviyoMaxDepth    = 10        // §1.2
	klaviyoMaxBulk     = 1000      // §1.4: events per bulk request
	klaviyoMetricLen   = 128       // §1.2: "Must be less than 128 characters"
	klaviyoBackfillRev = "2026-04-15"
)

// KlaviyoRevisions are the documented GA revisions (sinks.md §1.1); each
// also accepts its ".pre" beta suffix.
var KlaviyoRevisions = []string{
	"2022-10-17", "2023-01-24", "2023-02-22", "2023-06-15", "2023-07-15", "2023-08-15", "2023-09-15",
	"2023-10-15", "2023-12-15", "2024-02-15", "2024-05-15", "2024-06-15", "2024-07-15", "2024-10-15",
	"2025-01-15", "2025-04-15", "2025-07-15", "2025-10-15", "2026-01-15", "2026-04-15", "2026-07-15",
}

var (
	revisionFormat = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$`)
	e164           = regexp.MustCompile(`^\+[1-9]\d{1,14}$`)
)

// KlaviyoKey is a private API key the fake accepts, with its scopes. An
// empty Scopes grants every scope (a full-access key). Keys with the same
// Account share rate limits, as private keys of one account do (§1.6); an
// empty Account makes the key its own account.
type KlaviyoKey struct {
	Key     string
	Scopes  []string
	Account string
}

// KlaviyoOptions configure a fake Klaviyo.
type KlaviyoOptions struct {
	Now       func() time.Time // the clock; default time.Now
	Keys      []KlaviyoKey
	AccountID string // the account id and public key GET /api/accounts reports; default "AbC123"

	// OmitRetryAfter leaves Retry-After off 429 answers, as one observed
	// real 429 did (§1.6), to test client fallbacks.
	OmitRetryAfter bool
	// Slow delays every answer (until the client gives up).
	Slow time.Duration
	// DisableRateLimits turns the per-operation limits off (demo mode).
	DisableRateLimits bool
	// InvalidPhones are E.164-shaped numbers Klaviyo's stricter validation
	// (libphonenumber: no such number plan) refuses with the same 400 as a
	// malformed one, e.g. "+10000000000".
	InvalidPhones []string
}

// KlaviyoIdentifiers are the identifiers a profile reference carried.
type KlaviyoIdentifiers struct {
	ID, Email, PhoneNumber, ExternalID, AnonymousID string
}

// KlaviyoEvent is an event the fake accepted and recorded (deduplicated
// events are not recorded twice).
type KlaviyoEvent struct {
	Metric            string
	Service           string
	ProfileID         string             // the profile the event resolved to
	Profile           KlaviyoIdentifiers // identifiers sent with the event
	ProfileAttributes map[string]any     // profile attributes as sent
	Properties        map[string]any
	Time              time.Time // truncated to the second; receipt time when absent
	UniqueID          string
	Value             *float64
	ValueCurrency     string
	Backfill          bool
	Bulk              bool // arrived through /api/event-bulk-create-jobs
	Key               string
	Revision          string
	ReceivedAt        time.Time
}

// KlaviyoProfile is a profile as the fake stores it.
type KlaviyoProfile struct {
	ID                                                      string
	Email, PhoneNumber, ExternalID, AnonymousID             string
	FirstName, LastName, Organization, Locale, Title, Image string
	Location                                                map[string]any
	Properties                                              map[string]any
	Created, Updated                                        time.Time
}

// Klaviyo is a fake Klaviyo API (https://a.klaviyo.com). It implements
// http.Handler. The zero value is not usable; call NewKlaviyo.
type Klaviyo struct {
	opts KlaviyoOptions
	now  func() time.Time
	ops  map[string]*klaviyoOp

	mu       sync.Mutex
	keys     map[string]KlaviyoKey
	windows  map[string]*rateWindow
	faults   faults
	html403  int
	omitRA   bool
	events   []KlaviyoEvent
	seen     map[string]bool // dedupe keys: profile, metric, unique id
	dupes    int
	profiles []*KlaviyoProfile
	requests []Request
	// Reporting (klaviyo_reporting.go): metrics by name, flows, and the
	// engagement events recorded on flows.
	metrics    []*klaviyoMetric
	flows      []*KlaviyoFlow
	engagement []KlaviyoEngagement
	changed    signal
}

// klaviyoOp is one operation served, configured from its spec slice.
type klaviyoOp struct {
	method, path string
	since        string // first revision with the operation
	scope        string
	burst        rateLimit
	steady       rateLimit
	schema       *openapi3.Schema
	maxBody      int
	params       openapi3.Parameters // query parameters the operation accepts
}

type rateLimit struct {
	n   int
	per time.Duration
}

type rateWindow struct {
	burstStart, steadyStart time.Time
	burstN, steadyN         int
}

// klaviyoOpFiles maps each served operation to its spec slice and to the
// revision that introduced it (changelogs: Create Event 2022-10-17, Get
// Accounts 2023-06-15, Create or Update Profile 2024-02-15, Bulk Create
// Events 2024-05-15).
var klaviyoOpFiles = []struct{ file, method, path, since string }{
	{"create_event.json", http.MethodPost, "/api/events", "2022-10-17"},
	{"bulk_create_events.json", http.MethodPost, "/api/event-bulk-create-jobs", "2024-05-15"},
	{"create_or_update_profile.json", http.MethodPost, "/api/profile-import", "2024-02-15"},
	{"get_accounts.json", http.MethodGet, "/api/accounts", "2023-06-15"},
	// [INFERRED] both reporting operations date from the first GA revision.
	{"get_metrics.json", http.MethodGet, "/api/metrics", "2022-10-17"},
	{"query_metric_aggregates.json", http.MethodPost, "/api/metric-aggregates", "2022-10-17"},
}

var loadKlaviyoOps = sync.OnceValues(func() (map[string]*klaviyoOp, error) {
	ops := map[string]*klaviyoOp{}
	for _, spec := range klaviyoOpFiles {
		data, err := klaviyoSpecFS.ReadFile("klaviyospec/" + spec.file)
		if err != nil {
			return nil, err
		}
		doc, err := openapi3.NewLoader().LoadFromData(data)
		if err != nil {
			return nil, fmt.Errorf("fake: load %s: %w", spec.file, err)
		}
		item := doc.Paths.Value(spec.path)
		if item == nil {
			return nil, fmt.Errorf("fake: %s has no path %s", spec.file, spec.path)
		}
		op := item.GetOperation(spec.method)
		if op == nil {
			return nil, fmt.Errorf("fake: %s has no %s %s", spec.file, spec.method, spec.path)
		}
		o := &klaviyoOp{method: spec.method, path: spec.path, since: spec.since, maxBody: klaviyoMaxBody}
		if spec.path == "/api/profile-import" {
			o.maxBody = klaviyoMaxProfile
		}
		if scopes, ok := op.Extensions["x-klaviyo-scopes"].([]any); ok && len(scopes) > 0 {
			o.scope, _ = scopes[0].(string)
		}
		if rl, ok := op.Extensions["x-klaviyo-ratelimit"].(map[string]any); ok {
			o.burst = parseRateLimit(rl["burst"])
			o.steady = parseRateLimit(rl["steady"])
		}
		for _, p := range op.Parameters {
			if p.Value != nil && p.Value.In == "query" {
				o.params = append(o.params, p)
			}
		}
		if op.RequestBody != nil && op.RequestBody.Value != nil {
			if mt := op.RequestBody.Value.Content.Get(klaviyoMediaType); mt != nil && mt.Schema != nil {
				o.schema = mt.Schema.Value
			}
		}
		ops[spec.path] = o
	}
	return ops, nil
})

// parseRateLimit reads "350/s" or "3500/m".
func parseRateLimit(v any) rateLimit {
	s, _ := v.(string)
	n, unit, ok := strings.Cut(s, "/")
	if !ok {
		return rateLimit{}
	}
	count, _ := strconv.Atoi(n)
	per := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[unit]
	return rateLimit{n: count, per: per}
}

// NewKlaviyo returns a fake Klaviyo. It panics if the embedded spec
// slices cannot be loaded, which is a build defect, not a runtime input.
func NewKlaviyo(opts KlaviyoOptions) *Klaviyo {
	ops, err := loadKlaviyoOps()
	if err != nil {
		panic(err)
	}
	opts.AccountID = orDefault(opts.AccountID, "AbC123")
	k := &Klaviyo{
		opts: opts, now: nowFunc(opts.Now), ops: ops,
		keys: map[string]KlaviyoKey{}, windows: map[string]*rateWindow{}, seen: map[string]bool{},
		omitRA: opts.OmitRetryAfter,
	}
	k.faults.slow = opts.Slow
	for _, key := range opts.Keys {
		k.keys[key.Key] = key
	}
	return k
}

// AddKey adds (or replaces) an accepted API key.
func (k *Klaviyo) AddKey(key KlaviyoKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[key.Key] = key
}

// RevokeKey makes key answer 401 from now on.
func (k *Klaviyo) RevokeKey(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, key)
}

// FailNext makes the next n requests answer status with a Klaviyo error
// body (a 429 carries Retry-After unless omitted).
func (k *Klaviyo) FailNext(status, n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.faults.failStatus, k.faults.failN = status, n
}

// ThrottleNext makes the next n requests answer the 429 throttled body
// (a 429 storm), with or without Retry-After.
func (k *Klaviyo) ThrottleNext(n int, withRetryAfter bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.faults.throttleN, k.faults.throttleRA = n, withRetryAfter
}

// HTMLForbiddenNext makes the next n requests answer Cloudflare's HTML
// challenge page with 403 and cf-mitigated: challenge (§1.3).
func (k *Klaviyo) HTMLForbiddenNext(n int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.html403 = n
}

// SetSlow delays every answer by d (0 turns it off).
func (k *Klaviyo) SetSlow(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.faults.slow = d
}

// SetOmitRetryAfter toggles Retry-After on 429 answers (§1.10 item 5).
func (k *Klaviyo) SetOmitRetryAfter(omit bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.omitRA = omit
}

// Events returns the recorded events in arrival order.
func (k *Klaviyo) Events() []KlaviyoEvent {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]KlaviyoEvent(nil), k.events...)
}

// Duplicates returns how many events were accepted but not recorded
// because of unique_id deduplication.
func (k *Klaviyo) Duplicates() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.dupes
}

// Profiles returns copies of the stored profiles in creation order.
func (k *Klaviyo) Profiles() []KlaviyoProfile {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]KlaviyoProfile, len(k.profiles))
	for i, p := range k.profiles {
		out[i] = *p
		out[i].Properties = copyAnyMap(p.Properties)
		out[i].Location = copyAnyMap(p.Location)
	}
	return out
}

// Requests returns every request received, accepted or not.
func (k *Klaviyo) Requests() []Request {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]Request(nil), k.requests...)
}

// WaitForEvents blocks until at least n events are recorded or ctx is done.
func (k *Klaviyo) WaitForEvents(ctx context.Context, n int) error {
	return waitFor(ctx, &k.mu, &k.changed, func() bool { return len(k.events) >= n })
}

// WaitForRequests blocks until at least n requests arrived or ctx is done.
func (k *Klaviyo) WaitForRequests(ctx context.Context, n int) error {
	return waitFor(ctx, &k.mu, &k.changed, func() bool { return len(k.requests) >= n })
}

// klaviyoError is one entry of Klaviyo's error body (§1.3): the spec's
// id, code, title, detail, source, plus status and meta seen in real ones.
type klaviyoError struct {
	ID     string         `json:"id"`
	Status int            `json:"status"`
	Code   string         `json:"code"`
	Title  string         `json:"title"`
	Detail string         `json:"detail"`
	Source map[string]any `json:"source,omitempty"`
	Links  map[string]any `json:"links,omitempty"`
	Meta   map[string]any `json:"meta"`
}

func kErr(status int, code, title, detail string, source map[string]any) klaviyoError {
	return klaviyoError{ID: uuid.NewString(), Status: status, Code: code, Title: title, Detail: detail, Source: source, Meta: map[string]any{}}
}

func pointer(p string) map[string]any { return map[string]any{"pointer": p} }

func invalid(ptr, detail string) klaviyoError {
	return kErr(http.StatusBadRequest, "invalid", "Invalid input.", detail, pointer(ptr))
}

func writeKlaviyo(w http.ResponseWriter, status int, errs ...klaviyoError) {
	writeJSON(w, status, klaviyoMediaType, map[string]any{"errors": errs})
}

// notAuthenticated is the observed 401 body (§1.3).
func notAuthenticated() klaviyoError {
	e := kErr(http.StatusUnauthorized, "not_authenticated", "Authentication credentials were not provided.",
		"Missing or invalid authorization scheme. Please use Klaviyo-API-Key.", pointer("/data/"))
	return e
}

// ServeHTTP serves the fake's operations.
func (k *Klaviyo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 4*klaviyoMaxBody))
	if err != nil {
		writeKlaviyo(w, http.StatusBadRequest, kErr(400, "parse_error", "Malformed request.", "The request body could not be read.", nil))
		return
	}
	now := k.now()
	k.mu.Lock()
	k.requests = append(k.requests, newRequest(r, raw, now))
	k.changed.notify()
	slow := k.faults.slow
	html := k.html403 > 0
	if html {
		k.html403--
	}
	fail := 0
	throttle, throttleRA := false, false
	if !html {
		fail = k.faults.takeFail()
		if fail == 0 {
			throttle, throttleRA = k.faults.takeThrottle()
		}
	}
	omitRA := k.omitRA
	k.mu.Unlock()

	sleepCtx(r.Context(), slow)
	switch {
	case html:
		serveCloudflareChallenge(w)
		return
	case throttle:
		k.writeThrottled(w, 1, !throttleRA)
		return
	case fail != 0:
		k.writeFault(w, fail, omitRA)
		return
	}

	// Route: both /api/x and /api/x/ are used by real clients (§1.1).
	op := k.ops[strings.TrimSuffix(r.URL.Path, "/")]
	if op == nil {
		writeKlaviyo(w, http.StatusNotFound, kErr(404, "not_found", "Not found.", "Not found.", nil))
		return
	}
	if r.Method != op.method {
		w.Header().Set("Allow", op.method)
		writeKlaviyo(w, http.StatusMethodNotAllowed, kErr(405, "method_not_allowed", "Method not allowed.",
			fmt.Sprintf("Method \"%s\" not allowed.", r.Method), nil))
		return
	}

	// Authentication (§1.1, §1.3): Authorization: Klaviyo-API-Key <key>.
	scheme, keyStr, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	k.mu.Lock()
	key, known := k.keys[strings.TrimSpace(keyStr)]
	k.mu.Unlock()
	if scheme != "Klaviyo-API-Key" || !known {
		writeKlaviyo(w, http.StatusUnauthorized, notAuthenticated())
		return
	}

	// Revision (§1.1): required; documented revisions only; the operation
	// must exist in it.
	rev := strings.TrimSpace(r.Header.Get("revision"))
	base, _, _ := strings.Cut(rev, ".")
	switch {
	case rev == "" || !revisionFormat.MatchString(rev):
		// [INFERRED] the body of a missing or malformed revision header.
		writeKlaviyo(w, http.StatusBadRequest, kErr(400, "invalid", "Invalid input.",
			"Missing or invalid revision header. Use the format YYYY-MM-DD[.suffix].", map[string]any{"parameter": "revision"}))
		return
	case !slices.Contains(KlaviyoRevisions, base) || base < op.since:
		// Klaviyo's 2024-02-15 changelog: undocumented revisions answer
		// 404; an operation absent from the revision answers 404 "No
		// valid revisions found for method" (klaviyo-swift-sdk PR #730).
		// [INFERRED] the rest of the body.
		writeKlaviyo(w, http.StatusNotFound, kErr(404, "not_found", "Not found.", "No valid revisions found for method", map[string]any{"parameter": "revision"}))
		return
	}

	// Scope (§1.7): 403 for a valid key without it. [INFERRED] code and title.
	if len(key.Scopes) > 0 && !slices.Contains(key.Scopes, op.scope) {
		writeKlaviyo(w, http.StatusForbidden, kErr(403, "permission_denied", "You do not have permission to perform this action.",
			fmt.Sprintf("This API key is missing the required scope: %s", op.scope), pointer("/data/")))
		return
	}

	// Rate limits per account and operation, fixed burst and steady
	// windows (§1.6, numbers from x-klaviyo-ratelimit).
	if wait, limited, hdr := k.admit(orDefault(key.Account, key.Key), op, now); limited {
		k.writeThrottled(w, wait, omitRA)
		return
	} else {
		for h, v := range hdr {
			w.Header().Set(h, v)
		}
	}

	if op.method == http.MethodGet {
		if errs := queryErrors(op, r.URL.Query()); len(errs) > 0 {
			writeKlaviyo(w, http.StatusBadRequest, errs...)
			return
		}
		switch op.path {
		case "/api/metrics":
			k.serveMetrics(w, r.URL.Query())
		default:
			k.serveAccounts(w)
		}
		return
	}

	// Content-Type and Content-Encoding (§1.3: 415).
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" && ct != klaviyoMediaType {
		writeKlaviyo(w, http.StatusUnsupportedMediaType, kErr(415, "unsupported_media_type", "Unsupported media type.",
			fmt.Sprintf("Unsupported media type \"%s\" in request.", r.Header.Get("Content-Type")), nil))
		return
	}
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			raw, err = io.ReadAll(io.LimitReader(zr, 4*klaviyoMaxBody))
		}
		if err != nil {
			writeKlaviyo(w, http.StatusBadRequest, kErr(400, "parse_error", "Malformed request.", "Invalid gzip body.", nil))
			return
		}
	default:
		writeKlaviyo(w, http.StatusUnsupportedMediaType, kErr(415, "unsupported_media_type", "Unsupported media type.",
			fmt.Sprintf("Unsupported content encoding \"%s\".", enc), nil))
		return
	}
	if len(raw) > op.maxBody {
		// [INFERRED] 400 rather than 413 for an oversized payload.
		writeKlaviyo(w, http.StatusBadRequest, invalid("/data", fmt.Sprintf("The payload must not exceed %d bytes.", op.maxBody)))
		return
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		// [INFERRED] Django REST Framework's parse error.
		writeKlaviyo(w, http.StatusBadRequest, kErr(400, "parse_error", "Malformed request.", "JSON parse error - "+err.Error(), pointer("/data/")))
		return
	}
	if errs := schemaErrors(op.schema, doc); len(errs) > 0 {
		writeKlaviyo(w, http.StatusBadRequest, errs...)
		return
	}
	call := klaviyoCall{key: key.Key, revision: rev, now: now, invalidPhones: k.opts.InvalidPhones}
	switch op.path {
	case "/api/events":
		k.serveCreateEvent(w, doc.(map[string]any), call)
	case "/api/event-bulk-create-jobs":
		k.serveBulkEvents(w, doc.(map[string]any), call)
	case "/api/profile-import":
		k.serveProfileImport(w, doc.(map[string]any), call)
	case "/api/metric-aggregates":
		k.serveMetricAggregates(w, doc.(map[string]any), call)
	}
}

type klaviyoCall struct {
	key, revision string
	now           time.Time
	invalidPhones []string // KlaviyoOptions.InvalidPhones
}

// admit counts one request against the operation's windows, reporting the
// seconds to wait when over either limit, or the RateLimit-* headers of
// the steady window (§1.6).
func (k *Klaviyo) admit(account string, op *klaviyoOp, now time.Time) (int, bool, map[string]string) {
	if k.opts.DisableRateLimits || op.burst.n == 0 {
		return 0, false, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	id := account + " " + op.path
	win, ok := k.windows[id]
	if !ok {
		win = &rateWindow{}
		k.windows[id] = win
	}
	if bs := now.Truncate(op.burst.per); !bs.Equal(win.burstStart) {
		win.burstStart, win.burstN = bs, 0
	}
	if ss := now.Truncate(op.steady.per); !ss.Equal(win.steadyStart) {
		win.steadyStart, win.steadyN = ss, 0
	}
	wait := time.Duration(0)
	if win.burstN >= op.burst.n {
		wait = win.burstStart.Add(op.burst.per).Sub(now)
	}
	if win.steadyN >= op.steady.n {
		wait = max(wait, win.steadyStart.Add(op.steady.per).Sub(now))
	}
	if wait > 0 {
		return max(1, int(math.Ceil(wait.Seconds()))), true, nil
	}
	win.burstN++
	win.steadyN++
	reset := int(math.Ceil(win.steadyStart.Add(op.steady.per).Sub(now).Seconds()))
	return 0, false, map[string]string{
		"RateLimit-Limit":     strconv.Itoa(op.steady.n),
		"RateLimit-Remaining": strconv.Itoa(op.steady.n - win.steadyN),
		"RateLimit-Reset":     strconv.Itoa(reset),
	}
}

// writeThrottled answers the observed 429 body (§1.3) with Retry-After
// unless omitted (§1.6).
func (k *Klaviyo) writeThrottled(w http.ResponseWriter, wait int, omitRetryAfter bool) {
	unit := "seconds"
	if wait == 1 {
		unit = "second"
	}
	e := kErr(429, "throttled", "Request was throttled.", fmt.Sprintf("Request was throttled. Expected available in %d %s.", wait, unit), pointer("/data"))
	e.Links = map[string]any{"type": "https://developers.klaviyo.com/en/docs/rate_limits_and_error_handling#rate-limits"}
	if !omitRetryAfter {
		w.Header().Set("Retry-After", strconv.Itoa(wait))
	}
	writeKlaviyo(w, http.StatusTooManyRequests, e)
}

// writeFault answers an injected failure with a body in Klaviyo's shape.
// [INFERRED] the codes and titles of 5xx bodies (Django REST Framework
// defaults).
func (k *Klaviyo) writeFault(w http.ResponseWriter, status int, omitRA bool) {
	switch status {
	case http.StatusTooManyRequests:
		k.writeThrottled(w, 1, omitRA)
	case http.StatusUnauthorized:
		writeKlaviyo(w, status, notAuthenticated())
	case http.StatusForbidden:
		writeKlaviyo(w, status, kErr(403, "permission_denied", "You do not have permission to perform this action.", "You do not have permission to perform this action.", pointer("/data/")))
	case http.StatusServiceUnavailable:
		writeKlaviyo(w, status, kErr(503, "service_unavailable", "Service temporarily unavailable, try again later.", "Service temporarily unavailable, try again later.", nil))
	default:
		code := "error"
		title := http.StatusText(status)
		if status >= 500 {
			title = "A server error occurred."
		}
		writeKlaviyo(w, status, kErr(status, code, title, title, nil))
	}
}

// serveCloudflareChallenge answers Cloudflare's bot-mitigation page (§1.3,
// klaviyo-api-python issue #84): HTML 403 with cf-mitigated: challenge.
func serveCloudflareChallenge(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.Header().Set("cf-mitigated", "challenge")
	w.Header().Set("Server", "cloudflare")
	w.Header().Set("CF-RAY", randomHex(8)+"-ORD")
	w.WriteHeader(http.StatusForbidden)
	_, _ = io.WriteString(w, `<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>`+
		`<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"></head>`+
		`<body><div class="main-wrapper" role="main"><div class="main-content"><h1>a.klaviyo.com</h1>`+
		`<p>Verifying you are human. This may take a few seconds.</p></div></div></body></html>`)
}

// schemaErrors validates doc against an operation's request schema with
// kin-openapi, as Klaviyo's 400 "invalid" errors with JSON pointers.
// [INFERRED] the detail wording (kin-openapi's reason).
func schemaErrors(schema *openapi3.Schema, doc any) []klaviyoError {
	if schema == nil {
		return nil
	}
	err := schema.VisitJSON(doc, openapi3.MultiErrors(), openapi3.VisitAsRequest())
	if err == nil {
		return nil
	}
	var flat []error
	var walk func(error)
	walk = func(e error) {
		var me openapi3.MultiError
		if errors.As(e, &me) {
			for _, x := range me {
				walk(x)
			}
			return
		}
		flat = append(flat, e)
	}
	walk(err)
	var out []klaviyoError
	for _, e := range flat {
		var se *openapi3.SchemaError
		if errors.As(e, &se) {
			out = append(out, invalid("/"+strings.Join(se.JSONPointer(), "/"), se.Reason))
		} else {
			out = append(out, invalid("/data", e.Error()))
		}
	}
	return out
}

// checkEvent applies the limits of §1.2 the schema does not encode to the
// attributes of one event at ptr. profileAttrs and profileID come from the
// event (single) or its bulk group.
func checkEvent(attrs map[string]any, ptr string, call klaviyoCall, checkProfile bool) []klaviyoError {
	var errs []klaviyoError
	props, _ := attrs["properties"].(map[string]any)
	if len(props) > klaviyoMaxProps {
		errs = append(errs, invalid(ptr+"/properties", fmt.Sprintf("Event properties must not exceed %d properties.", klaviyoMaxProps)))
	}
	errs = append(errs, checkValue(props, ptr+"/properties", 1)...)
	if t, present := attrs["time"]; present && t != nil {
		s, _ := t.(string)
		tm, ok := parseKlaviyoTime(s)
		switch {
		case !ok:
			errs = append(errs, invalid(ptr+"/time", "Invalid datetime format."))
		case tm.Before(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)):
			errs = append(errs, invalid(ptr+"/time", "Event time must be after the year 2000."))
		case tm.After(call.now.AddDate(1, 0, 0)):
			errs = append(errs, invalid(ptr+"/time", "Event time can only be up to 1 year in the future."))
		}
	}
	if b, present := attrs["backfill"]; present && b != nil && call.revision < klaviyoBackfillRev {
		// backfill is new in 2026-04-15 (§1.2). [INFERRED] the answer of an
		// older revision.
		errs = append(errs, invalid(ptr+"/backfill", "'backfill' is not a valid field for the resource 'event'."))
	}
	name, _ := mapPath(attrs, "metric", "data", "attributes", "name").(string)
	switch {
	case strings.TrimSpace(name) == "":
		errs = append(errs, invalid(ptr+"/metric/data/attributes/name", "Metric name must not be blank."))
	case len([]rune(name)) >= klaviyoMetricLen:
		errs = append(errs, invalid(ptr+"/metric/data/attributes/name", "Metric name must be less than 128 characters."))
	}
	if checkProfile {
		pd, _ := mapPath(attrs, "profile", "data").(map[string]any)
		errs = append(errs, checkProfileRef(pd, ptr+"/profile/data", call.invalidPhones...)...)
	}
	return errs
}

// checkProfileRef requires at least one identifier and an E.164 phone
// (§1.2, §1.5), which invalidPhones (KlaviyoOptions.InvalidPhones) do not
// count as.
func checkProfileRef(pd map[string]any, ptr string, invalidPhones ...string) []klaviyoError {
	var errs []klaviyoError
	ids := identifiersOf(pd)
	if ids == (KlaviyoIdentifiers{}) {
		if _, kx := mapPath(pd, "attributes", "_kx").(string); !kx {
			errs = append(errs, invalid(ptr+"/attributes", "At least one profile identifier (id, email, phone_number, external_id or anonymous_id) is required."))
		}
	}
	if ids.PhoneNumber != "" && (!e164.MatchString(ids.PhoneNumber) || slices.Contains(invalidPhones, ids.PhoneNumber)) {
		errs = append(errs, invalid(ptr+"/attributes/phone_number", "Invalid phone number format (Example of a valid format: +12345678901)"))
	}
	if ids.Email != "" && !validEmail(ids.Email) {
		errs = append(errs, invalid(ptr+"/attributes/email", "Invalid email address"))
	}
	return errs
}

func validEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.ContainsAny(s, " \t\n")
}

// checkValue walks a properties value for the string, array and nesting
// limits (§1.2).
func checkValue(v any, ptr string, depth int) []klaviyoError {
	switch v := v.(type) {
	case string:
		if len(v) > klaviyoMaxString {
			return []klaviyoError{invalid(ptr, "String values must not exceed 100 KB.")}
		}
	case []any:
		if depth > klaviyoMaxDepth {
			return []klaviyoError{invalid(ptr, "Properties must not be nested more than 10 levels.")}
		}
		if len(v) > klaviyoMaxArray {
			return []klaviyoError{invalid(ptr, "Arrays must not exceed 4000 elements.")}
		}
		var errs []klaviyoError
		for i, x := range v {
			errs = append(errs, checkValue(x, ptr+"/"+strconv.Itoa(i), depth+1)...)
		}
		return errs
	case map[string]any:
		if depth > klaviyoMaxDepth {
			return []klaviyoError{invalid(ptr, "Properties must not be nested more than 10 levels.")}
		}
		var errs []klaviyoError
		for _, key := range sortedKeys(v) {
			errs = append(errs, checkValue(v[key], ptr+"/"+escapePointer(key), depth+1)...)
		}
		return errs
	}
	return nil
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// parseKlaviyoTime accepts ISO 8601 date-times with or without an offset,
// and plain dates.
func parseKlaviyoTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05Z0700", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func mapPath(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func identifiersOf(pd map[string]any) KlaviyoIdentifiers {
	s := func(keys ...string) string { v, _ := mapPath(pd, keys...).(string); return strings.TrimSpace(v) }
	return KlaviyoIdentifiers{
		ID: s("id"), Email: s("attributes", "email"), PhoneNumber: s("attributes", "phone_number"),
		ExternalID: s("attributes", "external_id"), AnonymousID: s("attributes", "anonymous_id"),
	}
}

// serveCreateEvent implements POST /api/events (§1.2): 202, no body;
// unique_id dedupe per profile and metric, defaulting to the time to the
// second.
func (k *Klaviyo) serveCreateEvent(w http.ResponseWriter, doc map[string]any, call klaviyoCall) {
	attrs, _ := mapPath(doc, "data", "attributes").(map[string]any)
	if errs := checkEvent(attrs, "/data/attributes", call, true); len(errs) > 0 {
		writeKlaviyo(w, http.StatusBadRequest, errs...)
		return
	}
	pd, _ := mapPath(attrs, "profile", "data").(map[string]any)
	k.mu.Lock()
	defer k.mu.Unlock()
	p, _ := k.upsertProfileLocked(pd, call.now, false)
	k.recordEventLocked(attrs, p, pd, false, false, call)
	k.changed.notify()
	w.WriteHeader(http.StatusAccepted)
}

// recordEventLocked records one event unless its dedupe key was seen.
func (k *Klaviyo) recordEventLocked(attrs map[string]any, p *KlaviyoProfile, pd map[string]any, bulk, groupBackfill bool, call klaviyoCall) {
	ev := KlaviyoEvent{
		ProfileID: p.ID, Profile: identifiersOf(pd), Bulk: bulk, Key: call.key, Revision: call.revision, ReceivedAt: call.now,
		Time: call.now.Truncate(time.Second),
	}
	ev.ProfileAttributes, _ = mapPath(pd, "attributes").(map[string]any)
	ev.Metric, _ = mapPath(attrs, "metric", "data", "attributes", "name").(string)
	ev.Service, _ = mapPath(attrs, "metric", "data", "attributes", "service").(string)
	ev.Properties, _ = attrs["properties"].(map[string]any)
	if s, ok := attrs["time"].(string); ok {
		if t, ok := parseKlaviyoTime(s); ok {
			ev.Time = t.Truncate(time.Second) // §1.2: truncated to the second
		}
	}
	ev.UniqueID, _ = attrs["unique_id"].(string)
	if v, ok := attrs["value"].(float64); ok {
		ev.Value = &v
	}
	ev.ValueCurrency, _ = attrs["value_currency"].(string)
	b, _ := attrs["backfill"].(bool)
	ev.Backfill = b || groupBackfill
	dedupe := ev.UniqueID
	if dedupe == "" {
		dedupe = "time:" + strconv.FormatInt(ev.Time.Unix(), 10)
	}
	key := p.ID + "\x00" + ev.Metric + "\x00" + dedupe
	if k.seen[key] {
		k.dupes++ // accepted with 202, not recorded twice (§1.2)
		return
	}
	k.seen[key] = true
	k.events = append(k.events, ev)
	// Klaviyo creates a metric the first time an event names it.
	k.metricLocked(ev.Metric, klaviyoAPIIntegration, call.now)
}

// serveBulkEvents implements POST /api/event-bulk-create-jobs (§1.4): at
// most 1000 events; any invalid item or a unique_id repeated for the same
// profile and metric rejects the whole request; 202, no body.
func (k *Klaviyo) serveBulkEvents(w http.ResponseWriter, doc map[string]any, call klaviyoCall) {
	const base = "/data/attributes/events-bulk-create/data"
	items, _ := mapPath(doc, "data", "attributes", "events-bulk-create", "data").([]any)
	total := 0
	for _, it := range items {
		evs, _ := mapPath(it, "attributes", "events", "data").([]any)
		total += len(evs)
	}
	if total > klaviyoMaxBulk {
		writeKlaviyo(w, http.StatusBadRequest, invalid(base, fmt.Sprintf("A bulk request can contain at most %d events; got %d.", klaviyoMaxBulk, total)))
		return
	}
	var errs []klaviyoError
	seen := map[string]int{}
	for i, it := range items {
		ip := fmt.Sprintf("%s/%d/attributes", base, i)
		pd, _ := mapPath(it, "attributes", "profile", "data").(map[string]any)
		errs = append(errs, checkProfileRef(pd, ip+"/profile/data", call.invalidPhones...)...)
		if b, present := mapPath(it, "attributes").(map[string]any)["backfill"]; present && b != nil && call.revision < klaviyoBackfillRev {
			errs = append(errs, invalid(ip+"/backfill", "'backfill' is not a valid field for the resource 'event-bulk-create'."))
		}
		ids := identifiersOf(pd)
		profileKey := fmt.Sprintf("%+v", ids)
		evs, _ := mapPath(it, "attributes", "events", "data").([]any)
		for j, e := range evs {
			ep := fmt.Sprintf("%s/events/data/%d/attributes", ip, j)
			attrs, _ := mapPath(e, "attributes").(map[string]any)
			errs = append(errs, checkEvent(attrs, ep, call, false)...)
			if uid, _ := attrs["unique_id"].(string); uid != "" {
				name, _ := mapPath(attrs, "metric", "data", "attributes", "name").(string)
				dk := profileKey + "\x00" + name + "\x00" + uid
				if _, dup := seen[dk]; dup {
					errs = append(errs, invalid(ep+"/unique_id",
						"Duplicate unique_id for the same profile and metric in one request; no events were processed."))
				}
				seen[dk] = i
			}
		}
	}
	if len(errs) > 0 {
		writeKlaviyo(w, http.StatusBadRequest, errs...)
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, it := range items {
		pd, _ := mapPath(it, "attributes", "profile", "data").(map[string]any)
		groupBackfill, _ := mapPath(it, "attributes", "backfill").(bool)
		p, _ := k.upsertProfileLocked(pd, call.now, false)
		evs, _ := mapPath(it, "attributes", "events", "data").([]any)
		for _, e := range evs {
			attrs, _ := mapPath(e, "attributes").(map[string]any)
			// [INFERRED] a unique_id seen in an earlier request dedupes
			// silently, as for single events.
			k.recordEventLocked(attrs, p, pd, true, groupBackfill, call)
		}
	}
	k.changed.notify()
	w.WriteHeader(http.StatusAccepted)
}

// serveProfileImport implements POST /api/profile-import (§1.5): 201 when
// created, 200 when updated; null clears a field, an absent field is left
// alone; 409 duplicate_profile when identifiers belong to two profiles.
func (k *Klaviyo) serveProfileImport(w http.ResponseWriter, doc map[string]any, call klaviyoCall) {
	pd, _ := mapPath(doc, "data").(map[string]any)
	if errs := checkProfileRef(pd, "/data", call.invalidPhones...); len(errs) > 0 {
		writeKlaviyo(w, http.StatusBadRequest, errs...)
		return
	}
	k.mu.Lock()
	p, created, conflict := k.upsertProfileChecked(pd, call.now)
	if conflict != "" {
		k.mu.Unlock()
		e := kErr(409, "duplicate_profile", "Conflict.", "A profile already exists with one of these identifiers.", pointer("/data/attributes"))
		e.Links = map[string]any{}
		e.Meta = map[string]any{"duplicate_profile_id": conflict}
		writeKlaviyo(w, http.StatusConflict, e)
		return
	}
	body := profileDoc(p)
	k.changed.notify()
	k.mu.Unlock()
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, klaviyoMediaType, body)
}

// upsertProfileChecked is upsertProfileLocked with conflict detection.
func (k *Klaviyo) upsertProfileChecked(pd map[string]any, now time.Time) (*KlaviyoProfile, bool, string) {
	ids := identifiersOf(pd)
	var found *KlaviyoProfile
	for _, p := range k.matchProfiles(ids) {
		if found != nil && p != found {
			return nil, false, p.ID
		}
		found = p
	}
	p, created := k.upsertProfileLocked(pd, now, true)
	return p, created, ""
}

// matchProfiles returns the profiles matching each identifier, in the
// order id, email, phone, external id, anonymous id.
func (k *Klaviyo) matchProfiles(ids KlaviyoIdentifiers) []*KlaviyoProfile {
	var out []*KlaviyoProfile
	for _, p := range k.profiles {
		switch {
		case ids.ID != "" && p.ID == ids.ID,
			ids.Email != "" && strings.EqualFold(p.Email, ids.Email),
			ids.PhoneNumber != "" && p.PhoneNumber == ids.PhoneNumber,
			ids.ExternalID != "" && p.ExternalID == ids.ExternalID,
			ids.AnonymousID != "" && p.AnonymousID == ids.AnonymousID:
			out = append(out, p)
		}
	}
	return out
}

// upsertProfileLocked resolves pd to a profile, creating it if needed, and
// applies its attributes. With nulls, a null attribute clears the field.
func (k *Klaviyo) upsertProfileLocked(pd map[string]any, now time.Time, nulls bool) (*KlaviyoProfile, bool) {
	ids := identifiersOf(pd)
	var p *KlaviyoProfile
	if m := k.matchProfiles(ids); len(m) > 0 {
		p = m[0]
	}
	created := p == nil
	if created {
		p = &KlaviyoProfile{ID: newKlaviyoID(), Created: now}
		k.profiles = append(k.profiles, p)
	}
	attrs, _ := pd["attributes"].(map[string]any)
	fields := map[string]*string{
		"email": &p.Email, "phone_number": &p.PhoneNumber, "external_id": &p.ExternalID, "anonymous_id": &p.AnonymousID,
		"first_name": &p.FirstName, "last_name": &p.LastName, "organization": &p.Organization, "locale": &p.Locale,
		"title": &p.Title, "image": &p.Image,
	}
	for name, dst := range fields {
		v, present := attrs[name]
		switch {
		case !present:
		case v == nil:
			if nulls {
				*dst = ""
			}
		default:
			if s, ok := v.(string); ok {
				*dst = s
			}
		}
	}
	if loc, ok := attrs["location"].(map[string]any); ok {
		if p.Location == nil {
			p.Location = map[string]any{}
		}
		for key, v := range loc {
			p.Location[key] = v
		}
	}
	if props, ok := attrs["properties"].(map[string]any); ok {
		if p.Properties == nil {
			p.Properties = map[string]any{}
		}
		for key, v := range props {
			p.Properties[key] = v
		}
	}
	meta, _ := pd["meta"].(map[string]any)
	if unset := mapPath(meta, "patch_properties", "unset"); unset != nil {
		for _, key := range stringsOf(unset) {
			delete(p.Properties, key)
		}
	}
	if appendProps, ok := mapPath(meta, "patch_properties", "append").(map[string]any); ok {
		if p.Properties == nil {
			p.Properties = map[string]any{}
		}
		for key, v := range appendProps {
			list, _ := p.Properties[key].([]any)
			p.Properties[key] = append(list, v)
		}
	}
	p.Updated = now
	return p, created
}

func stringsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// profileDoc renders PostProfileResponse (§1.5).
func profileDoc(p *KlaviyoProfile) map[string]any {
	n := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	self := klaviyoBaseURL + "/api/profiles/" + p.ID + "/"
	rel := func(name string) map[string]any {
		return map[string]any{"links": map[string]any{"self": self + "relationships/" + name + "/", "related": self + name + "/"}}
	}
	loc := p.Location
	if loc == nil {
		loc = map[string]any{}
	}
	props := p.Properties
	if props == nil {
		props = map[string]any{}
	}
	return map[string]any{
		"data": map[string]any{
			"type": "profile", "id": p.ID,
			"attributes": map[string]any{
				"email": n(p.Email), "phone_number": n(p.PhoneNumber), "external_id": n(p.ExternalID),
				"anonymous_id": n(p.AnonymousID), "first_name": n(p.FirstName), "last_name": n(p.LastName),
				"organization": n(p.Organization), "locale": n(p.Locale), "title": n(p.Title), "image": n(p.Image),
				"created": p.Created.UTC().Format("2006-01-02T15:04:05-07:00"), "updated": p.Updated.UTC().Format("2006-01-02T15:04:05-07:00"),
				"last_event_date": nil, "location": loc, "properties": props,
			},
			"relationships": map[string]any{"lists": rel("lists"), "segments": rel("segments")},
			"links":         map[string]any{"self": self},
		},
		"links": map[string]any{"self": klaviyoBaseURL + "/api/profile-import/"},
	}
}

// serveAccounts answers GET /api/accounts with one account (§1.7). Values
// are [INFERRED] as in the reference example.
func (k *Klaviyo) serveAccounts(w http.ResponseWriter) {
	id := k.opts.AccountID
	writeJSON(w, http.StatusOK, klaviyoMediaType, map[string]any{
		"data": []any{map[string]any{
			"type": "account", "id": id,
			"attributes": map[string]any{
				"test_account": false,
				"contact_information": map[string]any{
					"default_sender_name": "Example Shop", "default_sender_email": "hello@example.com",
					"website_url": "https://example.com", "organization_name": "Example Shop",
					"street_address": map[string]any{"address1": "1 Main St", "address2": "", "city": "Boston", "region": "MA", "country": "US", "zip": "02110"},
				},
				"industry": "Apparel", "timezone": "US/Eastern", "preferred_currency": "USD", "public_api_key": id, "locale": "en-US",
			},
			"links": map[string]any{"self": klaviyoBaseURL + "/api/accounts/" + id + "/"},
		}},
		"links": map[string]any{"self": klaviyoBaseURL + "/api/accounts/"},
	})
}

// newKlaviyoID returns a 26-character id like Klaviyo's profile ids.
func newKlaviyoID() string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	out := []byte("01")
	for _, x := range b {
		out = append(out, alphabet[int(x)%len(alphabet)])
	}
	return string(out)
}

func copyAnyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
