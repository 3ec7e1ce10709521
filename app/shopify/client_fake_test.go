package shopify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/shopify"
)

// These tests run our client against the shared fake Shopify (app/fake),
// which encodes Shopify's contract independently of this package.

const (
	fakeAPIKey    = "0123456789abcdef0123456789abcdef"
	fakeAPISecret = "fake-secret"
	fakeShop      = "test-shop.myshopify.com"
)

// costlyQuery costs 2 + 50 × 1 = 52 points.
const costlyQuery = `query Costly { customers(first: 50) { nodes { id } } }`

type fakeBundle struct {
	fake   *fake.Shopify
	app    *shopify.App
	tokens *testTokens
}

// setupFake starts a fake Shopify with shop installed, an App pointed at it
// and a token source holding a token obtained through ExchangeCode. A nil
// opts.Now means real time, which the throttling tests need because the
// fake's bucket refills by its clock.
func setupFake(t *testing.T, opts fake.ShopifyOptions) *fakeBundle {
	t.Helper()
	opts.APIKey, opts.APISecret = fakeAPIKey, fakeAPISecret
	f := fake.NewShopify(opts)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.InstallShop(fakeShop)
	a := &shopify.App{
		APIKey:      fakeAPIKey,
		APISecret:   fakeAPISecret,
		Scopes:      "read_customers,write_discounts",
		RedirectURL: "https://app.example.com/auth/callback",
		ShopOrigin:  srv.URL + "/{shop}",
		HTTPClient:  srv.Client(),
		Now:         opts.Now,
	}
	tok, err := a.ExchangeCode(context.Background(), fakeShop, f.IssueAuthCode(fakeShop))
	if err != nil {
		t.Fatalf("ExchangeCode: %v", err)
	}
	return &fakeBundle{fake: f, app: a, tokens: &testTokens{app: a, shop: fakeShop, tok: tok}}
}

// client returns a client of fakeShop that retries fast and records waits.
func (b *fakeBundle) client(t *testing.T, realSleep bool) (*shopify.Client, *sleepLog) {
	t.Helper()
	c := b.app.NewClient(fakeShop, b.tokens)
	c.RetryBaseDelay = time.Millisecond
	log := &sleepLog{real: realSleep}
	shopify.SetSleep(c, log.sleep)
	return c, log
}

// graphQLCalls counts the GraphQL requests the fake received for fakeShop.
func (b *fakeBundle) graphQLCalls() int {
	n := 0
	for _, r := range b.fake.Requests(fakeShop) {
		if strings.HasSuffix(r.Path, "/graphql.json") {
			n++
		}
	}
	return n
}

// lastRequest returns the last request the fake received for fakeShop.
func (b *fakeBundle) lastRequest(t *testing.T) fake.Request {
	t.Helper()
	rs := b.fake.Requests(fakeShop)
	if len(rs) == 0 {
		t.Fatal("the fake received no request")
	}
	return rs[len(rs)-1]
}

// testTokens is a TokenSource that refreshes through App.RefreshToken when
// forced, as the production token store does.
type testTokens struct {
	app  *shopify.App
	shop string

	mu     sync.Mutex
	tok    *shopify.AccessToken
	forced int
}

func (s *testTokens) AccessToken(ctx context.Context, force bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if force {
		s.forced++
		t, err := s.app.RefreshToken(ctx, s.shop, s.tok.RefreshToken)
		if err != nil {
			return "", err
		}
		s.tok = t
	}
	return s.tok.AccessToken, nil
}

func (s *testTokens) current() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok.AccessToken, s.forced
}

// sleepLog records the waits a client asks for and, when real, spends them.
type sleepLog struct {
	real  bool
	mu    sync.Mutex
	waits []time.Duration
}

func (l *sleepLog) sleep(ctx context.Context, d time.Duration) error {
	l.mu.Lock()
	l.waits = append(l.waits, d)
	l.mu.Unlock()
	if !l.real {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (l *sleepLog) all() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.waits...)
}

