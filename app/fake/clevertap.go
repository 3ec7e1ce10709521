package fake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// The fake CleverTap encodes reference sinks.md §2, and §2.8 ("What a
// CleverTap fake must do") in particular.

// CleverTapRegions are the API regions (§2.1); eu1 is also served by the
// bare api.clevertap.com host.
var CleverTapRegions = []string{"eu1", "in1", "sg1", "us1", "aps3", "mec1", "sk1"}

const (
	clevertapMaxRecords  = 1000 // §2.3: records per request
	clevertapMaxBody     = 16 << 20
	clevertapHoldTimeout = time.Minute // longest a TimeoutNext request is held
)

// cleverTapRestricted are system event names the server refuses with 513
// (§2.3, from the Android SDK's Validator).
var cleverTapRestricted = []string{
	"Stayed", "Notification Clicked", "Notification Viewed", "UTM Visited", "Notification Sent", "App Launched",
	"wzrk_d", "App Uninstalled", "Notification Bounced", "Geocluster Entered", "Geocluster Exited",
	"DCOutgoing", "DCIncoming", "DCHangUp",
}

var cleverTapObjectID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// CleverTapOptions configure a fake CleverTap.
type CleverTapOptions struct {
	Now func() time.Time // the clock; default time.Now

	// MaxEventProperties is N of code 522: an event with more evtData
	// properties is refused. Default 100 (§2.3, doc updated 2026-06-30).
	MaxEventProperties int
	// MaxConcurrentUploads is the in-flight limit per account of
	// /1/upload (§2.6). Default 15.
	MaxConcurrentUploads int
	// MaxConcurrentReads is the in-flight limit per account of the other
	// APIs (/1/profile.json). Default 3 (§2.6).
	MaxConcurrentReads int
	// Slow delays every answer, while the request holds its concurrency
	// slot.
	Slow time.Duration
	// DiscardedEvents are event names discarded in the dashboard, refused
	// with 528 (§2.5).
	DiscardedEvents []string
}

// CleverTapEvent is an event record the fake persisted.
type CleverTapEvent struct {
	Account, Region string
	Identity        string // whichever identifier the record carried
	ObjectID        string
	Name            string
	Data            map[string]any
	TS              int64     // the record's ts (epoch seconds), 0 when absent
	Time            time.Time // ts, or the receipt time when absent
	ReceivedAt      time.Time
	Record          map[string]any // the record as sent
}

// CleverTapProfile is the merged state of a profile the fake persisted.
type CleverTapProfile struct {
	Account  string
	Identity string
	ObjectID string
	Data     map[string]any // profileData, merged over uploads
	Updated  time.Time
}

// CleverTapUnprocessed is one entry of a response's unprocessed list.
type CleverTapUnprocessed struct {
	Status string `json:"status"`
	Code   int    `json:"code"`
	Error  string `json:"error"`
	Record any    `json:"record,omitempty"`
}

// CleverTapUpload is one upload the fake answered with 200.
type CleverTapUpload struct {
	Account, Region string
	DryRun          bool
	Records         []any
	Status          string // success, partial or fail
	Processed       int
	Unprocessed     []CleverTapUnprocessed
	At              time.Time
}

// CleverTap is a fake CleverTap API. It implements http.Handler. The zero
// value is not usable; call NewCleverTap.
type CleverTap struct {
	opts CleverTapOptions
	now  func() time.Time

	mu          sync.Mutex
	accounts    map[string]cleverTapAccount
	inFlight    map[string]int // per account and API class
	maxInFlight int
	faults      faults
	partialN    int
	unnamedN    int
	timeoutN    int
	timeoutKeep bool
	events      []CleverTapEvent
	profiles    []*CleverTapProfile
	uploads     []CleverTapUpload
	requests    []Request
	changed     signal
}

type cleverTapAccount struct {
	passcode, region string
}

