package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	maxThrottleRetries    = 5                      // THROTTLED or 429 answers retried per Do
	maxServerRetries      = 3                      // 5xx or transport failures retried per Do
	defaultRetryBaseDelay = 250 * time.Millisecond // first 5xx backoff, doubled per retry
	defaultThrottleWait   = time.Second            // when a throttle answer says nothing better
	maxGraphQLResponse    = 16 << 20               // bytes read from one response
)

// TokenSource supplies the access token of one shop. forceRefresh is true
// after the Admin API answered 401: refresh or re-exchange even if the
// stored token still looks valid.
type TokenSource interface {
	AccessToken(ctx context.Context, forceRefresh bool) (string, error)
}

// Client calls the GraphQL Admin API of one shop. It is safe for concurrent
// use; all clients of one shop made from the same *App share one cost
// estimate.
type Client struct {
	// RetryBaseDelay is the wait before the first retry after a 5xx or a
	// transport error; it doubles on each further retry. Zero means 250 ms.
	RetryBaseDelay time.Duration

	app    *App
	shop   string
	err    error // a bad shop, reported by every call
	tokens TokenSource
	bucket *bucket
	sleep  func(context.Context, time.Duration) error

	mu   sync.Mutex
	last *Cost
}

// NewClient returns a GraphQL Admin API client for shop. An invalid shop is
// reported by the client's first call.
func (a *App) NewClient(shop string, tokens TokenSource) *Client {
	c := &Client{app: a, tokens: tokens, sleep: sleepCtx}
	s, err := NormalizeShop(shop)
	if err != nil {
		c.err = fmt.Errorf("shopify: graphql: %w", err)
		return c
	}
	c.shop = s
	c.bucket = a.bucketFor(s)
	return c
}

// ShopDomain returns the normalized shop domain of c.
func (c *Client) ShopDomain() string { return c.shop }

// Cost is the "extensions.cost" of a GraphQL response.
type Cost struct {
	RequestedQueryCost float64        `json:"requestedQueryCost"`
	ActualQueryCost    *float64       `json:"actualQueryCost"` // nil when throttled
	ThrottleStatus     ThrottleStatus `json:"throttleStatus"`
}

// ThrottleStatus is the state of the shop's leaky bucket after a request.
type ThrottleStatus struct {
	MaximumAvailable   float64 `json:"maximumAvailable"`
	CurrentlyAvailable float64 `json:"currentlyAvailable"`
	RestoreRate        float64 `json:"restoreRate"` // points per second
}

// RetryAfter is how long until the bucket holds RequestedQueryCost points:
// (requested − available) / restoreRate, as go-shopify computes it.
func (c Cost) RetryAfter() time.Duration {
	ts := c.ThrottleStatus
	deficit := c.RequestedQueryCost - ts.CurrentlyAvailable
	if ts.RestoreRate <= 0 || deficit <= 0 {
		return 0
	}
	return seconds(deficit / ts.RestoreRate)
}

// LastCost returns a copy of the cost reported by the latest response, or
// nil before any.
func (c *Client) LastCost() *Cost {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		return nil
	}
	cp := *c.last
	return &cp
}

// ThrottledError is returned when Shopify still throttled a query after
// five retries. Callers such as River workers should snooze for RetryAfter.
type ThrottledError struct {
	Attempts   int
	RetryAfter time.Duration
	Cost       *Cost // nil for a 429 without cost information
}

// Error implements the error interface.
func (e *ThrottledError) Error() string {
	return fmt.Sprintf("shopify: graphql: throttled after %d attempts, retry after %s", e.Attempts, e.RetryAfter)
}

// GraphQLError holds the top-level "errors" of a GraphQL response other
// than throttling, such as a syntax error or ACCESS_DENIED.
type GraphQLError struct {
	Messages []string
	Codes    []string // extensions.code of each error, "" when absent
}

// Error implements the error interface.
func (e *GraphQLError) Error() string {
	return "shopify: graphql: " + strings.Join(e.Messages, "; ")
}

// HasCode reports whether any error has extensions.code == code.
func (e *GraphQLError) HasCode(code string) bool {
	for _, c := range e.Codes {
		if c == code {
			return true
		}
	}
	return false
}

// ShopUnavailableError is a 402 (shop frozen, unpaid) or 423 (shop locked)
// answer. It wraps ErrShopUnavailable.
type ShopUnavailableError struct {
	Shop   string
	Status int
}

