// Package forward forwards loyalty events to Klaviyo and CleverTap
// (DESIGN.md §4, §5): the integrations a merchant connects, the event
// definitions that say which events each receives, and the Runner that
// delivers them.
//
// The delivery rows are the queue. store.RouteEvents inserts them in the
// transaction that writes the loyalty events and notifies the runners at
// commit; a Runner claims due rows in batches (FOR UPDATE SKIP LOCKED, a
// committed lease), sends without holding a transaction, and records each
// outcome on its row. Any number of Runners in any number of processes
// share the work, and the sinks' limits hold across all of them: Klaviyo's
// per-account rate windows are counted in the database, CleverTap's
// in-flight cap is a set of database leases.
//
// Credentials are sealed with app/vault, bound to their shop and kind, and
// never returned, logged or put in an error.
package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/clevertap"
	"github.com/perkbridge/perkbridge/app/klaviyo"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/vault"
)

// Integration kinds, as the JSON API names them.
const (
	KindKlaviyo   = store.IntegrationKlaviyo
	KindCleverTap = store.IntegrationCleverTap
)

// Kinds lists the integration kinds in the order the API lists them.
func Kinds() []string { return []string{KindCleverTap, KindKlaviyo} }

// RouteHook routes loyalty events to the shop's integrations inside the
// transaction that wrote them (store.RouteEvents): the deliveries commit
// with the events, and runners are notified at commit. It is the loyalty
// engine's events hook: loyalty.WithEventsHook(forward.RouteHook).
func RouteHook(ctx context.Context, tx *store.Store, shopID app.ShopID, ids []uuid.UUID) error {
	_, err := tx.RouteEvents(ctx, shopID, ids)
	return err
}

// ShopifyClients hands out a shop's GraphQL Admin API client, used to look
// up a customer's email, phone or metafield when the customer row lacks
// it. *tenant.Service satisfies it.
type ShopifyClients interface {
	Client(sh *store.Shop) *shopify.Client
}

// Options configure a Service.
type Options struct {
	// KlaviyoOrigin is Klaviyo's API origin (config KLAVIYO_API_ORIGIN);
	// "" means klaviyo.DefaultOrigin.
	KlaviyoOrigin string
	// CleverTapOrigin resolves a region's API origin
	// (config.Config.CleverTapRegionOrigin); nil means the real hosts.
	CleverTapOrigin func(region string) string
	// HTTPTimeout bounds each call to a sink; default 30 s. A CleverTap
	// call that times out may have been ingested (possibly duplicated).
	HTTPTimeout time.Duration
	// Transport sends the sink requests; nil means a pooled default.
	Transport http.RoundTripper
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Service manages integrations, event definitions and deliveries for the
// web layer, and holds what a Runner needs to send.
type Service struct {
	st    *store.Store
	vault *vault.Vault
	shops ShopifyClients
	log   *slog.Logger
	opts  Options
	hc    *http.Client
	now   func() time.Time

	mu      sync.Mutex
	clients map[int64]*sinkClient // by integration id
}

// New returns a Service.
func New(st *store.Store, v *vault.Vault, shops ShopifyClients, log *slog.Logger, opts Options) *Service {
	if opts.HTTPTimeout <= 0 {
		opts.HTTPTimeout = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CleverTapOrigin == nil {
		opts.CleverTapOrigin = func(region string) string {
			o, _ := clevertap.Origin("", region)
			return o
		}
	}
	if opts.Transport == nil {
		opts.Transport = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
			ForceAttemptHTTP2:   true,
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{
		st: st, vault: v, shops: shops, log: log, opts: opts, now: opts.Now,
		hc:      &http.Client{Timeout: opts.HTTPTimeout, Transport: opts.Transport},
		clients: map[int64]*sinkClient{},
	}
}

// credentials is the sealed document of an integration. Only the secret
// is in it; the CleverTap account id and region are plain columns.
type credentials struct {
	PrivateAPIKey string `json:"private_api_key,omitempty"`
	Passcode      string `json:"passcode,omitempty"`
}

// credentialsAD binds sealed credentials to their shop and kind: a value
// copied into another shop's row does not open.
func credentialsAD(shopID app.ShopID, kind string) string {
	return "shop:" + strconv.FormatInt(int64(shopID), 10) + ":integration:" + kind
}

func (s *Service) seal(shopID app.ShopID, kind string, c credentials) (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("forward: seal credentials: %w", err)
	}
	return s.vault.Seal(string(b), credentialsAD(shopID, kind))
}

func (s *Service) open(shopID app.ShopID, kind, sealed string) (credentials, error) {
	var c credentials
	if sealed == "" {
		return c, nil
	}
	pt, err := s.vault.Open(sealed, credentialsAD(shopID, kind))
	if err != nil {
		// The error names no secret: vault errors are generic.
		return c, fmt.Errorf("forward: open %s credentials: %w", kind, err)
	}
	if err := json.Unmarshal([]byte(pt), &c); err != nil {
		return c, errors.New("forward: open credentials: malformed document")
	}
	return c, nil
}

// sinkClient is the API client of one integration, built from the sealed
// credentials it was made with; new credentials make a new client.
type sinkClient struct {
	sealed    string
	klaviyo   *klaviyo.Client
	clevertap *clevertap.Client
}

func (s *Service) klaviyoClient(key string) *klaviyo.Client {
	return klaviyo.NewClient(s.opts.KlaviyoOrigin, key, klaviyo.WithHTTPClient(s.hc), klaviyo.WithNow(s.now))
}

func (s *Service) cleverTapClient(region, accountID, passcode string) *clevertap.Client {
	return clevertap.NewClient(s.opts.CleverTapOrigin(region), accountID, passcode, clevertap.WithHTTPClient(s.hc))
}

// client returns the cached client of an integration, making one when its
// credentials changed.
func (s *Service) client(in *store.Integration) (*sinkClient, error) {
	s.mu.Lock()
	c, ok := s.clients[in.ID]
	s.mu.Unlock()
	if ok && c.sealed == in.Credentials {
		return c, nil
	}
	cred, err := s.open(in.ShopID, in.Kind, in.Credentials)
	if err != nil {
		return nil, err
	}
	c = &sinkClient{sealed: in.Credentials}
	switch in.Kind {
	case KindKlaviyo:
		c.klaviyo = s.klaviyoClient(cred.PrivateAPIKey)
	case KindCleverTap:
		c.clevertap = s.cleverTapClient(in.Region, in.AccountID, cred.Passcode)
	default:
		return nil, fmt.Errorf("forward: unknown integration kind %q", in.Kind)
	}
	s.mu.Lock()
	s.clients[in.ID] = c
	s.mu.Unlock()
	return c, nil
}

// parseKind validates an integration kind from a URL or a filter.
func parseKind(kind, field string) (string, error) {
	switch kind {
	case KindKlaviyo, KindCleverTap:
		return kind, nil
	}
	if field == "" {
		return "", app.Errorf(app.ENOTFOUND, "Unknown integration %q: use klaviyo or clevertap.", kind)
	}
	return "", app.FieldError(field, "Unknown integration %q: use klaviyo or clevertap.", kind)
}
