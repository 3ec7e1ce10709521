package event_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/event"
)

// design is DESIGN.md §3, transcribed: key → fields. The catalog must match
// it exactly, in this order; a change here is a change to a public contract.
var design = []struct {
	key    event.Key
	fields []string
}{
	{"wallet_points_rewarded", []string{"points", "reason", "order_id", "order_name", "lot_expires_at"}},
	{"wallet_points_redeemed", []string{"points", "reward_id", "coupon_code"}},
	{"wallet_points_reversed", []string{"points", "order_id", "order_name", "refund_id", "reason"}},
	{"wallet_points_expiring", []string{"points_expiring", "expires_at", "days_left"}},
	{"wallet_points_expired", []string{"points_expired"}},
	{"wallet_points_unused", []string{"points_balance", "redeemable_value"}},
	{"coupon_created", []string{"coupon_code", "discount_type", "discount_value", "points_spent", "expires_at"}},
	{"coupon_redeemed", []string{"coupon_code", "order_id", "order_name"}},
	{"tier_upgraded", []string{"tier", "previous_tier", "tier_expires_at", "next_tier", "amount_to_next_tier"}},
	{"tier_downgraded", []string{"tier", "previous_tier", "tier_expires_at", "next_tier", "amount_to_next_tier"}},
	{"referral_completed", []string{"referral_code", "friend_first_name", "reward_points", "reward_coupon"}},
	{"referee_rewarded", []string{"coupon_code", "discount_value", "referrer_first_name"}},
	{"review_requested", []string{"order_id", "order_name", "product_titles", "review_url"}},
	{"review_submitted", []string{"product_id", "rating", "points"}},
	{"birthday_reward", []string{"points", "coupon_code"}},
	{"redemption_failed", []string{"reward_id", "points", "reason"}},
	{"points_waiting", []string{"points", "order_id", "order_name", "waiting_until"}},
	{"store_credit_issued", []string{"amount", "currency", "points_spent", "expires_at", "reward_id", "reward_name"}},
}

func TestCatalog_MatchesDesign(t *testing.T) {
	t.Parallel()
	consts := []event.Key{
		event.WalletPointsRewarded, event.WalletPointsRedeemed, event.WalletPointsReversed, event.WalletPointsExpiring,
		event.WalletPointsExpired, event.WalletPointsUnused, event.CouponCreated, event.CouponRedeemed,
		event.TierUpgraded, event.TierDowngraded, event.ReferralCompleted, event.RefereeRewarded,
		event.ReviewRequested, event.ReviewSubmitted, event.BirthdayReward, event.RedemptionFailed,
		event.PointsWaiting, event.StoreCreditIssued,
	}
	cat := event.Catalog()
	if len(cat) != len(design) || len(consts) != len(design) {
		t.Fatalf("catalog has %d events, constants %d, DESIGN.md %d", len(cat), len(consts), len(design))
	}
	for i, want := range design {
		t.Run(string(want.key), func(t *testing.T) {
			t.Parallel()
			d := cat[i]
			if d.Key != want.key || consts[i] != want.key || event.Keys()[i] != want.key {
				t.Fatalf("catalog[%d] = %q, constant %q, want %q", i, d.Key, consts[i], want.key)
			}
			var names []string
			for _, f := range d.Fields {
				names = append(names, f.Name)
				if f.Description == "" || f.Type == "" {
					t.Errorf("field %s lacks a type or description", f.Name)
				}
			}
			if !slices.Equal(names, want.fields) {
				t.Errorf("fields = %v, want %v", names, want.fields)
			}
			if d.Description == "" || strings.Contains(d.Description, "\n") {
				t.Errorf("description %q must be one line", d.Description)
			}
			if !want.key.Valid() {
				t.Errorf("%q not Valid", want.key)
			}
		})
	}
	if event.Key("points_earned").Valid() {
		t.Error("unknown key reported valid")
	}
}