// Error implements the error interface.
func (e *ShopUnavailableError) Error() string {
	state := "unavailable"
	switch e.Status {
	case http.StatusPaymentRequired:
		state = "frozen"
	case http.StatusLocked:
		state = "locked"
	}
	return fmt.Sprintf("shopify: graphql: shop %s is %s (status %d)", e.Shop, state, e.Status)
}

// Unwrap returns ErrShopUnavailable.
func (e *ShopUnavailableError) Unwrap() error { return ErrShopUnavailable }

// ResponseError is any other unexpected HTTP status from the Admin API.
type ResponseError struct {
	Status int
	Errors []string // messages from an "errors" body, if any
}

// Error implements the error interface.
func (e *ResponseError) Error() string {
	s := fmt.Sprintf("shopify: graphql: status %d", e.Status)
	if len(e.Errors) > 0 {
		s += ": " + strings.Join(e.Errors, "; ")
	}
	return s
}

type gqlRequest struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables,omitempty"`
}

type gqlResponse struct {
	Data       json.RawMessage `json:"data"`
	Errors     json.RawMessage `json:"errors"`
	Extensions struct {
		Cost *Cost `json:"cost"`
	} `json:"extensions"`
}

// Do sends query with vars and decodes "data" into out (which may be nil).
//
// Before sending it waits, if needed, until the shop's shared cost estimate
// holds the points the query cost last time (50 when unknown). It retries a
// THROTTLED answer or a 429 up to five times after the wait Shopify implies
// (then *ThrottledError), a 401 once after forcing a token refresh (then
// ErrUnauthorized), and a 5xx or transport error up to three times with
// exponential backoff. 402 and 423 give *ShopUnavailableError, other
// top-level errors *GraphQLError (after decoding any partial data).
// Mutations report business errors in userErrors; see UserErrorsErr.
func (c *Client) Do(ctx context.Context, query string, vars map[string]any, out any) error {
	return c.do(ctx, query, vars, out, maxServerRetries)
}

// DoOnce is Do for a mutation without an idempotency key (such as
// storeCreditAccountCredit): a 5xx or transport failure is returned at
// once, never resent, because Shopify may have run it. Throttling is still
// waited out and retried (a THROTTLED or 429 answer ran nothing), and so is
// a 401 (rejected before running).
func (c *Client) DoOnce(ctx context.Context, query string, vars map[string]any, out any) error {
	return c.do(ctx, query, vars, out, 0)
}

func (c *Client) do(ctx context.Context, query string, vars map[string]any, out any, serverRetries int) error {
	if c.err != nil {
		return c.err
	}
	if c.tokens == nil {
		return errors.New("shopify: graphql: no token source")
	}
	if !validVersion(c.app.version()) {
		return fmt.Errorf("shopify: graphql: invalid api version %q", c.app.version())
	}
	body, err := json.Marshal(gqlRequest{Query: query, Variables: vars})
	if err != nil {
		return fmt.Errorf("shopify: graphql: encode request: %w", err)
	}
	key := queryKey(query)
	var (
		throttles, failures int
		refreshed, force    bool
	)
	for {
		cost := c.bucket.expectedCost(key)
		if wait := c.bucket.reserve(c.app.now(), cost); wait > 0 {
			if err := c.sleep(ctx, wait); err != nil {
				c.bucket.refund(c.app.now(), cost)
				return fmt.Errorf("shopify: graphql: wait for rate limit: %w", err)
			}
		}
		token, err := c.tokens.AccessToken(ctx, force)
		if err != nil {
			return fmt.Errorf("shopify: graphql: access token: %w", err)
		}
		force = false

		status, header, raw, err := c.send(ctx, token, body)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("shopify: graphql: %w", err)
			}
			if failures++; failures > serverRetries {
				return fmt.Errorf("shopify: graphql: %w", err)
			}
			if err := c.sleep(ctx, c.backoff(failures)); err != nil {
				return fmt.Errorf("shopify: graphql: %w", err)
			}
			continue
		}

		switch {
		case status == http.StatusUnauthorized:
			if refreshed {
				return fmt.Errorf("shopify: graphql: %w", ErrUnauthorized)
			}
			refreshed, force = true, true
			continue
		case status == http.StatusPaymentRequired || status == http.StatusLocked:
			return &ShopUnavailableError{Shop: c.shop, Status: status}
		case status == http.StatusTooManyRequests:
			wait := retryAfter(header, c.app.now())
			if throttles++; throttles > maxThrottleRetries {
				return &ThrottledError{Attempts: throttles, RetryAfter: wait}
			}
			if err := c.sleep(ctx, wait); err != nil {
				return fmt.Errorf("shopify: graphql: wait for rate limit: %w", err)
			}
			continue
		case status >= 500:
			if failures++; failures > serverRetries {
				return &ResponseError{Status: status, Errors: errorMessages(raw)}
			}
			if err := c.sleep(ctx, c.backoff(failures)); err != nil {
				return fmt.Errorf("shopify: graphql: %w", err)
			}
			continue
		case status != http.StatusOK:
			return &ResponseError{Status: status, Errors: errorMessages(raw)}
		}

		var res gqlResponse
		if err := json.Unmarshal(raw, &res); err != nil {
			return fmt.Errorf("shopify: graphql: decode response: %w", err)
		}
		if cost := res.Extensions.Cost; cost != nil {
			c.bucket.observe(c.app.now(), key, cost)
			c.mu.Lock()
			c.last = cost
			c.mu.Unlock()
		}
		gqlErr := graphQLErrors(res.Errors)
		if gqlErr != nil && gqlErr.HasCode("THROTTLED") {
			wait := defaultThrottleWait
			if cost := res.Extensions.Cost; cost != nil && cost.ThrottleStatus.RestoreRate > 0 {
				wait = cost.RetryAfter()
			}
			if throttles++; throttles > maxThrottleRetries {
				return &ThrottledError{Attempts: throttles, RetryAfter: wait, Cost: res.Extensions.Cost}
			}
			if err := c.sleep(ctx, wait); err != nil {
				return fmt.Errorf("shopify: graphql: wait for rate limit: %w", err)
			}
			continue
		}
		if out != nil && len(res.Data) > 0 && string(res.Data) != "null" {
			if err := json.Unmarshal(res.Data, out); err != nil {
				return fmt.Errorf("shopify: graphql: decode data: %w", err)
			}
		}
		if gqlErr != nil {
			return gqlErr
		}
		return nil
	}
}

