package clevertap

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
)

// MaxRecords is the most records one upload may carry (sinks.md §2.3).
const MaxRecords = 1000

// Record types.
const (
	TypeEvent   = "event"
	TypeProfile = "profile"
)

// Upload statuses (sinks.md §2.5).
const (
	StatusSuccess = "success"
	StatusPartial = "partial"
	StatusFail    = "fail"
)

// Record is one entry of an upload: an event or a profile update.
type Record struct {
	Type     string // TypeEvent or TypeProfile
	Identity string // our identity for the customer (the common property)
	ObjectID string // CleverTap's id, instead of Identity
	// TS is when it happened, in epoch seconds (not milliseconds: code
	// 525). 0 lets CleverTap use the receipt time.
	TS          int64
	EvtName     string
	EvtData     map[string]any // scalar values only (see FlattenValue)
	ProfileData map[string]any
}

// wireRecord is a Record as CleverTap reads it: an event carries evtName
// and evtData (an object, even when empty), a profile carries profileData.
type wireRecord struct {
	Type        string         `json:"type"`
	Identity    string         `json:"identity,omitempty"`
	ObjectID    string         `json:"objectId,omitempty"`
	TS          int64          `json:"ts,omitempty"`
	EvtName     string         `json:"evtName,omitempty"`
	EvtData     map[string]any `json:"evtData,omitzero"`
	ProfileData map[string]any `json:"profileData,omitzero"`
}

// empty stands in for a nil evtData or profileData. It is never written to.
var empty = map[string]any{}

func (r Record) wire() wireRecord {
	w := wireRecord{Type: r.Type, Identity: r.Identity, ObjectID: r.ObjectID, TS: r.TS}
	switch r.Type {
	case TypeEvent:
		w.EvtName, w.EvtData = r.EvtName, orEmpty(r.EvtData)
	case TypeProfile:
		w.ProfileData = orEmpty(r.ProfileData)
	default: // let CleverTap judge (524)
		w.EvtName, w.EvtData, w.ProfileData = r.EvtName, r.EvtData, r.ProfileData
	}
	return w
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return empty
	}
	return m
}

// MarshalJSON writes the record as CleverTap expects it.
func (r Record) MarshalJSON() ([]byte, error) {
	return marshal(r.wire())
}

