// Package webhooks is Shopify webhook intake: POST /webhooks for every
// topic, compliance included. The hot path verifies the HMAC over the raw
// body before anything is parsed, stores the delivery durably through the
// group-commit inbox and only then answers 200; processing happens later in
// a worker through Processor.Dispatch.
package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/perkbridge/perkbridge/app/inbox"
	"github.com/perkbridge/perkbridge/app/shopify"
)

// MaxBody is the largest webhook body accepted. Real orders with hundreds of
// line items run to a few MiB; 8 MiB leaves room without inviting abuse.
const MaxBody = 8 << 20

// MaxInFlightBytes caps the webhook bodies being read at once (each
// counted at its Content-Length, or MaxBody when it has none): a hundred
// slow 8 MiB uploads get 503s beyond it instead of the process's memory.
const MaxInFlightBytes = 64 << 20

// Deadline bounds one webhook request, body read and durable write
// included: below Shopify's 5 s, so a stalled database answers 503 (Shopify
// retries) before Shopify gives up on its own.
const Deadline = 4 * time.Second

// Handler receives webhooks.
type Handler struct {
	app      *shopify.App
	writer   *inbox.Writer
	log      *slog.Logger
	received *prometheus.CounterVec
	inFlight atomic.Int64 // body bytes being read now
	maxBytes int64
	deadline time.Duration
}

// NewHandler returns the intake handler and registers its metrics.
func NewHandler(sh *shopify.App, w *inbox.Writer, log *slog.Logger, reg prometheus.Registerer) *Handler {
	h := &Handler{app: sh, writer: w, log: log, maxBytes: MaxInFlightBytes, deadline: Deadline,
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "perkbridge_webhooks_received_total",
			Help: "Webhook deliveries by topic and outcome (accepted, duplicate, ignored, malformed, unauthorized, too_large, bad_request, busy, unavailable).",
		}, []string{"topic", "outcome"})}
	reg.MustRegister(h.received)
	return h
}

// Limit sets the in-flight byte cap and the request deadline (tests).
func (h *Handler) Limit(maxBytes int64, deadline time.Duration) {
	h.maxBytes, h.deadline = maxBytes, deadline
}

// InFlightBytes is the body bytes being read now (tests, metrics).
func (h *Handler) InFlightBytes() int64 { return h.inFlight.Load() }

// Serve is the echo handler for POST /webhooks. The headers are checked
// before a byte of the body is read (a request without a well-formed
// signature, topic, shop or webhook id costs nothing), the body is read
// within the in-flight byte cap and the deadline, and the HMAC is verified
// before anything parses the body.
func (h *Handler) Serve(c echo.Context) error {
	r := c.Request()
	hd := shopify.WebhookHeadersFrom(r.Header)
	if _, ok := shopify.ParseWebhookHMAC(hd.HMAC); !ok {
		h.count("", "unauthorized")
		h.log.WarnContext(r.Context(), "webhook rejected: signature header missing or malformed", "shop_header", safeDomain(hd.ShopDomain))
		return echo.NewHTTPError(http.StatusUnauthorized, "Invalid webhook signature.")
	}
	if hd.Topic == "" || hd.ShopDomain == "" || hd.WebhookID == "" {
		h.count(hd.Topic, "bad_request")
		return echo.NewHTTPError(http.StatusBadRequest, "Missing X-Shopify-Topic, X-Shopify-Shop-Domain or X-Shopify-Webhook-Id.")
	}
	domain, err := shopify.NormalizeShop(hd.ShopDomain)
	if err != nil {
		h.count(hd.Topic, "bad_request")
		return echo.NewHTTPError(http.StatusBadRequest, "X-Shopify-Shop-Domain is not a myshopify.com domain.")
	}
	if r.ContentLength > MaxBody {
		h.count("", "too_large")
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "Webhook body is larger than 8 MiB.")
	}
	reserve := r.ContentLength
	if reserve < 0 {
		reserve = MaxBody // unknown length: the most it may be
	}
	if h.inFlight.Add(reserve) > h.maxBytes {
		h.inFlight.Add(-reserve)
		h.count(hd.Topic, "busy")
		c.Response().Header().Set("Retry-After", "1")
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Too many webhooks in flight; retry shortly.")
	}
	defer h.inFlight.Add(-reserve)
	ctx, cancel := context.WithTimeout(r.Context(), h.deadline)
	defer cancel()
	// The body must arrive within the deadline too: a slow upload is cut.
	_ = http.NewResponseController(c.Response().Writer).SetReadDeadline(time.Now().Add(h.deadline))
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.count("", "too_large")
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "Webhook body is larger than 8 MiB.")
		}
		h.count(hd.Topic, "bad_request")
		return echo.NewHTTPError(http.StatusBadRequest, "Could not read the webhook body in time.")
	}
	// The signature is checked before anything else reads the body: an
	// unsigned request must not cost a parse or a database write.
	if err := h.app.VerifyWebhook(body, hd.HMAC); err != nil {
		h.count("", "unauthorized")
		h.log.WarnContext(r.Context(), "webhook rejected: bad signature", "shop_header", safeDomain(hd.ShopDomain), "reason", err)
		return echo.NewHTTPError(http.StatusUnauthorized, "Invalid webhook signature.")
	}
	d := inbox.Delivery{
		ShopDomain: domain, WebhookID: hd.WebhookID, EventID: hd.EventID, Topic: hd.Topic,
		APIVersion: hd.APIVersion, Headers: keptHeaders(r.Header), Body: body,
	}
	if !hd.TriggeredAt.IsZero() {
		t := hd.TriggeredAt.UTC()
		d.TriggeredAt = &t
	}
	// A signed but unparsable body is stored (nothing is lost) and marked
	// failed with the reason, so the merchant sees it; it is not retried.
	// The same parse finds the order the delivery is about.
	key, err := orderKey(hd.Topic, body)
	if err != nil {
		d.Status, d.Error = inbox.StatusFailed, "malformed JSON: "+err.Error()
	}
	d.OrderKey = key
	res, err := h.writer.Write(ctx, d)
	if err != nil {
		// Nothing was acknowledged: 503 makes Shopify retry, and a retry of
		// a delivery that did commit is deduplicated.
		h.count(hd.Topic, "unavailable")
		if r.Context().Err() != nil {
			// The sender hung up first: nothing was acknowledged, it will
			// send again. Not an intake failure.
			h.log.InfoContext(r.Context(), "webhook not stored: the sender went away", "topic", hd.Topic, "shop", domain)
		} else {
			h.log.ErrorContext(r.Context(), "webhook not stored", "topic", hd.Topic, "shop", domain, "err", err)
		}
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Webhook intake is temporarily unavailable.")
	}
	outcome := "accepted"
	switch {
	case res.Duplicate:
		outcome = "duplicate"
	case res.Status == inbox.StatusIgnored:
		outcome = "ignored"
	case res.Status == inbox.StatusFailed:
		outcome = "malformed"
	}
	h.count(hd.Topic, outcome)
	if outcome != "accepted" {
		h.log.InfoContext(r.Context(), "webhook stored", "topic", hd.Topic, "shop", domain, "outcome", outcome, "reason", res.Reason, "inbox_id", res.ID)
	}
	return c.NoContent(http.StatusOK)
}

