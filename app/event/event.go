package event

import (
	"encoding/json"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app"
)

// Event is one loyalty moment to forward to the sinks: the common fields
// every event carries, and Properties with the fields of its catalog entry.
type Event struct {
	// ID is stable across retries and rebuilds (see StableID); Klaviyo's
	// unique_id is set to it so a retried event is never counted twice.
	ID         uuid.UUID `json:"event_id"`
	Key        Key       `json:"event"`
	OccurredAt time.Time `json:"occurred_at"`
	ShopDomain string    `json:"shop"`
	// CustomerID is the Shopify customer's numeric id as a decimal string
	// ("115310627314723954"), never the GID: it is what merchants see in the
	// admin and what the customer_id common property (DESIGN.md §4) and
	// Klaviyo's external_id hold. Constructors accept either form.
	CustomerID string `json:"customer_id"`
	// Channel is the sales channel of the order behind an order-derived
	// event; empty otherwise.
	Channel       Channel `json:"channel,omitempty"`
	PointsBalance int64   `json:"points_balance"`
	Tier          string  `json:"tier"`
	Currency      string  `json:"currency"`
	// Properties hold the event's own fields, scalars only: string, bool,
	// int/int32/int64, float64, json.Number (exact money) and time.Time.
	// Optional fields without a value are absent, never nil.
	Properties map[string]any `json:"properties"`
}

// Common is what every event of a customer shares, filled by the caller
// from the change that caused it.
type Common struct {
	// SourceKey is the natural key of the cause: the ledger entry's
	// idempotency key, or the job's own key. It makes the event ID stable.
	SourceKey     string
	OccurredAt    time.Time
	ShopDomain    string
	CustomerID    string  // Shopify numeric id or GID
	Channel       Channel // for order-derived events; see ChannelFromSourceName
	PointsBalance int64   // after the change
	Tier          string  // after the change
	Currency      string  // shop currency, ISO 4217
}

// namespace scopes StableID's name-based UUIDs to Perkbridge events.
var namespace = uuid.MustParse("9b0e6c52-3f4a-5d8e-a1c7-6e2f0b8d4a31")

// StableID returns the event ID for an event of key about customerID in
// shop, caused by sourceKey: a name-based (version 5) UUID of those four.
// Rebuilding the same event, after a crash or a replayed webhook, gives the
// same ID, so deliveries keyed on (shop, event id, integration) and the
// sinks' own de-duplication both hold; different causes never share one.
func StableID(shopDomain, customerID string, key Key, sourceKey string) uuid.UUID {
	name := strings.Join([]string{shopDomain, numericID(customerID), string(key), sourceKey}, "\n")
	return uuid.NewSHA1(namespace, []byte(name))
}

// Reasons of wallet_points_rewarded and wallet_points_reversed.
const (
	ReasonOrder    = "order"
	ReasonSignup   = "signup"
	ReasonBirthday = "birthday"
	ReasonReview   = "review"
	ReasonReferral = "referral"
	ReasonManual   = "manual"
	// ReasonRewardExpired: a reward coupon ended unused and the program
	// gave its points back.
	ReasonRewardExpired = "reward_expired"
	// ReasonRedemptionCancelled: the merchant cancelled an unused reward
	// coupon and its points came back.
	ReasonRedemptionCancelled = "redemption_cancelled"
	ReasonRefund              = "refund"
	ReasonCancel              = "cancel"
	// ReasonOrderEdit: an order edit or an exchange added lines (points
	// rewarded) or removed them (points reversed) after the order earned.
	ReasonOrderEdit = "order_edit"
)

// props builds a property map, leaving out empty optional values.
type props map[string]any

func (p props) str(name, v string) props {
	if v != "" {
		p[name] = v
	}
	return p
}

func (p props) time(name string, t *time.Time) props {
	if t != nil && !t.IsZero() {
		p[name] = t.UTC()
	}
	return p
}

// number returns d as an exact JSON number ("12.5"), never a float, so
// money reaches the sink as the merchant typed it.
func number(d decimal.Decimal) json.Number { return json.Number(d.String()) }