// requestJSON decodes the JSON body of a recorded request.
func requestJSON(t *testing.T, r fake.Request) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("request body %s: %v", r.Body, err)
	}
	return m
}

func TestFake_ExchangeCode(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{Now: fixedClock(now)})
		tok, err := b.app.ExchangeCode(context.Background(), "Test-Shop.myshopify.com", b.fake.IssueAuthCode(fakeShop))
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Scope == "" {
			t.Errorf("token = %+v, want access, refresh and scope", tok)
		}
		if !tok.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Errorf("ExpiresAt = %v, want now+1h", tok.ExpiresAt)
		}
		if !tok.RefreshTokenExpiresAt.Equal(now.Add(90 * 24 * time.Hour)) {
			t.Errorf("RefreshTokenExpiresAt = %v, want now+90d", tok.RefreshTokenExpiresAt)
		}
		r := b.lastRequest(t)
		if r.Method != http.MethodPost || r.Path != "/"+fakeShop+"/admin/oauth/access_token" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request = %s %s (%s)", r.Method, r.Path, r.Header.Get("Content-Type"))
		}
		body := requestJSON(t, r)
		for k, want := range map[string]string{"client_id": fakeAPIKey, "client_secret": fakeAPISecret, "expiring": "1"} {
			if body[k] != want {
				t.Errorf("body[%q] = %v, want %q", k, body[k], want)
			}
		}
		if _, ok := body["grant_type"]; ok {
			t.Errorf("body has a grant_type: %v", body)
		}
	})

	t.Run("ErrCodeReused", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{Now: fixedClock(now)})
		code := b.fake.IssueAuthCode(fakeShop)
		if _, err := b.app.ExchangeCode(context.Background(), fakeShop, code); err != nil {
			t.Fatal(err)
		}
		_, err := b.app.ExchangeCode(context.Background(), fakeShop, code)
		var oe *shopify.OAuthError
		if !errors.As(err, &oe) || oe.Status != http.StatusBadRequest || oe.Code == "" {
			t.Fatalf("err = %v, want a 400 *OAuthError", err)
		}
		if errors.Is(err, shopify.ErrInvalidSubjectToken) {
			t.Errorf("a reused code matches ErrInvalidSubjectToken")
		}
	})

	t.Run("ErrWrongSecretNotLeaked", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{Now: fixedClock(now)})
		a := &shopify.App{APIKey: fakeAPIKey, APISecret: "wrong-secret-value", ShopOrigin: b.app.ShopOrigin, HTTPClient: b.app.HTTPClient}
		_, err := a.ExchangeCode(context.Background(), fakeShop, b.fake.IssueAuthCode(fakeShop))
		var oe *shopify.OAuthError
		if !errors.As(err, &oe) || oe.Code != "invalid_client" {
			t.Fatalf("err = %v, want invalid_client", err)
		}
		if strings.Contains(err.Error(), "wrong-secret-value") {
			t.Errorf("error %q contains the secret", err)
		}
	})

	t.Run("ErrInvalidShopSendsNothing", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{Now: fixedClock(now)})
		before := len(b.fake.Requests(fakeShop))
		_, err := b.app.ExchangeCode(context.Background(), fakeShop+".evil.com", "code")
		requireErrorIs(t, err, shopify.ErrInvalidShop, app.EBADREQUEST)
		if after := len(b.fake.Requests(fakeShop)); after != before {
			t.Errorf("requests %d -> %d", before, after)
		}
	})
}

