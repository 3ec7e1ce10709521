// Package program holds a shop's loyalty program settings: how customers earn
// points, when points become spendable and expire, which rewards they buy,
// and the VIP tiers. Settings is the body of GET|PUT /api/v1/program and the
// model behind the admin settings form.
//
// The package is pure: it validates and computes over values, performs no
// I/O and never reads the clock. Money is held in integer minor units of the
// shop currency (MinimumOrderMinor, tier thresholds on amount spent) or as a
// decimal in major units (reward values); never as a float. The caller owns
// the shop currency and its exponent.
package program

import (
	"github.com/shopspring/decimal"
)

// EarnOn names the order event that credits purchase points.
type EarnOn string

// Order events that may credit purchase points.
const (
	EarnOnPaid      EarnOn = "paid"      // orders/paid: fast feedback, refunds reverse later
	EarnOnFulfilled EarnOn = "fulfilled" // orders/fulfilled: fewer reversals, slower reward
)

// DiscountType is the kind of discount a reward coupon gives, or
// DiscountStoreCredit for a reward paid as Shopify store credit.
type DiscountType string

// Discount types, named as in Shopify's discount APIs.
const (
	DiscountPercentage  DiscountType = "percentage"
	DiscountFixedAmount DiscountType = "fixed_amount"
	// DiscountStoreCredit credits the customer's Shopify store credit
	// account (storeCreditAccountCredit) with Value in the shop currency,
	// expiring ExpiresAfterDays later; no code. Rewards only: a referral's
	// friend discount is always a code.
	DiscountStoreCredit DiscountType = "store_credit"
)

// Metric is what VIP tier thresholds measure.
type Metric string

// Tier metrics.
const (
	MetricAmountSpent  Metric = "amount_spent"  // net spend in minor units of the shop currency
	MetricPointsEarned Metric = "points_earned" // points credited minus points reversed
)

// Window is the period over which the tier metric is summed.
type Window string

// Tier windows.
const (
	WindowLifetime Window = "lifetime" // everything since the customer joined
	WindowRolling  Window = "rolling"  // the last WindowMonths months
)

// Downgrade is when a customer whose metric fell below their tier moves down.
type Downgrade string

// Downgrade policies.
const (
	DowngradeWindowEnd Downgrade = "window_end" // re-evaluated when the tier's window ends
	DowngradeNever     Downgrade = "never"      // once reached, a tier is kept
)

// Settings is one shop's loyalty program. The JSON form is the API contract of
// GET|PUT /api/v1/program: add fields freely, never rename one. Decimals are
// written as JSON strings ("1.5") and accepted as strings or numbers.
type Settings struct {
	// PointsPerCurrencyUnit is the points earned per one major unit of the
	// shop currency in the earning base (1 = one point per dollar). Zero turns
	// purchase earning off.
	PointsPerCurrencyUnit decimal.Decimal `json:"points_per_currency_unit"`
	// EarnBase says what the earning base adds to the order subtotal after
	// discounts.
	EarnBase EarnBase `json:"earn_base"`
	// EarnOn is the order event that credits purchase points.
	EarnOn EarnOn `json:"earn_on"`
	// MinimumOrderMinor is the smallest earning base, in minor units, that
	// earns points; smaller orders earn none.
	MinimumOrderMinor int64 `json:"minimum_order_minor"`
	// CountTestOrders makes test orders ("test": true: the Bogus gateway,
	// a payment provider's test mode) earn like real ones. Off: they are
	// ignored.
	CountTestOrders bool `json:"count_test_orders"`

	// SignupPoints are credited once when a customer has an account (state
	// enabled in Shopify), on customers/create or on the customers/update
	// that enables it; records without an account earn none.
	SignupPoints int64 `json:"signup_points"`
	// WelcomeExistingAccounts also credits the signup points to accounts
	// whose customer record Shopify created before the app was installed
	// (when a customers/* webhook first shows them enabled). Off: only
	// accounts created after the install earn them.
	WelcomeExistingAccounts bool `json:"welcome_existing_accounts"`
	// BirthdayPoints are credited once a year on the customer's birthday.
	BirthdayPoints int64 `json:"birthday_points"`
	// ReviewPoints are credited when a review is accepted.
	ReviewPoints int64 `json:"review_points"`
	// ReviewRequestDays is how long after fulfilment a review is requested;
	// 0 sends no requests.
	ReviewRequestDays int `json:"review_request_days"`

	// PendingDays keeps purchase points unspendable for this many days after
	// they are credited, so a return inside the window costs nothing.
	PendingDays int `json:"pending_days"`
	// GuestPointsDays is how long the points of a paid order without a
	// customer account wait for the shopper to create one with the order's
	// email or phone (points_waiting); 0 turns waiting off: such orders
	// earn nothing, and an order of a customer record that is not an
	// account earns for that record as before. A program saved before this
	// setting existed reads it as 0 (off).
	GuestPointsDays int `json:"guest_points_days"`
	// ExpiryMonths is the lifetime of each credited lot; 0 means points never
	// expire.
	ExpiryMonths int `json:"expiry_months"`
	// ReminderDays are the days before a lot expires at which the customer is
	// reminded, strictly descending (default 30, 7, 1).
	ReminderDays []int `json:"reminder_days"`
	// UnusedNudge reminds customers who sit on points without redeeming.
	UnusedNudge UnusedNudge `json:"unused_nudge"`

	// Rewards are what points buy: each one turns into a discount coupon.
	Rewards []Reward `json:"rewards"`
	// ReturnExpiredRewardPoints gives the points of a reward coupon back
	// when the coupon reaches its end unused. Off: they stay spent.
	ReturnExpiredRewardPoints bool `json:"return_expired_reward_points"`
	// Referral is the refer-a-friend program.
	Referral Referral `json:"referral"`
	// Tiers is the VIP program.
	Tiers Tiers `json:"tiers"`
	// RetentionDays is how long the delivery log keeps each event sent to
	// the integrations (its payload, the sink's answer). Older deliveries
	// and events are deleted; the statistics keep their counts.
	RetentionDays int `json:"retention_days"`
}

