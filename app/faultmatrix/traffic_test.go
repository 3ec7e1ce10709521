package faultmatrix

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/simulate"
)

// hook is one webhook delivery as Shopify sends it.
type hook struct {
	topic     string
	webhookID string // X-Shopify-Webhook-Id: the inbox key
	eventID   string // X-Shopify-Event-Id: the same for every delivery of one event
	body      []byte
}

// capture is an http.RoundTripper that records the simulator's webhooks
// instead of sending them, so the same shop day can be replayed with
// duplicates and out of order.
type capture struct {
	mu    sync.Mutex
	hooks []hook
}

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(r.URL.Path, "/webhooks") {
		return nil, fmt.Errorf("capture: unexpected call %s %s", r.Method, r.URL.Path)
	}
	c.mu.Lock()
	c.hooks = append(c.hooks, hook{topic: r.Header.Get("X-Shopify-Topic"), webhookID: r.Header.Get("X-Shopify-Webhook-Id"),
		eventID: r.Header.Get("X-Shopify-Event-Id"), body: body})
	c.mu.Unlock()
	return &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

// traffic is one round's webhooks: the distinct ones in the order the shop
// produced them (the serial truth applies them so), and the deliveries
// to send: every distinct one, plus duplicates, shuffled.
type traffic struct {
	distinct   []hook
	deliveries []hook
	duplicates int // of which sameID re-use the webhook id
	sameID     int
	customers  []simulate.Customer
	actions    map[string]int
}

// actionWeights is the shop's day: accounts, orders from three channels,
// refunds and cancellations of earlier orders, fulfilments.
var actionWeights = []struct {
	action string
	weight int
}{
	{simulate.ActionAccount, 10},
	{simulate.ActionWebOrder, 34},
	{simulate.ActionPOSOrder, 12},
	{simulate.ActionGuestOrder, 5},
	{simulate.ActionRefund, 12},
	{simulate.ActionCancel, 6},
	{simulate.ActionFulfil, 10},
}

// genTraffic builds distinct webhooks of shop with the simulator, then
// adds dupShare of them again as duplicates (half re-sent with the same
// webhook id, as Shopify retries; half as a new delivery of the same
// event) and shuffles everything, with rng.
func genTraffic(t *testing.T, rng *rand.Rand, seed uint64, shop string, distinct int, dupShare float64, onCustomer func(simulate.Customer)) *traffic {
	t.Helper()
	cp := &capture{}
	tr := &traffic{actions: map[string]int{}}
	sim := simulate.New(simulate.Options{
		AppURL: "http://capture.invalid", Shop: shop, Secret: apiSecret, Seed: seed,
		Client: &http.Client{Transport: cp},
		OnCustomer: func(c simulate.Customer) {
			tr.customers = append(tr.customers, c)
			onCustomer(c)
		},
	})
	total := 0
	for _, w := range actionWeights {
		total += w.weight
	}
	ctx := context.Background()
	for i := 0; len(cp.hooks) < distinct; i++ {
		action := simulate.ActionAccount
		if i >= 5 {
			n := rng.IntN(total)
			for _, w := range actionWeights {
				if n < w.weight {
					action = w.action
					break
				}
				n -= w.weight
			}
		}
		if err := sim.Do(ctx, action); err != nil {
			t.Fatalf("simulating %s: %v", action, err)
		}
		tr.actions[action]++
	}
	tr.distinct = cp.hooks
	tr.deliveries = append([]hook(nil), tr.distinct...)
	dups := int(float64(distinct) * dupShare / (1 - dupShare))
	for range dups {
		h := tr.distinct[rng.IntN(len(tr.distinct))]
		if rng.IntN(2) == 0 {
			tr.sameID++
		} else {
			h.webhookID = uuid.NewString()
		}
		tr.deliveries = append(tr.deliveries, h)
	}
	tr.duplicates = dups
	rng.Shuffle(len(tr.deliveries), func(i, j int) { tr.deliveries[i], tr.deliveries[j] = tr.deliveries[j], tr.deliveries[i] })
	return tr
}

// sender delivers webhooks the way Shopify does: signed, to one of the
// app's web processes (round robin), and again after any answer but 200
// (a 503, a connection refused or reset, a timeout) until one is 200.
type sender struct {
	urls   []string
	shop   string
	client *http.Client
	next   atomic.Uint64

	posts    atomic.Int64 // requests made
	acked    atomic.Int64 // 200s
	s503     atomic.Int64
	connErrs atomic.Int64
	other    atomic.Int64 // other non-200 answers (retried too)

	mu       sync.Mutex
	ackedIDs map[string]bool // webhook ids answered 200
}

func newSender(urls []string, shop string) *sender {
	return &sender{urls: urls, shop: shop, ackedIDs: map[string]bool{},
		client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
}

// send delivers h until it is acknowledged or ctx ends.
func (s *sender) send(ctx context.Context, h hook) error {
	wait := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		url := s.urls[s.next.Add(1)%uint64(len(s.urls))]
		status, err := s.post(ctx, url, h)
		switch {
		case err == nil && status == 200:
			s.acked.Add(1)
			s.mu.Lock()
			s.ackedIDs[h.webhookID] = true
			s.mu.Unlock()
			return nil
		case err != nil:
			s.connErrs.Add(1)
		case status == http.StatusServiceUnavailable:
			s.s503.Add(1)
		case status == 401 || status == 400 || status == 413:
			return fmt.Errorf("webhook %s (%s) refused with %d", h.webhookID, h.topic, status)
		default:
			s.other.Add(1)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("webhook %s not acknowledged after %d attempts: %w", h.webhookID, attempt, ctx.Err())
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		wait = min(wait*2, 500*time.Millisecond)
	}
}

func (s *sender) post(ctx context.Context, url string, h hook) (int, error) {
	s.posts.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/webhooks", bytes.NewReader(h.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", h.topic)
	req.Header.Set("X-Shopify-Hmac-Sha256", shopify.SignWebhook(apiSecret, h.body))
	req.Header.Set("X-Shopify-Shop-Domain", s.shop)
	req.Header.Set("X-Shopify-API-Version", "2026-10")
	req.Header.Set("X-Shopify-Webhook-Id", h.webhookID)
	req.Header.Set("X-Shopify-Event-Id", h.eventID)
	req.Header.Set("X-Shopify-Triggered-At", time.Now().UTC().Format(time.RFC3339Nano))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