// NewCleverTap returns a fake CleverTap with no accounts.
func NewCleverTap(opts CleverTapOptions) *CleverTap {
	opts.MaxEventProperties = orDefault(opts.MaxEventProperties, 100)
	opts.MaxConcurrentUploads = orDefault(opts.MaxConcurrentUploads, 15)
	opts.MaxConcurrentReads = orDefault(opts.MaxConcurrentReads, 3)
	c := &CleverTap{opts: opts, now: nowFunc(opts.Now), accounts: map[string]cleverTapAccount{}, inFlight: map[string]int{}}
	c.faults.slow = opts.Slow
	return c
}

// AddAccount adds an account bound to one region (§2.1: the wrong region
// answers 401).
func (c *CleverTap) AddAccount(id, passcode, region string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.accounts[id] = cleverTapAccount{passcode: passcode, region: strings.ToLower(region)}
}

// FailNext makes the next n requests answer status with a CleverTap-style
// body.
func (c *CleverTap) FailNext(status, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults.failStatus, c.faults.failN = status, n
}

// ThrottleNext makes the next n requests answer 429 (no Retry-After, §2.6)
// whatever the concurrency.
func (c *CleverTap) ThrottleNext(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults.throttleN = n
}

// SetSlow delays every answer by d (0 turns it off).
func (c *CleverTap) SetSlow(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults.slow = d
}

// PartialNext makes the next n otherwise valid records answer code 555
// "miscellaneous server error" without being persisted, so the response is
// partial (or fail).
func (c *CleverTap) PartialNext(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partialN = n
}

// UnnamedRefusalNext makes each of the next n uploads refuse its last
// record with an entry that names no record (no echo, no "Skipped record
// number"), as some of CleverTap's answers do: the client cannot tell
// which record it was.
func (c *CleverTap) UnnamedRefusalNext(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unnamedN = n
}

// TimeoutNext holds each of the next n requests open until the client gives
// up (at most a minute). With accept, the upload is processed and persisted
// before the hold, as when a response is lost after CleverTap ingested it:
// a retry then duplicates the events (§2.3, no idempotency key).
func (c *CleverTap) TimeoutNext(n int, accept bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timeoutN, c.timeoutKeep = n, accept
}

// Events returns the persisted events in arrival order.
func (c *CleverTap) Events() []CleverTapEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]CleverTapEvent(nil), c.events...)
}

// Profiles returns the persisted profiles (merged per identifier).
func (c *CleverTap) Profiles() []CleverTapProfile {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]CleverTapProfile, len(c.profiles))
	for i, p := range c.profiles {
		out[i] = *p
		out[i].Data = copyAnyMap(p.Data)
	}
	return out
}

// Uploads returns every upload answered with 200, dry runs included.
func (c *CleverTap) Uploads() []CleverTapUpload {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]CleverTapUpload(nil), c.uploads...)
}

// Requests returns every request received, accepted or not.
func (c *CleverTap) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Request(nil), c.requests...)
}

// MaxInFlight returns the highest number of concurrent requests one
// account had open against one API, counting those refused with 429.
func (c *CleverTap) MaxInFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxInFlight
}

// WaitForEvents blocks until at least n events are persisted or ctx is
// done.
func (c *CleverTap) WaitForEvents(ctx context.Context, n int) error {
	return waitFor(ctx, &c.mu, &c.changed, func() bool { return len(c.events) >= n })
}

// WaitForInFlight blocks until one account has at least n concurrent
// requests open against one API, or ctx is done.
func (c *CleverTap) WaitForInFlight(ctx context.Context, n int) error {
	return waitFor(ctx, &c.mu, &c.changed, func() bool {
		for _, v := range c.inFlight {
			if v >= n {
				return true
			}
		}
		return false
	})
}

// WaitForIdle blocks until no request is in flight, or ctx is done.
func (c *CleverTap) WaitForIdle(ctx context.Context) error {
	return waitFor(ctx, &c.mu, &c.changed, func() bool {
		for _, v := range c.inFlight {
			if v > 0 {
				return false
			}
		}
		return true
	})
}

// WaitForRequests blocks until at least n requests arrived or ctx is done.
func (c *CleverTap) WaitForRequests(ctx context.Context, n int) error {
	return waitFor(ctx, &c.mu, &c.changed, func() bool { return len(c.requests) >= n })
}