// EarnBase says what is added to the subtotal after discounts to form the
// amount that earns points. Both default to false: shipping and tax are not
// the merchant's revenue, and most programs (Smile, LoyaltyLion) exclude them.
type EarnBase struct {
	IncludeShipping bool `json:"include_shipping"`
	IncludeTax      bool `json:"include_tax"`
}

// UnusedNudge configures the "you have points to spend" reminder.
type UnusedNudge struct {
	Enabled bool `json:"enabled"`
	// ThresholdPoints is the smallest balance that is nudged.
	ThresholdPoints int64 `json:"threshold_points"`
	// AfterDays is how long without a redemption before a nudge, and the
	// minimum gap between two nudges.
	AfterDays int `json:"after_days"`
}

// Reward is a redemption option: PointsCost points buy one coupon, or one
// store credit.
type Reward struct {
	// ID is a stable slug; coupons and events refer to it.
	ID   string `json:"id"`
	Name string `json:"name"`
	// PointsCost is the price of the reward in points.
	PointsCost   int64        `json:"points_cost"`
	DiscountType DiscountType `json:"discount_type"`
	// Value is a percentage (10 = 10 % off) or an amount in major units of
	// the shop currency (5 = 5.00 off, or 5.00 of store credit), by
	// DiscountType. JSON carries it as a decimal string, never a float.
	Value decimal.Decimal `json:"value"`
	// MinSubtotalMinor is the cart subtotal the coupon needs, in minor units;
	// 0 means none.
	MinSubtotalMinor int64 `json:"min_subtotal_minor"`
	// ExpiresAfterDays is the coupon's lifetime; 0 means it never expires.
	// A store credit reward needs at least 1: its expiresAt is how the
	// credit is recognised in Shopify after a lost answer.
	ExpiresAfterDays int `json:"expires_after_days"`
}

// Referral is the refer-a-friend program: the friend gets a discount on a
// first order, the referrer gets points when that order qualifies.
type Referral struct {
	Enabled             bool            `json:"enabled"`
	ReferrerPoints      int64           `json:"referrer_points"`
	FriendDiscountType  DiscountType    `json:"friend_discount_type"`
	FriendDiscountValue decimal.Decimal `json:"friend_discount_value"`
}

// Tiers is the VIP program.
type Tiers struct {
	Enabled bool   `json:"enabled"`
	Metric  Metric `json:"metric"`
	Window  Window `json:"window"`
	// WindowMonths is the length of a rolling window, and how long a tier is
	// held before it is re-evaluated under DowngradeWindowEnd.
	WindowMonths int       `json:"window_months"`
	Downgrade    Downgrade `json:"downgrade"`
	// Levels are ordered by ascending Threshold; the first has threshold 0
	// so every member has a tier.
	Levels []Tier `json:"levels"`
}

