package webhooks_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app/fake"
)

// countingReader counts the body bytes the handler read.
type countingReader struct {
	r    io.Reader
	read atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// serveDirect runs the intake handler on one request and says how many
// body bytes it read.
func (b *bundle) serveDirect(t *testing.T, req *http.Request) (*httptest.ResponseRecorder, int64) {
	t.Helper()
	cr := &countingReader{r: req.Body}
	req.Body = io.NopCloser(cr)
	rec := httptest.NewRecorder()
	e := echo.New()
	c := e.NewContext(req, rec)
	if err := b.handler.Serve(c); err != nil {
		e.HTTPErrorHandler(err, c)
	}
	return rec, cr.read.Load()
}

// TestIntake_HeadersBeforeBody: a request without a well-formed signature
// header, topic, shop or webhook id is refused before a byte of its body is
// read, and nothing is stored.
func TestIntake_HeadersBeforeBody(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := []byte(`{"id": 1}`)
	good := func() http.Header {
		return http.Header{
			"X-Shopify-Hmac-Sha256": {fake.SignShopifyWebhook(secret, body)}, "X-Shopify-Topic": {"orders/paid"},
			"X-Shopify-Shop-Domain": {"abuse.myshopify.com"}, "X-Shopify-Webhook-Id": {"abuse-1"},
		}
	}
	for _, tc := range []struct {
		name   string
		edit   func(h http.Header)
		status int
	}{
		{"NoSignature", func(h http.Header) { h.Del("X-Shopify-Hmac-Sha256") }, 401},
		{"SignatureNotBase64", func(h http.Header) { h.Set("X-Shopify-Hmac-Sha256", "not base64 at all!") }, 401},
		{"SignatureTooShort", func(h http.Header) { h.Set("X-Shopify-Hmac-Sha256", "c2hvcnQ=") }, 401},
		{"NoTopic", func(h http.Header) { h.Del("X-Shopify-Topic") }, 400},
		{"NoShop", func(h http.Header) { h.Del("X-Shopify-Shop-Domain") }, 400},
		{"ShopNotMyshopify", func(h http.Header) { h.Set("X-Shopify-Shop-Domain", "evil.example.com") }, 400},
		{"NoWebhookID", func(h http.Header) { h.Del("X-Shopify-Webhook-Id") }, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/webhooks", bytes.NewReader(body))
			req.Header = good()
			tc.edit(req.Header)
			rec, read := b.serveDirect(t, req)
			if rec.Code != tc.status || read != 0 {
				t.Fatalf("status %d (want %d), %d body bytes read (want 0)", rec.Code, tc.status, read)
			}
		})
	}
	if n := b.count(t, "SELECT count(*) FROM webhooks"); n != 0 {
		t.Fatalf("%d rows stored", n)
	}
}

// blockingBody is an upload that sends nothing until released.
type blockingBody struct{ release chan struct{} }

func (b *blockingBody) Read(p []byte) (int, error) {
	<-b.release
	return 0, io.EOF
}

// TestIntake_InFlightBytesCapped: bodies being read are capped in bytes;
// over the cap a webhook is answered 503 with Retry-After (Shopify
// retries) before its body is read, and the reservation is released when
// the slow upload ends.
func TestIntake_InFlightBytesCapped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.handler.Limit(1<<20, 5*time.Second) // 1 MiB in flight at most
	headers := http.Header{
		"X-Shopify-Hmac-Sha256": {fake.SignShopifyWebhook(secret, []byte("x"))}, "X-Shopify-Topic": {"orders/paid"},
		"X-Shopify-Shop-Domain": {"abuse.myshopify.com"}, "X-Shopify-Webhook-Id": {"slow-1"},
	}
	slow := &blockingBody{release: make(chan struct{})}
	req := httptest.NewRequest(http.MethodPost, "/webhooks", slow)
	req.Header, req.ContentLength = headers.Clone(), 800<<10
	done := make(chan int, 1)
	go func() {
		rec := httptest.NewRecorder()
		e := echo.New()
		c := e.NewContext(req, rec)
		if err := b.handler.Serve(c); err != nil {
			e.HTTPErrorHandler(err, c)
		}
		done <- rec.Code
	}()
	deadline := time.Now().Add(10 * time.Second)
	for b.handler.InFlightBytes() != 800<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("the slow upload never reserved its bytes: %d", b.handler.InFlightBytes())
		}
		time.Sleep(5 * time.Millisecond)
	}
	second := httptest.NewRequest(http.MethodPost, "/webhooks", bytes.NewReader(make([]byte, 400<<10)))
	second.Header = headers.Clone()
	second.Header.Set("X-Shopify-Webhook-Id", "second")
	rec, read := b.serveDirect(t, second)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || read != 0 {
		t.Fatalf("over the cap: %d, Retry-After %q, %d bytes read", rec.Code, rec.Header().Get("Retry-After"), read)
	}
	close(slow.release)
	if code := <-done; code != http.StatusUnauthorized { // an empty body does not match its signature
		t.Fatalf("slow upload answered %d", code)
	}
	if n := b.handler.InFlightBytes(); n != 0 {
		t.Fatalf("%d bytes still reserved", n)
	}
}

// TestIntake_StalledDatabaseAnswers503Fast: while the inbox cannot be
// written (its table locked), a signed webhook is answered 503 within the
// request deadline, not held until Shopify gives up; once the database
// moves again the retry is stored.
func TestIntake_StalledDatabaseAnswers503Fast(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.handler.Limit(64<<20, 300*time.Millisecond)
	ctx := context.Background()
	tx, err := b.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE webhooks IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id": 42}`)
	send := func() (int, time.Duration) {
		req := httptest.NewRequest(http.MethodPost, "/webhooks", bytes.NewReader(body))
		req.Header = http.Header{
			"X-Shopify-Hmac-Sha256": {fake.SignShopifyWebhook(secret, body)}, "X-Shopify-Topic": {"orders/paid"},
			"X-Shopify-Shop-Domain": {"stalled.myshopify.com"}, "X-Shopify-Webhook-Id": {"stalled-1"},
		}
		start := time.Now()
		rec, _ := b.serveDirect(t, req)
		return rec.Code, time.Since(start)
	}
	code, took := send()
	if code != http.StatusServiceUnavailable || took > 3*time.Second {
		t.Fatalf("stalled database: %d after %s, want 503 well inside Shopify's 5 s", code, took)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	b.handler.Limit(64<<20, 4*time.Second)
	if code, _ := send(); code != http.StatusOK {
		t.Fatalf("retry after the database moved: %d", code)
	}
	if n := b.count(t, "SELECT count(*) FROM webhooks WHERE webhook_id = 'stalled-1'"); n != 1 {
		t.Fatalf("%d rows for the retried webhook", n)
	}
}