// encodeUpload returns the {"d":[…]} body of records.
func encodeUpload(records []Record) ([]byte, error) {
	d := make([]wireRecord, len(records))
	for i, r := range records {
		d[i] = r.wire()
	}
	return marshal(struct {
		D []wireRecord `json:"d"`
	}{d})
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// UploadResult is CleverTap's per-record answer to an upload (HTTP 200).
// Every record not listed in Unprocessed was ingested: never send it again.
type UploadResult struct {
	Status      string // StatusSuccess, StatusPartial or StatusFail
	Processed   int
	Unprocessed []Unprocessed
}

// Unprocessed is a record CleverTap refused.
type Unprocessed struct {
	// Index is the record's position in the slice passed to Upload, or -1
	// when the answer does not say which record it was.
	Index int
	Code  int // 509, 512, 513, 522, 523, 524, 525, 526, 528, 555, …
	Error string
	// Retryable is true for 555 (miscellaneous server error) only: send
	// the record again. Any other code is a problem with the record.
	Retryable bool
}

// Retry returns the indexes of the records to send again (code 555).
func (r *UploadResult) Retry() []int {
	var out []int
	for _, u := range r.Unprocessed {
		if u.Retryable && u.Index >= 0 {
			out = append(out, u.Index)
		}
	}
	return out
}

// codeMiscServerError is the only per-record code worth retrying.
const codeMiscServerError = 555

// Upload sends up to MaxRecords events and profile updates in one request
// (POST /1/upload). A 200 answer is an *UploadResult even when every record
// failed; anything else is an *APIError or a *TransportError. More than
// MaxRecords is refused before sending; no records sends nothing.
func (c *Client) Upload(ctx context.Context, records []Record) (*UploadResult, error) {
	if len(records) > MaxRecords {
		return nil, fmt.Errorf("clevertap: upload: %w", invalid(ErrBatchTooLarge,
			fmt.Sprintf("A CleverTap upload can carry at most %d records.", MaxRecords), fmt.Sprintf("%d records", len(records))))
	}
	if len(records) == 0 {
		return &UploadResult{Status: StatusSuccess}, nil
	}
	body, err := encodeUpload(records)
	if err != nil {
		return nil, fmt.Errorf("clevertap: upload: encode: %w", err)
	}
	status, raw, err := c.do(ctx, http.MethodPost, "/1/upload", body)
	if err != nil {
		return nil, fmt.Errorf("clevertap: upload: %w", err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("clevertap: upload: %w", newAPIError(status, raw))
	}
	res, err := parseUpload(raw, records)
	if err != nil {
		return nil, fmt.Errorf("clevertap: upload: %w", err)
	}
	return res, nil
}

// uploadBody is the answer to an upload.
type uploadBody struct {
	Status      string `json:"status"`
	Processed   int    `json:"processed"`
	Unprocessed []struct {
		Code   flexInt         `json:"code"`
		Error  string          `json:"error"`
		Record json.RawMessage `json:"record"`
	} `json:"unprocessed"`
	Error string  `json:"error"`
	Code  flexInt `json:"code"`
}

// skipped reads "Skipped record number : 2" (1-based, sinks.md §2.5).
var skipped = regexp.MustCompile(`Skipped record number\s*:\s*(\d+)`)

// parseUpload reads a 200 answer. A body that reports no outcome per record
// (a failure document, or not an upload answer at all) is an *APIError
// with status 200: the records' fate is unknown.
func parseUpload(raw []byte, records []Record) (*UploadResult, error) {
	var b uploadBody
	err := json.Unmarshal(raw, &b)
	switch {
	case err != nil, b.Status != StatusSuccess && b.Status != StatusPartial && b.Status != StatusFail:
		return nil, &APIError{Status: http.StatusOK, Message: "unexpected upload answer", Body: excerpt(raw)}
	case b.Status == StatusFail && len(b.Unprocessed) == 0:
		return nil, &APIError{Status: http.StatusOK, Message: b.Error, Code: int(b.Code), Body: excerpt(raw)}
	}
	res := &UploadResult{Status: b.Status, Processed: b.Processed, Unprocessed: make([]Unprocessed, len(b.Unprocessed))}
	var m *matcher
	for i, u := range b.Unprocessed {
		idx := -1
		if s := skipped.FindStringSubmatch(u.Error); s != nil {
			if n, err := strconv.Atoi(s[1]); err == nil && n >= 1 && n <= len(records) {
				idx = n - 1
			}
		}
		if idx < 0 && len(u.Record) > 0 {
			if m == nil {
				m = newMatcher(records)
			}
			idx = m.find(u.Record)
		}
		res.Unprocessed[i] = Unprocessed{Index: idx, Code: int(u.Code), Error: u.Error, Retryable: int(u.Code) == codeMiscServerError}
	}
	return res, nil
}

// matcher finds which request record an echoed record is, for answers
// without "Skipped record number".
type matcher struct {
	records []Record
	canon   []any // decoded JSON of each record, built on first use
	used    []bool
}

func newMatcher(records []Record) *matcher {
	return &matcher{records: records, used: make([]bool, len(records))}
}

// find returns the first unclaimed record equal to echo, or -1. The echo is
// an object, or (older API versions) a JSON string holding one.
func (m *matcher) find(echo json.RawMessage) int {
	var s string
	if json.Unmarshal(echo, &s) == nil {
		echo = json.RawMessage(s)
	}
	var got any
	if json.Unmarshal(echo, &got) != nil {
		return -1
	}
	if m.canon == nil {
		m.canon = make([]any, len(m.records))
		for i, r := range m.records {
			b, _ := marshal(r.wire())
			_ = json.Unmarshal(b, &m.canon[i])
		}
	}
	for i, want := range m.canon {
		if !m.used[i] && reflect.DeepEqual(got, want) {
			m.used[i] = true
			return i
		}
	}
	return -1
}

// credentialCheck is the identity of Validate's probe record.
const credentialCheck = "perkbridge-credential-check"

// Validate checks the account id, passcode and region. It uploads one
// profile record with ?dryRun=1, which validates without persisting; when
// dryRun is refused (400, 404, 405) it reads a sentinel profile
// (GET /1/profile.json) instead. A wrong passcode, account id or region is a
// 401 *APIError (AuthFailure).
//
// dryRun is not in CleverTap's current docs (sinks.md §2.7, §5): if it
// were ignored rather than refused, the probe profile would be created.
func (c *Client) Validate(ctx context.Context) error {
	probe, _ := encodeUpload([]Record{{Type: TypeProfile, Identity: credentialCheck}})
	status, raw, err := c.do(ctx, http.MethodPost, "/1/upload?dryRun=1", probe)
	if err != nil {
		return fmt.Errorf("clevertap: validate: %w", err)
	}
	switch status {
	case http.StatusOK:
		return nil
	case http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed:
		status, raw, err = c.do(ctx, http.MethodGet, "/1/profile.json?identity="+credentialCheck, nil)
		if err != nil {
			return fmt.Errorf("clevertap: validate: %w", err)
		}
		if status == http.StatusOK { // found or not found: the credentials work
			return nil
		}
	}
	return fmt.Errorf("clevertap: validate: %w", newAPIError(status, raw))
}
