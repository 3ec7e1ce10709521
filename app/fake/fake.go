// Package fake holds faithful fake Shopify, Klaviyo and CleverTap servers.
// Each fake is an http.Handler: tests wrap it in httptest.NewServer, demo
// mode listens on 127.0.0.1. Each one enforces its vendor's contract (auth
// headers, payload schema, size and batch limits, rate limits) and answers
// the vendor's real error bodies, records what it accepted behind a mutex,
// offers fault injection (5xx, 429 storms, partial accepts, slowness), and
// lets tests wait on a signal instead of sleeping.
//
// The contracts are encoded from the vendor documentation collected in
// shared/reference/shopify.md and shared/reference/sinks.md (cited by
// section in the comments) and from Klaviyo's OpenAPI slices, never from our
// client packages: this package must not import app/shopify, app/klaviyo or
// app/clevertap, so that a misunderstanding in a client cannot be mirrored in
// its fake (STYLE.md §8.1, §8.8). Where a rule is a reconstruction rather
// than a documented fact, its comment says [INFERRED], as in sinks.md.
package fake

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Request is one HTTP request a fake received, recorded whether or not the
// fake accepted it, so tests can assert on retries, headers and bodies.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
	At       time.Time // the fake's clock when the request arrived
}

// Query returns the parsed query string of r.
func (r Request) Query() url.Values {
	v, _ := url.ParseQuery(r.RawQuery)
	return v
}

func newRequest(r *http.Request, body []byte, at time.Time) Request {
	return Request{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Header:   r.Header.Clone(),
		Body:     append([]byte(nil), body...),
		At:       at,
	}
}

// signal lets tests wait for a condition on recorded state without sleeping:
// every change closes the current channel and replaces it (the River
// testsignal idea, STYLE.md §8.8). The caller holds the fake's mutex around
// both notify and wait's check.
type signal struct {
	ch chan struct{}
}

// notify wakes every waiter. Callers hold the owning fake's mutex.
func (s *signal) notify() {
	if s.ch != nil {
		close(s.ch)
	}
	s.ch = make(chan struct{})
}

// current returns the channel the next notify closes. Callers hold the
// owning fake's mutex.
func (s *signal) current() chan struct{} {
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// waitFor blocks until cond (evaluated under mu) is true or ctx is done.
func waitFor(ctx context.Context, mu *sync.Mutex, s *signal, cond func() bool) error {
	for {
		mu.Lock()
		ok := cond()
		ch := s.current()
		mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sleepCtx waits d or until ctx is done (the client went away).
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// faults is the fault-injection state shared by the sink fakes. It is
// guarded by the owning fake's mutex.
type faults struct {
	failStatus int // status for the next failN requests
	failN      int
	throttleN  int  // next throttleN requests answer 429
	throttleRA bool // whether those 429s carry Retry-After
	slow       time.Duration
}

// takeFail consumes one injected failure, returning its status or 0.
func (f *faults) takeFail() int {
	if f.failN > 0 {
		f.failN--
		return f.failStatus
	}
	return 0
}

// takeThrottle consumes one injected 429, reporting whether it had one and
// whether it carries Retry-After.
func (f *faults) takeThrottle() (bool, bool) {
	if f.throttleN > 0 {
		f.throttleN--
		return true, f.throttleRA
	}
	return false, false
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(bytes.TrimRight(buf.Bytes(), "\n"))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func nowFunc(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// hostOnly returns the lower-cased host of a Host header without its port.
func hostOnly(host string) string {
	host = strings.ToLower(host)
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	return host
}

// orderedObject is a JSON object that keeps its keys in insertion order, as
// GraphQL responses must follow the order of the selection set.
type orderedObject struct {
	keys []string
	vals map[string]any
}

func newOrderedObject() *orderedObject {
	return &orderedObject{vals: map[string]any{}}
}

func (o *orderedObject) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

// MarshalJSON writes the keys in insertion order.
func (o *orderedObject) MarshalJSON() ([]byte, error) {
	if o == nil {
		return []byte("null"), nil
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		vb, err := marshalNoEscape(o.vals[k])
		if err != nil {
			return nil, err
		}
		buf.Write(vb)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// rubyFloat marshals like Ruby's Float#to_s: integral values keep ".0"
// (Shopify's throttleStatus shows 2000.0, reference §7.4).
type rubyFloat float64

// MarshalJSON implements json.Marshaler.
func (f rubyFloat) MarshalJSON() ([]byte, error) {
	s := strconv.FormatFloat(float64(f), 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return []byte(s), nil
}
