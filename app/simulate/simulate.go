// Package simulate is a small traffic simulator for a running Perkbridge:
// it plays a shop's customers and Shopify itself, sending correctly signed
// webhooks through the real intake (POST /webhooks) and storefront calls
// through the signed app proxy (/proxy/...), each with fresh ids. It is
// what `perkbridge demo` runs by default and what `perkbridge simulate`
// points at any instance.
//
// The traffic is a shop's ordinary day: new accounts, paid orders online
// and at the point of sale, partial refunds, cancellations, fulfilments
// (which lead to review requests), friends referred by members who then
// order, and members turning points into rewards on the storefront.
package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app/shopify"
)

// Customer is a shopper the simulator plays.
type Customer struct {
	ID                  int64
	Email, Phone        string
	FirstName, LastName string
	Created             time.Time
}

// Options configure a Simulator.
type Options struct {
	// AppURL is the app's origin, e.g. http://127.0.0.1:8080.
	AppURL string
	// Shop is the myshopify domain the traffic is for; the app must have
	// it installed.
	Shop string
	// Secret is the app's client secret (SHOPIFY_API_SECRET): it signs the
	// webhooks and the app-proxy queries as Shopify would.
	Secret string
	// Rate is the actions per second Run sends (default 1).
	Rate float64
	// Seed makes the choice of actions repeatable (0: random).
	Seed uint64
	// Members are existing account holders to start from (optional).
	Members []Customer
	// OnCustomer, when set, is told of every customer the simulator
	// creates before the app hears of it (the demo registers them with
	// the Shopify sandbox, so GraphQL look-ups find them).
	OnCustomer func(Customer)
	Client     *http.Client
	Logger     *slog.Logger
	Now        func() time.Time
}

// Actions the simulator takes.
const (
	ActionAccount    = "account"     // customers/create, an account holder
	ActionWebOrder   = "web_order"   // orders/paid from the online store
	ActionPOSOrder   = "pos_order"   // orders/paid from the point of sale
	ActionGuestOrder = "guest_order" // orders/paid without an account
	ActionRefund     = "refund"      // refunds/create of one unit
	ActionCancel     = "cancel"      // orders/cancelled
	ActionFulfil     = "fulfilment"  // fulfillments/create
	ActionReferral   = "referral"    // a member's friend asks for the offer, then orders
	ActionRedemption = "redemption"  // a member redeems points on the storefront
	ActionSkipped    = "skipped"     // nothing suitable to act on yet
)

// weights is how often each action is picked, out of their sum.
var weights = []struct {
	action string
	weight int
}{
	{ActionAccount, 12},
	{ActionWebOrder, 30},
	{ActionPOSOrder, 12},
	{ActionGuestOrder, 4},
	{ActionRefund, 7},
	{ActionCancel, 4},
	{ActionFulfil, 12},
	{ActionReferral, 6},
	{ActionRedemption, 13},
}

var firstNames = []string{"Maya", "Noah", "Priya", "Lucas", "Amara", "Kenji", "Sofia", "Omar", "Elena", "Tariq", "Hana", "Mateo", "Zoe", "Ravi", "Ines", "Felix"}
var lastNames = []string{"Okafor", "Lindqvist", "Tanaka", "Moreau", "Haddad", "Novak", "Reyes", "Byrne", "Kowalski", "Mensah", "Duarte", "Fischer"}

// Simulator sends a shop's traffic. Its methods are safe for one Run at a
// time; Counts may be read concurrently.
type Simulator struct {
	opts   Options
	client *http.Client
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	rng     *rand.Rand
	nextID  int64
	orderNo int64
	members []*Customer
	orders  []*order
	counts  map[string]int
	errors  int
	lastErr error
}

