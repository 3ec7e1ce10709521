package program

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app"
)

// Bounds enforced by Validate. They keep every computation far from int64
// overflow (points × multiplier × base) and reject values that are almost
// certainly typos (a 50-year expiry, a ten-million-point signup bonus).
const (
	MaxPointsPerCurrencyUnit = 1000       // points per major unit
	MaxCreditPoints          = 1_000_000  // signup, birthday, review and referral points
	MaxRewardPoints          = 10_000_000 // cost of one reward, nudge threshold
	MaxMoneyMinor            = 1 << 50    // minimum order, reward minimum, tier thresholds (~1.1e15)
	MaxFixedAmount           = 1_000_000  // fixed discount, major units
	MaxDays                  = 365        // pending days, reminder offsets, nudge, review and guest points delays
	MaxExpiryMonths          = 60         // lot lifetime
	MaxWindowMonths          = 60         // rolling tier window
	MaxReminders             = 5          // reminder offsets per lot
	MaxRewards               = 20         // redemption options
	MaxTiers                 = 10         // VIP levels
	MaxCouponDays            = 3650       // reward coupon lifetime
	MinRetentionDays         = 30         // the delivery log: a month of history to debug a flow
	MaxRetentionDays         = 730        // ... and at most two years of customers' events
	MaxNameLen               = 80         // reward and tier names, in characters
	MaxKeyLen                = 40         // reward ids and tier keys
	minDaysPerMonth          = 28         // shortest month: the safe lower bound of an N-month span
	maxMultiplier            = 10         // tier earn multiplier
	maxPointsScale           = 4          // decimal places of points_per_currency_unit
	maxMultiplierScale       = 2          // decimal places of a tier multiplier
	maxPercentScale          = 2          // decimal places of a percentage discount
	maxAmountScale           = 3          // decimal places of a fixed amount (KWD, BHD have 3)
)

// Problem is one field that failed validation. Field is the JSON path of the
// value, such as "tiers.levels[1].threshold" or "reminder_days[0]".
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every field problem of a Settings value, in field
// order, so a form can show them all at once. It unwraps to one *app.Error
// per problem (code EINVALID), so app.ErrorCode, app.ErrorMessage and
// app.ErrorField report the first problem.
type ValidationError struct {
	Problems []Problem
}

// Error implements the error interface.
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Message
	}
	return "program: invalid settings: " + strings.Join(parts, "; ")
}

// Unwrap returns one app field error per problem.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = app.FieldError(p.Field, "%s", p.Message)
	}
	return errs
}

// Fields returns the problems keyed by field path, for re-rendering a form
// with a message beside each input.
func (e *ValidationError) Fields() map[string]string {
	m := make(map[string]string, len(e.Problems))
	for _, p := range e.Problems {
		if _, ok := m[p.Field]; !ok {
			m[p.Field] = p.Message
		}
	}
	return m
}

// FieldProblems returns the field problems carried by err: all of them for a
// *ValidationError, the one field of a single app field error, or nil.
func FieldProblems(err error) map[string]string {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Fields()
	}
	var ae *app.Error
	if errors.As(err, &ae) && ae.Field != "" {
		return map[string]string{ae.Field: ae.Message}
	}
	return nil
}

// problems collects validation failures in field order.
type problems []Problem