func TestFake_ExchangeIDToken(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{Now: fixedClock(now)})
		raw := b.fake.MintIDToken(fakeShop, 42, time.Minute)
		// Our verifier accepts the token the fake minted independently.
		idt, err := b.app.VerifyIDToken(raw)
		if err != nil {
			t.Fatalf("VerifyIDToken: %v", err)
		}
		if idt.Shop != fakeShop || idt.UserID != "42" || idt.SessionID == "" || idt.JTI == "" || !idt.ExpiresAt.Equal(now.Add(time.Minute)) {
			t.Errorf("IDToken = %+v", idt)
		}
		tok, err := b.app.ExchangeIDToken(context.Background(), idt.Shop, raw)
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken == "" || tok.RefreshToken == "" || !tok.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Errorf("token = %+v", tok)
		}
		body := requestJSON(t, b.lastRequest(t))
		want := map[string]string{
			"grant_type":           "urn:ietf:params:oauth:grant-type:token-exchange",
			"subject_token":        raw,
			"subject_token_type":   "urn:ietf:params:oauth:token-type:id_token",
			"requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
			"expiring":             "1",
			"client_id":            fakeAPIKey,
		}
		for k, v := range want {
			if body[k] != v {
				t.Errorf("body[%q] = %v, want %q", k, body[k], v)
			}
		}
		// The exchanged token works on the Admin API.
		c := b.app.NewClient(fakeShop, staticTokens(tok.AccessToken))
		if _, err := c.Shop(context.Background()); err != nil {
			t.Errorf("Shop with the exchanged token: %v", err)
		}
	})

	t.Run("ErrInvalidSubjectToken", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{Now: fixedClock(now)})
		expired := b.fake.MintIDToken(fakeShop, 42, -time.Minute)
		if _, err := b.app.VerifyIDToken(expired); !errors.Is(err, shopify.ErrInvalidIDToken) {
			t.Errorf("VerifyIDToken(expired) = %v, want ErrInvalidIDToken", err)
		}
		other := b.fake.MintIDToken("other-shop.myshopify.com", 42, time.Minute)
		for name, raw := range map[string]string{"Expired": expired, "Garbage": "not-a-jwt", "OtherShop": other} {
			_, err := b.app.ExchangeIDToken(context.Background(), fakeShop, raw)
			if !errors.Is(err, shopify.ErrInvalidSubjectToken) {
				t.Errorf("%s: err = %v, want ErrInvalidSubjectToken", name, err)
			}
		}
	})
}

func TestFake_RefreshToken(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

	t.Run("Rotates", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{Now: fixedClock(now)})
		old := b.tokens.tok
		tok, err := b.app.RefreshToken(context.Background(), fakeShop, old.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken == old.AccessToken || tok.RefreshToken == old.RefreshToken || tok.RefreshToken == "" {
			t.Errorf("refresh did not rotate: old %v new %v", old, tok)
		}
		if !tok.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Errorf("ExpiresAt = %v, want now+1h", tok.ExpiresAt)
		}
		body := requestJSON(t, b.lastRequest(t))
		if body["grant_type"] != "refresh_token" || body["refresh_token"] != old.RefreshToken || body["client_secret"] != fakeAPISecret {
			t.Errorf("body = %v", body)
		}
		c := b.app.NewClient(fakeShop, staticTokens(tok.AccessToken))
		if _, err := c.Shop(context.Background()); err != nil {
			t.Errorf("Shop with the refreshed token: %v", err)
		}
	})

	t.Run("ErrInvalidGrant", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{Now: fixedClock(now)})
		_, err := b.app.RefreshToken(context.Background(), fakeShop, "shprt_unknown")
		var oe *shopify.OAuthError
		if !errors.As(err, &oe) || oe.Status != http.StatusBadRequest || oe.Code != "invalid_grant" {
			t.Fatalf("err = %v, want 400 invalid_grant", err)
		}
		if errors.Is(err, shopify.ErrInvalidSubjectToken) {
			t.Error("invalid_grant matches ErrInvalidSubjectToken")
		}
	})
}

// staticTokens is a TokenSource with one fixed token.
type staticTokens string

func (s staticTokens) AccessToken(context.Context, bool) (string, error) { return string(s), nil }

