package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/perkbridge/perkbridge/app"
)

// DeliveriesChannel is the PostgreSQL NOTIFY channel that wakes delivery
// runners: RouteEvents notifies it in the routing transaction, so runners
// wake when that transaction commits, and so do activations and retries.
const DeliveriesChannel = "perkbridge_deliveries"

// Integration kinds.
const (
	IntegrationKlaviyo   = "klaviyo"
	IntegrationCleverTap = "clevertap"
)

// Integration statuses (DESIGN.md §6).
const (
	IntegrationNotConnected = "not_connected"
	IntegrationInitializing = "initializing"
	IntegrationActive       = "active"
	IntegrationPaused       = "paused"
)

// Integration is a shop's connection to one sink. Credentials holds the
// vault-sealed credentials document, never plaintext.
type Integration struct {
	ID              int64 `gorm:"primaryKey"`
	ShopID          app.ShopID
	Kind            string
	Status          string
	StatusReason    string
	CommonProperty  string
	Region          string
	AccountID       string
	Credentials     string
	CredentialsHint string
	ValidatedAt     *time.Time
	// PhoneFallback sends a customer without the common property's value
	// by phone number; SendPhone lets the phone ride along on Klaviyo
	// events keyed by another identifier.
	PhoneFallback bool
	SendPhone     bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// TableName implements gorm's tabler.
func (Integration) TableName() string { return "integrations" }

// Integrations returns the shop's integrations (at most one per kind).
func (s *Store) Integrations(ctx context.Context, shopID app.ShopID) ([]Integration, error) {
	var out []Integration
	if err := s.db.WithContext(ctx).Where("shop_id = ?", shopID).Order("kind").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: integrations: %w", formatError(err))
	}
	return out, nil
}

// Integration returns the shop's integration of kind, ENOTFOUND when the
// shop has none.
func (s *Store) Integration(ctx context.Context, shopID app.ShopID, kind string) (*Integration, error) {
	var in Integration
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND kind = ?", shopID, kind).Take(&in).Error; err != nil {
		return nil, fmt.Errorf("store: integration: %w", formatError(err))
	}
	return &in, nil
}

// IntegrationSettings is what saving an integration writes.
type IntegrationSettings struct {
	Kind            string
	Status          string
	StatusReason    string
	CommonProperty  string
	Region          string
	AccountID       string
	Credentials     string // sealed
	CredentialsHint string
	// Validated stamps validated_at with now; otherwise the previous
	// validated_at is kept.
	Validated     bool
	PhoneFallback bool
	SendPhone     bool
}

