package loyalty

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
)

// The periodic use cases run per shop at a given instant now, in the shop's
// time zone. Each scans the customers it may concern in batches and handles
// each customer in its own short transaction under the account lock, so a
// long sweep never holds many locks and webhooks keep flowing. Each is
// idempotent on natural keys (ledger.KeyExpire, KeyReminder, KeyBirthday,
// KeyNudge; a tier change is a no-op once made), so running one twice, or
// two at once, changes nothing twice. The worker calls them hourly with the
// current time (see app/worker/loyalty.go); tests call them with any now.

// batchSize is how many customers one scan query returns.
const batchSize = 200

// MaintenanceReport counts what one run of RunMaintenance did.
type MaintenanceReport struct {
	Expired    int `json:"expired"`     // lots expired
	Reminded   int `json:"reminded"`    // expiry reminders sent
	Birthdays  int `json:"birthdays"`   // birthday rewards credited
	Nudged     int `json:"nudged"`      // unused-points nudges sent
	TierChange int `json:"tier_change"` // tiers lowered or renewed at window end
	Reviews    int `json:"reviews"`     // review requests sent (review_requested)
	Facts      int `json:"facts"`       // customers whose Shopify birth date was read
	Rewards    int `json:"rewards"`     // reward coupons that ended unused
	Guests     int `json:"guests"`      // guest orders whose points stopped waiting (guests.go)
}

// RunMaintenance runs every periodic use case of one shop at now: expiry
// first (so reminders never announce points that just expired), then
// reminders, birthdays, nudges, the rolling tier review and review
// requests. It stops at the first error; a rerun redoes only what is left.
func (s *Service) RunMaintenance(ctx context.Context, shopID app.ShopID, now time.Time) (MaintenanceReport, error) {
	var r MaintenanceReport
	var err error
	if r.Expired, err = s.ExpirePoints(ctx, shopID, now); err != nil {
		return r, err
	}
	if r.Rewards, err = s.ExpireRewards(ctx, shopID, now); err != nil {
		return r, err
	}
	if r.Guests, err = s.ExpireGuestPoints(ctx, shopID, now); err != nil {
		return r, err
	}
	if r.Reminded, err = s.SendExpiryReminders(ctx, shopID, now); err != nil {
		return r, err
	}
	// Birth dates set in Shopify's admin, read before today's birthdays.
	// Shopify being unavailable must not hold up the rest: the next run
	// reads them.
	if r.Facts, err = s.RefreshFacts(ctx, shopID, now); err != nil {
		s.log.WarnContext(ctx, "reading customers' birth dates from Shopify failed; the next run tries again", "shop", shopID, "err", err)
	}
	if r.Birthdays, err = s.GrantBirthdays(ctx, shopID, now); err != nil {
		return r, err
	}
	if r.Nudged, err = s.NudgeUnused(ctx, shopID, now); err != nil {
		return r, err
	}
	if r.TierChange, err = s.ReevaluateTiers(ctx, shopID, now); err != nil {
		return r, err
	}
	if r.Reviews, err = s.RequestReviews(ctx, shopID, now); err != nil {
		return r, err
	}
	// The launch checklist's "launcher turned on in the theme". Shopify
	// being unavailable must not fail the run.
	if sh, err := s.st.Shop(ctx, shopID); err == nil && themeEmbedDue(sh, now) {
		if _, err := s.CheckThemeEmbed(ctx, shopID, now); err != nil {
			s.log.WarnContext(ctx, "reading the published theme failed; the next run tries again", "shop", shopID, "err", err)
		}
	}
	return r, nil
}

// perCustomer runs fn for one customer in its own transaction with the
// account locked (customers without an account are skipped).
func (s *Service) perCustomer(ctx context.Context, shopID app.ShopID, customerID int64, now time.Time, fn func(u *unit) (int, error)) (int, error) {
	n := 0
	err := s.st.Tx(ctx, func(tx *store.Store) error {
		shop, settings, err := shopAndSettingsIn(ctx, tx, shopID)
		if err != nil {
			return err
		}
		u := s.newUnit(ctx, tx, shop, settings, now.UTC().Truncate(time.Microsecond), "system", nil)
		if err := u.lock(customerID, 0, "maintenance:"+now.UTC().Format(time.RFC3339)); err != nil {
			return err
		}
		if n, err = fn(u); err != nil {
			return err
		}
		return u.flush()
	})
	if app.ErrorCode(err) == app.ENOTFOUND {
		return 0, nil // deleted meanwhile
	}
	return n, err
}