// ctFail answers {"status":"fail","error":msg,"code":status}, the shape of
// the observed 401 (§2.5).
func ctFail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, "application/json;charset=utf-8", cleverTapFailure{Status: "fail", Error: msg, Code: status})
}

// cleverTapFailure keeps the observed key order status, error, code.
type cleverTapFailure struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Code   int    `json:"code"`
}

// cleverTapResult keeps the observed key order status, processed,
// unprocessed (§2.5).
type cleverTapResult struct {
	Status      string                 `json:"status"`
	Processed   int                    `json:"processed"`
	Unprocessed []CleverTapUnprocessed `json:"unprocessed"`
}

// cleverTapRoute finds the region from the Host header
// ({region}.api.clevertap.com, api.clevertap.com = eu1) or from the first
// path segment (/{region}/1/...), and the API path.
func cleverTapRoute(r *http.Request) (region, apiPath string) {
	host := hostOnly(r.Host)
	switch {
	case host == "api.clevertap.com":
		return "eu1", r.URL.Path
	case strings.HasSuffix(host, ".api.clevertap.com"):
		return strings.TrimSuffix(host, ".api.clevertap.com"), r.URL.Path
	}
	seg, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if slices.Contains(CleverTapRegions, seg) {
		return seg, "/" + rest
	}
	return "", r.URL.Path
}

// ServeHTTP serves POST /1/upload and GET /1/profile.json.
func (c *CleverTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, clevertapMaxBody))
	if err != nil {
		ctFail(w, http.StatusBadRequest, "Bad request")
		return
	}
	now := c.now()
	c.mu.Lock()
	c.requests = append(c.requests, newRequest(r, body, now))
	c.changed.notify()
	c.mu.Unlock()

	region, apiPath := cleverTapRoute(r)
	var limit int
	switch {
	case apiPath == "/1/upload" && r.Method == http.MethodPost:
		limit = c.opts.MaxConcurrentUploads
	case apiPath == "/1/profile.json" && r.Method == http.MethodGet:
		limit = c.opts.MaxConcurrentReads
	default:
		ctFail(w, http.StatusNotFound, "Not Found")
		return
	}

	// Credentials and region (§2.2, §2.8 items 1-2): any mismatch is 401.
	id := r.Header.Get("X-CleverTap-Account-Id")
	c.mu.Lock()
	acct, ok := c.accounts[id]
	c.mu.Unlock()
	if !ok || region == "" || acct.region != region || r.Header.Get("X-CleverTap-Passcode") != acct.passcode {
		ctFail(w, http.StatusUnauthorized, "Invalid Credentials")
		return
	}
	if r.Method == http.MethodPost {
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
			ctFail(w, http.StatusUnauthorized, "Invalid Credentials") // §2.8 item 2: incorrect headers ⇒ 401
			return
		}
	}

	// Concurrency (§2.6): a counter per account and API class; over the
	// limit ⇒ 429 without Retry-After. [INFERRED] the body.
	slot := id + " " + apiPath
	c.mu.Lock()
	c.inFlight[slot]++
	c.maxInFlight = max(c.maxInFlight, c.inFlight[slot])
	c.changed.notify()
	over := c.inFlight[slot] > limit
	storm, _ := c.faults.takeThrottle()
	fail := 0
	if !over && !storm {
		fail = c.faults.takeFail()
	}
	slow := c.faults.slow
	hold, keep := false, false
	if !over && !storm && fail == 0 && c.timeoutN > 0 {
		c.timeoutN--
		hold, keep = true, c.timeoutKeep
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inFlight[slot]--
		c.changed.notify()
		c.mu.Unlock()
	}()
	if over || storm {
		ctFail(w, http.StatusTooManyRequests, "Too many concurrent requests")
		return
	}
	sleepCtx(r.Context(), slow)
	if fail != 0 {
		ctFail(w, fail, http.StatusText(fail))
		return
	}
	if hold {
		if keep && apiPath == "/1/upload" {
			c.serveUpload(io.Discard, r, id, region, body, now)
		}
		ctx, cancel := context.WithTimeout(r.Context(), clevertapHoldTimeout)
		<-ctx.Done()
		cancel()
		ctFail(w, http.StatusGatewayTimeout, "Gateway Timeout")
		return
	}
	if apiPath == "/1/profile.json" {
		c.serveProfileRead(w, r, id)
		return
	}
	c.serveUpload(w, r, id, region, body, now)
}

