package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/perkbridge/perkbridge/app"
)

// Customer is a shop's customer as Shopify knows them.
type Customer struct {
	ID               int64 `gorm:"primaryKey"`
	ShopID           app.ShopID
	ShopifyID        int64
	GID              string `gorm:"column:gid"`
	Email            string
	Phone            string
	FirstName        string
	LastName         string
	State            string
	Metafields       json.RawMessage `gorm:"type:jsonb"`
	ShopifyUpdatedAt *time.Time
	// ShopifyCreatedAt is when Shopify created the record; nil when only an
	// order has told us about the customer.
	ShopifyCreatedAt *time.Time
	// AccountEnabledAt is when the record became an account (state
	// enabled), as the app saw it: its creation when it arrived enabled,
	// else the update that enabled it; nil while it is no account.
	AccountEnabledAt *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// TableName implements gorm's tabler.
func (Customer) TableName() string { return "customers" }

// MetafieldMap decodes the cached metafields ("namespace.key" → value).
func (c *Customer) MetafieldMap() map[string]string {
	m := map[string]string{}
	_ = json.Unmarshal(c.Metafields, &m)
	return m
}

// CustomerIdentity is what a customers/* webhook tells us about a customer.
type CustomerIdentity struct {
	ShopifyID        int64
	GID              string
	Email            string
	Phone            string
	FirstName        string
	LastName         string
	State            string
	ShopifyUpdatedAt *time.Time
	ShopifyCreatedAt *time.Time
}

// UpsertCustomer creates or refreshes a customer's identity. An update whose
// Shopify updated_at is older than what is stored is ignored, because
// webhooks arrive out of order and a late one must not undo a newer one. It
// reports whether the row was created.
func (s *Store) UpsertCustomer(ctx context.Context, shopID app.ShopID, in CustomerIdentity) (*Customer, bool, error) {
	var row struct {
		Customer
		Inserted bool
	}
	err := s.db.WithContext(ctx).Raw(`
INSERT INTO customers (shop_id, shopify_id, gid, email, phone, first_name, last_name, state, shopify_updated_at, shopify_created_at, account_enabled_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ? = 'enabled' THEN ?::timestamptz END)
ON CONFLICT (shop_id, shopify_id) DO UPDATE SET
    email = EXCLUDED.email, phone = EXCLUDED.phone,
    first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
    account_enabled_at = CASE
        WHEN EXCLUDED.state <> 'enabled' THEN NULL
        WHEN customers.state = 'enabled' AND customers.account_enabled_at IS NOT NULL THEN customers.account_enabled_at
        -- No state seen yet, or only the one an order's embedded customer
        -- carried (orders do not set shopify_updated_at): no transition seen.
        WHEN customers.state IN ('', 'enabled') OR customers.shopify_updated_at IS NULL
            THEN coalesce(EXCLUDED.shopify_created_at, customers.shopify_created_at)
        ELSE coalesce(EXCLUDED.shopify_updated_at, now()) END,
    state = EXCLUDED.state, gid = EXCLUDED.gid,
    -- A newer customers/update may carry changed metafields, which its
    -- payload does not include: the cached ones (a common property) are
    -- dropped and read again from Shopify when next needed.
    metafields = CASE WHEN EXCLUDED.shopify_updated_at IS NOT NULL
            AND EXCLUDED.shopify_updated_at > coalesce(customers.shopify_updated_at, '-infinity')
        THEN '{}'::jsonb ELSE customers.metafields END,
    -- An order's embedded customer carries no updated_at: keep the last
    -- one seen, so an older customers/update arriving late is still
    -- recognised as stale.
    shopify_updated_at = coalesce(EXCLUDED.shopify_updated_at, customers.shopify_updated_at),
    shopify_created_at = coalesce(EXCLUDED.shopify_created_at, customers.shopify_created_at), updated_at = now()
WHERE customers.shopify_updated_at IS NULL OR EXCLUDED.shopify_updated_at IS NULL
   OR EXCLUDED.shopify_updated_at >= customers.shopify_updated_at
RETURNING *, (xmax = 0) AS inserted`,
		shopID, in.ShopifyID, in.GID, strings.TrimSpace(in.Email), strings.TrimSpace(in.Phone),
		in.FirstName, in.LastName, in.State, in.ShopifyUpdatedAt, in.ShopifyCreatedAt,
		in.State, in.ShopifyCreatedAt).Scan(&row).Error
	if err != nil {
		return nil, false, fmt.Errorf("store: upsert customer: %w", formatError(err))
	}
	if row.ID == 0 { // stale update: nothing returned
		c, err := s.CustomerByShopifyID(ctx, shopID, in.ShopifyID)
		return c, false, err
	}
	return &row.Customer, row.Inserted, nil
}

// CustomerByShopifyID returns the shop's customer with a Shopify id.
func (s *Store) CustomerByShopifyID(ctx context.Context, shopID app.ShopID, shopifyID int64) (*Customer, error) {
	var c Customer
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND shopify_id = ?", shopID, shopifyID).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("store: customer: %w", formatError(err))
	}
	return &c, nil
}