func (h *Handler) count(topic, outcome string) {
	if topic == "" {
		topic = "unknown"
	}
	h.received.WithLabelValues(topic, outcome).Inc()
}

// keptHeaders are the Shopify delivery headers worth keeping with the row
// (never the HMAC: it proves nothing once stored).
func keptHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		lk := strings.ToLower(k)
		if (strings.HasPrefix(lk, "x-shopify-") || strings.HasPrefix(lk, "shopify-")) && !strings.HasSuffix(lk, "hmac-sha256") && len(v) > 0 {
			out[lk] = v[0]
		}
	}
	return out
}

func safeDomain(s string) string {
	if d, err := shopify.NormalizeShop(s); err == nil {
		return d
	}
	return "(invalid)"
}

// orderRef holds what names the order in the order topics' bodies: the
// order itself (orders/*), refunds/create's order_id, orders/edited's
// order_edit.order_id.
type orderRef struct {
	ID        json.RawMessage `json:"id"`
	GID       string          `json:"admin_graphql_api_id"`
	OrderID   json.RawMessage `json:"order_id"`
	OrderEdit struct {
		OrderID json.RawMessage `json:"order_id"`
	} `json:"order_edit"`
}

// orderKey returns the Shopify order id a delivery is about ("" when the
// topic is not about one order or the body does not say), and an error
// only when body is not JSON at all. A body of another shape is not
// malformed here: its topic handler fails it with the reason.
func orderKey(topic string, body []byte) (string, error) {
	var ref orderRef
	err := json.Unmarshal(body, &ref)
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return "", err
	}
	number := func(raw json.RawMessage) string {
		s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
		if s == "" || s == "null" || strings.ContainsAny(s, "{}[], ") {
			return ""
		}
		return s
	}
	switch {
	case topic == "refunds/create":
		return number(ref.OrderID), nil
	case topic == "orders/edited":
		return number(ref.OrderEdit.OrderID), nil
	case strings.HasPrefix(topic, "orders/"):
		// The numeric id, as refunds and edits name the order (in
		// Shopify's sample payloads all three are rounded alike, where the
		// GraphQL id is exact).
		if id := number(ref.ID); id != "" {
			return id, nil
		}
		if strings.HasPrefix(ref.GID, "gid://shopify/Order/") {
			return strings.TrimPrefix(ref.GID, "gid://shopify/Order/"), nil
		}
	}
	return "", nil
}