func TestCatalog_IsACopy(t *testing.T) {
	t.Parallel()
	c := event.Catalog()
	c[0].Fields[0].Name = "changed"
	d, _ := event.Lookup(event.WalletPointsRewarded)
	d.Fields[1].Name = "changed"
	if event.Catalog()[0].Fields[0].Name != "points" {
		t.Error("changing Catalog()'s result changed the catalog")
	}
	if d2, _ := event.Lookup(event.WalletPointsRewarded); d2.Fields[1].Name != "reason" {
		t.Error("changing Lookup()'s result changed the catalog")
	}
}

func common() event.Common {
	return event.Common{
		SourceKey:     "earn:gid://shopify/Order/1:order",
		OccurredAt:    time.Date(2026, 5, 1, 12, 0, 0, 0, time.FixedZone("CEST", 7200)),
		ShopDomain:    "acme.myshopify.com",
		CustomerID:    "gid://shopify/Customer/115310627314723954",
		Channel:       event.ChannelPOS,
		PointsBalance: 640,
		Tier:          "silver",
		Currency:      "EUR",
	}
}

func TestConstructors(t *testing.T) {
	t.Parallel()
	exp := time.Date(2027, 5, 1, 10, 0, 0, 0, time.FixedZone("CEST", 7200))
	ten := decimal.RequireFromString("10.50")
	cases := []struct {
		name    string
		build   func(c event.Common) (event.Event, error)
		want    map[string]any // nil: expect an error
		channel event.Channel
	}{
		{"RewardedOrder", func(c event.Common) (event.Event, error) {
			return event.NewWalletPointsRewarded(c, 404, event.ReasonOrder, "gid://shopify/Order/820982911946154508", "#9999", &exp)
		}, map[string]any{"points": int64(404), "reason": "order", "order_id": "820982911946154508", "order_name": "#9999", "lot_expires_at": exp.UTC()}, event.ChannelPOS},
		{"RewardedSignupNoOrderNoExpiry", func(c event.Common) (event.Event, error) {
			c.Channel = ""
			return event.NewWalletPointsRewarded(c, 100, event.ReasonSignup, "", "", nil)
		}, map[string]any{"points": int64(100), "reason": "signup"}, ""},
		{"ErrRewardedZero", func(c event.Common) (event.Event, error) {
			return event.NewWalletPointsRewarded(c, 0, event.ReasonOrder, "1", "#1", nil)
		}, nil, ""},
		{"ErrRewardedReason", func(c event.Common) (event.Event, error) {
			return event.NewWalletPointsRewarded(c, 5, "gift", "", "", nil)
		}, nil, ""},
		{"ErrRewardedOrderWithoutID", func(c event.Common) (event.Event, error) {
			return event.NewWalletPointsRewarded(c, 5, event.ReasonOrder, "", "", nil)
		}, nil, ""},
		{"Redeemed", func(c event.Common) (event.Event, error) {
			return event.NewWalletPointsRedeemed(c, 500, "amount-5", "PB-1")
		}, map[string]any{"points": int64(500), "reward_id": "amount-5", "coupon_code": "PB-1"}, ""},
		{"ErrRedeemedNoReward", func(c event.Common) (event.Event, error) {
			return event.NewWalletPointsRedeemed(c, 500, "", "PB-1")
		}, nil, ""},
		{"ReversedRefund", func(c event.Common) (event.Event, error) {
			return event.NewWalletPointsReversed(c, 134, event.ReasonRefund, "1", "#1", "gid://shopify/Refund/890088186047892319")
		}, map[string]any{"points": int64(134), "reason": "refund", "order_id": "1", "order_name": "#1", "refund_id": "890088186047892319"}, event.ChannelPOS},
		{"ReversedCancel", func(c event.Common) (event.Event, error) {
			return event.NewWalletPointsReversed(c, 270, event.ReasonCancel, "1", "", "")
		}, map[string]any{"points": int64(270), "reason": "cancel", "order_id": "1"}, event.ChannelPOS},
		{"ErrReversedRefundWithoutID", func(c event.Common) (event.Event, error) {
			return event.NewWalletPointsReversed(c, 1, event.ReasonRefund, "1", "", "")
		}, nil, ""},
		{"ErrReversedWithoutOrder", func(c event.Common) (event.Event, error) {
			return event.NewWalletPointsReversed(c, 1, event.ReasonCancel, "", "", "")
		}, nil, ""},
		{"Expiring", func(c event.Common) (event.Event, error) {
			return event.NewWalletPointsExpiring(c, 300, exp, 7)
		}, map[string]any{"points_expiring": int64(300), "expires_at": exp.UTC(), "days_left": 7}, ""},
		{"ErrExpiringNegativeDays", func(c event.Common) (event.Event, error) {
			return event.NewWalletPointsExpiring(c, 300, exp, -1)
		}, nil, ""},
		{"Expired", func(c event.Common) (event.Event, error) { return event.NewWalletPointsExpired(c, 80) },
			map[string]any{"points_expired": int64(80)}, ""},
		{"ErrExpiredZero", func(c event.Common) (event.Event, error) { return event.NewWalletPointsExpired(c, 0) }, nil, ""},
		{"Unused", func(c event.Common) (event.Event, error) { return event.NewWalletPointsUnused(c, ten) },
			map[string]any{"points_balance": int64(640), "redeemable_value": json.Number("10.5")}, ""},
		{"ErrUnusedNegativeBalance", func(c event.Common) (event.Event, error) {
			c.PointsBalance = -3
			return event.NewWalletPointsUnused(c, ten)
		}, nil, ""},
		{"CouponCreated", func(c event.Common) (event.Event, error) {
			return event.NewCouponCreated(c, "PB-1", "percentage", decimal.NewFromInt(15), 1500, nil)
		}, map[string]any{"coupon_code": "PB-1", "discount_type": "percentage", "discount_value": json.Number("15"), "points_spent": int64(1500)}, ""},
		{"ErrCouponCreatedType", func(c event.Common) (event.Event, error) {
			return event.NewCouponCreated(c, "PB-1", "free_shipping", decimal.NewFromInt(15), 1500, nil)
		}, nil, ""},
		{"CouponRedeemed", func(c event.Common) (event.Event, error) {
			return event.NewCouponRedeemed(c, "PB-1", "gid://shopify/Order/7", "#7")
		}, map[string]any{"coupon_code": "PB-1", "order_id": "7", "order_name": "#7"}, event.ChannelPOS},
		{"TierUpgraded", func(c event.Common) (event.Event, error) {
			return event.NewTierUpgraded(c, "gold", "silver", &exp, "", 0)
		}, map[string]any{"tier": "gold", "previous_tier": "silver", "tier_expires_at": exp.UTC()}, ""},
		{"TierUpgradedWithNext", func(c event.Common) (event.Event, error) {
			return event.NewTierUpgraded(c, "silver", "", nil, "gold", 97505)
		}, map[string]any{"tier": "silver", "next_tier": "gold", "amount_to_next_tier": int64(97505)}, ""},
		{"ErrTierUnchanged", func(c event.Common) (event.Event, error) {
			return event.NewTierDowngraded(c, "gold", "gold", nil, "", 0)
		}, nil, ""},
		{"ErrTierNextWithoutAmount", func(c event.Common) (event.Event, error) {
			return event.NewTierDowngraded(c, "bronze", "gold", nil, "silver", 0)
		}, nil, ""},
		{"ReferralPoints", func(c event.Common) (event.Event, error) {
			return event.NewReferralCompleted(c, "JOHN-1", "Jane", 500, "")
		}, map[string]any{"referral_code": "JOHN-1", "friend_first_name": "Jane", "reward_points": int64(500)}, ""},
		{"ReferralCoupon", func(c event.Common) (event.Event, error) {
			return event.NewReferralCompleted(c, "JOHN-1", "", 0, "PB-REF")
		}, map[string]any{"referral_code": "JOHN-1", "reward_coupon": "PB-REF"}, ""},
		{"ErrReferralBothRewards", func(c event.Common) (event.Event, error) {
			return event.NewReferralCompleted(c, "JOHN-1", "", 500, "PB-REF")
		}, nil, ""},
		{"ErrReferralNoReward", func(c event.Common) (event.Event, error) {
			return event.NewReferralCompleted(c, "JOHN-1", "", 0, "")
		}, nil, ""},
		{"RefereeRewarded", func(c event.Common) (event.Event, error) {
			return event.NewRefereeRewarded(c, "PB-F", decimal.NewFromInt(10), "")
		}, map[string]any{"coupon_code": "PB-F", "discount_value": json.Number("10")}, ""},
		{"ReviewRequested", func(c event.Common) (event.Event, error) {
			return event.NewReviewRequested(c, "1", "#1", []string{"Aviator sunglasses", " ", "Lens Protection Plan (2 Year)"}, "https://x.test/r")
		}, map[string]any{"order_id": "1", "order_name": "#1", "product_titles": "Aviator sunglasses, Lens Protection Plan (2 Year)", "review_url": "https://x.test/r"}, event.ChannelPOS},
		{"ErrReviewRequestedNoProducts", func(c event.Common) (event.Event, error) {
			return event.NewReviewRequested(c, "1", "#1", nil, "https://x.test/r")
		}, nil, ""},
		{"ReviewSubmitted", func(c event.Common) (event.Event, error) {
			return event.NewReviewSubmitted(c, "gid://shopify/Product/9", 4, 0)
		}, map[string]any{"product_id": "9", "rating": 4, "points": int64(0)}, ""},
		{"ErrReviewRating", func(c event.Common) (event.Event, error) {
			return event.NewReviewSubmitted(c, "9", 6, 50)
		}, nil, ""},
		{"BirthdayPoints", func(c event.Common) (event.Event, error) { return event.NewBirthdayReward(c, 200, "") },
			map[string]any{"points": int64(200)}, ""},
		{"BirthdayCoupon", func(c event.Common) (event.Event, error) { return event.NewBirthdayReward(c, 0, "BDAY-1") },
			map[string]any{"coupon_code": "BDAY-1"}, ""},
		{"ErrBirthdayNothing", func(c event.Common) (event.Event, error) { return event.NewBirthdayReward(c, 0, "") }, nil, ""},
		{"RedemptionFailed", func(c event.Common) (event.Event, error) {
			return event.NewRedemptionFailed(c, "amount-5", 500, "Shopify refused the code")
		}, map[string]any{"reward_id": "amount-5", "points": int64(500), "reason": "Shopify refused the code"}, ""},
		{"PointsWaiting", func(c event.Common) (event.Event, error) {
			return event.NewPointsWaiting(c, 180, "gid://shopify/Order/7", "#7", exp)
		}, map[string]any{"points": int64(180), "order_id": "7", "order_name": "#7", "waiting_until": exp.UTC()}, event.ChannelPOS},
		{"ErrPointsWaitingZero", func(c event.Common) (event.Event, error) { return event.NewPointsWaiting(c, 0, "7", "#7", exp) }, nil, ""},
		{"ErrPointsWaitingNoOrder", func(c event.Common) (event.Event, error) { return event.NewPointsWaiting(c, 5, "", "#7", exp) }, nil, ""},
		{"ErrPointsWaitingNoEnd", func(c event.Common) (event.Event, error) {
			return event.NewPointsWaiting(c, 5, "7", "#7", time.Time{})
		}, nil, ""},
		{"StoreCreditIssued", func(c event.Common) (event.Event, error) {
			return event.NewStoreCreditIssued(c, decimal.RequireFromString("5.50"), "USD", 500, exp, "credit-5", "5.50 credit")
		}, map[string]any{"amount": json.Number("5.5"), "currency": "USD", "points_spent": int64(500), "expires_at": exp.UTC(), "reward_id": "credit-5", "reward_name": "5.50 credit"}, ""},
		{"WalletPointsRedeemedStoreCredit", func(c event.Common) (event.Event, error) {
			return event.NewWalletPointsRedeemed(c, 500, "credit-5", "")
		}, map[string]any{"points": int64(500), "reward_id": "credit-5"}, ""},
		{"ErrStoreCreditZero", func(c event.Common) (event.Event, error) {
			return event.NewStoreCreditIssued(c, decimal.Zero, "USD", 500, exp, "credit-5", "")
		}, nil, ""},
		{"ErrStoreCreditNoExpiry", func(c event.Common) (event.Event, error) {
			return event.NewStoreCreditIssued(c, decimal.NewFromInt(5), "USD", 500, time.Time{}, "credit-5", "")
		}, nil, ""},
		{"ErrStoreCreditCurrency", func(c event.Common) (event.Event, error) {
			return event.NewStoreCreditIssued(c, decimal.NewFromInt(5), "usd", 500, exp, "credit-5", "")
		}, nil, ""},
		{"ErrRedemptionFailedNoPoints", func(c event.Common) (event.Event, error) { return event.NewRedemptionFailed(c, "amount-5", 0, "x") }, nil, ""},
		{"ErrNoSourceKey", func(c event.Common) (event.Event, error) {
			c.SourceKey = ""
			return event.NewWalletPointsExpired(c, 1)
		}, nil, ""},
		{"ErrBadCurrency", func(c event.Common) (event.Event, error) {
			c.Currency = "eur"
			return event.NewWalletPointsExpired(c, 1)
		}, nil, ""},
		{"ErrNoCustomer", func(c event.Common) (event.Event, error) {
			c.CustomerID = ""
			return event.NewWalletPointsExpired(c, 1)
		}, nil, ""},
		{"ErrNoShop", func(c event.Common) (event.Event, error) {
			c.ShopDomain = ""
			return event.NewWalletPointsExpired(c, 1)
		}, nil, ""},
		{"ErrNoTime", func(c event.Common) (event.Event, error) {
			c.OccurredAt = time.Time{}
			return event.NewWalletPointsExpired(c, 1)
		}, nil, ""},
		{"ErrUnknownChannel", func(c event.Common) (event.Event, error) {
			c.Channel = "tiktok"
			return event.NewCouponRedeemed(c, "PB-1", "7", "#7")
		}, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := tc.build(common())
			if tc.want == nil {
				if err == nil {
					t.Fatalf("built %+v, want an error", e)
				}
				if app.ErrorCode(err) != app.EINVALID || !strings.HasSuffix(app.ErrorMessage(err), ".") {
					t.Errorf("err = %v, want EINVALID with a sentence", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(e.Properties) != len(tc.want) {
				t.Errorf("properties = %v, want %v", e.Properties, tc.want)
			}
			for k, v := range tc.want {
				got := e.Properties[k]
				if gt, ok := got.(time.Time); ok {
					if !gt.Equal(v.(time.Time)) || gt.Location() != time.UTC {
						t.Errorf("%s = %v, want %v in UTC", k, got, v)
					}
					continue
				}
				if got != v {
					t.Errorf("%s = %#v, want %#v", k, got, v)
				}
			}
			if e.CustomerID != "115310627314723954" {
				t.Errorf("CustomerID = %q, want the numeric id", e.CustomerID)
			}
			if e.Channel != tc.channel {
				t.Errorf("Channel = %q, want %q (only order-derived events carry one)", e.Channel, tc.channel)
			}
			if e.OccurredAt.Location() != time.UTC || !e.OccurredAt.Equal(common().OccurredAt) {
				t.Errorf("OccurredAt = %v, want the same instant in UTC", e.OccurredAt)
			}
			if e.ID == uuid.Nil || e.ID.Version() != 5 {
				t.Errorf("ID = %v, want a version 5 UUID", e.ID)
			}
		})
	}
}

func TestEvent_Validate(t *testing.T) {
	t.Parallel()
	good := func() event.Event {
		e, err := event.NewWalletPointsRewarded(common(), 10, event.ReasonManual, "", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	cases := []struct {
		name   string
		mutate func(e *event.Event)
		ok     bool
	}{
		{"OK", func(e *event.Event) {}, true},
		{"Int32IsInteger", func(e *event.Event) { e.Properties["points"] = int32(10) }, true},
		{"NegativeBalanceAllowed", func(e *event.Event) { e.PointsBalance = -40 }, true},
		{"ErrMap", func(e *event.Event) { e.Properties["reason"] = map[string]any{"a": 1} }, false},
		{"ErrSlice", func(e *event.Event) { e.Properties["reason"] = []string{"a"} }, false},
		{"ErrStruct", func(e *event.Event) { e.Properties["reason"] = struct{ A int }{1} }, false},
		{"ErrPointer", func(e *event.Event) { s := "x"; e.Properties["reason"] = &s }, false},
		{"ErrTimePointer", func(e *event.Event) { tm := time.Unix(1e9, 0); e.Properties["lot_expires_at"] = &tm }, false},
		{"ErrNil", func(e *event.Event) { e.Properties["order_id"] = nil }, false},
		{"ErrWrongType", func(e *event.Event) { e.Properties["points"] = "10" }, false},
		{"ErrFloatForInteger", func(e *event.Event) { e.Properties["points"] = 10.0 }, false},
		{"ErrZeroTime", func(e *event.Event) { e.Properties["lot_expires_at"] = time.Time{} }, false},
		{"ErrUnknownField", func(e *event.Event) { e.Properties["utm_source"] = "x" }, false},
		{"ErrMissingRequired", func(e *event.Event) { delete(e.Properties, "reason") }, false},
		{"ErrUnknownKey", func(e *event.Event) { e.Key = "points_earned" }, false},
		{"ErrNilID", func(e *event.Event) { e.ID = uuid.Nil }, false},
		{"ErrGIDCustomer", func(e *event.Event) { e.CustomerID = "gid://shopify/Customer/1" }, false},
		{"ErrChannelOnNonOrderEvent", func(e *event.Event) {
			e.Key = event.WalletPointsExpired
			e.Properties = map[string]any{"points_expired": 1}
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := good()
			e.Channel = event.ChannelPOS
			tc.mutate(&e)
			if err := e.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate = %v, want ok %v", err, tc.ok)
			}
		})
	}
	t.Run("NumberField", func(t *testing.T) {
		t.Parallel()
		e, err := event.NewWalletPointsUnused(common(), decimal.NewFromInt(5))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []any{json.Number("-1.25"), json.Number("0"), 3, 2.5} {
			e.Properties["redeemable_value"] = v
			if err := e.Validate(); err != nil {
				t.Errorf("redeemable_value %#v: %v", v, err)
			}
		}
		for _, v := range []any{json.Number("NaN"), json.Number("0x10"), json.Number(""), json.Number("1e"), "5"} {
			e.Properties["redeemable_value"] = v
			if err := e.Validate(); err == nil {
				t.Errorf("redeemable_value %#v accepted", v)
			}
		}
	})
}

func TestStableID(t *testing.T) {
	t.Parallel()
	base := event.StableID("acme.myshopify.com", "115310627314723954", event.WalletPointsRewarded, "earn:gid://shopify/Order/1:order")
	cases := []struct {
		name string
		id   uuid.UUID
		same bool
	}{
		{"SameInputs", event.StableID("acme.myshopify.com", "115310627314723954", event.WalletPointsRewarded, "earn:gid://shopify/Order/1:order"), true},
		{"GIDCustomerSame", event.StableID("acme.myshopify.com", "gid://shopify/Customer/115310627314723954", event.WalletPointsRewarded, "earn:gid://shopify/Order/1:order"), true},
		{"OtherShop", event.StableID("other.myshopify.com", "115310627314723954", event.WalletPointsRewarded, "earn:gid://shopify/Order/1:order"), false},
		{"OtherCustomer", event.StableID("acme.myshopify.com", "2", event.WalletPointsRewarded, "earn:gid://shopify/Order/1:order"), false},
		{"OtherKeySameCause", event.StableID("acme.myshopify.com", "115310627314723954", event.TierUpgraded, "earn:gid://shopify/Order/1:order"), false},
		{"OtherCause", event.StableID("acme.myshopify.com", "115310627314723954", event.WalletPointsRewarded, "earn:gid://shopify/Order/2:order"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if (tc.id == base) != tc.same {
				t.Errorf("StableID equal = %v, want %v", tc.id == base, tc.same)
			}
		})
	}
	e, err := event.NewWalletPointsRewarded(common(), 5, event.ReasonOrder, "1", "#1", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := common()
	if want := event.StableID(c.ShopDomain, c.CustomerID, event.WalletPointsRewarded, c.SourceKey); e.ID != want {
		t.Errorf("constructor ID %v, want StableID %v", e.ID, want)
	}
}

func TestEvent_Fields(t *testing.T) {
	t.Parallel()
	e, err := event.NewCouponRedeemed(common(), "PB-1", "7", "#7")
	if err != nil {
		t.Fatal(err)
	}
	f := e.Fields()
	want := map[string]any{
		"event_id": e.ID.String(), "shop": "acme.myshopify.com", "customer_id": "115310627314723954",
		"points_balance": int64(640), "tier": "silver", "currency": "EUR", "channel": "pos",
		"coupon_code": "PB-1", "order_id": "7", "order_name": "#7",
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("Fields[%s] = %#v, want %#v", k, f[k], v)
		}
	}
	if _, ok := f["occurred_at"].(time.Time); !ok || len(f) != len(want)+1 {
		t.Errorf("Fields = %v", f)
	}
	if _, err := json.Marshal(e); err != nil {
		t.Errorf("event does not marshal: %v", err)
	}
}

func TestChannelFromSourceName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		src  string
		want event.Channel
	}{
		{"web", event.ChannelOnlineStore},
		{"pos", event.ChannelPOS},
		{"shopify_draft_order", event.ChannelDraftOrder},
		{" WEB ", event.ChannelOnlineStore},
		{"iphone", event.ChannelOther},
		{"1234567", event.ChannelOther}, // an app's id
		{"", event.ChannelOther},
	}
	for _, tc := range cases {
		t.Run("Source_"+tc.src, func(t *testing.T) {
			t.Parallel()
			if got := event.ChannelFromSourceName(tc.src); got != tc.want {
				t.Errorf("ChannelFromSourceName(%q) = %q, want %q", tc.src, got, tc.want)
			}
		})
	}
}

func TestParseChannelAndStatus(t *testing.T) {
	t.Parallel()
	for _, c := range event.Channels() {
		if got, err := event.ParseChannel(string(c)); err != nil || got != c {
			t.Errorf("ParseChannel(%q) = %q, %v", c, got, err)
		}
	}
	if _, err := event.ParseChannel("web"); app.ErrorField(err) != "channels" || app.ErrorCode(err) != app.EINVALID {
		t.Errorf("ParseChannel(web) err = %v, want a field error on channels", err)
	}
	want := []event.Status{"pending", "sent", "failed", "skipped", "late", "unconfirmed"}
	if !slices.Equal(event.Statuses(), want) {
		t.Errorf("Statuses = %v, want %v", event.Statuses(), want)
	}
	for _, s := range want {
		if got, err := event.ParseStatus(string(s)); err != nil || got != s {
			t.Errorf("ParseStatus(%q) = %q, %v", s, got, err)
		}
		if s.Final() != (s != event.StatusPending) {
			t.Errorf("%q.Final() = %v", s, s.Final())
		}
	}
	if _, err := event.ParseStatus("delivered"); app.ErrorField(err) != "status" {
		t.Errorf("ParseStatus(delivered) err = %v, want a field error on status", err)
	}
}

func TestSampleProperties(t *testing.T) {
	t.Parallel()
	for _, key := range event.Keys() {
		t.Run(string(key), func(t *testing.T) {
			t.Parallel()
			props := event.SampleProperties(key)
			if len(props) == 0 {
				t.Fatal("no sample")
			}
			d, _ := event.Lookup(key)
			for _, f := range d.Fields {
				if _, ok := props[f.Name]; f.Required && !ok {
					t.Errorf("sample lacks required %s", f.Name)
				}
			}
			e, err := event.Sample(key)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Validate(); err != nil {
				t.Errorf("sample invalid: %v", err)
			}
			// Samples are deterministic and the map is the caller's own.
			props["points"] = "changed"
			again := event.SampleProperties(key)
			if again["points"] == "changed" {
				t.Error("SampleProperties shares its map between calls")
			}
			if e2, _ := event.Sample(key); e2.ID != e.ID {
				t.Error("sample id changes between calls")
			}
		})
	}
	// The guest's sample: what a "create an account to claim" flow shows.
	if p := event.SampleProperties(event.PointsWaiting); p["points"] != int64(180) || p["order_name"] != "#9999" || p["waiting_until"] == nil {
		t.Errorf("points_waiting sample = %v", p)
	}
	if event.SampleProperties("nope") != nil {
		t.Error("SampleProperties(unknown) != nil")
	}
	if _, err := event.Sample("nope"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Errorf("Sample(unknown) err = %v, want ENOTFOUND", err)
	}
}