// serveUpload validates and persists one upload (§2.3, §2.5, §2.8).
func (c *CleverTap) serveUpload(w io.Writer, r *http.Request, account, region string, body []byte, now time.Time) {
	hw, _ := w.(http.ResponseWriter)
	answer := func(status int, v any) {
		if hw != nil {
			writeJSON(hw, status, "application/json;charset=utf-8", v)
		}
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		// §2.5: 400 bad parameter. [INFERRED] the body text.
		answer(http.StatusBadRequest, cleverTapFailure{"fail", "Bad parameter - invalid JSON payload. Remove comments from JSON", 400})
		return
	}
	records, ok := doc["d"].([]any)
	if !ok {
		answer(http.StatusBadRequest, cleverTapFailure{"fail", "Bad parameter - the payload must carry a \"d\" array of records", 400})
		return
	}
	if len(records) > clevertapMaxRecords {
		// §2.8 item 2 [INFERRED].
		answer(http.StatusBadRequest, cleverTapFailure{"fail",
			fmt.Sprintf("Bad parameter - at most %d records per request, got %d", clevertapMaxRecords, len(records)), 400})
		return
	}
	q := r.URL.Query().Get("dryRun")
	dryRun := q == "1" || strings.EqualFold(q, "true")

	c.mu.Lock()
	defer c.mu.Unlock()
	up := CleverTapUpload{Account: account, Region: region, DryRun: dryRun, Records: records, At: now, Unprocessed: []CleverTapUnprocessed{}}
	unnamed := c.unnamedN > 0
	if unnamed {
		c.unnamedN--
	}
	for i, rec := range records {
		if unnamed && i == len(records)-1 {
			up.Unprocessed = append(up.Unprocessed, CleverTapUnprocessed{Status: "fail", Code: 509, Error: "Invalid identity"})
			continue
		}
		code, prefix, msg := c.checkRecord(rec)
		if code == 0 && c.partialN > 0 {
			c.partialN--
			code, prefix, msg = 555, "Server error", "Miscellaneous server error" // [INFERRED] wording
		}
		if code != 0 {
			up.Unprocessed = append(up.Unprocessed, CleverTapUnprocessed{
				Status: "fail", Code: code, Record: rec,
				Error: fmt.Sprintf("%s. ErrorCode: %d - %s. Skipped record number : %d", prefix, code, msg, i+1),
			})
			continue
		}
		up.Processed++
		if !dryRun {
			c.persistLocked(rec.(map[string]any), account, region, now)
		}
	}
	switch {
	case len(up.Unprocessed) == 0:
		up.Status = "success"
	case up.Processed > 0:
		up.Status = "partial"
	default:
		up.Status = "fail"
	}
	c.uploads = append(c.uploads, up)
	c.changed.notify()
	answer(http.StatusOK, cleverTapResult{up.Status, up.Processed, up.Unprocessed})
}

