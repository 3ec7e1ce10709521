package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/perkbridge/perkbridge/app"
)

// ClaimedProfile is a profile sync a runner holds: the customer's identity
// and current loyalty state, read from loyalty_accounts and point_lots
// (read-only here; the loyalty engine owns them).
type ClaimedProfile struct {
	IntegrationID     int64
	ShopID            app.ShopID
	CustomerID        int64
	Version           int64 // the version being synced
	SyncedHash        string
	Attempts          int
	ShopifyCustomerID int64
	CustomerGID       string `gorm:"column:customer_gid"`
	Email             string
	Phone             string
	Metafields        json.RawMessage
	PointsBalance     int64
	Tier              string
	// PointsExpiring is what expires within the window ClaimProfileSyncs
	// was given; NextExpiryAt is the soonest expiry of any open lot.
	PointsExpiring int64
	NextExpiryAt   *time.Time
	// ShopDomain and ReferralCode make the member's referral URL; the code
	// is "" until the member was given one (EnsureReferralCodes).
	ShopDomain   string
	ReferralCode string
}

// ClaimProfileSyncs leases up to limit dirty profile syncs of one
// integration for lease (as ClaimDeliveries does), with each customer's
// loyalty state now. expiringWithin is the window of PointsExpiring.
func (s *Store) ClaimProfileSyncs(ctx context.Context, integrationID int64, limit int, lease, expiringWithin time.Duration) ([]ClaimedProfile, error) {
	var out []ClaimedProfile
	err := s.db.WithContext(ctx).Raw(`
WITH c AS (
    SELECT integration_id, customer_id FROM profile_syncs
    WHERE integration_id = ? AND version > synced_version AND next_attempt_at <= now()
    ORDER BY next_attempt_at, customer_id
    LIMIT ?
    FOR UPDATE SKIP LOCKED
), u AS (
    UPDATE profile_syncs p SET attempts = p.attempts + 1,
        lease_until = now() + make_interval(secs => ?), next_attempt_at = now() + make_interval(secs => ?), updated_at = now()
    FROM c WHERE p.integration_id = c.integration_id AND p.customer_id = c.customer_id
    RETURNING p.integration_id, p.shop_id, p.customer_id, p.version, p.synced_hash, p.attempts
)
SELECT u.*, cu.shopify_id AS shopify_customer_id, cu.gid AS customer_gid, cu.email, cu.phone, cu.metafields,
    coalesce(a.points_balance, 0) AS points_balance, coalesce(a.tier_key, '') AS tier,
    coalesce(l.expiring, 0) AS points_expiring, l.next_expiry AS next_expiry_at,
    sh.domain AS shop_domain, coalesce(rc.code, '') AS referral_code
FROM u
JOIN customers cu ON cu.id = u.customer_id
JOIN shops sh ON sh.id = u.shop_id
LEFT JOIN referral_codes rc ON rc.customer_id = u.customer_id
LEFT JOIN loyalty_accounts a ON a.customer_id = u.customer_id
LEFT JOIN LATERAL (
    SELECT sum(pl.remaining) FILTER (WHERE pl.expires_at <= now() + make_interval(secs => ?)) AS expiring,
           min(pl.expires_at) AS next_expiry
    FROM point_lots pl
    WHERE pl.customer_id = u.customer_id AND pl.remaining > 0 AND pl.expires_at > now()
) l ON true
ORDER BY u.customer_id`, integrationID, limit, lease.Seconds(), lease.Seconds(), expiringWithin.Seconds()).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: claim profile syncs: %w", formatError(err))
	}
	return out, nil
}

// ProfileOutcome is what became of one claimed profile sync.
type ProfileOutcome struct {
	IntegrationID int64 `json:"integration_id"`
	CustomerID    int64 `json:"customer_id"`
	Version       int64 `json:"version"`
	// Done marks Version synced (sent, unchanged, or given up) with Hash.
	Done          bool      `json:"done"`
	Hash          string    `json:"hash"`
	Uncount       bool      `json:"uncount"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	StatusCode    int       `json:"status_code"`
	Error         string    `json:"error"`
}

// RecordProfileOutcomes writes outcomes and releases the leases. A sync
// marked done whose version moved on meanwhile (a new event) is due again
// at once, which is the coalescing: one push for any number of changes.
func (s *Store) RecordProfileOutcomes(ctx context.Context, outs []ProfileOutcome) error {
	if len(outs) == 0 {
		return nil
	}
	for i := range outs {
		outs[i].Error = clip(textOnly(outs[i].Error), 2000)
		if outs[i].NextAttemptAt.IsZero() {
			outs[i].NextAttemptAt = time.Now()
		}
	}
	doc, err := json.Marshal(outs)
	if err != nil {
		return fmt.Errorf("store: record profile syncs: %w", err)
	}
	// Rows are locked in key order, as the router inserts them, so the two
	// never deadlock.
	err = s.db.WithContext(ctx).Exec(`
WITH v AS (
    SELECT * FROM jsonb_to_recordset(?::jsonb) AS v(integration_id bigint, customer_id bigint, version bigint, done boolean,
        hash text, uncount boolean, next_attempt_at timestamptz, status_code integer, error text)
), locked AS (
    SELECT p.integration_id, p.customer_id FROM profile_syncs p JOIN v USING (integration_id, customer_id)
    ORDER BY 1, 2 FOR UPDATE OF p
)
UPDATE profile_syncs p SET
    synced_version = CASE WHEN v.done THEN greatest(p.synced_version, v.version) ELSE p.synced_version END,
    synced_hash = CASE WHEN v.done THEN v.hash ELSE p.synced_hash END,
    synced_at = CASE WHEN v.done THEN now() ELSE p.synced_at END,
    attempts = CASE WHEN v.done THEN 0 WHEN v.uncount THEN greatest(p.attempts - 1, 0) ELSE p.attempts END,
    next_attempt_at = CASE WHEN v.done THEN now() ELSE v.next_attempt_at END,
    lease_until = NULL,
    last_status_code = nullif(v.status_code, 0),
    last_error = v.error,
    updated_at = now()
FROM v, locked
WHERE p.integration_id = v.integration_id AND p.customer_id = v.customer_id
  AND locked.integration_id = p.integration_id AND locked.customer_id = p.customer_id`, string(doc)).Error
	if err != nil {
		return fmt.Errorf("store: record profile syncs: %w", formatError(err))
	}
	return nil
}

// ProfileSync is the sync state of one customer's profile at one
// integration.
type ProfileSync struct {
	IntegrationID  int64
	ShopID         app.ShopID
	CustomerID     int64
	Version        int64
	SyncedVersion  int64
	SyncedHash     string
	Attempts       int
	LastStatusCode *int
	LastError      string
	SyncedAt       *time.Time
}

// ProfileSyncs returns the sync state of the shop's customer at each of
// its integrations.
func (s *Store) ProfileSyncs(ctx context.Context, shopID app.ShopID, customerID int64) ([]ProfileSync, error) {
	var out []ProfileSync
	err := s.db.WithContext(ctx).Raw(`SELECT integration_id, shop_id, customer_id, version, synced_version, synced_hash,
    attempts, last_status_code, last_error, synced_at
FROM profile_syncs WHERE shop_id = ? AND customer_id = ? ORDER BY integration_id`, shopID, customerID).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: profile syncs: %w", formatError(err))
	}
	return out, nil
}