// New returns a Simulator for opts.
func New(opts Options) *Simulator {
	if opts.Rate <= 0 {
		opts.Rate = 1
	}
	s := &Simulator{opts: opts, client: opts.Client, log: opts.Logger, now: opts.Now, counts: map[string]int{}}
	if s.client == nil {
		s.client = &http.Client{Timeout: 15 * time.Second}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	seed := opts.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	s.rng = rand.New(rand.NewPCG(seed, seed>>1|1))
	// Fresh ids on every run: microseconds since the epoch leave room for
	// a million ids a second before two runs could meet.
	s.nextID = s.now().UnixMicro()
	s.orderNo = 1000 + s.now().Unix()%90000*10
	for i := range opts.Members {
		c := opts.Members[i]
		s.members = append(s.members, &c)
	}
	return s
}

// Counts returns how many of each action succeeded, and the errors.
func (s *Simulator) Counts() (map[string]int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out, s.errors
}

// Run sends actions at opts.Rate until ctx ends. A failed action is
// logged and counted, and the traffic goes on.
func (s *Simulator) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Duration(float64(time.Second) / s.opts.Rate))
	defer tick.Stop()
	for {
		if _, err := s.Step(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("simulated traffic: action failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Step takes one action and returns its name.
func (s *Simulator) Step(ctx context.Context) (string, error) {
	s.mu.Lock()
	action := s.pickLocked()
	s.mu.Unlock()
	err := s.Do(ctx, action)
	return action, err
}

func (s *Simulator) pickLocked() string {
	// A shop needs members before anything else makes sense.
	if len(s.members) < 3 {
		return ActionAccount
	}
	total := 0
	for _, w := range weights {
		total += w.weight
	}
	n := s.rng.IntN(total)
	for _, w := range weights {
		if n < w.weight {
			return w.action
		}
		n -= w.weight
	}
	return ActionWebOrder
}

// Do takes the named action. An action with nothing to act on (a refund
// before any order) counts as skipped.
func (s *Simulator) Do(ctx context.Context, action string) error {
	var err error
	switch action {
	case ActionAccount:
		_, err = s.newAccount(ctx)
	case ActionWebOrder:
		_, err = s.placeOrder(ctx, "web", s.member(), "", 0)
	case ActionPOSOrder:
		_, err = s.placeOrder(ctx, "pos", s.member(), "", 0)
	case ActionGuestOrder:
		_, err = s.placeOrder(ctx, "web", nil, "", 0)
	case ActionRefund:
		action, err = s.refund(ctx)
	case ActionCancel:
		action, err = s.cancel(ctx)
	case ActionFulfil:
		action, err = s.fulfil(ctx)
	case ActionReferral:
		action, err = s.referral(ctx)
	case ActionRedemption:
		action, err = s.redeem(ctx)
	default:
		return fmt.Errorf("simulate: unknown action %q", action)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errors++
		s.lastErr = err
		return fmt.Errorf("simulate: %s: %w", action, err)
	}
	s.counts[action]++
	return nil
}

func (s *Simulator) id() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID += 10 // room for the ids a payload derives from its own
	return s.nextID
}

func (s *Simulator) member() *Customer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.members) == 0 {
		return nil
	}
	return s.members[s.rng.IntN(len(s.members))]
}

func (s *Simulator) newCustomer() *Customer {
	id := s.id()
	s.mu.Lock()
	first, last := firstNames[s.rng.IntN(len(firstNames))], lastNames[s.rng.IntN(len(lastNames))]
	withPhone := s.rng.IntN(3) == 0
	s.mu.Unlock()
	c := &Customer{ID: id, FirstName: first, LastName: last, Created: s.now(),
		Email: fmt.Sprintf("%s.%s.%d@example.com", strings.ToLower(first), strings.ToLower(last), id%100000)}
	if withPhone {
		c.Phone = fmt.Sprintf("+1415555%04d", id%10000)
	}
	return c
}

// newAccount creates an account holder: customers/create with state
// "enabled", as Shopify sends when a shopper signs up.
func (s *Simulator) newAccount(ctx context.Context) (*Customer, error) {
	c := s.newCustomer()
	if s.opts.OnCustomer != nil {
		s.opts.OnCustomer(*c)
	}
	if err := s.webhook(ctx, "customers/create", customerJSON(c, s.now(), "enabled")); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.members = append(s.members, c)
	s.mu.Unlock()
	return c, nil
}

// placeOrder sends orders/paid for a new order of c (nil: a guest) on
// channel, optionally with a discount code worth off.
func (s *Simulator) placeOrder(ctx context.Context, channel string, c *Customer, code string, off int64) (*order, error) {
	id := s.id()
	s.mu.Lock()
	s.orderNo++
	o := &order{id: id, number: s.orderNo, channel: channel, customer: c, created: s.now(), refunded: map[int64]int{}}
	n := 1 + s.rng.IntN(3)
	for i := range n {
		p := catalogue[s.rng.IntN(len(catalogue))]
		o.lines = append(o.lines, line{id: id + int64(i) + 5, product: p, quantity: 1 + s.rng.IntN(2)})
	}
	s.mu.Unlock()
	o.name = "#" + strconv.FormatInt(o.number, 10)
	if c != nil {
		o.email, o.phone = c.Email, c.Phone
	} else {
		o.email = fmt.Sprintf("guest.%d@example.net", id%1000000)
	}
	if code != "" && off > 0 && off < o.subtotal() {
		o.discountCode, o.discountOff = code, off
	}
	if err := s.webhook(ctx, "orders/paid", orderJSON(o, s.now(), s.opts.Shop)); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.orders = append(s.orders, o)
	if len(s.orders) > 500 {
		s.orders = s.orders[len(s.orders)-500:]
	}
	s.mu.Unlock()
	return o, nil
}