func TestFake_ClientQueries(t *testing.T) {
	t.Parallel()

	t.Run("Customer", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{})
		b.fake.AddCustomer(fakeShop, fake.ShopifyCustomer{
			ID: 624407574, Email: "jane@example.com", Phone: "+15145551234", FirstName: "Jane", LastName: "Doe",
			Metafields: map[string]string{"$app:loyalty.points": "1250", "custom.birthday": "1990-05-01"},
		})
		c, _ := b.client(t, true)
		got, err := c.Customer(context.Background(), "gid://shopify/Customer/624407574", []shopify.MetafieldRef{
			{Namespace: "$app:loyalty", Key: "points"},
			{Namespace: "$app:loyalty", Key: "tier"}, // absent
			{Namespace: "custom", Key: "birthday"},
		})
		if err != nil {
			t.Fatal(err)
		}
		want := shopify.Customer{
			ID: 624407574, AdminGraphQLAPIID: "gid://shopify/Customer/624407574",
			Email: "jane@example.com", Phone: "+15145551234", FirstName: "Jane", LastName: "Doe",
		}
		wantMF := map[string]string{"$app:loyalty.points": "1250", "custom.birthday": "1990-05-01"}
		if fmt.Sprint(got.Metafields) != fmt.Sprint(wantMF) {
			t.Errorf("Metafields = %v, want %v", got.Metafields, wantMF)
		}
		got.Metafields = nil
		if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", want) {
			t.Errorf("Customer = %+v, want %+v", *got, want)
		}
		r := b.lastRequest(t)
		if r.Path != "/"+fakeShop+"/admin/api/2026-10/graphql.json" {
			t.Errorf("path = %s", r.Path)
		}
		if tok, _ := b.tokens.current(); r.Header.Get("X-Shopify-Access-Token") != tok {
			t.Error("X-Shopify-Access-Token is not the access token")
		}
		if lc := c.LastCost(); lc == nil || lc.RequestedQueryCost <= 0 || lc.ThrottleStatus.MaximumAvailable != 2000 || lc.ActualQueryCost == nil {
			t.Errorf("LastCost = %+v", lc)
		}
	})

	t.Run("CustomerNotFound", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{})
		c, _ := b.client(t, true)
		_, err := c.Customer(context.Background(), "gid://shopify/Customer/1", nil)
		if app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("err = %v, want ENOTFOUND", err)
		}
	})

	t.Run("Shop", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{})
		c, _ := b.client(t, true)
		s, err := c.Shop(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if s.MyshopifyDomain != fakeShop {
			t.Errorf("Shop = %+v, want domain %s", s, fakeShop)
		}
	})

	t.Run("GraphQLError", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{})
		c, _ := b.client(t, true)
		before := b.graphQLCalls()
		err := c.Do(context.Background(), `query { shop { noSuchField } }`, nil, nil)
		var ge *shopify.GraphQLError
		if !errors.As(err, &ge) || len(ge.Messages) == 0 || !strings.Contains(ge.Messages[0], "noSuchField") {
			t.Fatalf("err = %v, want a *GraphQLError about noSuchField", err)
		}
		if n := b.graphQLCalls() - before; n != 1 {
			t.Errorf("requests = %d, want 1 (no retry)", n)
		}
	})
}

