// Package event is the catalog of loyalty events Perkbridge forwards to
// Klaviyo and CleverTap (DESIGN.md §3): their stable keys, their fields, one
// constructor per event that enforces those fields, the sales channel of
// order-derived events, and the statuses of a delivery.
//
// Event keys are external names: merchants build flows on them, so a key
// never changes once shipped. Property values are scalars only, because
// CleverTap rejects nested values; times stay time.Time here and each
// connector formats them (ISO 8601 for Klaviyo, $D_<epoch> for CleverTap).
//
// The package is pure: no I/O, no clock, no randomness. Event IDs are
// derived from the event's natural cause, so rebuilding an event after a
// crash gives the same ID, and the sinks' de-duplication (Klaviyo's
// unique_id) holds.
package event

import "slices"

// Key is the stable identifier of a catalog event; by default also the
// metric name sent to the sink.
type Key string

// The event catalog. Keys match DESIGN.md §3 exactly.
const (
	WalletPointsRewarded Key = "wallet_points_rewarded"
	WalletPointsRedeemed Key = "wallet_points_redeemed"
	WalletPointsReversed Key = "wallet_points_reversed"
	WalletPointsExpiring Key = "wallet_points_expiring"
	WalletPointsExpired  Key = "wallet_points_expired"
	WalletPointsUnused   Key = "wallet_points_unused"
	CouponCreated        Key = "coupon_created"
	CouponRedeemed       Key = "coupon_redeemed"
	TierUpgraded         Key = "tier_upgraded"
	TierDowngraded       Key = "tier_downgraded"
	ReferralCompleted    Key = "referral_completed"
	RefereeRewarded      Key = "referee_rewarded"
	ReviewRequested      Key = "review_requested"
	ReviewSubmitted      Key = "review_submitted"
	BirthdayReward       Key = "birthday_reward"
	RedemptionFailed     Key = "redemption_failed"
	PointsWaiting        Key = "points_waiting"
	StoreCreditIssued    Key = "store_credit_issued"
)

// FieldType is the type of an event field's value.
type FieldType string

// Field types, with the Go types a property of that type may hold.
const (
	TypeString  FieldType = "string"  // string
	TypeInteger FieldType = "integer" // int, int32, int64
	TypeNumber  FieldType = "number"  // json.Number (money, exact), float64, or an integer type
	TypeTime    FieldType = "time"    // time.Time
	TypeBoolean FieldType = "boolean" // bool
)

// Field is one property of an event.
type Field struct {
	Name        string    `json:"name"`
	Type        FieldType `json:"type"`
	Required    bool      `json:"required"`
	Description string    `json:"description"`
}

// Definition describes one catalog event for the admin UI and for
// validation.
type Definition struct {
	Key         Key    `json:"key"`
	Description string `json:"description"` // one line, for merchants
	// OrderDerived events come from an order and carry its sales channel, so
	// an event definition may be limited to some channels.
	OrderDerived bool    `json:"order_derived"`
	Fields       []Field `json:"fields"`
	// OneOf lists optional fields of which exactly one must be present
	// (a birthday reward is points or a coupon).
	OneOf []string `json:"one_of,omitempty"`
}