func newEvent(c Common, key Key, p props) (Event, error) {
	if c.SourceKey == "" {
		// Without a cause there is no stable ID, and a retry would send a
		// second event.
		return Event{}, app.Errorf(app.EINVALID, "Event %s needs the key of its cause.", key)
	}
	d, _ := lookup(key)
	e := Event{
		ID:            StableID(c.ShopDomain, c.CustomerID, key, c.SourceKey),
		Key:           key,
		OccurredAt:    c.OccurredAt.UTC(),
		ShopDomain:    c.ShopDomain,
		CustomerID:    numericID(c.CustomerID),
		PointsBalance: c.PointsBalance,
		Tier:          c.Tier,
		Currency:      c.Currency,
		Properties:    map[string]any(p),
	}
	if d.OrderDerived {
		e.Channel = c.Channel
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

func positive(key Key, field string, n int64) error {
	if n <= 0 {
		return app.Errorf(app.EINVALID, "Event %s needs %s above 0.", key, field)
	}
	return nil
}

// NewWalletPointsRewarded returns wallet_points_rewarded: points credited
// for reason (ReasonOrder, ReasonSignup, …, ReasonManual). orderID and
// orderName are for order points; lotExpiresAt is nil for points that never
// expire.
func NewWalletPointsRewarded(c Common, points int64, reason, orderID, orderName string, lotExpiresAt *time.Time) (Event, error) {
	if err := positive(WalletPointsRewarded, "points", points); err != nil {
		return Event{}, err
	}
	switch reason {
	case ReasonOrder, ReasonSignup, ReasonBirthday, ReasonReview, ReasonReferral, ReasonManual, ReasonRewardExpired, ReasonRedemptionCancelled, ReasonOrderEdit:
	default:
		return Event{}, app.Errorf(app.EINVALID, "Unknown reward reason %q.", reason)
	}
	if (reason == ReasonOrder || reason == ReasonOrderEdit) && orderID == "" {
		return Event{}, app.Errorf(app.EINVALID, "Order points need the order id.")
	}
	p := props{"points": points, "reason": reason}.
		str("order_id", numericID(orderID)).str("order_name", orderName).time("lot_expires_at", lotExpiresAt)
	return newEvent(c, WalletPointsRewarded, p)
}

// NewWalletPointsRedeemed returns wallet_points_redeemed: points (a positive
// number) spent on rewardID, which became couponCode ("" for a store credit
// reward, which has no code).
func NewWalletPointsRedeemed(c Common, points int64, rewardID, couponCode string) (Event, error) {
	if err := positive(WalletPointsRedeemed, "points", points); err != nil {
		return Event{}, err
	}
	p := props{}.str("reward_id", rewardID).str("coupon_code", couponCode)
	p["points"] = points
	return newEvent(c, WalletPointsRedeemed, p)
}

// NewWalletPointsReversed returns wallet_points_reversed: points (a positive
// number) taken back for reason ReasonRefund (with refundID),
// ReasonCancel or ReasonOrderEdit (lines removed after the earn).
func NewWalletPointsReversed(c Common, points int64, reason, orderID, orderName, refundID string) (Event, error) {
	if err := positive(WalletPointsReversed, "points", points); err != nil {
		return Event{}, err
	}
	switch {
	case reason == ReasonRefund && refundID == "":
		return Event{}, app.Errorf(app.EINVALID, "A refund reversal needs the refund id.")
	case reason == ReasonOrderEdit && orderID == "":
		return Event{}, app.Errorf(app.EINVALID, "An order edit reversal needs the order id.")
	case reason != ReasonRefund && reason != ReasonCancel && reason != ReasonOrderEdit:
		return Event{}, app.Errorf(app.EINVALID, "Unknown reversal reason %q.", reason)
	}
	p := props{"points": points, "reason": reason}.
		str("order_id", numericID(orderID)).str("order_name", orderName).str("refund_id", numericID(refundID))
	return newEvent(c, WalletPointsReversed, p)
}

// NewWalletPointsExpiring returns wallet_points_expiring: pointsExpiring
// will expire at expiresAt, daysLeft calendar days from now.
func NewWalletPointsExpiring(c Common, pointsExpiring int64, expiresAt time.Time, daysLeft int) (Event, error) {
	if err := positive(WalletPointsExpiring, "points_expiring", pointsExpiring); err != nil {
		return Event{}, err
	}
	if daysLeft < 0 {
		return Event{}, app.Errorf(app.EINVALID, "Days left cannot be negative.")
	}
	p := props{"points_expiring": pointsExpiring, "days_left": daysLeft}.time("expires_at", &expiresAt)
	return newEvent(c, WalletPointsExpiring, p)
}

// NewWalletPointsExpired returns wallet_points_expired.
func NewWalletPointsExpired(c Common, pointsExpired int64) (Event, error) {
	if err := positive(WalletPointsExpired, "points_expired", pointsExpired); err != nil {
		return Event{}, err
	}
	return newEvent(c, WalletPointsExpired, props{"points_expired": pointsExpired})
}

// NewWalletPointsUnused returns wallet_points_unused for the balance in c;
// redeemableValue is what the best affordable reward is worth in the shop
// currency (see program.Settings.BestReward).
func NewWalletPointsUnused(c Common, redeemableValue decimal.Decimal) (Event, error) {
	if err := positive(WalletPointsUnused, "points_balance", c.PointsBalance); err != nil {
		return Event{}, err
	}
	if redeemableValue.Sign() < 0 {
		return Event{}, app.Errorf(app.EINVALID, "Redeemable value cannot be negative.")
	}
	return newEvent(c, WalletPointsUnused, props{"points_balance": c.PointsBalance, "redeemable_value": number(redeemableValue)})
}

// NewCouponCreated returns coupon_created: couponCode, worth discountValue
// of discountType ("percentage" or "fixed_amount"), cost pointsSpent;
// expiresAt is nil for a coupon that never expires.
func NewCouponCreated(c Common, couponCode, discountType string, discountValue decimal.Decimal, pointsSpent int64, expiresAt *time.Time) (Event, error) {
	if err := positive(CouponCreated, "points_spent", pointsSpent); err != nil {
		return Event{}, err
	}
	if err := discount(CouponCreated, discountType, discountValue); err != nil {
		return Event{}, err
	}
	p := props{"discount_type": discountType, "discount_value": number(discountValue), "points_spent": pointsSpent}.
		str("coupon_code", couponCode).time("expires_at", expiresAt)
	return newEvent(c, CouponCreated, p)
}

func discount(key Key, typ string, v decimal.Decimal) error {
	if typ != "percentage" && typ != "fixed_amount" {
		return app.Errorf(app.EINVALID, "Event %s needs discount type percentage or fixed_amount.", key)
	}
	if v.Sign() <= 0 {
		return app.Errorf(app.EINVALID, "Event %s needs a discount above 0.", key)
	}
	return nil
}

// NewCouponRedeemed returns coupon_redeemed: couponCode was used on an
// order.
func NewCouponRedeemed(c Common, couponCode, orderID, orderName string) (Event, error) {
	p := props{}.str("coupon_code", couponCode).str("order_id", numericID(orderID)).str("order_name", orderName)
	return newEvent(c, CouponRedeemed, p)
}

// NewTierUpgraded returns tier_upgraded: the customer reached tier from
// previousTier ("" for none). tierExpiresAt is when the tier is
// re-evaluated (nil if never); nextTier ("" at the top) is the next tier up
// and amountToNextTier what is missing to reach it. c.Tier is set to tier.
func NewTierUpgraded(c Common, tier, previousTier string, tierExpiresAt *time.Time, nextTier string, amountToNextTier int64) (Event, error) {
	return newTierEvent(c, TierUpgraded, tier, previousTier, tierExpiresAt, nextTier, amountToNextTier)
}

// NewTierDowngraded returns tier_downgraded, with the fields of
// NewTierUpgraded.
func NewTierDowngraded(c Common, tier, previousTier string, tierExpiresAt *time.Time, nextTier string, amountToNextTier int64) (Event, error) {
	return newTierEvent(c, TierDowngraded, tier, previousTier, tierExpiresAt, nextTier, amountToNextTier)
}

func newTierEvent(c Common, key Key, tier, previousTier string, tierExpiresAt *time.Time, nextTier string, amountToNextTier int64) (Event, error) {
	if tier == previousTier {
		return Event{}, app.Errorf(app.EINVALID, "Event %s needs a tier change.", key)
	}
	c.Tier = tier
	p := props{}.str("tier", tier).str("previous_tier", previousTier).time("tier_expires_at", tierExpiresAt).str("next_tier", nextTier)
	if nextTier != "" {
		if amountToNextTier <= 0 {
			return Event{}, app.Errorf(app.EINVALID, "Event %s needs the amount to the next tier.", key)
		}
		p["amount_to_next_tier"] = amountToNextTier
	}
	return newEvent(c, key, p)
}

// NewReferralCompleted returns referral_completed for the referrer: the
// friend behind referralCode placed a qualifying first order. The referrer's
// reward is rewardPoints or rewardCoupon: exactly one is set.
func NewReferralCompleted(c Common, referralCode, friendFirstName string, rewardPoints int64, rewardCoupon string) (Event, error) {
	p := props{}.str("referral_code", referralCode).str("friend_first_name", friendFirstName).str("reward_coupon", rewardCoupon)
	if rewardPoints < 0 {
		return Event{}, app.Errorf(app.EINVALID, "Reward points cannot be negative.")
	}
	if rewardPoints > 0 {
		p["reward_points"] = rewardPoints
	}
	return newEvent(c, ReferralCompleted, p)
}

// NewRefereeRewarded returns referee_rewarded: the referred friend got
// couponCode worth discountValue.
func NewRefereeRewarded(c Common, couponCode string, discountValue decimal.Decimal, referrerFirstName string) (Event, error) {
	if discountValue.Sign() <= 0 {
		return Event{}, app.Errorf(app.EINVALID, "Event %s needs a discount above 0.", RefereeRewarded)
	}
	p := props{"discount_value": number(discountValue)}.str("coupon_code", couponCode).str("referrer_first_name", referrerFirstName)
	return newEvent(c, RefereeRewarded, p)
}

// NewReviewRequested returns review_requested for an order. Product titles
// are joined with ", " because sinks take scalars only.
func NewReviewRequested(c Common, orderID, orderName string, productTitles []string, reviewURL string) (Event, error) {
	titles := make([]string, 0, len(productTitles))
	for _, t := range productTitles {
		if t = strings.TrimSpace(t); t != "" {
			titles = append(titles, t)
		}
	}
	p := props{}.str("order_id", numericID(orderID)).str("order_name", orderName).
		str("product_titles", strings.Join(titles, ", ")).str("review_url", reviewURL)
	return newEvent(c, ReviewRequested, p)
}

// NewReviewSubmitted returns review_submitted: a review of productID with
// rating stars (1 to 5) was accepted and credited points (0 when reviews
// earn none).
func NewReviewSubmitted(c Common, productID string, rating int, points int64) (Event, error) {
	if rating < 1 || rating > 5 {
		return Event{}, app.Errorf(app.EINVALID, "Rating must be between 1 and 5.")
	}
	if points < 0 {
		return Event{}, app.Errorf(app.EINVALID, "Review points cannot be negative.")
	}
	p := props{"rating": rating, "points": points}.str("product_id", numericID(productID))
	return newEvent(c, ReviewSubmitted, p)
}

// NewBirthdayReward returns birthday_reward: the gift is points or
// couponCode, exactly one of them.
func NewBirthdayReward(c Common, points int64, couponCode string) (Event, error) {
	if points < 0 {
		return Event{}, app.Errorf(app.EINVALID, "Birthday points cannot be negative.")
	}
	p := props{}.str("coupon_code", couponCode)
	if points > 0 {
		p["points"] = points
	}
	return newEvent(c, BirthdayReward, p)
}

// NewRedemptionFailed returns redemption_failed: the reward rewardID could
// not be created in Shopify for reason, and points (positive) came back.
func NewRedemptionFailed(c Common, rewardID string, points int64, reason string) (Event, error) {
	if err := positive(RedemptionFailed, "points", points); err != nil {
		return Event{}, err
	}
	p := props{"points": points}.str("reward_id", rewardID).str("reason", reason)
	return newEvent(c, RedemptionFailed, p)
}

// NewPointsWaiting returns points_waiting: the order orderID earned points
// (positive) that wait, under the order's email or phone, for the shopper
// to create an account before waitingUntil.
func NewPointsWaiting(c Common, points int64, orderID, orderName string, waitingUntil time.Time) (Event, error) {
	if err := positive(PointsWaiting, "points", points); err != nil {
		return Event{}, err
	}
	if orderID == "" {
		return Event{}, app.Errorf(app.EINVALID, "Waiting points need the order id.")
	}
	if waitingUntil.IsZero() {
		return Event{}, app.Errorf(app.EINVALID, "Waiting points need the end of the wait.")
	}
	p := props{"points": points}.str("order_id", numericID(orderID)).str("order_name", orderName).time("waiting_until", &waitingUntil)
	return newEvent(c, PointsWaiting, p)
}

// NewStoreCreditIssued returns store_credit_issued: amount (positive, in
// currency) of Shopify store credit, expiring at expiresAt, bought with
// pointsSpent points of the reward rewardID (named rewardName).
func NewStoreCreditIssued(c Common, amount decimal.Decimal, currency string, pointsSpent int64, expiresAt time.Time, rewardID, rewardName string) (Event, error) {
	if err := positive(StoreCreditIssued, "points_spent", pointsSpent); err != nil {
		return Event{}, err
	}
	switch {
	case amount.Sign() <= 0:
		return Event{}, app.Errorf(app.EINVALID, "Event %s needs an amount above 0.", StoreCreditIssued)
	case !isCurrency(currency):
		return Event{}, app.Errorf(app.EINVALID, "Event %s needs a three-letter currency code.", StoreCreditIssued)
	case expiresAt.IsZero():
		return Event{}, app.Errorf(app.EINVALID, "Event %s needs the expiry.", StoreCreditIssued)
	}
	p := props{"amount": number(amount), "currency": currency, "points_spent": pointsSpent}.
		time("expires_at", &expiresAt).str("reward_id", rewardID).str("reward_name", rewardName)
	return newEvent(c, StoreCreditIssued, p)
}

// Validate checks the event against its catalog entry: the common fields,
// every required field present, no unknown field, each value a scalar of
// the field's type, and exactly one of a OneOf group.
func (e Event) Validate() error {
	d, ok := lookup(e.Key)
	switch {
	case !ok:
		return app.Errorf(app.EINVALID, "Unknown event %q.", e.Key)
	case e.ID == uuid.Nil:
		return app.Errorf(app.EINVALID, "Event %s needs an id.", e.Key)
	case e.OccurredAt.IsZero():
		return app.Errorf(app.EINVALID, "Event %s needs a time.", e.Key)
	case e.ShopDomain == "":
		return app.Errorf(app.EINVALID, "Event %s needs a shop.", e.Key)
	case !isDigits(e.CustomerID):
		return app.Errorf(app.EINVALID, "Event %s needs a numeric Shopify customer id.", e.Key)
	case !isCurrency(e.Currency):
		return app.Errorf(app.EINVALID, "Event %s needs a three-letter currency code.", e.Key)
	case e.Channel != "" && !d.OrderDerived:
		return app.Errorf(app.EINVALID, "Event %s does not come from an order and has no channel.", e.Key)
	case e.Channel != "" && !e.Channel.Valid():
		return app.Errorf(app.EINVALID, "Unknown sales channel %q.", e.Channel)
	}
	for name, v := range e.Properties {
		f, ok := d.Field(name)
		if !ok {
			return app.Errorf(app.EINVALID, "Event %s has no field %q.", e.Key, name)
		}
		if !isScalar(v) {
			// CleverTap rejects nested values; a list or object must be
			// flattened by the constructor (see NewReviewRequested).
			return app.Errorf(app.EINVALID, "Event field %q must be a single value, not a list or object.", name)
		}
		if !hasType(f.Type, v) {
			return app.Errorf(app.EINVALID, "Event field %q must be a %s.", name, f.Type)
		}
	}
	for _, f := range d.Fields {
		if _, ok := e.Properties[f.Name]; f.Required && !ok {
			return app.Errorf(app.EINVALID, "Event %s needs %s.", e.Key, f.Name)
		}
	}
	if len(d.OneOf) > 0 {
		n := 0
		for _, name := range d.OneOf {
			if _, ok := e.Properties[name]; ok {
				n++
			}
		}
		if n != 1 {
			return app.Errorf(app.EINVALID, "Event %s needs exactly one of %s.", e.Key, strings.Join(d.OneOf, ", "))
		}
	}
	return nil
}

// isScalar reports whether v is one of the scalar types a property may
// hold.
func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, int, int32, int64, float64, json.Number, time.Time:
		return true
	}
	return false
}