func TestFake_CreateDiscountCode(t *testing.T) {
	t.Parallel()
	b := setupFake(t, fake.ShopifyOptions{})
	c, _ := b.client(t, true)
	starts := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	in := shopify.DiscountCodeInput{
		Title: "Loyalty reward 500 pts", Code: "PB-7K3Q-9XZD", CustomerGID: "gid://shopify/Customer/624407574",
		Amount: "5.00", StartsAt: starts, EndsAt: starts.AddDate(0, 0, 90), MinimumSubtotal: "20.00",
	}
	node, err := c.CreateDiscountCode(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if kind, _, err := shopify.ParseGID(node.ID); err != nil || kind != "DiscountCodeNode" || node.Code != in.Code {
		t.Errorf("node = %+v", node)
	}
	ds := b.fake.DiscountCodes(fakeShop)
	if len(ds) != 1 {
		t.Fatalf("fake has %d discounts, want 1", len(ds))
	}
	d := ds[0]
	if d.Code != in.Code || d.Title != in.Title || d.UsageLimit != 1 || !d.AppliesOncePerCustomer ||
		fmt.Sprint(d.CustomerIDs) != "[gid://shopify/Customer/624407574]" || d.StartsAt != "2026-11-23T00:00:00Z" || d.EndsAt != "2027-02-21T00:00:00Z" {
		t.Errorf("discount = %+v", d)
	}
	gets, _ := json.Marshal(d.Input["customerGets"])
	if string(gets) != `{"items":{"all":true},"value":{"discountAmount":{"amount":"5.00","appliesOnEachItem":false}}}` {
		t.Errorf("customerGets = %s", gets)
	}
	minReq, _ := json.Marshal(d.Input["minimumRequirement"])
	if string(minReq) != `{"subtotal":{"greaterThanOrEqualToSubtotal":"20.00"}}` {
		t.Errorf("minimumRequirement = %s", minReq)
	}

	t.Run("LookUpByCode", func(t *testing.T) {
		// Case-insensitive, as Shopify's codes are; a code nobody holds is nil.
		got, err := c.DiscountCodeByCode(context.Background(), "pb-7k3q-9xzd")
		if err != nil || got == nil || got.ID != node.ID {
			t.Fatalf("look-up = %+v, %v; want %s", got, err, node.ID)
		}
		if got, err := c.DiscountCodeByCode(context.Background(), "PB-NONE-0000"); err != nil || got != nil {
			t.Fatalf("unknown code = %+v, %v; want nil", got, err)
		}
	})

	t.Run("ErrTaken", func(t *testing.T) {
		_, err := c.CreateDiscountCode(context.Background(), in)
		var me *shopify.MutationError
		if app.ErrorCode(err) != app.EINVALID || app.ErrorField(err) != "basicCodeDiscount.code" || !errors.As(err, &me) || !me.HasCode("TAKEN") {
			t.Fatalf("err = %v (field %q), want EINVALID TAKEN on basicCodeDiscount.code", err, app.ErrorField(err))
		}
	})

	t.Run("Percentage", func(t *testing.T) {
		in := shopify.DiscountCodeInput{Title: "10% off", Code: "PB-PCT", Percentage: 0.1}
		if _, err := c.CreateDiscountCode(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		ds := b.fake.DiscountCodes(fakeShop)
		d := ds[len(ds)-1]
		gets, _ := json.Marshal(d.Input["customerGets"])
		if string(gets) != `{"items":{"all":true},"value":{"percentage":0.1}}` || len(d.CustomerIDs) != 0 || d.EndsAt != "" {
			t.Errorf("discount = %+v, customerGets %s", d, gets)
		}
	})
}

func TestFake_Throttling(t *testing.T) {
	t.Parallel()

	t.Run("ThrottledThenRetried", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{RestoreRate: 500, MaxAvailable: 1000})
		c, log := b.client(t, true)
		if err := c.Do(context.Background(), costlyQuery, nil, nil); err != nil {
			t.Fatal(err)
		}
		b.fake.SetAvailable(fakeShop, 0) // drained behind the client's back
		before := b.graphQLCalls()
		start := time.Now()
		if err := c.Do(context.Background(), costlyQuery, nil, nil); err != nil {
			t.Fatalf("Do after a drain: %v", err)
		}
		if n := b.graphQLCalls() - before; n != 2 {
			t.Errorf("requests = %d, want 2 (throttled, then accepted)", n)
		}
		// (52 − ~0) / 500 pts/s ≈ 104 ms.
		waits := log.all()
		if len(waits) == 0 || waits[0] < 90*time.Millisecond || waits[0] > 110*time.Millisecond {
			t.Errorf("waits = %v, want ≈104ms first", waits)
		}
		if elapsed := time.Since(start); elapsed < 90*time.Millisecond {
			t.Errorf("elapsed = %v, the client did not wait", elapsed)
		}
		if lc := c.LastCost(); lc == nil || lc.RequestedQueryCost != 52 || lc.ActualQueryCost == nil {
			t.Errorf("LastCost = %+v", lc)
		}
	})

	t.Run("SharedBucketWaitsBeforeSending", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{RestoreRate: 500, MaxAvailable: 1000})
		for i := int64(1); i <= 50; i++ { // no refund: actual cost = requested
			b.fake.AddCustomer(fakeShop, fake.ShopifyCustomer{ID: i})
		}
		first, _ := b.client(t, true)
		if err := first.Do(context.Background(), costlyQuery, nil, nil); err != nil {
			t.Fatal(err)
		}
		b.fake.SetAvailable(fakeShop, 0)
		if err := first.Do(context.Background(), costlyQuery, nil, nil); err != nil {
			t.Fatal(err)
		}
		// The bucket is now about empty. A second client of the same App
		// knows it and waits instead of being throttled.
		second, log := b.client(t, true)
		before := b.graphQLCalls()
		if err := second.Do(context.Background(), costlyQuery, nil, nil); err != nil {
			t.Fatal(err)
		}
		if n := b.graphQLCalls() - before; n != 1 {
			t.Errorf("requests = %d, want 1: the shared estimate should have avoided THROTTLED", n)
		}
		if waits := log.all(); len(waits) != 1 || waits[0] < 50*time.Millisecond {
			t.Errorf("waits = %v, want one proactive wait", waits)
		}

		// A client of another App has its own estimate and is throttled.
		otherApp := &shopify.App{APIKey: fakeAPIKey, APISecret: fakeAPISecret, ShopOrigin: b.app.ShopOrigin, HTTPClient: b.app.HTTPClient}
		stranger := otherApp.NewClient(fakeShop, b.tokens)
		shopify.SetSleep(stranger, (&sleepLog{real: true}).sleep)
		before = b.graphQLCalls()
		if err := stranger.Do(context.Background(), costlyQuery, nil, nil); err != nil {
			t.Fatal(err)
		}
		if n := b.graphQLCalls() - before; n != 2 {
			t.Errorf("requests of an unshared client = %d, want 2 (throttled first)", n)
		}
	})

	t.Run("ErrThrottledAfterFiveRetries", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{RestoreRate: 1, MaxAvailable: 1000})
		c, log := b.client(t, false) // record the waits without spending them
		b.fake.SetAvailable(fakeShop, 0)
		before := b.graphQLCalls()
		err := c.Do(context.Background(), costlyQuery, nil, nil)
		var te *shopify.ThrottledError
		if !errors.As(err, &te) {
			t.Fatalf("err = %v, want *ThrottledError", err)
		}
		if te.Attempts != 6 || te.Cost == nil || te.Cost.RequestedQueryCost != 52 || te.RetryAfter < 50*time.Second {
			t.Errorf("ThrottledError = %+v (cost %+v)", te, te.Cost)
		}
		if n := b.graphQLCalls() - before; n != 6 {
			t.Errorf("requests = %d, want 6", n)
		}
		if waits := log.all(); len(waits) < 5 || waits[0] < 50*time.Second {
			t.Errorf("waits = %v, want ≥5 waits of ≈52s", waits)
		}
	})

	t.Run("HTTP429RetryAfter", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{})
		c, log := b.client(t, false)
		b.fake.FailNext(fakeShop, http.StatusTooManyRequests, 2)
		before := b.graphQLCalls()
		if _, err := c.Shop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := b.graphQLCalls() - before; n != 3 {
			t.Errorf("requests = %d, want 3", n)
		}
		if waits := log.all(); fmt.Sprint(waits) != "[1s 1s]" {
			t.Errorf("waits = %v, want the Retry-After of 1s twice", waits)
		}

		b.fake.FailNext(fakeShop, http.StatusTooManyRequests, 10)
		_, err := c.Shop(context.Background())
		var te *shopify.ThrottledError
		if !errors.As(err, &te) || te.Attempts != 6 || te.RetryAfter != time.Second {
			t.Fatalf("err = %v, want *ThrottledError after 6 attempts", err)
		}
	})

	t.Run("ContextCancelledWhileWaiting", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{RestoreRate: 1, MaxAvailable: 1000})
		c, _ := b.client(t, true)
		if err := c.Do(context.Background(), costlyQuery, nil, nil); err != nil {
			t.Fatal(err)
		}
		b.fake.SetAvailable(fakeShop, 0)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := c.Do(ctx, costlyQuery, nil, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("Do returned after %v, it ignored the context", elapsed)
		}
	})
}