func (ps *problems) add(field, format string, args ...any) {
	*ps = append(*ps, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Validate reports every problem of s, or nil. The error is a
// *ValidationError; see FieldProblems. Switched-off sections (tiers,
// referral, the nudge) are validated too, so that switching one on never
// reveals stale errors; only the checks that matter when on (a nudge
// threshold of at least 1) wait for Enabled.
func (s Settings) Validate() error {
	var ps problems

	if s.PointsPerCurrencyUnit.Sign() < 0 || s.PointsPerCurrencyUnit.GreaterThan(decimal.NewFromInt(MaxPointsPerCurrencyUnit)) {
		ps.add("points_per_currency_unit", "Points per currency unit must be between 0 and %d.", MaxPointsPerCurrencyUnit)
	} else if !hasScale(s.PointsPerCurrencyUnit, maxPointsScale) {
		ps.add("points_per_currency_unit", "Points per currency unit may have at most %d decimal places.", maxPointsScale)
	}
	switch s.EarnOn {
	case EarnOnPaid, EarnOnFulfilled:
	default:
		ps.add("earn_on", "Earn on must be \"paid\" or \"fulfilled\".")
	}
	checkRange(&ps, "minimum_order_minor", "Minimum order", s.MinimumOrderMinor, 0, MaxMoneyMinor)
	checkRange(&ps, "signup_points", "Signup points", s.SignupPoints, 0, MaxCreditPoints)
	checkRange(&ps, "birthday_points", "Birthday points", s.BirthdayPoints, 0, MaxCreditPoints)
	checkRange(&ps, "review_points", "Review points", s.ReviewPoints, 0, MaxCreditPoints)
	checkRange(&ps, "review_request_days", "Review request days", int64(s.ReviewRequestDays), 0, MaxDays)
	checkRange(&ps, "guest_points_days", "Guest points days", int64(s.GuestPointsDays), 0, MaxDays)
	checkRange(&ps, "retention_days", "Delivery log retention", int64(s.RetentionDays), MinRetentionDays, MaxRetentionDays)
	checkRange(&ps, "expiry_months", "Expiry months", int64(s.ExpiryMonths), 0, MaxExpiryMonths)

	// The N-month span is at least N×28 days. Bounding pending days and
	// reminders by it guarantees a lot becomes spendable, and every reminder
	// fires, before the lot expires, whatever the credit date.
	span := s.ExpiryMonths * minDaysPerMonth
	if checkRange(&ps, "pending_days", "Pending days", int64(s.PendingDays), 0, MaxDays) &&
		s.ExpiryMonths > 0 && s.ExpiryMonths <= MaxExpiryMonths && s.PendingDays >= span {
		ps.add("pending_days", "Pending days must be shorter than the expiry period (%d days).", span)
	}
	s.validateReminders(&ps, span)

	n := s.UnusedNudge
	checkRange(&ps, "unused_nudge.threshold_points", "Nudge threshold", n.ThresholdPoints, 0, MaxRewardPoints)
	checkRange(&ps, "unused_nudge.after_days", "Nudge days", int64(n.AfterDays), 0, MaxDays)
	if n.Enabled {
		if n.ThresholdPoints < 1 {
			ps.add("unused_nudge.threshold_points", "Nudge threshold must be at least 1 point.")
		}
		if n.AfterDays < 1 {
			ps.add("unused_nudge.after_days", "Nudge days must be at least 1.")
		}
	}

	s.validateRewards(&ps)

	r := s.Referral
	checkRange(&ps, "referral.referrer_points", "Referrer points", r.ReferrerPoints, 0, MaxCreditPoints)
	checkDiscount(&ps, "referral.friend_discount_type", "referral.friend_discount_value", r.FriendDiscountType, r.FriendDiscountValue)

	s.Tiers.validate(&ps)

	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

func (s Settings) validateReminders(ps *problems, span int) {
	if len(s.ReminderDays) > MaxReminders {
		ps.add("reminder_days", "At most %d expiry reminders are allowed.", MaxReminders)
		return
	}
	for i, d := range s.ReminderDays {
		field := fmt.Sprintf("reminder_days[%d]", i)
		switch {
		case d < 1 || d > MaxDays:
			ps.add(field, "Reminder days must be between 1 and %d.", MaxDays)
		case i > 0 && d == s.ReminderDays[i-1]:
			ps.add(field, "Reminder days must be distinct.")
		case i > 0 && d > s.ReminderDays[i-1]:
			ps.add(field, "Reminder days must be in descending order.")
		case s.ExpiryMonths > 0 && s.ExpiryMonths <= MaxExpiryMonths && d >= span:
			// With expiry off the reminders are kept but unused, so turning
			// expiry off does not force the merchant to clear them first.
			ps.add(field, "A reminder must come before points expire (less than %d days).", span)
		}
	}
}

func (s Settings) validateRewards(ps *problems) {
	if len(s.Rewards) > MaxRewards {
		ps.add("rewards", "At most %d rewards are allowed.", MaxRewards)
		return
	}
	seen := make(map[string]bool, len(s.Rewards))
	for i, r := range s.Rewards {
		p := fmt.Sprintf("rewards[%d].", i)
		switch {
		case !isSlug(r.ID):
			ps.add(p+"id", "Reward id must be 1 to %d lowercase letters, digits, \"-\" or \"_\".", MaxKeyLen)
		case seen[r.ID]:
			ps.add(p+"id", "Reward id %q is used twice.", r.ID)
		}
		seen[r.ID] = true
		checkName(ps, p+"name", "Reward name", r.Name)
		checkRange(ps, p+"points_cost", "Points cost", r.PointsCost, 1, MaxRewardPoints)
		if r.DiscountType == DiscountStoreCredit {
			checkStoreCredit(ps, p, r)
			continue
		}
		checkDiscount(ps, p+"discount_type", p+"value", r.DiscountType, r.Value)
		checkRange(ps, p+"min_subtotal_minor", "Minimum subtotal", r.MinSubtotalMinor, 0, MaxMoneyMinor)
		checkRange(ps, p+"expires_after_days", "Coupon lifetime", int64(r.ExpiresAfterDays), 0, MaxCouponDays)
	}
}

func (t Tiers) validate(ps *problems) {
	switch t.Metric {
	case MetricAmountSpent, MetricPointsEarned:
	default:
		ps.add("tiers.metric", "Tier metric must be \"amount_spent\" or \"points_earned\".")
	}
	switch t.Window {
	case WindowLifetime:
		checkRange(ps, "tiers.window_months", "Window months", int64(t.WindowMonths), 0, MaxWindowMonths)
	case WindowRolling:
		checkRange(ps, "tiers.window_months", "Window months", int64(t.WindowMonths), 1, MaxWindowMonths)
	default:
		ps.add("tiers.window", "Tier window must be \"lifetime\" or \"rolling\".")
	}
	switch t.Downgrade {
	case DowngradeWindowEnd, DowngradeNever:
	default:
		ps.add("tiers.downgrade", "Downgrade must be \"window_end\" or \"never\".")
	}
	if len(t.Levels) == 0 || len(t.Levels) > MaxTiers {
		ps.add("tiers.levels", "Define between 1 and %d tiers.", MaxTiers)
		return
	}
	seen := make(map[string]bool, len(t.Levels))
	for i, l := range t.Levels {
		p := fmt.Sprintf("tiers.levels[%d].", i)
		switch {
		case !isSlug(l.Key):
			ps.add(p+"key", "Tier key must be 1 to %d lowercase letters, digits, \"-\" or \"_\".", MaxKeyLen)
		case seen[l.Key]:
			ps.add(p+"key", "Tier key %q is used twice.", l.Key)
		}
		seen[l.Key] = true
		checkName(ps, p+"name", "Tier name", l.Name)
		// The first tier starts at 0 so that every member has a tier and
		// tier.Evaluate never has to answer "none".
		switch {
		case i == 0 && l.Threshold != 0:
			ps.add(p+"threshold", "The first tier must start at 0.")
		case i > 0 && l.Threshold <= t.Levels[i-1].Threshold:
			ps.add(p+"threshold", "Tier thresholds must increase from one tier to the next.")
		case l.Threshold > MaxMoneyMinor:
			ps.add(p+"threshold", "Tier threshold must be at most %d.", int64(MaxMoneyMinor))
		}
		if l.Multiplier.Sign() <= 0 || l.Multiplier.GreaterThan(decimal.NewFromInt(maxMultiplier)) {
			ps.add(p+"multiplier", "Multiplier must be more than 0 and at most %d.", maxMultiplier)
		} else if !hasScale(l.Multiplier, maxMultiplierScale) {
			ps.add(p+"multiplier", "Multiplier may have at most %d decimal places.", maxMultiplierScale)
		}
	}
}

// checkRange adds a problem unless lo <= v <= hi, and reports whether v is
// in range.
func checkRange(ps *problems, field, label string, v, lo, hi int64) bool {
	if v < lo || v > hi {
		ps.add(field, "%s must be between %d and %d.", label, lo, hi)
		return false
	}
	return true
}

func checkName(ps *problems, field, label, name string) {
	n := utf8.RuneCountInString(strings.TrimSpace(name))
	if n == 0 || utf8.RuneCountInString(name) > MaxNameLen {
		ps.add(field, "%s must be 1 to %d characters.", label, MaxNameLen)
	}
}

// checkStoreCredit validates a store credit reward: a positive amount in
// major units, and a lifetime of at least one day (Perkbridge always sends
// expiresAt, and finds a credit whose answer was lost by it).
func checkStoreCredit(ps *problems, p string, r Reward) {
	if r.Value.Sign() <= 0 || r.Value.GreaterThan(decimal.NewFromInt(MaxFixedAmount)) {
		ps.add(p+"value", "A store credit amount must be more than 0 and at most %d.", MaxFixedAmount)
	} else if !hasScale(r.Value, maxAmountScale) {
		ps.add(p+"value", "An amount may have at most %d decimal places.", maxAmountScale)
	}
	if r.MinSubtotalMinor != 0 {
		ps.add(p+"min_subtotal_minor", "A store credit reward has no minimum subtotal.")
	}
	checkRange(ps, p+"expires_after_days", "Store credit lifetime", int64(r.ExpiresAfterDays), 1, MaxCouponDays)
}

func checkDiscount(ps *problems, typeField, valueField string, typ DiscountType, v decimal.Decimal) {
	switch typ {
	case DiscountPercentage:
		if v.Sign() <= 0 || v.GreaterThan(decimal.NewFromInt(100)) {
			ps.add(valueField, "A percentage discount must be more than 0 and at most 100.")
		} else if !hasScale(v, maxPercentScale) {
			ps.add(valueField, "A percentage may have at most %d decimal places.", maxPercentScale)
		}
	case DiscountFixedAmount:
		if v.Sign() <= 0 || v.GreaterThan(decimal.NewFromInt(MaxFixedAmount)) {
			ps.add(valueField, "A fixed discount must be more than 0 and at most %d.", MaxFixedAmount)
		} else if !hasScale(v, maxAmountScale) {
			ps.add(valueField, "An amount may have at most %d decimal places.", maxAmountScale)
		}
	default:
		ps.add(typeField, "Discount type must be \"percentage\", \"fixed_amount\" or, for a reward, \"store_credit\".")
	}
}

// hasScale reports whether d has at most places significant decimal places
// ("1.50" has one).
func hasScale(d decimal.Decimal, places int32) bool {
	return d.Equal(d.Truncate(places))
}

// isSlug reports whether s is a stable identifier: lowercase ASCII letters,
// digits, '-' and '_', starting with a letter or digit. Slugs are stored on
// customers and sent to sinks, so they exclude anything needing escaping.
func isSlug(s string) bool {
	if s == "" || len(s) > MaxKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}