// checkRecord validates one record, returning 0 or the first error's code
// with the error's prefix and message. The prefix and message of 509 and
// 513 are observed (§2.5); the others are [INFERRED] from the code table.
func (c *CleverTap) checkRecord(v any) (int, string, string) {
	rec, ok := v.(map[string]any)
	if !ok {
		return 524, "Record type is incorrect", "Data is neither event nor profile"
	}
	kind, _ := rec["type"].(string)
	if kind != "event" && kind != "profile" {
		return 524, "Record type is incorrect", "Data is neither event nor profile"
	}
	hasID := false
	for _, k := range []string{"identity", "objectId", "FBID", "GPID"} {
		switch id := rec[k].(type) {
		case nil:
		case string:
			if strings.TrimSpace(id) != "" {
				hasID = true
			}
		case json.Number:
			if k == "identity" { // a numeric identity is coerced
				hasID = true
			}
		}
	}
	if !hasID {
		return 523, "Identity is incorrect", "Missing identity. Record must carry one of identity, objectId, FBID or GPID"
	}
	if oid, present := rec["objectId"]; present && oid != nil {
		s, ok := oid.(string)
		if !ok || !cleverTapObjectID.MatchString(s) {
			return 526, "Identity is incorrect", "objectId is invalid"
		}
	}
	if ts, present := rec["ts"]; present {
		// ts must be integer epoch SECONDS (§2.3); a millisecond value is
		// refused rather than read as a date past 2286. [INFERRED] (§5
		// open item 3).
		n, ok := ts.(json.Number)
		sec, err := n.Int64()
		if !ok || err != nil || sec < 0 || sec > 9_999_999_999 {
			return 525, "Timestamp is incorrect", "Timestamp is not in UNIX epoch format (seconds)"
		}
	}
	if kind == "profile" {
		pd, ok := rec["profileData"].(map[string]any)
		if !ok {
			return 512, "Profile Data is incorrect", "Invalid profile structure: profileData must be an object"
		}
		if code, msg := cleverTapSizes(pd); code != 0 {
			return code, "Profile Data is incorrect", msg
		}
		if p, ok := pd["Phone"]; ok {
			if s, _ := p.(string); !e164.MatchString(s) {
				return 516, "Profile Data is incorrect", "Phone number invalid. It must start with + and the country code"
			}
		}
		if e, ok := pd["Email"]; ok {
			if s, _ := e.(string); !validEmail(s) {
				return 515, "Profile Data is incorrect", "Email invalid"
			}
		}
		if g, ok := pd["Gender"]; ok {
			if s, _ := g.(string); !slices.Contains([]string{"M", "F", "O", "Male", "Female", "Others"}, s) {
				return 514, "Profile Data is incorrect", "Gender invalid"
			}
		}
		return 0, "", ""
	}
	name, ok := rec["evtName"].(string)
	if !ok || strings.TrimSpace(name) == "" {
		return 509, "Event Name is incorrect", "Event name is mandatory"
	}
	if slices.Contains(cleverTapRestricted, name) {
		return 513, "Event Name is incorrect", "Trying to raise a restricted system event"
	}
	if slices.Contains(c.opts.DiscardedEvents, name) {
		return 528, "Event Name is incorrect", "Event has been discarded"
	}
	data, ok := rec["evtData"].(map[string]any)
	if !ok {
		return 512, "Event Data is incorrect", "Invalid event structure: evtData must be an object"
	}
	if len(data) > c.opts.MaxEventProperties {
		return 522, "Event Data is incorrect", fmt.Sprintf("Event properties limit exceeded. An event can carry at most %d properties", c.opts.MaxEventProperties)
	}
	if code, msg := cleverTapSizes(data); code != 0 {
		return code, "Event Data is incorrect", msg
	}
	for _, k := range sortedKeys(data) {
		switch v := data[k].(type) {
		case map[string]any:
			return 512, "Event Data is incorrect", fmt.Sprintf("Invalid event structure: property %q is a nested object", k)
		case []any:
			// Only Charged may carry Items, an array of flat objects (§2.3).
			if name != "Charged" || k != "Items" || !flatObjects(v) {
				return 512, "Event Data is incorrect", fmt.Sprintf("Invalid event structure: property %q is an array", k)
			}
		}
	}
	return 0, "", ""
}

// cleverTapSizes enforces the documented limits on property keys (120
// characters) and values (512 bytes) (sinks.md §2.4). The documents give
// the limits, not the answer to a breach: the fake refuses the record
// with 512 ("incorrect data"), which is [INFERRED], so that a client that
// does not fit its data shows up in tests.
func cleverTapSizes(m map[string]any) (int, string) {
	for _, k := range sortedKeys(m) {
		if utf8.RuneCountInString(k) > 120 {
			return 512, fmt.Sprintf("Property key %q is longer than 120 characters", k[:20]+"...")
		}
		if s, ok := m[k].(string); ok && len(s) > 512 {
			return 512, fmt.Sprintf("Property %q is longer than 512 bytes", k)
		}
	}
	return 0, ""
}

