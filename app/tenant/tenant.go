// Package tenant runs a shop's life cycle with Shopify: install through
// OAuth or token exchange, expiring offline tokens refreshed before they
// lapse (one rotation per shop at a time, across every process), and
// GraphQL clients that always carry a valid token. Tokens are sealed with
// app/vault before they reach the database and are never logged.
package tenant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/vault"
)

// RefreshWindow is how long before expiry an access token is refreshed, as
// Shopify's own app template does.
const RefreshWindow = 5 * time.Minute

// Service installs shops and hands out their access tokens.
type Service struct {
	st     *store.Store
	app    *shopify.App
	vault  *vault.Vault
	log    *slog.Logger
	now    func() time.Time
	flight singleflight.Group

	mu      sync.Mutex
	clients map[app.ShopID]*shopify.Client
}

// New returns a Service.
func New(st *store.Store, sh *shopify.App, v *vault.Vault, log *slog.Logger) *Service {
	now := sh.Now
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, app: sh, vault: v, log: log, now: now, clients: map[app.ShopID]*shopify.Client{}}
}

// ErrNeedsReauth means the shop has no usable token and no way to get one
// without the merchant (no refresh token, or it expired): the next embedded
// load exchanges a fresh ID token.
var ErrNeedsReauth = app.Errorf(app.EUNAUTHORIZED, "The app needs to be opened from Shopify admin to renew its access.")

func tokenAD(id app.ShopID, what string) string {
	return "shop:" + strconv.FormatInt(int64(id), 10) + ":" + what
}

// InstallFromIDToken makes sure the shop of a verified ID token is installed
// with a usable offline token, exchanging the ID token when it is not (first
// load, reinstall, or lost refresh token). It is the embedded entry's
// Shopify-managed install path.
func (s *Service) InstallFromIDToken(ctx context.Context, domain, idToken string) (*store.Shop, error) {
	sh, err := s.st.ShopByDomain(ctx, domain)
	if err == nil && s.usable(sh) {
		return sh, nil
	}
	if err != nil && app.ErrorCode(err) != app.ENOTFOUND {
		return nil, err
	}
	tok, err := s.app.ExchangeIDToken(ctx, domain, idToken)
	if err != nil {
		return nil, fmt.Errorf("tenant: token exchange: %w", err)
	}
	return s.saveInstall(ctx, domain, tok)
}

// CompleteOAuth exchanges an authorization code (the callback of the
// authorization-code grant) and installs the shop.
func (s *Service) CompleteOAuth(ctx context.Context, domain, code string) (*store.Shop, error) {
	tok, err := s.app.ExchangeCode(ctx, domain, code)
	if err != nil {
		return nil, fmt.Errorf("tenant: exchange code: %w", err)
	}
	return s.saveInstall(ctx, domain, tok)
}