func (c *Client) backoff(failures int) time.Duration {
	d := c.RetryBaseDelay
	if d <= 0 {
		d = defaultRetryBaseDelay
	}
	return d << (failures - 1)
}

// send posts one request. The token goes only into the header: no error
// built here or above may contain it.
func (c *Client) send(ctx context.Context, token string, body []byte) (int, http.Header, []byte, error) {
	u := c.app.origin(c.shop) + "/admin/api/" + c.app.version() + "/graphql.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Shopify-Access-Token", token)
	resp, err := c.app.httpClient().Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxGraphQLResponse))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read response: %w", err)
	}
	return resp.StatusCode, resp.Header, raw, nil
}

// retryAfter reads a Retry-After header in seconds (Shopify sends "2.0") or
// as an HTTP date, defaulting to one second.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return defaultThrottleWait
	}
	// Shopify asks for seconds ("2.0"); a value from a broken or hostile
	// proxy never holds a request longer than maxRetryAfter.
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 && s < maxRetryAfter.Seconds() {
		return seconds(s)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= maxRetryAfter.Seconds() {
		return maxRetryAfter
	}
	return defaultThrottleWait
}

// maxRetryAfter caps a Retry-After wait.
const maxRetryAfter = time.Minute

// graphQLErrors turns a GraphQL "errors" array into a *GraphQLError, or nil
// when there are none.
func graphQLErrors(raw json.RawMessage) *GraphQLError {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var list []struct {
		Message    string `json:"message"`
		Extensions struct {
			Code string `json:"code"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		// Not the array the spec promises; keep whatever text there is.
		var v any
		_ = json.Unmarshal(raw, &v)
		return &GraphQLError{Messages: flattenErrors(v), Codes: []string{""}}
	}
	if len(list) == 0 {
		return nil
	}
	e := &GraphQLError{}
	for _, l := range list {
		e.Messages = append(e.Messages, l.Message)
		e.Codes = append(e.Codes, l.Extensions.Code)
	}
	return e
}

// errorMessages extracts the messages of an {"errors": ...} body.
func errorMessages(body []byte) []string {
	var env struct {
		Errors any `json:"errors"`
	}
	if json.Unmarshal(body, &env) != nil {
		return nil
	}
	return flattenErrors(env.Errors)
}

// flattenErrors turns the shapes Shopify uses for "errors" (a string, a list
// of strings or of {"message": ...} objects, or a map of field to messages)
// into "field: message" strings, in a stable order.
func flattenErrors(v any) []string {
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case string:
			out = append(out, prefix+v)
		case []any:
			for _, e := range v {
				walk(prefix, e)
			}
		case map[string]any:
			if m, ok := v["message"].(string); ok {
				out = append(out, prefix+m)
				return
			}
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(prefix+k+": ", v[k])
			}
		}
	}
	walk("", v)
	return out
}
