package ledger_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/program"
)

func TestKeys(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 1, 22, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		got  string
		want string
	}{
		{"Earn", ledger.KeyEarn("gid://shopify/Order/820982911946154508", ledger.RuleOrder), "earn:gid://shopify/Order/820982911946154508:order"},
		{"EarnNumericIsSameKey", ledger.KeyEarn("820982911946154508", ledger.RuleOrder), "earn:gid://shopify/Order/820982911946154508:order"},
		{"EarnOtherRule", ledger.KeyEarn("1", "bonus"), "earn:gid://shopify/Order/1:bonus"},
		{"CatchUp", ledger.KeyCatchUp("1", ledger.RuleOrder), "catch-up:gid://shopify/Order/1:order"},
		{"Refund", ledger.KeyRefund("890088186047892319"), "refund:gid://shopify/Refund/890088186047892319"},
		{"Cancel", ledger.KeyCancel(" gid://shopify/Order/7 "), "cancel:gid://shopify/Order/7"},
		{"Expire", ledger.KeyExpire(42), "expire:lot/42"},
		{"Reminder", ledger.KeyReminder(42, 7), "reminder:lot/42:7"},
		{"Birthday", ledger.KeyBirthday("115310627314723954", 2026), "birthday:gid://shopify/Customer/115310627314723954:2026"},
		{"Signup", ledger.KeySignup("gid://shopify/Customer/5"), "signup:gid://shopify/Customer/5"},
		{"Review", ledger.KeyReview("7", "gid://shopify/Product/9"), "review:gid://shopify/Customer/7:gid://shopify/Product/9"},
		{"ReviewNoProduct", ledger.KeyReview("7", ""), ""},
		{"ReviewRequest", ledger.KeyReviewRequest("1001"), "review-request:gid://shopify/Order/1001"},
		{"Referral", ledger.KeyReferral("9"), "referral:gid://shopify/Customer/9"},
		{"Redeem", ledger.KeyRedeem("req-1"), "redeem:req-1"},
		{"Adjust", ledger.KeyAdjust("req-2"), "adjust:req-2"},
		{"NudgeInShopZone", ledger.KeyNudge("9", day, time.FixedZone("AEST", 10*3600)), "nudge:gid://shopify/Customer/9:2026-05-02"},
		{"NudgeUTC", ledger.KeyNudge("9", day, nil), "nudge:gid://shopify/Customer/9:2026-05-01"},
		// A missing id must never produce a key that another missing id
		// could share: it produces none, and Validate rejects the entry.
		{"EmptyOrder", ledger.KeyEarn("", ledger.RuleOrder), ""},
		{"EmptyRule", ledger.KeyEarn("1", ""), ""},
		{"EmptyRefund", ledger.KeyRefund(""), ""},
		{"ZeroLot", ledger.KeyExpire(0), ""},
		{"ZeroLotReminder", ledger.KeyReminder(0, 7), ""},
		{"GIDOfOtherText", ledger.GID("Order", "abc"), "abc"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.got != tc.want {
				t.Errorf("key = %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestEntry_Validate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	exp := now.AddDate(1, 0, 0)
	credit := ledger.Entry{Kind: ledger.KindEarn, Points: 10, IdempotencyKey: "k", CreatedAt: now, ExpiresAt: &exp}
	debit := ledger.Entry{Kind: ledger.KindRedeem, Points: -10, IdempotencyKey: "k", CreatedAt: now, Allocations: []ledger.Allocation{{LotID: 1, Points: 10}}}
	with := func(e ledger.Entry, f func(e *ledger.Entry)) ledger.Entry { f(&e); return e }
	cases := []struct {
		name  string
		entry ledger.Entry
		ok    bool
	}{
		{"Credit", credit, true},
		{"Debit", debit, true},
		{"AdjustDown", with(debit, func(e *ledger.Entry) { e.Kind = ledger.KindAdjust; e.Allocations = nil; e.Shortfall = 10 }), true},
		{"AdjustUp", with(credit, func(e *ledger.Entry) { e.Kind = ledger.KindAdjust }), true},
		{"ReverseZeroRecordsBase", ledger.Entry{Kind: ledger.KindReverse, IdempotencyKey: "k", CreatedAt: now, BaseMinor: 500}, true},
		{"ReverseWithShortfall", with(debit, func(e *ledger.Entry) { e.Kind = ledger.KindReverse; e.Points = -15; e.Shortfall = 5 }), true},
		{"CreditSettlingDebt", with(credit, func(e *ledger.Entry) { e.DebtSettled = 10 }), true},

		{"ErrUnknownKind", with(credit, func(e *ledger.Entry) { e.Kind = "gift" }), false},
		{"ErrNoKey", with(credit, func(e *ledger.Entry) { e.IdempotencyKey = "" }), false},
		{"ErrNoTime", with(credit, func(e *ledger.Entry) { e.CreatedAt = time.Time{} }), false},
		{"ErrLongReason", with(credit, func(e *ledger.Entry) { e.Reason = strings.Repeat("x", 256) }), false},
		{"ErrCreditNegative", with(credit, func(e *ledger.Entry) { e.Points = -1 }), false},
		{"ErrCreditZero", with(credit, func(e *ledger.Entry) { e.Points = 0 }), false},
		{"ErrAdjustZero", ledger.Entry{Kind: ledger.KindAdjust, IdempotencyKey: "k", CreatedAt: now}, false},
		{"ErrRedeemPositive", with(credit, func(e *ledger.Entry) { e.Kind = ledger.KindRedeem }), false},
		{"ErrExpireZero", ledger.Entry{Kind: ledger.KindExpire, IdempotencyKey: "k", CreatedAt: now}, false},
		{"ErrReversePositive", with(credit, func(e *ledger.Entry) { e.Kind = ledger.KindReverse }), false},
		{"ErrCreditWithAllocations", with(credit, func(e *ledger.Entry) { e.Allocations = debit.Allocations }), false},
		{"ErrOverSettled", with(credit, func(e *ledger.Entry) { e.DebtSettled = 11 }), false},
		{"ErrDebitWithExpiry", with(debit, func(e *ledger.Entry) { e.ExpiresAt = &exp }), false},
		{"ErrRedeemShortfall", with(debit, func(e *ledger.Entry) { e.Points = -15; e.Shortfall = 5 }), false},
		{"ErrAllocationsDoNotAddUp", with(debit, func(e *ledger.Entry) { e.Points = -11 }), false},
		{"ErrZeroAllocation", with(debit, func(e *ledger.Entry) {
			e.Points = -10
			e.Allocations = []ledger.Allocation{{LotID: 1, Points: 10}, {LotID: 2}}
		}), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.entry.Validate()
			if tc.ok != (err == nil) {
				t.Fatalf("Validate = %v, want ok %v", err, tc.ok)
			}
			if err != nil && app.ErrorCode(err) != app.EINVALID {
				t.Errorf("code = %q, want %q", app.ErrorCode(err), app.EINVALID)
			}
		})
	}
}

func TestKind(t *testing.T) {
	t.Parallel()
	credits := map[ledger.Kind]bool{ledger.KindEarn: true, ledger.KindSignup: true, ledger.KindBirthday: true, ledger.KindReview: true, ledger.KindReferral: true}
	for _, k := range ledger.Kinds() {
		if !k.Valid() {
			t.Errorf("%q not valid", k)
		}
		if k.Credit() != credits[k] {
			t.Errorf("%q.Credit() = %v", k, k.Credit())
		}
	}
	if ledger.Kind("").Valid() || ledger.Kind("Earn").Valid() {
		t.Error("unknown kinds reported valid")
	}
}

func BenchmarkPointsForOrder(b *testing.B) {
	s := program.Defaults()
	s.PointsPerCurrencyUnit = decimal.RequireFromString("1.5")
	mult := decimal.RequireFromString("1.25")
	b.ReportAllocs()
	var sink int64
	for i := 0; b.Loop(); i++ {
		sink += ledger.PointsForOrder(40495+int64(i&1023), s, mult, 2)
	}
	if sink < 0 {
		b.Fatal(sink)
	}
}