func (s *Service) saveInstall(ctx context.Context, domain string, tok *shopify.AccessToken) (*store.Shop, error) {
	// The row id is needed to bind sealed values to their row, so the shop
	// row is created (or found) first, then the tokens are sealed for it.
	var sh *store.Shop
	err := s.st.Tx(ctx, func(tx *store.Store) error {
		var err error
		sh, err = tx.SaveInstall(ctx, domain, store.Tokens{Scope: tok.Scope})
		if err != nil {
			return err
		}
		sealed, err := s.seal(sh.ID, tok)
		if err != nil {
			return err
		}
		if err := tx.UpdateTokens(ctx, sh.ID, sealed); err != nil {
			return err
		}
		sh.AccessToken, sh.AccessTokenExpiresAt = sealed.AccessToken, sealed.AccessTokenExpiresAt
		sh.RefreshToken, sh.RefreshTokenExpiresAt = sealed.RefreshToken, sealed.RefreshTokenExpiresAt
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.forget(sh.ID)
	s.log.InfoContext(ctx, "shop installed", "shop", domain, "scope", tok.Scope, "expiring", !tok.ExpiresAt.IsZero())
	// Best effort: the shop's name, currency and time zone for the UI and
	// the loyalty engine's calendar. A failure here must not fail install.
	if info, err := s.Client(sh).Shop(ctx); err == nil {
		_ = s.st.UpdateShopInfo(ctx, sh.ID, info.Name, info.Email, info.CurrencyCode, info.IanaTimezone)
		sh.Name, sh.Email, sh.Currency, sh.IANATimezone = info.Name, info.Email, info.CurrencyCode, info.IanaTimezone
	} else {
		s.log.WarnContext(ctx, "shop info not fetched", "shop", domain, "err", err)
	}
	return sh, nil
}

func (s *Service) seal(id app.ShopID, tok *shopify.AccessToken) (store.Tokens, error) {
	at, err := s.vault.Seal(tok.AccessToken, tokenAD(id, "access_token"))
	if err != nil {
		return store.Tokens{}, err
	}
	rt, err := s.vault.Seal(tok.RefreshToken, tokenAD(id, "refresh_token"))
	if err != nil {
		return store.Tokens{}, err
	}
	t := store.Tokens{Scope: tok.Scope, AccessToken: at, RefreshToken: rt}
	if !tok.ExpiresAt.IsZero() {
		e := tok.ExpiresAt.UTC()
		t.AccessTokenExpiresAt = &e
	}
	if !tok.RefreshTokenExpiresAt.IsZero() {
		e := tok.RefreshTokenExpiresAt.UTC()
		t.RefreshTokenExpiresAt = &e
	}
	return t, nil
}

// usable reports whether the shop is installed with an access token that is
// valid now or can be refreshed.
func (s *Service) usable(sh *store.Shop) bool {
	if sh.State != store.ShopActive || sh.AccessToken == "" {
		return false
	}
	now := s.now()
	if sh.AccessTokenExpiresAt == nil || sh.AccessTokenExpiresAt.After(now.Add(RefreshWindow)) {
		return true
	}
	return sh.RefreshToken != "" && (sh.RefreshTokenExpiresAt == nil || sh.RefreshTokenExpiresAt.After(now))
}

// AccessToken returns a valid access token for the shop, refreshing it when
// it expires within RefreshWindow or when force is set (after a 401).
// Refreshes are serialized per shop in this process (singleflight) and
// across processes (the shop row is locked FOR UPDATE while rotating), and
// the new pair is stored in one UPDATE, so a rotation is never lost.
func (s *Service) AccessToken(ctx context.Context, shopID app.ShopID, force bool) (string, error) {
	sh, err := s.st.Shop(ctx, shopID)
	if err != nil {
		return "", err
	}
	if sh.State != store.ShopActive || sh.AccessToken == "" {
		return "", ErrNeedsReauth
	}
	if !force && !s.expiring(sh) {
		return s.vault.Open(sh.AccessToken, tokenAD(sh.ID, "access_token"))
	}
	stale := sh.AccessToken
	v, err, _ := s.flight.Do(strconv.FormatInt(int64(shopID), 10), func() (any, error) {
		return s.refresh(ctx, shopID, stale, force)
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func (s *Service) expiring(sh *store.Shop) bool {
	return sh.AccessTokenExpiresAt != nil && !sh.AccessTokenExpiresAt.After(s.now().Add(RefreshWindow))
}

func (s *Service) refresh(ctx context.Context, shopID app.ShopID, stale string, force bool) (string, error) {
	var token string
	err := s.st.Tx(ctx, func(tx *store.Store) error {
		sh, err := tx.LockShop(ctx, shopID)
		if err != nil {
			return err
		}
		// Another process may have rotated while we waited for the lock.
		if sh.AccessToken != stale || (!force && !s.expiring(sh)) {
			token, err = s.vault.Open(sh.AccessToken, tokenAD(sh.ID, "access_token"))
			return err
		}
		if sh.RefreshToken == "" || (sh.RefreshTokenExpiresAt != nil && !sh.RefreshTokenExpiresAt.After(s.now())) {
			if sh.AccessTokenExpiresAt == nil && force {
				// A non-expiring token that Shopify rejected: only a new
				// install or token exchange can help.
				return ErrNeedsReauth
			}
			return ErrNeedsReauth
		}
		rt, err := s.vault.Open(sh.RefreshToken, tokenAD(sh.ID, "refresh_token"))
		if err != nil {
			return err
		}
		tok, err := s.app.RefreshToken(ctx, sh.Domain, rt)
		if err != nil {
			var oe *shopify.OAuthError
			if errors.As(err, &oe) && oe.Status == 400 {
				return fmt.Errorf("%w (%v)", ErrNeedsReauth, err)
			}
			return fmt.Errorf("tenant: refresh token: %w", err)
		}
		sealed, err := s.seal(sh.ID, tok)
		if err != nil {
			return err
		}
		if err := tx.UpdateTokens(ctx, sh.ID, sealed); err != nil {
			return err
		}
		token = tok.AccessToken
		s.log.InfoContext(ctx, "access token refreshed", "shop", sh.Domain)
		return nil
	})
	return token, err
}

// Client returns the shop's GraphQL client; its tokens come from
// AccessToken, so they are refreshed transparently.
func (s *Service) Client(sh *store.Shop) *shopify.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[sh.ID]; ok {
		return c
	}
	c := s.app.NewClient(sh.Domain, tokenSource{s: s, id: sh.ID})
	s.clients[sh.ID] = c
	return c
}

func (s *Service) forget(id app.ShopID) {
	s.mu.Lock()
	delete(s.clients, id)
	s.mu.Unlock()
}

type tokenSource struct {
	s  *Service
	id app.ShopID
}

func (t tokenSource) AccessToken(ctx context.Context, force bool) (string, error) {
	return t.s.AccessToken(ctx, t.id, force)
}