// CustomerByEmail returns the shop's customer with exactly this email,
// compared case-insensitively (never a pattern search); ENOTFOUND when
// there is none or more than one.
func (s *Store) CustomerByEmail(ctx context.Context, shopID app.ShopID, email string) (*Customer, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return nil, app.Errorf(app.ENOTFOUND, "Customer not found.")
	}
	var cs []Customer
	if err := s.db.WithContext(ctx).Where("shop_id = ? AND lower(email) = lower(?)", shopID, email).Limit(2).Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("store: customer by email: %w", formatError(err))
	}
	if len(cs) != 1 {
		return nil, app.Errorf(app.ENOTFOUND, "Customer not found.")
	}
	return &cs[0], nil
}

// SetCustomerMetafields caches metafield values read from the GraphQL API.
func (s *Store) SetCustomerMetafields(ctx context.Context, shopID app.ShopID, shopifyID int64, values map[string]string) error {
	b, _ := json.Marshal(values)
	err := s.db.WithContext(ctx).Exec(`UPDATE customers SET metafields = metafields || ?::jsonb, updated_at = now() WHERE shop_id = ? AND shopify_id = ?`,
		string(b), shopID, shopifyID).Error
	if err != nil {
		return fmt.Errorf("store: set metafields: %w", formatError(err))
	}
	return nil
}

// FactsStale is a customer whose Shopify facts (facts.birth_date) are to
// be read.
type FactsStale struct {
	ID        int64
	ShopifyID int64
}

// CustomersWithStaleFacts returns up to limit customers of the shop whose
// facts were never read or were marked stale, with an id above after.
func (s *Store) CustomersWithStaleFacts(ctx context.Context, shopID app.ShopID, after int64, limit int) ([]FactsStale, error) {
	var out []FactsStale
	err := s.db.WithContext(ctx).Raw(`SELECT id, shopify_id FROM customers
WHERE shop_id = ? AND facts_checked_at IS NULL AND id > ? ORDER BY id LIMIT ?`, shopID, after, limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: customers with stale facts: %w", formatError(err))
	}
	return out, nil
}

// SetCustomerFacts caches the Shopify facts read for a customer (a nil
// value removes a fact Shopify no longer has) and marks them checked at.
func (s *Store) SetCustomerFacts(ctx context.Context, shopID app.ShopID, customerID int64, facts map[string]*string, at time.Time) error {
	set, drop := map[string]string{}, []string{}
	for k, v := range facts {
		if v == nil {
			drop = append(drop, k)
		} else {
			set[k] = *v
		}
	}
	b, _ := json.Marshal(set)
	if drop == nil {
		drop = []string{}
	}
	err := s.db.WithContext(ctx).Exec(`UPDATE customers SET metafields = (metafields - ?::text[]) || ?::jsonb, facts_checked_at = ?
WHERE shop_id = ? AND id = ?`, StringArray(drop), string(b), at, shopID, customerID).Error
	if err != nil {
		return fmt.Errorf("store: set customer facts: %w", formatError(err))
	}
	return nil
}