// SaveIntegration creates or replaces the shop's integration of in.Kind.
// Activating one notifies DeliveriesChannel, so runners drain its backlog
// at commit.
func (s *Store) SaveIntegration(ctx context.Context, shopID app.ShopID, in IntegrationSettings) (*Integration, error) {
	var out Integration
	err := s.db.WithContext(ctx).Raw(`
INSERT INTO integrations (shop_id, kind, status, status_reason, common_property, region, account_id,
    credentials, credentials_hint, validated_at, phone_fallback, send_phone)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ? THEN now() END, ?, ?)
ON CONFLICT (shop_id, kind) DO UPDATE SET
    status = EXCLUDED.status, status_reason = EXCLUDED.status_reason,
    common_property = EXCLUDED.common_property, region = EXCLUDED.region, account_id = EXCLUDED.account_id,
    credentials = EXCLUDED.credentials, credentials_hint = EXCLUDED.credentials_hint,
    validated_at = coalesce(EXCLUDED.validated_at, integrations.validated_at),
    phone_fallback = EXCLUDED.phone_fallback, send_phone = EXCLUDED.send_phone,
    updated_at = now()
RETURNING *`,
		shopID, in.Kind, in.Status, in.StatusReason, in.CommonProperty, in.Region, in.AccountID,
		in.Credentials, in.CredentialsHint, in.Validated, in.PhoneFallback, in.SendPhone).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: save integration: %w", formatError(err))
	}
	if out.Status == IntegrationActive {
		if err := s.notifyDeliveries(ctx, fmt.Sprintf("integration:%d", out.ID)); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// RestoreIntegration writes prev back as it was (an inconclusive
// validation changes nothing).
func (s *Store) RestoreIntegration(ctx context.Context, shopID app.ShopID, prev *Integration) error {
	err := s.db.WithContext(ctx).Exec(`
UPDATE integrations SET status = ?, status_reason = ?, common_property = ?, region = ?, account_id = ?,
    credentials = ?, credentials_hint = ?, validated_at = ?, phone_fallback = ?, send_phone = ?, updated_at = now()
WHERE shop_id = ? AND id = ?`,
		prev.Status, prev.StatusReason, prev.CommonProperty, prev.Region, prev.AccountID,
		prev.Credentials, prev.CredentialsHint, prev.ValidatedAt, prev.PhoneFallback, prev.SendPhone, shopID, prev.ID).Error
	if err != nil {
		return fmt.Errorf("store: restore integration: %w", formatError(err))
	}
	if prev.Status == IntegrationActive {
		return s.notifyDeliveries(ctx, fmt.Sprintf("integration:%d", prev.ID))
	}
	return nil
}

// PauseIntegration pauses the shop's integration id with reason, but only
// while it still holds credentials (sealed) and is active: a runner that
// got a 401 with old credentials must not pause an integration the
// merchant has just fixed. It reports whether it paused.
func (s *Store) PauseIntegration(ctx context.Context, shopID app.ShopID, id int64, credentials, reason string) (bool, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE integrations SET status = 'paused', status_reason = ?, updated_at = now()
WHERE shop_id = ? AND id = ? AND credentials = ? AND status = 'active'`, reason, shopID, id, credentials)
	if res.Error != nil {
		return false, fmt.Errorf("store: pause integration: %w", formatError(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// DeleteIntegration deletes the shop's integration of kind with its event
// definitions, deliveries (sent or not) and profile sync state (ON DELETE
// CASCADE). ENOTFOUND when there is none.
func (s *Store) DeleteIntegration(ctx context.Context, shopID app.ShopID, kind string) error {
	res := s.db.WithContext(ctx).Exec("DELETE FROM integrations WHERE shop_id = ? AND kind = ?", shopID, kind)
	if res.Error != nil {
		return fmt.Errorf("store: delete integration: %w", formatError(res.Error))
	}
	if res.RowsAffected == 0 {
		return app.Errorf(app.ENOTFOUND, "That integration is not connected.")
	}
	return nil
}

// ResetStaleInitializing settles integrations left initializing since
// before by a process that died during the credential check: paused when
// they had been connected, not_connected otherwise. It works across shops
// (the runners' sweep calls it) and returns how many it settled.
func (s *Store) ResetStaleInitializing(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE integrations
SET status = CASE WHEN validated_at IS NULL THEN 'not_connected' ELSE 'paused' END,
    status_reason = 'The credential check was interrupted: save the integration again.', updated_at = now()
WHERE status = 'initializing' AND updated_at < ?`, before)
	if res.Error != nil {
		return 0, fmt.Errorf("store: reset initializing integrations: %w", formatError(res.Error))
	}
	return res.RowsAffected, nil
}

func (s *Store) notifyDeliveries(ctx context.Context, payload string) error {
	if err := s.db.WithContext(ctx).Exec("SELECT pg_notify(?, ?)", DeliveriesChannel, payload).Error; err != nil {
		return fmt.Errorf("store: notify deliveries: %w", formatError(err))
	}
	return nil
}

// EventDefinition forwards one catalog event to one integration.
type EventDefinition struct {
	ID            int64 `gorm:"primaryKey"`
	ShopID        app.ShopID
	IntegrationID int64
	Event         string
	Name          string
	Channels      StringArray // empty: every channel
	Enabled       bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// TableName implements gorm's tabler.
func (EventDefinition) TableName() string { return "event_definitions" }

// EventDefinitions returns the definitions of one of the shop's
// integrations, in creation order.
func (s *Store) EventDefinitions(ctx context.Context, shopID app.ShopID, integrationID int64) ([]EventDefinition, error) {
	var out []EventDefinition
	err := s.db.WithContext(ctx).Where("shop_id = ? AND integration_id = ?", shopID, integrationID).Order("id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: event definitions: %w", formatError(err))
	}
	return out, nil
}

// EventDefinition returns the shop's definition id of integrationID.
func (s *Store) EventDefinition(ctx context.Context, shopID app.ShopID, integrationID, id int64) (*EventDefinition, error) {
	var d EventDefinition
	err := s.db.WithContext(ctx).Where("shop_id = ? AND integration_id = ? AND id = ?", shopID, integrationID, id).Take(&d).Error
	if err != nil {
		return nil, fmt.Errorf("store: event definition: %w", formatError(err))
	}
	return &d, nil
}

