// Package clevertap is Perkbridge's own small CleverTap client, in the shape
// of miniflux's integration clients: a Client per account, one method per
// API call, and typed errors (*APIError, *TransportError) classified as in
// reference/sinks.md §3.5.
//
// CleverTap has no idempotency key: an upload it accepted must never be
// sent again, and one whose answer was lost (IsTimeout, PossiblyDelivered)
// may already be ingested. The client sends each request once; retrying is
// the caller's decision.
//
// The package imports only the standard library and app.
package clevertap

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"
)

const (
	defaultTimeout = 30 * time.Second
	maxResponse    = 4 << 20 // an answer echoes at most 1000 records
)

// Region is a CleverTap data centre. The account's region is fixed: any
// other region answers 401, as for a wrong passcode (sinks.md §2.1).
type Region struct {
	Code string // as stored with the credentials: "eu1", "in1", …
	Name string // for the merchant
	Host string // API host
}

// DefaultRegion is the region of the bare api.clevertap.com host.
const DefaultRegion = "eu1"

// Regions lists the regions a merchant can pick (DESIGN.md §6). Do not
// modify it.
var Regions = []Region{
	{Code: "eu1", Name: "Europe", Host: "api.clevertap.com"},
	{Code: "in1", Name: "India", Host: "in1.api.clevertap.com"},
	{Code: "sg1", Name: "Singapore", Host: "sg1.api.clevertap.com"},
	{Code: "us1", Name: "United States", Host: "us1.api.clevertap.com"},
	{Code: "aps3", Name: "Indonesia", Host: "aps3.api.clevertap.com"},
	{Code: "mec1", Name: "Middle East (UAE)", Host: "mec1.api.clevertap.com"},
	{Code: "sk1", Name: "South Korea", Host: "sk1.api.clevertap.com"},
}

// LookupRegion returns the region with code.
func LookupRegion(code string) (Region, bool) {
	for _, r := range Regions {
		if r.Code == code {
			return r, true
		}
	}
	return Region{}, false
}

// Origin resolves the API origin of region. An empty template gives the
// region's real host; otherwise "{region}" in template is replaced, eu1
// included (CLEVERTAP_API_ORIGIN, DESIGN.md §6).
func Origin(template, region string) (string, error) {
	r, ok := LookupRegion(region)
	if !ok {
		return "", fmt.Errorf("clevertap: unknown region %q", region)
	}
	if template == "" {
		return "https://" + r.Host, nil
	}
	return strings.TrimRight(strings.ReplaceAll(template, "{region}", r.Code), "/"), nil
}

// Client calls CleverTap's API for one account. It is safe for concurrent
// use.
type Client struct {
	origin    string
	accountID string
	passcode  string
	hc        *http.Client
	slots     chan struct{} // nil: no limit
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

// WithMaxInFlight caps this client's concurrent requests at n (0: no cap).
// CleverTap allows 15 per account on uploads and answers 429 beyond; 10
// leaves headroom (DESIGN.md §5). The cap is per Client: processes sharing
// an account must split the budget.
func WithMaxInFlight(n int) Option {
	return func(c *Client) {
		c.slots = nil
		if n > 0 {
			c.slots = make(chan struct{}, n)
		}
	}
}

// NewClient returns a client for an account. origin is already resolved
// for the account's region (see Origin), e.g. "https://in1.api.clevertap.com",
// or "http://127.0.0.1:PORT/in1" against the fake.
func NewClient(origin, accountID, passcode string, opts ...Option) *Client {
	c := &Client{
		origin:    strings.TrimRight(origin, "/"),
		accountID: accountID,
		passcode:  passcode,
		hc:        &http.Client{Timeout: defaultTimeout},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// do sends one request and returns the status and body of any answer. A
// failure to get an answer is a *TransportError; the caller turns non-2xx
// answers into *APIError.
func (c *Client) do(ctx context.Context, method, pathQuery string, body []byte) (int, []byte, error) {
	if c.slots != nil {
		select {
		case c.slots <- struct{}{}:
			defer func() { <-c.slots }()
		case <-ctx.Done():
			return 0, nil, fmt.Errorf("waiting for a request slot: %w", ctx.Err())
		}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	// Whether the whole request was written tells a lost answer (CleverTap
	// may have ingested the batch) from a request that never left.
	var written atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				written.Store(true)
			}
		},
	})
	req, err := http.NewRequestWithContext(ctx, method, c.origin+pathQuery, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-CleverTap-Account-Id", c.accountID)
	req.Header.Set("X-CleverTap-Passcode", c.passcode)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, &TransportError{Err: err, Written: written.Load()}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil && resp.StatusCode/100 == 2 {
		// The status arrived, the body did not: the outcome of the
		// records is unknown.
		return 0, nil, &TransportError{Err: fmt.Errorf("read response: %w", err), Written: true}
	}
	return resp.StatusCode, raw, nil
}
