package loyalty

import (
	"context"
	"fmt"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
)

// Who set a birthday (loyalty_accounts.birthday_set_by).
const (
	BirthdayByShopper = "shopper" // the storefront form
	BirthdayByStaff   = "staff"   // the admin page or the JSON admin API
)

// BirthdayChangeEvery is how often a shopper may change their birthday:
// once a year, so a birthday reward cannot be farmed by moving the date.
const BirthdayChangeEvery = 365 * 24 * time.Hour

// FactBirthDate is Shopify's standard customer metafield for the date of
// birth ("YYYY-MM-DD"), read into customers.metafields.
var FactBirthDate = shopify.MetafieldRef{Namespace: "facts", Key: "birth_date"}

// Birthday is a stored birthday.
type Birthday struct {
	Month time.Month `json:"month"`
	Day   int        `json:"day"`
}

// validBirthday checks month and day as a calendar date in a leap year, so
// 29 February is accepted (it is celebrated on the 28th in other years).
func validBirthday(month time.Month, day int) error {
	if month < time.January || month > time.December {
		return app.FieldError("month", "Month must be between 1 and 12.")
	}
	if day < 1 || time.Date(2000, month, day, 0, 0, 0, 0, time.UTC).Month() != month {
		return app.FieldError("day", "%s has no day %d.", month, day)
	}
	return nil
}

// SetBirthday sets a customer's birthday for staff (the admin page, the
// JSON admin API): always allowed, a support agent's correction included.
func (s *Service) SetBirthday(ctx context.Context, shopID app.ShopID, shopifyCustomerID int64, month time.Month, day int) error {
	return s.setBirthday(ctx, shopID, shopifyCustomerID, month, day, BirthdayByStaff)
}

// SetShopperBirthday sets the signed-in shopper's own birthday (the
// storefront form). Setting the same date again changes nothing; changing
// it within BirthdayChangeEvery of the last change is ECONFLICT.
func (s *Service) SetShopperBirthday(ctx context.Context, shopID app.ShopID, shopifyCustomerID int64, month time.Month, day int) error {
	return s.setBirthday(ctx, shopID, shopifyCustomerID, month, day, BirthdayByShopper)
}

func (s *Service) setBirthday(ctx context.Context, shopID app.ShopID, shopifyCustomerID int64, month time.Month, day int, by string) error {
	if err := validBirthday(month, day); err != nil {
		return err
	}
	return s.st.Tx(ctx, func(tx *store.Store) error {
		shop, c, settings, err := s.customerContext(ctx, tx, shopID, shopifyCustomerID)
		if err != nil {
			return err
		}
		u := s.newUnit(ctx, tx, shop, settings, s.clock(), string(app.ActorFrom(ctx)), nil)
		if err := u.lock(c.ID, c.ShopifyID, "birthday-set"); err != nil {
			return err
		}
		a := u.acct
		if a.BirthMonth != nil && a.BirthDay != nil && time.Month(*a.BirthMonth) == month && *a.BirthDay == day {
			return nil // the same date: nothing changes, the clock does not restart
		}
		if by == BirthdayByShopper && a.BirthMonth != nil && a.BirthdaySetAt != nil && u.now.Sub(*a.BirthdaySetAt) < BirthdayChangeEvery {
			next := a.BirthdaySetAt.Add(BirthdayChangeEvery).In(u.loc).Format("2 January 2006")
			return app.Errorf(app.ECONFLICT, "Your birthday can be changed once a year; the next change is possible on %s.", next)
		}
		m, d, now := int(month), day, u.now
		a.BirthMonth, a.BirthDay, a.BirthdaySetAt, a.BirthdaySetBy, u.dirty = &m, &d, &now, by, true
		return u.flush()
	})
}

// CustomerBirthday returns the birthday the program uses for a customer:
// the one set through the app, else Shopify's facts.birth_date; false when
// it knows none.
func (s *Service) CustomerBirthday(ctx context.Context, shopID app.ShopID, shopifyCustomerID int64) (Birthday, bool, error) {
	c, err := s.st.CustomerByShopifyID(ctx, shopID, shopifyCustomerID)
	if err != nil {
		return Birthday{}, false, err
	}
	var month, day *int
	if acct, err := s.st.LoyaltyAccount(ctx, shopID, c.ID); err == nil {
		month, day = acct.BirthMonth, acct.BirthDay
	} else if app.ErrorCode(err) != app.ENOTFOUND {
		return Birthday{}, false, err
	}
	m, d, ok := birthdayOf(store.BirthdayCandidate{BirthMonth: month, BirthDay: day, MetafieldDOB: c.MetafieldMap()[FactBirthDate.String()]})
	return Birthday{Month: m, Day: d}, ok, nil
}

// factsBatch is how many stale customers one RefreshFacts pass reads.
const factsBatch = 250

// RefreshFacts reads Shopify's facts.birth_date for the shop's customers
// whose facts are stale (new customers, and those customers/create or
// customers/update marked), in batches of shopify.MaxCustomersPerFactsQuery
// per query, and caches it, so birthdays set in Shopify's admin reach the
// program. It reads at most factsBatch customers a run; the next run goes
// on. Without a Shopify client (tests of other things) it does nothing.
func (s *Service) RefreshFacts(ctx context.Context, shopID app.ShopID, now time.Time) (int, error) {
	if s.clients == nil {
		return 0, nil
	}
	stale, err := s.st.CustomersWithStaleFacts(ctx, shopID, 0, factsBatch)
	if err != nil || len(stale) == 0 {
		return 0, err
	}
	shop, err := s.st.Shop(ctx, shopID)
	if err != nil {
		return 0, err
	}
	client := s.clients.Client(shop)
	done := 0
	for start := 0; start < len(stale); start += shopify.MaxCustomersPerFactsQuery {
		batch := stale[start:min(start+shopify.MaxCustomersPerFactsQuery, len(stale))]
		gids := make([]string, len(batch))
		for i, c := range batch {
			gids[i] = shopify.GID("Customer", c.ShopifyID)
		}
		values, err := client.CustomersMetafield(ctx, gids, FactBirthDate)
		if err != nil {
			return done, fmt.Errorf("loyalty: read customer facts: %w", err)
		}
		for i, c := range batch {
			v := values[gids[i]]
			if v != nil {
				if _, err := time.Parse(time.DateOnly, *v); err != nil {
					v = nil // not a date: as good as none
				}
			}
			if err := s.st.SetCustomerFacts(ctx, shopID, c.ID, map[string]*string{FactBirthDate.String(): v}, now); err != nil {
				return done, err
			}
			done++
		}
	}
	return done, nil
}