// Tier is one VIP level.
type Tier struct {
	// Key is a stable slug stored on customers and sent in events; Name is
	// what shoppers see and may change freely.
	Key  string `json:"key"`
	Name string `json:"name"`
	// Threshold is the metric value that reaches the tier: minor units for
	// amount_spent, points for points_earned.
	Threshold int64 `json:"threshold"`
	// Multiplier scales purchase points for members of the tier (1.5 = +50 %).
	Multiplier decimal.Decimal `json:"multiplier"`
}

// Defaults returns the settings a newly installed shop starts with. Money
// amounts assume a currency with two decimals (MinimumOrderMinor 0, Silver at
// 500.00, Gold at 1,500.00); the caller may rescale them for the shop
// currency before saving.
func Defaults() Settings {
	return Settings{
		PointsPerCurrencyUnit: decimal.NewFromInt(1),
		EarnBase:              EarnBase{IncludeShipping: false, IncludeTax: false},
		EarnOn:                EarnOnPaid,
		MinimumOrderMinor:     0,
		CountTestOrders:       false,
		SignupPoints:          100,
		// Existing customers are not new signups: crediting them on install
		// floods the sinks with "you earned points" messages.
		WelcomeExistingAccounts: false,
		BirthdayPoints:          200,
		ReviewPoints:            50,
		ReviewRequestDays:       14,
		PendingDays:             0,
		GuestPointsDays:         30,
		RetentionDays:           90,
		ExpiryMonths:            12,
		ReminderDays:            []int{30, 7, 1},
		UnusedNudge:             UnusedNudge{Enabled: false, ThresholdPoints: 500, AfterDays: 30},
		Rewards: []Reward{
			{ID: "amount-5", Name: "5 off your order", PointsCost: 500, DiscountType: DiscountFixedAmount, Value: decimal.NewFromInt(5), ExpiresAfterDays: 90},
			{ID: "amount-10", Name: "10 off your order", PointsCost: 1000, DiscountType: DiscountFixedAmount, Value: decimal.NewFromInt(10), ExpiresAfterDays: 90},
			{ID: "percent-15", Name: "15% off your order", PointsCost: 1500, DiscountType: DiscountPercentage, Value: decimal.NewFromInt(15), ExpiresAfterDays: 90},
		},
		Referral: Referral{
			Enabled:             false,
			ReferrerPoints:      500,
			FriendDiscountType:  DiscountPercentage,
			FriendDiscountValue: decimal.NewFromInt(10),
		},
		Tiers: Tiers{
			Enabled:      true,
			Metric:       MetricAmountSpent,
			Window:       WindowRolling,
			WindowMonths: 12,
			Downgrade:    DowngradeWindowEnd,
			Levels: []Tier{
				{Key: "bronze", Name: "Bronze", Threshold: 0, Multiplier: decimal.NewFromInt(1)},
				{Key: "silver", Name: "Silver", Threshold: 50000, Multiplier: decimal.RequireFromString("1.25")},
				{Key: "gold", Name: "Gold", Threshold: 150000, Multiplier: decimal.RequireFromString("1.5")},
			},
		},
	}
}

// Reward returns the reward with the given id.
func (s Settings) Reward(id string) (Reward, bool) {
	for _, r := range s.Rewards {
		if r.ID == id {
			return r, true
		}
	}
	return Reward{}, false
}

// IsStoreCredit reports whether the reward is paid as Shopify store credit.
func (r Reward) IsStoreCredit() bool { return r.DiscountType == DiscountStoreCredit }

// BestReward returns the most expensive reward a balance can buy, for the
// "you have points to spend" nudge; false when it buys none.
func (s Settings) BestReward(balance int64) (Reward, bool) {
	var best Reward
	found := false
	for _, r := range s.Rewards {
		if r.PointsCost <= balance && (!found || r.PointsCost > best.PointsCost) {
			best, found = r, true
		}
	}
	return best, found
}

// Tier returns the level with the given key.
func (t Tiers) Tier(key string) (Tier, bool) {
	for _, l := range t.Levels {
		if l.Key == key {
			return l, true
		}
	}
	return Tier{}, false
}