func (s *Service) shopAndSettings(ctx context.Context, shopID app.ShopID) (*store.Shop, program.Settings, error) {
	return shopAndSettingsIn(ctx, s.st, shopID)
}

// shopAndSettingsIn reads the shop and its program settings through st (a
// transaction, so both are read in it).
func shopAndSettingsIn(ctx context.Context, st *store.Store, shopID app.ShopID) (*store.Shop, program.Settings, error) {
	shop, err := st.Shop(ctx, shopID)
	if err != nil {
		return nil, program.Settings{}, err
	}
	settings, _, err := st.ProgramSettings(ctx, shopID)
	return shop, settings, err
}

// ExpirePoints expires, at now, the unspent rest of every lot whose expiry
// passed (ledger.Expire; key ledger.KeyExpire per lot) and writes
// wallet_points_expired per lot. It returns the number of lots expired.
func (s *Service) ExpirePoints(ctx context.Context, shopID app.ShopID, now time.Time) (int, error) {
	total := 0
	done := map[int64]bool{}
	for {
		ids, err := s.st.CustomerIDsWithExpiredLots(ctx, shopID, now, batchSize)
		if err != nil {
			return total, err
		}
		fresh := slices.DeleteFunc(ids, func(id int64) bool { return done[id] })
		if len(fresh) == 0 {
			return total, nil
		}
		for _, id := range fresh {
			done[id] = true
			n, err := s.perCustomer(ctx, shopID, id, now, func(u *unit) (int, error) {
				lots, err := u.openLots()
				if err != nil {
					return 0, err
				}
				n := 0
				for _, x := range ledger.Expire(lots, u.now) {
					e := x.Entry(u.now)
					inserted, err := u.debit(e, 0)
					if err != nil {
						return n, err
					}
					if !inserted {
						continue
					}
					n++
					if err := u.add(e.IdempotencyKey)(event.NewWalletPointsExpired(u.common(e.IdempotencyKey, ""), x.Points)); err != nil {
						return n, err
					}
				}
				return n, nil
			})
			if err != nil {
				return total, fmt.Errorf("loyalty: expire points of customer %d: %w", id, err)
			}
			total += n
		}
	}
}

// SendExpiryReminders writes wallet_points_expiring for each lot whose
// reminder offset (ReminderDays) is due at now (ledger.DueReminders),
// once per lot and offset (ledger.KeyReminder, remembered in
// loyalty_notices). It returns the number sent.
func (s *Service) SendExpiryReminders(ctx context.Context, shopID app.ShopID, now time.Time) (int, error) {
	_, settings, err := s.shopAndSettings(ctx, shopID)
	if err != nil {
		return 0, err
	}
	if settings.ExpiryMonths == 0 || len(settings.ReminderDays) == 0 {
		return 0, nil
	}
	// Lots that expire within the largest offset, plus a day for a DST
	// change; DueReminders decides exactly.
	until := now.AddDate(0, 0, slices.Max(settings.ReminderDays)+1)
	total := 0
	after := int64(0)
	for {
		ids, err := s.st.CustomerIDsWithLotsExpiringBy(ctx, shopID, now, until, after, batchSize)
		if err != nil || len(ids) == 0 {
			return total, err
		}
		after = ids[len(ids)-1]
		for _, id := range ids {
			n, err := s.perCustomer(ctx, shopID, id, now, func(u *unit) (int, error) {
				lots, err := u.openLots()
				if err != nil {
					return 0, err
				}
				var keys []string
				for _, l := range lots {
					for _, o := range u.settings.ReminderDays {
						keys = append(keys, ledger.KeyReminder(l.ID, o))
					}
				}
				sentKeys, err := u.tx.NoticeKeys(u.ctx, u.shop.ID, keys)
				if err != nil {
					return 0, err
				}
				sent := func(lotID int64, offset int) bool { return sentKeys[ledger.KeyReminder(lotID, offset)] }
				n := 0
				for _, r := range ledger.DueReminders(lots, u.settings.ReminderDays, u.now, u.loc, sent) {
					lotID := r.LotID
					fresh, err := u.tx.RecordNotice(u.ctx, u.shop.ID, u.acct.CustomerID, store.NoticeExpiryReminder, r.Key, &lotID, u.now)
					if err != nil {
						return n, err
					}
					if !fresh {
						continue
					}
					n++
					if err := u.add(r.Key)(event.NewWalletPointsExpiring(u.common(r.Key, ""), r.Points, r.ExpiresAt, r.DaysLeft)); err != nil {
						return n, err
					}
				}
				return n, nil
			})
			if err != nil {
				return total, fmt.Errorf("loyalty: expiry reminders of customer %d: %w", id, err)
			}
			total += n
		}
	}
}