// MarkCustomerFactsStale asks for the customer's Shopify facts to be read
// again (customers/create or customers/update arrived).
func (s *Store) MarkCustomerFactsStale(ctx context.Context, shopID app.ShopID, customerID int64) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE customers SET facts_checked_at = NULL WHERE shop_id = ? AND id = ?`, shopID, customerID).Error
	if err != nil {
		return fmt.Errorf("store: mark customer facts stale: %w", formatError(err))
	}
	return nil
}

// SearchCustomers finds the shop's customers by email, phone or Shopify id.
func (s *Store) SearchCustomers(ctx context.Context, shopID app.ShopID, q string, limit int) ([]Customer, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	db := s.db.WithContext(ctx).Where("shop_id = ?", shopID)
	if q = strings.TrimSpace(q); q != "" {
		like := "%" + strings.ToLower(q) + "%"
		db = db.Where("lower(email) LIKE ? OR phone LIKE ? OR shopify_id::text = ? OR lower(first_name || ' ' || last_name) LIKE ?", like, "%"+q+"%", q, like)
	}
	var out []Customer
	if err := db.Order("updated_at DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: search customers: %w", formatError(err))
	}
	return out, nil
}

// DeleteCustomer deletes the customer row; tables that reference it cascade.
func (s *Store) DeleteCustomer(ctx context.Context, shopID app.ShopID, shopifyID int64) (int64, error) {
	res := s.db.WithContext(ctx).Exec("DELETE FROM customers WHERE shop_id = ? AND shopify_id = ?", shopID, shopifyID)
	if res.Error != nil {
		return 0, fmt.Errorf("store: delete customer: %w", formatError(res.Error))
	}
	return res.RowsAffected, nil
}

// DataRequest is an export produced for customers/data_request.
type DataRequest struct {
	ID                int64 `gorm:"primaryKey"`
	ShopID            app.ShopID
	ShopifyRequestID  int64
	ShopifyCustomerID int64
	Export            json.RawMessage `gorm:"type:jsonb"`
	CreatedAt         time.Time
}

// TableName implements gorm's tabler.
func (DataRequest) TableName() string { return "data_requests" }

// SaveDataRequest stores an export; a repeated request id keeps the first.
func (s *Store) SaveDataRequest(ctx context.Context, shopID app.ShopID, requestID, customerID int64, export json.RawMessage) error {
	err := s.db.WithContext(ctx).Exec(`INSERT INTO data_requests (shop_id, shopify_request_id, shopify_customer_id, export)
VALUES (?, ?, ?, ?) ON CONFLICT (shop_id, shopify_request_id) DO NOTHING`, shopID, requestID, customerID, string(export)).Error
	if err != nil {
		return fmt.Errorf("store: save data request: %w", formatError(err))
	}
	return nil
}

// DataRequests lists the shop's exports, newest first.
func (s *Store) DataRequests(ctx context.Context, shopID app.ShopID) ([]DataRequest, error) {
	var out []DataRequest
	if err := s.db.WithContext(ctx).Where("shop_id = ?", shopID).Order("id DESC").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: data requests: %w", formatError(err))
	}
	return out, nil
}

// DeleteDataRequests deletes the exports about one customer (customers/redact).
func (s *Store) DeleteDataRequests(ctx context.Context, shopID app.ShopID, shopifyCustomerID int64) error {
	err := s.db.WithContext(ctx).Exec("DELETE FROM data_requests WHERE shop_id = ? AND shopify_customer_id = ?", shopID, shopifyCustomerID).Error
	if err != nil {
		return fmt.Errorf("store: delete data requests: %w", formatError(err))
	}
	return nil
}