func flatObjects(items []any) bool {
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return false
		}
		for _, v := range m {
			switch v.(type) {
			case map[string]any, []any:
				return false
			}
		}
	}
	return true
}

// persistLocked stores a valid record: events are appended (no dedupe,
// §2.8 item 6), profiles merged per identifier.
func (c *CleverTap) persistLocked(rec map[string]any, account, region string, now time.Time) {
	var identity string
	switch id := rec["identity"].(type) {
	case string:
		identity = id
	case json.Number:
		identity = id.String()
	}
	for _, k := range []string{"FBID", "GPID"} {
		if s, _ := rec[k].(string); identity == "" && s != "" {
			identity = s
		}
	}
	objectID, _ := rec["objectId"].(string)
	var ts int64
	at := now
	if n, ok := rec["ts"].(json.Number); ok {
		ts, _ = n.Int64()
		at = time.Unix(ts, 0).UTC()
	}
	if rec["type"] == "profile" {
		var p *CleverTapProfile
		for _, old := range c.profiles {
			if old.Account == account && ((identity != "" && old.Identity == identity) || (objectID != "" && old.ObjectID == objectID)) {
				p = old
				break
			}
		}
		if p == nil {
			p = &CleverTapProfile{Account: account, Identity: identity, ObjectID: objectID, Data: map[string]any{}}
			c.profiles = append(c.profiles, p)
		}
		for k, v := range rec["profileData"].(map[string]any) {
			p.Data[k] = plainJSON(v)
		}
		p.Updated = now
		return
	}
	name, _ := rec["evtName"].(string)
	data, _ := plainJSON(rec["evtData"]).(map[string]any)
	c.events = append(c.events, CleverTapEvent{
		Account: account, Region: region, Identity: identity, ObjectID: objectID, Name: name, Data: data,
		TS: ts, Time: at, ReceivedAt: now, Record: plainJSON(rec).(map[string]any),
	})
}

// plainJSON converts json.Number values to float64 (int64 when integral)
// so recorded data compares naturally in tests.
func plainJSON(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = plainJSON(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = plainJSON(x)
		}
		return out
	}
	return v
}

// serveProfileRead answers GET /1/profile.json?identity= (§2.7): 200 with
// status success and the record, or 200 with status fail when not found.
// [INFERRED] the record shape and the not-found error text.
func (c *CleverTap) serveProfileRead(w http.ResponseWriter, r *http.Request, account string) {
	q := r.URL.Query()
	identity, email, objectID := q.Get("identity"), q.Get("email"), q.Get("objectId")
	c.mu.Lock()
	var found *CleverTapProfile
	for _, p := range c.profiles {
		if p.Account != account {
			continue
		}
		if (identity != "" && p.Identity == identity) || (objectID != "" && p.ObjectID == objectID) ||
			(email != "" && fmt.Sprint(p.Data["Email"]) == email) {
			found = p
			break
		}
	}
	var rec map[string]any
	if found != nil {
		rec = map[string]any{"identity": found.Identity, "profileData": copyAnyMap(found.Data), "platformInfo": []any{}}
		if e, ok := found.Data["Email"]; ok {
			rec["email"] = e
		}
		if found.ObjectID != "" {
			rec["objectId"] = found.ObjectID
		}
	}
	c.mu.Unlock()
	if identity == "" && email == "" && objectID == "" {
		ctFail(w, http.StatusBadRequest, "Bad parameter - one of identity, email or objectId is required")
		return
	}
	if rec == nil {
		writeJSON(w, http.StatusOK, "application/json;charset=utf-8", map[string]any{"status": "fail", "error": "User not found"})
		return
	}
	writeJSON(w, http.StatusOK, "application/json;charset=utf-8", map[string]any{"status": "success", "record": rec})
}