// Field returns the definition's field with the given name.
func (d Definition) Field(name string) (Field, bool) {
	for _, f := range d.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Names of the properties every event carries besides its own fields.
const (
	FieldEventID       = "event_id"
	FieldOccurredAt    = "occurred_at"
	FieldShop          = "shop"
	FieldCustomerID    = "customer_id"
	FieldPointsBalance = "points_balance"
	FieldTier          = "tier"
	FieldCurrency      = "currency"
	FieldChannel       = "channel"
)

// CommonFields returns the fields every event carries (channel only when
// order-derived).
func CommonFields() []Field {
	return []Field{
		{FieldEventID, TypeString, true, "Unique id of the event, stable across retries."},
		{FieldOccurredAt, TypeTime, true, "When it happened."},
		{FieldShop, TypeString, true, "The shop's myshopify domain."},
		{FieldCustomerID, TypeString, true, "Shopify customer id (numeric)."},
		{FieldPointsBalance, TypeInteger, true, "Points balance after the event."},
		{FieldTier, TypeString, false, "VIP tier after the event."},
		{FieldCurrency, TypeString, true, "Shop currency (ISO 4217)."},
		{FieldChannel, TypeString, false, "Sales channel of the order: online_store, pos, draft_order or other."},
	}
}

func req(name string, t FieldType, desc string) Field { return Field{name, t, true, desc} }
func opt(name string, t FieldType, desc string) Field { return Field{name, t, false, desc} }

// catalog is in the order of DESIGN.md §3, the order the admin UI lists.
// It is unexported so nothing can change it; Catalog returns a copy.
var catalog = []Definition{
	{
		Key:          WalletPointsRewarded,
		Description:  "Points were credited: for an order, signup, birthday, review, referral or by hand.",
		OrderDerived: true,
		Fields: []Field{
			req("points", TypeInteger, "Points credited."),
			req("reason", TypeString, "order, signup, birthday, review, referral, manual, reward_expired, redemption_cancelled or order_edit."),
			opt("order_id", TypeString, "Shopify order id, for order points."),
			opt("order_name", TypeString, "Order name such as #1001."),
			opt("lot_expires_at", TypeTime, "When these points expire, if they do."),
		},
	},
	{
		Key:         WalletPointsRedeemed,
		Description: "Points were spent on a reward.",
		Fields: []Field{
			req("points", TypeInteger, "Points spent."),
			req("reward_id", TypeString, "The reward bought."),
			opt("coupon_code", TypeString, "The coupon it became (absent for a store credit reward)."),
		},
	},
	{
		Key:          WalletPointsReversed,
		Description:  "A refund or cancellation took earned points back.",
		OrderDerived: true,
		Fields: []Field{
			req("points", TypeInteger, "Points taken back."),
			req("order_id", TypeString, "Shopify order id."),
			opt("order_name", TypeString, "Order name such as #1001."),
			opt("refund_id", TypeString, "Shopify refund id, for a refund."),
			req("reason", TypeString, "refund, cancel or order_edit."),
		},
	},
	{
		Key:         WalletPointsExpiring,
		Description: "Some points will expire in a few days (30, 7, 1… as the merchant picks).",
		Fields: []Field{
			req("points_expiring", TypeInteger, "Points that will expire."),
			req("expires_at", TypeTime, "When they expire."),
			req("days_left", TypeInteger, "Calendar days until then."),
		},
	},
	{
		Key:         WalletPointsExpired,
		Description: "Some points expired.",
		Fields: []Field{
			req("points_expired", TypeInteger, "Points that expired."),
		},
	},
	{
		Key:         WalletPointsUnused,
		Description: "The balance can buy a reward and nothing was redeemed for a while.",
		Fields: []Field{
			req("points_balance", TypeInteger, "Points balance."),
			req("redeemable_value", TypeNumber, "Value of the best reward the balance buys, in shop currency."),
		},
	},
	{
		Key:         CouponCreated,
		Description: "A customer turned points into a reward coupon.",
		Fields: []Field{
			req("coupon_code", TypeString, "The coupon code."),
			req("discount_type", TypeString, "percentage or fixed_amount."),
			req("discount_value", TypeNumber, "Percent off, or amount off in shop currency."),
			req("points_spent", TypeInteger, "Points it cost."),
			opt("expires_at", TypeTime, "When the coupon expires, if it does."),
		},
	},
	{
		Key:          CouponRedeemed,
		Description:  "An order used a loyalty coupon.",
		OrderDerived: true,
		Fields: []Field{
			req("coupon_code", TypeString, "The coupon code."),
			req("order_id", TypeString, "Shopify order id."),
			opt("order_name", TypeString, "Order name such as #1001."),
		},
	},
	{
		Key:         TierUpgraded,
		Description: "The customer moved up a VIP tier.",
		Fields:      tierFields(),
	},
	{
		Key:         TierDowngraded,
		Description: "The customer moved down a VIP tier.",
		Fields:      tierFields(),
	},
	{
		Key:         ReferralCompleted,
		Description: "A referred friend's first qualifying order; sent for the referrer.",
		Fields: []Field{
			req("referral_code", TypeString, "The referrer's code."),
			opt("friend_first_name", TypeString, "The friend's first name, when known."),
			opt("reward_points", TypeInteger, "Points the referrer received."),
			opt("reward_coupon", TypeString, "Coupon the referrer received."),
		},
		OneOf: []string{"reward_points", "reward_coupon"},
	},
	{
		Key:         RefereeRewarded,
		Description: "A referred friend received the referral discount.",
		Fields: []Field{
			req("coupon_code", TypeString, "The friend's coupon code."),
			req("discount_value", TypeNumber, "Percent off, or amount off in shop currency."),
			opt("referrer_first_name", TypeString, "The referrer's first name, when known."),
		},
	},
	{
		Key:          ReviewRequested,
		Description:  "Some days after fulfilment, the customer is asked to review the order.",
		OrderDerived: true,
		Fields: []Field{
			req("order_id", TypeString, "Shopify order id."),
			opt("order_name", TypeString, "Order name such as #1001."),
			req("product_titles", TypeString, "Titles of the products, comma-separated (values are scalars)."),
			req("review_url", TypeString, "Where to write the review."),
		},
	},
	{
		Key:         ReviewSubmitted,
		Description: "A review was accepted.",
		Fields: []Field{
			req("product_id", TypeString, "Shopify product id."),
			req("rating", TypeInteger, "Stars, 1 to 5."),
			req("points", TypeInteger, "Points credited for it (0 when reviews earn none)."),
		},
	},
	{
		Key:         BirthdayReward,
		Description: "The customer received a birthday reward.",
		Fields: []Field{
			opt("points", TypeInteger, "Points credited."),
			opt("coupon_code", TypeString, "Coupon given."),
		},
		OneOf: []string{"points", "coupon_code"},
	},
	{
		Key:         RedemptionFailed,
		Description: "A redemption could not produce its Shopify discount or store credit, and the points were returned.",
		Fields: []Field{
			req("reward_id", TypeString, "The reward asked for."),
			req("points", TypeInteger, "Points returned."),
			req("reason", TypeString, "Why Shopify did not create it."),
		},
	},
	{
		Key:          PointsWaiting,
		Description:  "A paid order without a customer account earned points that wait for the shopper to create one.",
		OrderDerived: true,
		Fields: []Field{
			req("points", TypeInteger, "Points waiting."),
			req("order_id", TypeString, "Shopify order id."),
			opt("order_name", TypeString, "Order name such as #1001."),
			req("waiting_until", TypeTime, "The account must be created before this moment to receive them."),
		},
	},
	{
		Key:         StoreCreditIssued,
		Description: "Points were turned into Shopify store credit, and Shopify confirmed the credit.",
		Fields: []Field{
			req("amount", TypeNumber, "Store credit added, in the currency below."),
			req("currency", TypeString, "Currency of the credit (the shop currency, ISO 4217)."),
			req("points_spent", TypeInteger, "Points it cost."),
			req("expires_at", TypeTime, "When the credit expires."),
			req("reward_id", TypeString, "The reward bought."),
			opt("reward_name", TypeString, "The reward's name as the shopper saw it."),
		},
	},
}

func tierFields() []Field {
	return []Field{
		req("tier", TypeString, "The new tier."),
		opt("previous_tier", TypeString, "The tier before, if any."),
		opt("tier_expires_at", TypeTime, "When the tier is re-evaluated, if it is."),
		opt("next_tier", TypeString, "The next tier up, if any."),
		opt("amount_to_next_tier", TypeInteger, "Missing to reach it: minor units of spend or points."),
	}
}

// Catalog returns every catalog event, in display order. The result is a
// copy the caller may change.
func Catalog() []Definition {
	out := make([]Definition, len(catalog))
	for i, d := range catalog {
		d.Fields = slices.Clone(d.Fields)
		d.OneOf = slices.Clone(d.OneOf)
		out[i] = d
	}
	return out
}

// Keys returns every catalog key, in display order.
func Keys() []Key {
	out := make([]Key, len(catalog))
	for i, d := range catalog {
		out[i] = d.Key
	}
	return out
}

// Lookup returns the definition of key (a copy).
func Lookup(key Key) (Definition, bool) {
	for _, d := range catalog {
		if d.Key == key {
			d.Fields = slices.Clone(d.Fields)
			d.OneOf = slices.Clone(d.OneOf)
			return d, true
		}
	}
	return Definition{}, false
}

// lookup is Lookup without the copy, for read-only use inside the package.
func lookup(key Key) (Definition, bool) {
	for _, d := range catalog {
		if d.Key == key {
			return d, true
		}
	}
	return Definition{}, false
}

// Valid reports whether k is in the catalog.
func (k Key) Valid() bool {
	_, ok := lookup(k)
	return ok
}