// CreateEventDefinition stores a definition for one of the shop's
// integrations. A second definition of the same event is ECONFLICT.
func (s *Store) CreateEventDefinition(ctx context.Context, shopID app.ShopID, d EventDefinition) (*EventDefinition, error) {
	var out EventDefinition
	err := s.db.WithContext(ctx).Raw(`
INSERT INTO event_definitions (shop_id, integration_id, event, name, channels, enabled)
VALUES (?, ?, ?, ?, ?::text[], ?)
ON CONFLICT (shop_id, integration_id, event) DO NOTHING
RETURNING *`, shopID, d.IntegrationID, d.Event, d.Name, StringArray(orEmpty(d.Channels)), d.Enabled).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: create event definition: %w", formatError(err))
	}
	if out.ID == 0 {
		return nil, app.Errorf(app.ECONFLICT, "Event %s is already forwarded to this integration.", d.Event)
	}
	return &out, nil
}

// UpdateEventDefinition writes a definition's name, channels and enabled
// flag.
func (s *Store) UpdateEventDefinition(ctx context.Context, shopID app.ShopID, d EventDefinition) (*EventDefinition, error) {
	var out EventDefinition
	err := s.db.WithContext(ctx).Raw(`
UPDATE event_definitions SET name = ?, channels = ?::text[], enabled = ?, updated_at = now()
WHERE shop_id = ? AND integration_id = ? AND id = ?
RETURNING *`, d.Name, StringArray(orEmpty(d.Channels)), d.Enabled, shopID, d.IntegrationID, d.ID).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: update event definition: %w", formatError(err))
	}
	if out.ID == 0 {
		return nil, app.Errorf(app.ENOTFOUND, "No such event definition.")
	}
	return &out, nil
}

// DeleteEventDefinition deletes a definition. Its deliveries still pending
// are marked skipped with reason first, in the same transaction: the
// merchant no longer wants the event forwarded, and nothing disappears
// without a trace. It returns how many were skipped.
func (s *Store) DeleteEventDefinition(ctx context.Context, shopID app.ShopID, integrationID, id int64, reason string) (int64, error) {
	var skipped int64
	err := s.Tx(ctx, func(tx *Store) error {
		res := tx.db.WithContext(ctx).Exec(`UPDATE deliveries SET status = 'skipped', last_error = ?, lease_until = NULL, updated_at = now()
WHERE shop_id = ? AND integration_id = ? AND definition_id = ? AND status = 'pending'`, reason, shopID, integrationID, id)
		if res.Error != nil {
			return fmt.Errorf("store: skip deliveries of definition: %w", formatError(res.Error))
		}
		skipped = res.RowsAffected
		del := tx.db.WithContext(ctx).Exec("DELETE FROM event_definitions WHERE shop_id = ? AND integration_id = ? AND id = ?", shopID, integrationID, id)
		if del.Error != nil {
			return fmt.Errorf("store: delete event definition: %w", formatError(del.Error))
		}
		if del.RowsAffected == 0 {
			return app.Errorf(app.ENOTFOUND, "No such event definition.")
		}
		return nil
	})
	return skipped, err
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// StringArray is a PostgreSQL text[] (or any array whose elements are
// read and written as text, such as uuid[] and bigint[]). It implements
// driver.Valuer, so gorm passes it as one parameter rather than expanding
// it, and sql.Scanner.
type StringArray []string

// Value implements driver.Valuer: the array's text form, every element
// quoted.
func (a StringArray) Value() (driver.Value, error) {
	if a == nil {
		return "{}", nil
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, s := range a {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, r := range s {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String(), nil
}

// Scan implements sql.Scanner for a one-dimensional array in text form.
func (a *StringArray) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case nil:
		*a = nil
		return nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("store: scan %T into StringArray", src)
	}
	out, err := parseArray(s)
	if err != nil {
		return err
	}
	*a = out
	return nil
}

var errArraySyntax = errors.New("store: malformed array literal")

// parseArray parses PostgreSQL's text form of a one-dimensional array:
// {a,"b,c",NULL}. NULL elements become "".
func parseArray(s string) ([]string, error) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, errArraySyntax
	}
	body := s[1 : len(s)-1]
	out := []string{}
	if body == "" {
		return out, nil
	}
	var cur strings.Builder
	quoted, inQuotes, escaped := false, false, false
	flush := func() {
		v := cur.String()
		if !quoted && v == "NULL" {
			v = ""
		}
		out = append(out, v)
		cur.Reset()
		quoted = false
	}
	for _, r := range body {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped = true
		case r == '"':
			inQuotes = !inQuotes
			quoted = true
		case r == ',' && !inQuotes:
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	if inQuotes || escaped {
		return nil, errArraySyntax
	}
	flush()
	return out, nil
}