// GrantBirthdays credits BirthdayPoints to customers whose birthday is
// today in the shop's time zone at now (ledger.IsBirthday; 29 February is
// celebrated on 28 February in other years), once a year per customer
// (ledger.KeyBirthday), and writes wallet_points_rewarded (reason birthday)
// and birthday_reward. The birthday is the account's (SetBirthday), else
// the customer metafield facts.birth_date ("YYYY-MM-DD"). It returns the
// number of rewards credited.
func (s *Service) GrantBirthdays(ctx context.Context, shopID app.ShopID, now time.Time) (int, error) {
	shop, settings, err := s.shopAndSettings(ctx, shopID)
	if err != nil {
		return 0, err
	}
	if settings.BirthdayPoints <= 0 {
		return 0, nil
	}
	local := now.In(shop.Location())
	days := []string{local.Format("01-02")}
	if local.Month() == time.February && local.Day() == 28 && time.Date(local.Year(), time.February, 29, 0, 0, 0, 0, time.UTC).Month() != time.February {
		days = append(days, "02-29")
	}
	total := 0
	after := int64(0)
	for {
		cands, err := s.st.BirthdayCandidates(ctx, shopID, days, after, batchSize)
		if err != nil || len(cands) == 0 {
			return total, err
		}
		after = cands[len(cands)-1].CustomerID
		for _, c := range cands {
			month, day, ok := birthdayOf(c)
			if !ok || !ledger.IsBirthday(month, day, now, shop.Location()) {
				continue
			}
			n, err := s.perCustomer(ctx, shopID, c.CustomerID, now, func(u *unit) (int, error) {
				key := ledger.KeyBirthday(shopify.GID("Customer", c.ShopifyCustomerID), local.Year())
				available, expires := ledger.CreditTimes(ledger.KindBirthday, u.now, u.settings, u.loc)
				e := ledger.Entry{Kind: ledger.KindBirthday, Points: u.settings.BirthdayPoints, Reason: ledger.ReasonBirthday,
					IdempotencyKey: key, CreatedAt: u.now, ExpiresAt: expires, AvailableAt: available}
				lot, inserted, err := u.credit(e, 0)
				if err != nil || !inserted {
					return 0, err
				}
				c := u.common(key, "")
				if err := u.add(key)(event.NewWalletPointsRewarded(c, e.Points, event.ReasonBirthday, "", "", lot.ExpiresAt)); err != nil {
					return 0, err
				}
				if err := u.add(key)(event.NewBirthdayReward(c, e.Points, "")); err != nil {
					return 0, err
				}
				return 1, u.evaluateTier(false, key)
			})
			if err != nil {
				return total, fmt.Errorf("loyalty: birthday of customer %d: %w", c.CustomerID, err)
			}
			total += n
		}
	}
}

// birthdayOf returns a candidate's birthday: the account's, else the
// metafield's month and day.
func birthdayOf(c store.BirthdayCandidate) (time.Month, int, bool) {
	if c.BirthMonth != nil && c.BirthDay != nil {
		return time.Month(*c.BirthMonth), *c.BirthDay, true
	}
	t, err := time.Parse(time.DateOnly, c.MetafieldDOB)
	if err != nil {
		return 0, 0, false
	}
	return t.Month(), t.Day(), true
}

