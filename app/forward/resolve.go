package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/identity"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
)

// customerRef is a customer row as a claim returned it.
type customerRef struct {
	ID         int64 // row id
	ShopifyID  int64
	GID        string
	Email      string
	Phone      string
	Metafields json.RawMessage
}

func (c customerRef) identity() identity.Customer {
	mf := map[string]string{}
	if len(c.Metafields) > 0 {
		// Values that are not strings (a malformed cache) are ignored.
		var raw map[string]any
		if json.Unmarshal(c.Metafields, &raw) == nil {
			for k, v := range raw {
				if s, ok := v.(string); ok {
					mf[k] = s
				}
			}
		}
	}
	return identity.Customer{ShopifyID: c.ShopifyID, Email: c.Email, Phone: c.Phone, Metafields: mf}
}

// customerInfo is what resolution found about one customer.
type customerInfo struct {
	cust identity.Customer
	// err is a lookup that failed for now (Shopify unavailable, throttled,
	// the shop's token being renewed): retry the delivery later.
	err error
	// gone is set when Shopify no longer knows the customer.
	gone bool
}

// lookupTTL is how long this runner reuses what Shopify answered about a
// customer: every event of a phone-only customer under the email property
// would otherwise cost a GraphQL call, and the event and profile tasks of
// one batch would ask twice. customers/update refreshes the row meanwhile.
const lookupTTL = 10 * time.Minute

// foundTTL is how long a lookup that found the value is remembered.
const foundTTL = 30 * time.Second

// lookupResult is a remembered answer (a success, or "no such customer").
type lookupResult struct {
	at   time.Time
	ttl  time.Duration
	cust identity.Customer
	gone bool
}

// customers resolves the customers of a batch: the cached row, and when it
// lacks the common property's value, the Shopify GraphQL Admin API
// (defaultEmailAddress, defaultPhoneNumber, the metafield), whose answer is
// cached on the row (DESIGN.md §4). Concurrent tasks asking about one
// customer share one request.
func (r *Runner) customers(ctx context.Context, in *store.DueIntegration, prop identity.Property, refs []customerRef) map[int64]customerInfo {
	out := make(map[int64]customerInfo, len(refs))
	var shop *store.Shop
	for _, ref := range refs {
		if _, done := out[ref.ID]; done {
			continue
		}
		info := customerInfo{cust: ref.identity()}
		if prop.Missing(info.cust) && r.svc.shops != nil {
			key := lookupKey(ref.ID, prop)
			res, ok := r.remembered(key)
			if !ok {
				if shop == nil {
					sh, err := r.st.Shop(ctx, in.ShopID)
					if err != nil {
						info.err = err
						out[ref.ID] = info
						continue
					}
					shop = sh
				}
				v, err, _ := r.flight.Do(key, func() (any, error) {
					if res, ok := r.remembered(key); ok {
						return res, nil
					}
					found, err := r.lookup(ctx, shop, prop, ref)
					res := lookupResult{at: time.Now(), cust: found}
					switch {
					case app.ErrorCode(err) == app.ENOTFOUND:
						res.gone = true
					case err != nil:
						return nil, err // not remembered: retried with the delivery
					}
					// A value found is on the row from now on; it is
					// remembered only briefly (the event and profile tasks
					// of one batch read the row before the write), so a
					// customers/update that drops the cached metafields
					// takes effect within foundTTL. No such customer, or
					// still no value, is remembered for lookupTTL.
					res.ttl = lookupTTL
					if !res.gone && !prop.Missing(found) {
						res.ttl = foundTTL
					}
					r.remember(key, res)
					return res, nil
				})
				if err != nil {
					info.err = err
					out[ref.ID] = info
					continue
				}
				res = v.(lookupResult)
			}
			info.gone = res.gone
			info.cust = merge(info.cust, res.cust)
		}
		out[ref.ID] = info
	}
	return out
}

// lookupKey names a remembered lookup: the customer and the property it
// was made for. A lookup for one integration's property (email, say)
// holds nothing about another's (a metafield): keyed by the customer
// alone, the second integration would find the first's answer, lacking
// its value, and skip the customer.
func lookupKey(customerID int64, prop identity.Property) string {
	return strconv.FormatInt(customerID, 10) + "|" + prop.String()
}

func (r *Runner) remembered(key string) (lookupResult, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok := r.lookedUp[key]
	return res, ok && time.Since(res.at) < res.ttl
}

func (r *Runner) remember(key string, res lookupResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lookedUp) > 100_000 {
		clear(r.lookedUp)
	}
	r.lookedUp[key] = res
}

// lookup asks Shopify for the customer's email, phone and, for a metafield
// property, the metafield, and caches what it learns on the customer row.
func (r *Runner) lookup(ctx context.Context, shop *store.Shop, prop identity.Property, ref customerRef) (identity.Customer, error) {
	client := r.svc.shops.Client(shop)
	if client == nil {
		return identity.Customer{}, errors.New("forward: no Shopify client for the shop")
	}
	var refs []shopify.MetafieldRef
	if prop.Kind == identity.Metafield {
		refs = []shopify.MetafieldRef{{Namespace: prop.Namespace, Key: prop.Key}}
	}
	gid := ref.GID
	if gid == "" {
		gid = "gid://shopify/Customer/" + strconv.FormatInt(ref.ShopifyID, 10)
	}
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := client.Customer(lctx, gid, refs)
	if err != nil {
		return identity.Customer{}, err
	}
	if err := r.st.CacheCustomerIdentity(ctx, shop.ID, ref.ID, c.Email, c.Phone, c.Metafields); err != nil {
		return identity.Customer{}, fmt.Errorf("forward: cache customer: %w", err)
	}
	return identity.Customer{ShopifyID: ref.ShopifyID, Email: c.Email, Phone: c.Phone, Metafields: c.Metafields}, nil
}

// merge fills what row lacks from found, as CacheCustomerIdentity does.
func merge(row, found identity.Customer) identity.Customer {
	if row.Email == "" {
		row.Email = found.Email
	}
	if row.Phone == "" {
		row.Phone = found.Phone
	}
	if row.Metafields == nil {
		row.Metafields = map[string]string{}
	}
	for k, v := range found.Metafields {
		row.Metafields[k] = v
	}
	return row
}
