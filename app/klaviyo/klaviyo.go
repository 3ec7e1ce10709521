// Package klaviyo is Perkbridge's own small Klaviyo client, in the shape of
// miniflux's integration clients: a Client per private API key, one method
// per API call, and typed errors (*APIError) that carry the retry
// classification of reference/sinks.md §3.5 and Retry-After.
//
// The client sends each request once. Retrying, backing off, pausing an
// integration and staying under Klaviyo's per-account rate limits (Limiter)
// are the caller's decisions, taken from the error it gets back.
//
// The package imports only the standard library and app.
package klaviyo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// DefaultOrigin is Klaviyo's API origin, the spec's only server.
const DefaultOrigin = "https://a.klaviyo.com"

// DefaultRevision is the API revision sent in the revision header: the GA
// revision of the OpenAPI slices in shared/specs (it has backfill, which
// appeared in 2026-04-15).
const DefaultRevision = "2026-07-15"

const (
	mediaType      = "application/vnd.api+json"
	defaultTimeout = 30 * time.Second
	// maxResponse bounds how much of any response body is read: error
	// bodies are small, the accounts and profile answers a few KB.
	maxResponse = 1 << 20
)

// Client calls Klaviyo's API with one private API key. It is safe for
// concurrent use.
type Client struct {
	origin   string
	key      string
	revision string
	hc       *http.Client
	now      func() time.Time
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (its Timeout bounds each call). The
// default has a 30 s timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithRevision sets the revision header, DefaultRevision by default.
func WithRevision(rev string) Option {
	return func(c *Client) {
		if rev != "" {
			c.revision = rev
		}
	}
}

// WithNow sets the clock used to read an HTTP-date Retry-After.
func WithNow(now func() time.Time) Option {
	return func(c *Client) {
		if now != nil {
			c.now = now
		}
	}
}

// NewClient returns a client for the account of privateKey (a "pk_…" key).
// An empty origin means DefaultOrigin; tests pass an httptest server's URL.
func NewClient(origin, privateKey string, opts ...Option) *Client {
	if origin == "" {
		origin = DefaultOrigin
	}
	c := &Client{
		origin:   strings.TrimRight(origin, "/"),
		key:      privateKey,
		revision: DefaultRevision,
		hc:       &http.Client{Timeout: defaultTimeout},
		now:      time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// do sends one request and returns the body of a 2xx answer. Any other
// answer is an *APIError and a failure to get an answer a *TransportError,
// both wrapped with "klaviyo: <op>: ".
func (c *Client) do(ctx context.Context, op, method, path string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.origin+path, rd)
	if err != nil {
		return nil, fmt.Errorf("klaviyo: %s: %w", op, err)
	}
	req.Header.Set("Authorization", "Klaviyo-API-Key "+c.key)
	req.Header.Set("revision", c.revision)
	req.Header.Set("Accept", mediaType)
	if body != nil {
		req.Header.Set("Content-Type", mediaType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("klaviyo: %s: %w", op, &TransportError{Err: err})
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// A body cut short still leaves the status, which is what
		// classification needs.
		return nil, fmt.Errorf("klaviyo: %s: %w", op, newAPIError(resp, raw, c.now()))
	}
	if err != nil {
		return nil, fmt.Errorf("klaviyo: %s: read response: %w", op, &TransportError{Err: err})
	}
	return raw, nil
}

// marshal encodes a request document without HTML escaping (event
// properties are sent as the merchant wrote them).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}