func hasType(t FieldType, v any) bool {
	switch v := v.(type) {
	case string:
		return t == TypeString
	case bool:
		return t == TypeBoolean
	case int, int32, int64:
		return t == TypeInteger || t == TypeNumber
	case float64:
		return t == TypeNumber && !math.IsNaN(v) && !math.IsInf(v, 0)
	case json.Number:
		s := string(v)
		return t == TypeNumber && s != "" && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) && json.Valid([]byte(s))
	case time.Time:
		return t == TypeTime && !v.IsZero()
	}
	return false
}

// Fields returns the event flattened for a sink: the common fields (channel
// and tier only when set) and the properties, in one map of scalars.
func (e Event) Fields() map[string]any {
	m := make(map[string]any, len(e.Properties)+8)
	for k, v := range e.Properties {
		m[k] = v
	}
	m[FieldEventID] = e.ID.String()
	m[FieldOccurredAt] = e.OccurredAt
	m[FieldShop] = e.ShopDomain
	m[FieldCustomerID] = e.CustomerID
	m[FieldPointsBalance] = e.PointsBalance
	m[FieldCurrency] = e.Currency
	if e.Tier != "" {
		m[FieldTier] = e.Tier
	}
	if e.Channel != "" {
		m[FieldChannel] = string(e.Channel)
	}
	return m
}

// numericID returns the numeric id of a Shopify GID
// ("gid://shopify/Order/123?x=1" → "123") and any other id unchanged.
func numericID(id string) string {
	id = strings.TrimSpace(id)
	if !strings.HasPrefix(id, "gid://") {
		return id
	}
	if i := strings.IndexByte(id, '?'); i >= 0 {
		id = id[:i]
	}
	return id[strings.LastIndexByte(id, '/')+1:]
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