// pickOrder returns a recent order that ok accepts, or nil.
func (s *Simulator) pickOrder(ok func(*order) bool) *order {
	s.mu.Lock()
	defer s.mu.Unlock()
	var fit []*order
	for _, o := range s.orders {
		if ok(o) {
			fit = append(fit, o)
		}
	}
	if len(fit) == 0 {
		return nil
	}
	return fit[s.rng.IntN(len(fit))]
}

// refund sends refunds/create for one unit of a line of a paid order.
func (s *Simulator) refund(ctx context.Context) (string, error) {
	o := s.pickOrder(func(o *order) bool {
		if o.cancelled {
			return false
		}
		for _, l := range o.lines {
			if o.refunded[l.id] < l.quantity {
				return true
			}
		}
		return false
	})
	if o == nil {
		return ActionSkipped, nil
	}
	var l line
	for _, cand := range o.lines {
		if o.refunded[cand.id] < cand.quantity {
			l = cand
			break
		}
	}
	if err := s.webhook(ctx, "refunds/create", refundJSON(o, l, 1, s.id(), s.now())); err != nil {
		return ActionRefund, err
	}
	s.mu.Lock()
	o.refunded[l.id]++
	s.mu.Unlock()
	return ActionRefund, nil
}

// cancel sends orders/cancelled for an unfulfilled, unrefunded order.
func (s *Simulator) cancel(ctx context.Context) (string, error) {
	o := s.pickOrder(func(o *order) bool { return !o.cancelled && !o.fulfilled && len(o.refunded) == 0 })
	if o == nil {
		return ActionSkipped, nil
	}
	s.mu.Lock()
	o.cancelled = true
	body := orderJSON(o, s.now(), s.opts.Shop)
	s.mu.Unlock()
	if err := s.webhook(ctx, "orders/cancelled", body); err != nil {
		s.mu.Lock()
		o.cancelled = false
		s.mu.Unlock()
		return ActionCancel, err
	}
	return ActionCancel, nil
}

// fulfil sends fulfillments/create for an unfulfilled order of a member.
func (s *Simulator) fulfil(ctx context.Context) (string, error) {
	o := s.pickOrder(func(o *order) bool { return !o.cancelled && !o.fulfilled && o.customer != nil && o.channel == "web" })
	if o == nil {
		return ActionSkipped, nil
	}
	if err := s.webhook(ctx, "fulfillments/create", fulfillmentJSON(o, s.id(), s.now())); err != nil {
		return ActionFulfil, err
	}
	s.mu.Lock()
	o.fulfilled = true
	s.mu.Unlock()
	return ActionFulfil, nil
}

var couponRe = regexp.MustCompile(`data-testid="referral-coupon"[^>]*>\s*([A-Za-z0-9-]+)\s*<`)

// referral plays a member's friend: the member's referral link (from the
// storefront member API), the friend asking for the offer on the referral
// page, then signing up and placing a first order with the code.
func (s *Simulator) referral(ctx context.Context) (string, error) {
	m := s.member()
	if m == nil {
		return ActionSkipped, nil
	}
	var member struct {
		ReferralURL string `json:"referral_url"`
	}
	if status, err := s.proxyJSON(ctx, http.MethodGet, "/api/v1/member", m.ID, nil, &member); err != nil {
		return ActionReferral, err
	} else if status != http.StatusOK || member.ReferralURL == "" {
		return ActionSkipped, nil // the program has referrals turned off
	}
	code := member.ReferralURL[strings.LastIndex(member.ReferralURL, "/")+1:]
	friend := s.newCustomer()
	form := url.Values{"email": {friend.Email}}
	status, page, err := s.proxy(ctx, http.MethodPost, "/r/"+url.PathEscape(code), -friend.ID, "application/x-www-form-urlencoded", []byte(form.Encode()))
	if err != nil {
		return ActionReferral, err
	}
	if status != http.StatusOK && status != http.StatusCreated {
		return ActionSkipped, nil // refused (daily cap, program off): a real outcome
	}
	var discount string
	if mm := couponRe.FindSubmatch(page); mm != nil {
		discount = string(mm[1])
	}
	if s.opts.OnCustomer != nil {
		s.opts.OnCustomer(*friend)
	}
	if err := s.webhook(ctx, "customers/create", customerJSON(friend, s.now(), "enabled")); err != nil {
		return ActionReferral, err
	}
	s.mu.Lock()
	s.members = append(s.members, friend)
	s.mu.Unlock()
	if _, err := s.placeOrder(ctx, "web", friend, discount, 1000); err != nil {
		return ActionReferral, err
	}
	return ActionReferral, nil
}

