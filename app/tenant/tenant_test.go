package tenant_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/tenant"
	"github.com/perkbridge/perkbridge/app/vault"
)

const (
	apiKey    = "0123456789abcdef0123456789abcdef"
	apiSecret = "tenant-test-secret"
)

// clock is shared by the fake and our client, so both agree on expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type bundle struct {
	fake   *fake.Shopify
	clock  *clock
	st     *store.Store
	db     *store.DB
	vault  *vault.Vault
	newSvc func() *tenant.Service // a new Service is like another process
}

func setup(t *testing.T) *bundle {
	t.Helper()
	c := &clock{t: time.Now()}
	f := fake.NewShopify(fake.ShopifyOptions{APIKey: apiKey, APISecret: apiSecret, Now: c.Now})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	db := pgtest.NewDB(t)
	st := store.New(db.Gorm)
	v, err := vault.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	newSvc := func() *tenant.Service {
		sh := &shopify.App{APIKey: apiKey, APISecret: apiSecret, ShopOrigin: srv.URL + "/{shop}", Now: c.Now}
		return tenant.New(st, sh, v, log)
	}
	return &bundle{fake: f, clock: c, st: st, db: db, vault: v, newSvc: newSvc}
}

func (b *bundle) refreshes(shop string) int {
	n := 0
	for _, r := range b.fake.Requests(shop) {
		if strings.Contains(string(r.Body), "refresh_token") && strings.Contains(r.Path, "access_token") {
			n++
		}
	}
	return n
}

func TestInstallFromIDToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const shop = "install.myshopify.com"
	b.fake.InstallShop(shop)
	svc := b.newSvc()
	sh, err := svc.InstallFromIDToken(ctx, shop, b.fake.MintIDToken(shop, 42, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if sh.State != store.ShopActive || sh.AccessTokenExpiresAt == nil || sh.RefreshToken == "" {
		t.Fatalf("installed shop %+v", sh)
	}
	// Tokens are sealed at rest: the column never holds a usable token.
	tok, err := svc.AccessToken(ctx, sh.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	row, _ := b.st.Shop(ctx, sh.ID)
	if strings.Contains(row.AccessToken, tok) || !strings.HasPrefix(row.AccessToken, "v1.") {
		t.Fatalf("access token stored in the clear: %q", row.AccessToken)
	}
	// The token works against the shop's GraphQL API.
	if _, err := svc.Client(sh).Shop(ctx); err != nil {
		t.Fatalf("GraphQL with the exchanged token: %v", err)
	}
	t.Run("SecondLoadDoesNotExchangeAgain", func(t *testing.T) {
		before := len(b.fake.Requests(shop))
		again, err := svc.InstallFromIDToken(ctx, shop, b.fake.MintIDToken(shop, 42, time.Minute))
		if err != nil || again.ID != sh.ID {
			t.Fatal(err)
		}
		if len(b.fake.Requests(shop)) != before {
			t.Fatal("an installed shop's token was exchanged again")
		}
	})
	t.Run("ForeignTokenRejected", func(t *testing.T) {
		b.fake.InstallShop("other.myshopify.com")
		_, err := b.newSvc().InstallFromIDToken(ctx, "never.myshopify.com", b.fake.MintIDToken("other.myshopify.com", 1, time.Minute))
		if err == nil {
			t.Fatal("a token for another shop installed this one")
		}
		if _, err := b.st.ShopByDomain(ctx, "never.myshopify.com"); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatal("a shop row was created by a failed exchange")
		}
	})
}

// TestAccessToken_RefreshSerialized: many goroutines in two "processes"
// (Service values) ask for a token as it is about to expire; exactly one
// refresh reaches Shopify, and everyone gets the new token.
func TestAccessToken_RefreshSerialized(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const shop = "refresh.myshopify.com"
	b.fake.InstallShop(shop)
	sh, err := b.newSvc().InstallFromIDToken(ctx, shop, b.fake.MintIDToken(shop, 1, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := b.newSvc().AccessToken(ctx, sh.ID, false)
	b.clock.Add(time.Hour - time.Minute) // inside the 5-minute refresh window
	a, c := b.newSvc(), b.newSvc()
	var wg sync.WaitGroup
	tokens := make([]string, 20)
	var failures atomic.Int64
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := a
			if i%2 == 1 {
				svc = c
			}
			tok, err := svc.AccessToken(ctx, sh.ID, false)
			if err != nil {
				failures.Add(1)
				t.Log(err)
			}
			tokens[i] = tok
		}()
	}
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d callers failed", failures.Load())
	}
	if n := b.refreshes(shop); n != 1 {
		t.Fatalf("%d refresh requests reached Shopify, want 1", n)
	}
	for _, tok := range tokens {
		if tok == first || tok != tokens[0] {
			t.Fatalf("callers got different or stale tokens: %q vs %q (first %q)", tok, tokens[0], first)
		}
	}
	// The rotated pair was stored: the new token is valid at the fake.
	if _, err := a.Client(sh).Shop(ctx); err != nil {
		t.Fatalf("GraphQL after refresh: %v", err)
	}
	t.Run("NoRefreshOutsideWindow", func(t *testing.T) {
		before := b.refreshes(shop)
		if _, err := a.AccessToken(ctx, sh.ID, false); err != nil {
			t.Fatal(err)
		}
		if b.refreshes(shop) != before {
			t.Fatal("a fresh token was refreshed")
		}
	})
}

func TestAccessToken_NeedsReauth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const shop = "lapsed.myshopify.com"
	b.fake.InstallShop(shop)
	svc := b.newSvc()
	sh, err := svc.InstallFromIDToken(ctx, shop, b.fake.MintIDToken(shop, 1, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// The refresh token lapses (90 days) and the access token with it.
	b.clock.Add(91 * 24 * time.Hour)
	if _, err := svc.AccessToken(ctx, sh.ID, false); !errors.Is(err, tenant.ErrNeedsReauth) {
		t.Fatalf("err = %v, want ErrNeedsReauth", err)
	}
	// An uninstalled shop has no token at all.
	if err := b.st.MarkUninstalled(ctx, sh.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AccessToken(ctx, sh.ID, false); !errors.Is(err, tenant.ErrNeedsReauth) {
		t.Fatalf("uninstalled: err = %v", err)
	}
	// Opening the app again (a fresh ID token) reinstalls it.
	again, err := svc.InstallFromIDToken(ctx, shop, b.fake.MintIDToken(shop, 1, time.Minute))
	if err != nil || again.State != store.ShopActive {
		t.Fatalf("reinstall: %v", err)
	}
}

func TestCompleteOAuth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const shop = "oauth.myshopify.com"
	b.fake.InstallShop(shop)
	svc := b.newSvc()
	code := b.fake.IssueAuthCode(shop)
	sh, err := svc.CompleteOAuth(ctx, shop, code)
	if err != nil {
		t.Fatal(err)
	}
	if sh.State != store.ShopActive || sh.AccessToken == "" {
		t.Fatalf("shop %+v", sh)
	}
	if _, err := svc.CompleteOAuth(ctx, shop, code); err == nil {
		t.Fatal("a used code installed again")
	}
}
