package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/perkbridge/perkbridge/app"
)

// Shop states.
const (
	ShopActive      = "active"
	ShopUninstalled = "uninstalled"
)

// Shop is a tenant row. AccessToken and RefreshToken hold vault-sealed
// values, never plaintext.
type Shop struct {
	ID                    app.ShopID `gorm:"primaryKey"`
	Domain                string
	Name                  string
	Email                 string
	Currency              string
	IANATimezone          string `gorm:"column:iana_timezone"`
	State                 string
	Scope                 string
	AccessToken           string
	AccessTokenExpiresAt  *time.Time
	RefreshToken          string
	RefreshTokenExpiresAt *time.Time
	InstalledAt           time.Time
	UninstalledAt         *time.Time
	// MaintenanceCompletedAt is when the periodic loyalty work last ran
	// to completion; nil before its first run.
	MaintenanceCompletedAt *time.Time
	// ThemeEmbed is whether the published theme has the app embed turned
	// on (ThemeEmbedEnabled...), as last read at ThemeEmbedCheckedAt from
	// the theme ThemeEmbedTheme; empty before the first check.
	ThemeEmbed          string
	ThemeEmbedTheme     string
	ThemeEmbedCheckedAt *time.Time
	// WidgetSeenAt is when a shopper's browser first called the app proxy.
	WidgetSeenAt *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// TableName implements gorm's tabler.
func (Shop) TableName() string { return "shops" }

// Location returns the shop's time zone, UTC when unknown.
func (s *Shop) Location() *time.Location {
	if loc, err := time.LoadLocation(s.IANATimezone); err == nil && s.IANATimezone != "" {
		return loc
	}
	return time.UTC
}

// Tokens are a shop's sealed credentials.
type Tokens struct {
	Scope                 string
	AccessToken           string // sealed
	AccessTokenExpiresAt  *time.Time
	RefreshToken          string // sealed
	RefreshTokenExpiresAt *time.Time
}

// ShopByDomain returns the shop with a validated myshopify domain.
func (s *Store) ShopByDomain(ctx context.Context, domain string) (*Shop, error) {
	var sh Shop
	if err := s.db.WithContext(ctx).Where("domain = ?", domain).Take(&sh).Error; err != nil {
		return nil, fmt.Errorf("store: shop by domain: %w", formatError(err))
	}
	return &sh, nil
}

// LockShop returns the shop row locked FOR UPDATE for the rest of the
// transaction; token refreshes use it so that only one rotation per shop is
// in flight across every process.
func (s *Store) LockShop(ctx context.Context, id app.ShopID) (*Shop, error) {
	s.ForgetBatchReads() // a write to a shop or a program
	var sh Shop
	if err := s.db.WithContext(ctx).Raw("SELECT * FROM shops WHERE id = ? FOR UPDATE", id).Take(&sh).Error; err != nil {
		return nil, fmt.Errorf("store: lock shop: %w", formatError(err))
	}
	return &sh, nil
}

// SaveInstall records an install or reinstall: the shop becomes active with
// new tokens. A reinstall of an uninstalled shop restarts installed_at.
func (s *Store) SaveInstall(ctx context.Context, domain string, t Tokens) (*Shop, error) {
	s.ForgetBatchReads() // a write to a shop or a program
	var sh Shop
	err := s.db.WithContext(ctx).Raw(`
INSERT INTO shops (domain, scope, access_token, access_token_expires_at, refresh_token, refresh_token_expires_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (domain) DO UPDATE SET
    scope = EXCLUDED.scope,
    access_token = EXCLUDED.access_token,
    access_token_expires_at = EXCLUDED.access_token_expires_at,
    refresh_token = EXCLUDED.refresh_token,
    refresh_token_expires_at = EXCLUDED.refresh_token_expires_at,
    installed_at = CASE WHEN shops.state = 'uninstalled' THEN now() ELSE shops.installed_at END,
    state = 'active',
    uninstalled_at = NULL,
    updated_at = now()
RETURNING *`, domain, t.Scope, t.AccessToken, t.AccessTokenExpiresAt, t.RefreshToken, t.RefreshTokenExpiresAt).Scan(&sh).Error
	if err != nil {
		return nil, fmt.Errorf("store: save install: %w", formatError(err))
	}
	return &sh, nil
}

// UpdateTokens stores a rotated token pair atomically (one UPDATE).
func (s *Store) UpdateTokens(ctx context.Context, id app.ShopID, t Tokens) error {
	s.ForgetBatchReads() // a write to a shop or a program
	err := s.db.WithContext(ctx).Model(&Shop{}).Where("id = ?", id).Updates(map[string]any{
		"scope":                    t.Scope,
		"access_token":             t.AccessToken,
		"access_token_expires_at":  t.AccessTokenExpiresAt,
		"refresh_token":            t.RefreshToken,
		"refresh_token_expires_at": t.RefreshTokenExpiresAt,
		"updated_at":               gorm.Expr("now()"),
	}).Error
	if err != nil {
		return fmt.Errorf("store: update tokens: %w", formatError(err))
	}
	return nil
}

// UpdateShopInfo stores what the GraphQL shop query tells about the shop.
func (s *Store) UpdateShopInfo(ctx context.Context, id app.ShopID, name, email, currency, tz string) error {
	s.ForgetBatchReads() // a write to a shop or a program
	err := s.db.WithContext(ctx).Model(&Shop{}).Where("id = ?", id).Updates(map[string]any{
		"name": name, "email": email, "currency": currency, "iana_timezone": tz, "updated_at": gorm.Expr("now()"),
	}).Error
	if err != nil {
		return fmt.Errorf("store: update shop info: %w", formatError(err))
	}
	return nil
}

// MarkUninstalled forgets the shop's tokens (Shopify has revoked them) and
// stops its work; its data stays until shop/redact, since merchants often
// reinstall within the 48 hours Shopify waits.
func (s *Store) MarkUninstalled(ctx context.Context, id app.ShopID) error {
	s.ForgetBatchReads() // a write to a shop or a program
	err := s.db.WithContext(ctx).Model(&Shop{}).Where("id = ?", id).Updates(map[string]any{
		"state":                    ShopUninstalled,
		"access_token":             "",
		"access_token_expires_at":  nil,
		"refresh_token":            "",
		"refresh_token_expires_at": nil,
		"uninstalled_at":           gorm.Expr("now()"),
		"updated_at":               gorm.Expr("now()"),
	}).Error
	if err != nil {
		return fmt.Errorf("store: mark uninstalled: %w", formatError(err))
	}
	return nil
}

// DeleteShop deletes every row of the shop (shop/redact): the shop row, all
// tenant tables through ON DELETE CASCADE, and its inbox rows, which have
// no foreign key (shop id 0 marks an unknown shop): those stored under its
// id and those recorded under its domain before the shop row existed.
func (s *Store) DeleteShop(ctx context.Context, id app.ShopID, domain string) error {
	s.ForgetBatchReads() // a write to a shop or a program
	return s.Tx(ctx, func(tx *Store) error {
		if err := tx.db.WithContext(ctx).Exec("DELETE FROM shops WHERE id = ?", id).Error; err != nil {
			return fmt.Errorf("store: delete shop: %w", formatError(err))
		}
		if err := tx.db.WithContext(ctx).Exec("DELETE FROM webhooks WHERE shop_id IN (?, 0) AND shop_domain = ?", id, domain).Error; err != nil {
			return fmt.Errorf("store: delete shop webhooks: %w", formatError(err))
		}
		return nil
	})
}

// Theme embed states (shops.theme_embed).
const (
	ThemeEmbedEnabled  = "enabled"   // the published theme has the app embed turned on
	ThemeEmbedDisabled = "disabled"  // added to the theme once, turned off now
	ThemeEmbedMissing  = "missing"   // never turned on in the published theme
	ThemeEmbedNoAccess = "no_access" // the app may not read themes (read_themes not granted)
)

// SetThemeEmbed records what the last check of the published theme found.
func (s *Store) SetThemeEmbed(ctx context.Context, id app.ShopID, state, theme string, at time.Time) error {
	s.ForgetBatchReads() // a write to a shop or a program
	err := s.db.WithContext(ctx).Exec(`UPDATE shops SET theme_embed = ?, theme_embed_theme = ?, theme_embed_checked_at = ? WHERE id = ?`,
		state, theme, at, id).Error
	if err != nil {
		return fmt.Errorf("store: set theme embed: %w", formatError(err))
	}
	return nil
}

// MarkWidgetSeen records the first signed app-proxy call of a shop; later
// calls change nothing. It reports whether this call was the first.
func (s *Store) MarkWidgetSeen(ctx context.Context, id app.ShopID, at time.Time) (bool, error) {
	s.ForgetBatchReads() // a write to a shop or a program
	res := s.db.WithContext(ctx).Exec(`UPDATE shops SET widget_seen_at = ? WHERE id = ? AND widget_seen_at IS NULL`, at, id)
	if res.Error != nil {
		return false, fmt.Errorf("store: mark widget seen: %w", formatError(res.Error))
	}
	return res.RowsAffected == 1, nil
}