func TestFake_Unauthorized(t *testing.T) {
	t.Parallel()

	t.Run("RefreshesOnceAndRetries", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{})
		c, _ := b.client(t, true)
		oldTok, _ := b.tokens.current()
		b.fake.FailNext(fakeShop, http.StatusUnauthorized, 1)
		if _, err := c.Shop(context.Background()); err != nil {
			t.Fatal(err)
		}
		newTok, forced := b.tokens.current()
		if forced != 1 || newTok == oldTok {
			t.Errorf("forced refreshes = %d, token rotated = %v; want 1, true", forced, newTok != oldTok)
		}
		if got := b.lastRequest(t).Header.Get("X-Shopify-Access-Token"); got != newTok {
			t.Error("the retry did not use the refreshed token")
		}
	})

	t.Run("ErrUnauthorized", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{})
		c, _ := b.client(t, true)
		b.fake.FailNext(fakeShop, http.StatusUnauthorized, 2)
		before := b.graphQLCalls()
		_, err := c.Shop(context.Background())
		if !errors.Is(err, shopify.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
		if _, forced := b.tokens.current(); forced != 1 {
			t.Errorf("forced refreshes = %d, want 1", forced)
		}
		if n := b.graphQLCalls() - before; n != 2 {
			t.Errorf("requests = %d, want 2", n)
		}
		tok, _ := b.tokens.current()
		if strings.Contains(err.Error(), tok) {
			t.Error("the error contains the access token")
		}
	})

	t.Run("RevokedToken", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{})
		c := b.app.NewClient(fakeShop, staticTokens("shpat_revoked"))
		_, err := c.Shop(context.Background())
		if !errors.Is(err, shopify.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
	})
}