// redeem plays a member spending points on the storefront: the rewards
// list, then a redemption of the dearest affordable reward.
func (s *Simulator) redeem(ctx context.Context) (string, error) {
	s.mu.Lock()
	members := append([]*Customer(nil), s.members...)
	s.rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
	s.mu.Unlock()
	if len(members) > 5 {
		members = members[:5]
	}
	for _, m := range members {
		var rewards []struct {
			ID         string `json:"id"`
			PointsCost int64  `json:"points_cost"`
			Affordable bool   `json:"affordable"`
		}
		if _, err := s.proxyJSON(ctx, http.MethodGet, "/api/v1/rewards", m.ID, nil, &rewards); err != nil {
			return ActionRedemption, err
		}
		best := -1
		for i, r := range rewards {
			if r.Affordable && (best < 0 || r.PointsCost > rewards[best].PointsCost) {
				best = i
			}
		}
		if best < 0 {
			continue
		}
		var out struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
		}
		body := map[string]string{"reward_id": rewards[best].ID, "request_id": uuid.NewString()}
		status, err := s.proxyJSON(ctx, http.MethodPost, "/api/v1/redemptions", m.ID, body, &out)
		if err != nil {
			return ActionRedemption, err
		}
		if status != http.StatusCreated && status != http.StatusOK {
			return ActionRedemption, fmt.Errorf("redemption answered %d", status)
		}
		return ActionRedemption, nil
	}
	return ActionSkipped, nil
}

// webhook sends a signed webhook with a fresh id, as Shopify delivers it.
func (s *Simulator) webhook(ctx context.Context, topic string, payload any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	// A request under way finishes when the traffic stops (the client's
	// timeout bounds it): Shopify does not abandon a delivery midway.
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost, strings.TrimRight(s.opts.AppURL, "/")+"/webhooks", bytes.NewReader(body))
	if err != nil {
		return err
	}
	now := s.now().UTC()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", topic)
	req.Header.Set("X-Shopify-Hmac-Sha256", shopify.SignWebhook(s.opts.Secret, body))
	req.Header.Set("X-Shopify-Shop-Domain", s.opts.Shop)
	req.Header.Set("X-Shopify-API-Version", "2026-10")
	req.Header.Set("X-Shopify-Webhook-Id", uuid.NewString())
	req.Header.Set("X-Shopify-Event-Id", uuid.NewString())
	req.Header.Set("X-Shopify-Triggered-At", now.Format(time.RFC3339Nano))
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s webhook answered %s: %s", topic, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// proxy sends a storefront request the way Shopify's app proxy forwards
// it: to /proxy{path}, with the signed query naming the shop and the
// logged-in customer (0 or negative: a guest; a negative value names the
// guest, for their client address), and X-Forwarded-For carrying the
// shopper's address (one of the documentation range 203.0.113.0/24 per
// shopper: a header only, nothing is sent there).
func (s *Simulator) proxy(ctx context.Context, method, path string, customer int64, contentType string, body []byte) (int, []byte, error) {
	shopper := customer
	if customer < 0 {
		customer = 0
	}
	q := url.Values{
		"shop":                  {s.opts.Shop},
		"path_prefix":           {"/apps/loyalty"},
		"timestamp":             {strconv.FormatInt(s.now().Unix(), 10)},
		"logged_in_customer_id": {""},
	}
	if customer != 0 {
		q.Set("logged_in_customer_id", strconv.FormatInt(customer, 10))
	}
	q.Set("signature", shopify.SignProxy(s.opts.Secret, q))
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), method, strings.TrimRight(s.opts.AppURL, "/")+"/proxy"+path+"?"+q.Encode(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json, text/html")
	req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", 1+uint64(shopper)%254))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, out, err
}

// proxyJSON is proxy with a JSON body and answer; a non-2xx answer is
// returned as its status, not as an error.
func (s *Simulator) proxyJSON(ctx context.Context, method, path string, customer int64, in, out any) (int, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return 0, err
		}
	}
	status, raw, err := s.proxy(ctx, method, path, customer, "application/json", body)
	if err != nil {
		return status, err
	}
	if status >= 500 {
		return status, fmt.Errorf("%s %s answered %d: %s", method, path, status, truncate(raw, 200))
	}
	if status/100 == 2 && out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return status, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return status, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// ErrNoTraffic is returned by Validate for options that cannot send.
var ErrNoTraffic = errors.New("simulate: AppURL, Shop and Secret are required")

// Validate checks the options Run needs.
func (o Options) Validate() error {
	if o.AppURL == "" || o.Shop == "" || o.Secret == "" {
		return ErrNoTraffic
	}
	return nil
}
