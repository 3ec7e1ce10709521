package event

import (
	"maps"
	"time"

	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app"
)

// sampleAt is the fixed moment of every sample, so previews are
// deterministic and tests can compare them.
var sampleAt = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// SampleCommon returns the common fields of the sample events: a customer
// of a demo shop with 1,250 points in Silver.
func SampleCommon(key Key) Common {
	return Common{
		SourceKey:     "sample:" + string(key),
		OccurredAt:    sampleAt,
		ShopDomain:    "perkbridge-demo.myshopify.com",
		CustomerID:    "gid://shopify/Customer/115310627314723954",
		Channel:       ChannelOnlineStore,
		PointsBalance: 1250,
		Tier:          "silver",
		Currency:      "USD",
	}
}

// Sample returns a realistic example of the event key, built through its
// constructor (so it always validates), for the admin UI's preview and the
// "send test event" button.
func Sample(key Key) (Event, error) {
	c := SampleCommon(key)
	order := "gid://shopify/Order/820982911946154508"
	expires := func(days int) *time.Time { t := sampleAt.AddDate(0, 0, days); return &t }
	switch key {
	case WalletPointsRewarded:
		return NewWalletPointsRewarded(c, 404, ReasonOrder, order, "#9999", expires(365))
	case WalletPointsRedeemed:
		return NewWalletPointsRedeemed(c, 500, "amount-5", "PB-7KQ2-M9XD")
	case WalletPointsReversed:
		return NewWalletPointsReversed(c, 134, ReasonRefund, order, "#9999", "gid://shopify/Refund/890088186047892319")
	case WalletPointsExpiring:
		return NewWalletPointsExpiring(c, 300, *expires(7), 7)
	case WalletPointsExpired:
		return NewWalletPointsExpired(c, 300)
	case WalletPointsUnused:
		return NewWalletPointsUnused(c, decimal.NewFromInt(10))
	case CouponCreated:
		return NewCouponCreated(c, "PB-7KQ2-M9XD", "fixed_amount", decimal.NewFromInt(5), 500, expires(90))
	case CouponRedeemed:
		return NewCouponRedeemed(c, "PB-7KQ2-M9XD", order, "#9999")
	case TierUpgraded:
		return NewTierUpgraded(c, "silver", "bronze", expires(365), "gold", 97505)
	case TierDowngraded:
		return NewTierDowngraded(c, "bronze", "silver", nil, "silver", 12500)
	case ReferralCompleted:
		return NewReferralCompleted(c, "JOHN-4F7A", "Jane", 500, "")
	case RefereeRewarded:
		return NewRefereeRewarded(c, "PB-FRIEND-10", decimal.NewFromInt(10), "John")
	case ReviewRequested:
		return NewReviewRequested(c, order, "#9999", []string{"Aviator sunglasses", "Mid-century lounger"}, "https://perkbridge-demo.myshopify.com/apps/perkbridge/reviews/new?order=820982911946154508")
	case ReviewSubmitted:
		return NewReviewSubmitted(c, "gid://shopify/Product/788032119674292922", 5, 50)
	case BirthdayReward:
		return NewBirthdayReward(c, 200, "")
	case RedemptionFailed:
		return NewRedemptionFailed(c, "amount-5", 500, "Shopify could not create the discount code")
	case StoreCreditIssued:
		return NewStoreCreditIssued(c, decimal.NewFromInt(5), "USD", 500, *expires(90), "credit-5", "5.00 store credit")
	case PointsWaiting:
		c.PointsBalance, c.Tier = 0, ""
		return NewPointsWaiting(c, 180, order, "#9999", *expires(30))
	}
	return Event{}, app.Errorf(app.ENOTFOUND, "Unknown event %q.", key)
}

// SampleProperties returns the properties of Sample(key), a fresh map the
// caller may change, or nil for a key outside the catalog.
func SampleProperties(key Key) map[string]any {
	e, err := Sample(key)
	if err != nil {
		return nil
	}
	return maps.Clone(e.Properties)
}