// NudgeUnused writes wallet_points_unused for customers whose balance can
// buy a reward and who neither redeemed nor were nudged in the last
// AfterDays days (ledger.NudgeDue), at most once per day
// (ledger.KeyNudge). redeemable_value is the value of the best fixed-amount
// reward the balance buys, in the shop currency (0 when only percentage
// rewards are affordable). It returns the number of nudges.
func (s *Service) NudgeUnused(ctx context.Context, shopID app.ShopID, now time.Time) (int, error) {
	_, settings, err := s.shopAndSettings(ctx, shopID)
	if err != nil {
		return 0, err
	}
	n := settings.UnusedNudge
	if !n.Enabled || n.AfterDays <= 0 {
		return 0, nil
	}
	quiet := now.AddDate(0, 0, -n.AfterDays)
	total := 0
	after := int64(0)
	for {
		ids, err := s.st.NudgeCandidates(ctx, shopID, n.ThresholdPoints, quiet, after, batchSize)
		if err != nil || len(ids) == 0 {
			return total, err
		}
		after = ids[len(ids)-1]
		for _, id := range ids {
			k, err := s.perCustomer(ctx, shopID, id, now, func(u *unit) (int, error) {
				a := u.acct
				last := a.CreatedAt
				if a.LastRedeemedAt != nil {
					last = *a.LastRedeemedAt
				}
				if !ledger.NudgeDue(n, a.PointsBalance, last, a.LastNudgedAt, u.now) {
					return 0, nil
				}
				if _, ok := u.settings.BestReward(a.PointsBalance); !ok {
					return 0, nil
				}
				key := ledger.KeyNudge(shopify.GID("Customer", a.ShopifyCustomerID), u.now, u.loc)
				fresh, err := u.tx.RecordNotice(u.ctx, u.shop.ID, a.CustomerID, store.NoticeUnusedNudge, key, nil, u.now)
				if err != nil || !fresh {
					return 0, err
				}
				now := u.now
				a.LastNudgedAt, u.dirty = &now, true
				return 1, u.add(key)(event.NewWalletPointsUnused(u.common(key, ""), redeemableValue(u.settings, a.PointsBalance)))
			})
			if err != nil {
				return total, fmt.Errorf("loyalty: nudge customer %d: %w", id, err)
			}
			total += k
		}
	}
}

// redeemableValue is the value of the best fixed-amount reward balance
// buys, in major units of the shop currency.
func redeemableValue(s program.Settings, balance int64) decimal.Decimal {
	best := decimal.Zero
	for _, r := range s.Rewards {
		if r.DiscountType == program.DiscountFixedAmount && r.PointsCost <= balance && r.Value.GreaterThan(best) {
			best = r.Value
		}
	}
	return best
}

// ReevaluateTiers reviews, at now, the tiers of a rolling-window program
// whose hold ended (tier.DowngradeDue): a customer whose metric in the
// window no longer reaches the tier moves down (tier_downgraded, with the
// next tier and the amount to it); one who still qualifies starts a new
// hold. It returns the number of customers changed.
func (s *Service) ReevaluateTiers(ctx context.Context, shopID app.ShopID, now time.Time) (int, error) {
	_, settings, err := s.shopAndSettings(ctx, shopID)
	if err != nil {
		return 0, err
	}
	t := settings.Tiers
	if !t.Enabled || t.Window != program.WindowRolling || t.Downgrade != program.DowngradeWindowEnd || t.WindowMonths <= 0 {
		return 0, nil
	}
	// A hold of N months lasts at least N×28 days: every account whose hold
	// may have ended started before this; DowngradeDue decides exactly.
	heldSince := now.AddDate(0, 0, -28*t.WindowMonths)
	cause := "tier-review:" + now.UTC().Format(time.DateOnly)
	total := 0
	after := int64(0)
	for {
		ids, err := s.st.TierReviewCandidates(ctx, shopID, heldSince, after, batchSize)
		if err != nil || len(ids) == 0 {
			return total, err
		}
		after = ids[len(ids)-1]
		for _, id := range ids {
			n, err := s.perCustomer(ctx, shopID, id, now, func(u *unit) (int, error) {
				before, since := u.acct.TierKey, u.acct.TierSince
				if err := u.evaluateTier(false, cause+":"+strconv.FormatInt(u.acct.CustomerID, 10)); err != nil {
					return 0, err
				}
				if u.acct.TierKey != before || (since != nil && u.acct.TierSince != nil && !since.Equal(*u.acct.TierSince)) {
					return 1, nil
				}
				return 0, nil
			})
			if err != nil {
				return total, fmt.Errorf("loyalty: tier review of customer %d: %w", id, err)
			}
			total += n
		}
	}
}