func TestFake_ServerErrors(t *testing.T) {
	t.Parallel()

	t.Run("RetriedWithBackoff", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{})
		c, log := b.client(t, false)
		b.fake.FailNext(fakeShop, http.StatusServiceUnavailable, 3)
		before := b.graphQLCalls()
		if _, err := c.Shop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := b.graphQLCalls() - before; n != 4 {
			t.Errorf("requests = %d, want 4", n)
		}
		if waits := log.all(); fmt.Sprint(waits) != "[1ms 2ms 4ms]" {
			t.Errorf("waits = %v, want exponential [1ms 2ms 4ms]", waits)
		}
	})

	t.Run("ErrAfterThreeRetries", func(t *testing.T) {
		t.Parallel()
		b := setupFake(t, fake.ShopifyOptions{})
		c, _ := b.client(t, false)
		b.fake.FailNext(fakeShop, http.StatusInternalServerError, 4)
		before := b.graphQLCalls()
		_, err := c.Shop(context.Background())
		var re *shopify.ResponseError
		if !errors.As(err, &re) || re.Status != http.StatusInternalServerError {
			t.Fatalf("err = %v, want *ResponseError 500", err)
		}
		if n := b.graphQLCalls() - before; n != 4 {
			t.Errorf("requests = %d, want 4", n)
		}
	})

	for _, status := range []int{http.StatusPaymentRequired, http.StatusLocked} {
		t.Run(fmt.Sprintf("ErrShopUnavailable%d", status), func(t *testing.T) {
			t.Parallel()
			b := setupFake(t, fake.ShopifyOptions{})
			c, _ := b.client(t, false)
			b.fake.FailNext(fakeShop, status, 1)
			before := b.graphQLCalls()
			_, err := c.Shop(context.Background())
			var su *shopify.ShopUnavailableError
			if !errors.Is(err, shopify.ErrShopUnavailable) || !errors.As(err, &su) || su.Status != status || su.Shop != fakeShop {
				t.Fatalf("err = %v, want *ShopUnavailableError %d", err, status)
			}
			if n := b.graphQLCalls() - before; n != 1 {
				t.Errorf("requests = %d, want 1 (not retried)", n)
			}
		})
	}
}
