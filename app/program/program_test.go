package program_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/program"
)

func TestDefaults_Validate(t *testing.T) {
	t.Parallel()
	if err := program.Defaults().Validate(); err != nil {
		t.Fatalf("Defaults().Validate() = %v, want nil", err)
	}
}

func TestDefaults_Independent(t *testing.T) {
	t.Parallel()
	// Defaults must hand out fresh slices: a caller editing its copy must not
	// change the next shop's defaults.
	a := program.Defaults()
	a.ReminderDays[0] = 99
	a.Tiers.Levels[0].Name = "Changed"
	b := program.Defaults()
	if b.ReminderDays[0] != 30 || b.Tiers.Levels[0].Name != "Bronze" {
		t.Fatalf("Defaults shares state between calls: %v %q", b.ReminderDays, b.Tiers.Levels[0].Name)
	}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestSettings_Validate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(s *program.Settings)
		field  string // "" means valid
	}{
		{"OK", func(s *program.Settings) {}, ""},
		{"ZeroRateTurnsEarningOff", func(s *program.Settings) { s.PointsPerCurrencyUnit = decimal.Zero }, ""},
		{"FractionalRate", func(s *program.Settings) { s.PointsPerCurrencyUnit = dec("0.0125") }, ""},
		{"ExpiryOffKeepsReminders", func(s *program.Settings) { s.ExpiryMonths = 0; s.ReminderDays = []int{400 - 50} }, ""},
		{"NoReminders", func(s *program.Settings) { s.ReminderDays = nil }, ""},
		{"OneMonthExpiryShortReminders", func(s *program.Settings) { s.ExpiryMonths = 1; s.ReminderDays = []int{27, 1} }, ""},
		{"LifetimeWindowZeroMonths", func(s *program.Settings) { s.Tiers.Window = program.WindowLifetime; s.Tiers.WindowMonths = 0 }, ""},
		{"NudgeEnabled", func(s *program.Settings) { s.UnusedNudge.Enabled = true }, ""},
		{"StoreCreditReward", func(s *program.Settings) { s.Rewards[0] = storeCredit("5.00", 90) }, ""},
		{"ErrStoreCreditNoLifetime", func(s *program.Settings) { s.Rewards[0] = storeCredit("5.00", 0) }, "rewards[0].expires_after_days"},
		{"ErrStoreCreditZero", func(s *program.Settings) { s.Rewards[0] = storeCredit("0", 30) }, "rewards[0].value"},
		{"ErrStoreCreditTooPrecise", func(s *program.Settings) { s.Rewards[0] = storeCredit("1.0001", 30) }, "rewards[0].value"},
		{"ErrStoreCreditHuge", func(s *program.Settings) { s.Rewards[0] = storeCredit("1000001", 30) }, "rewards[0].value"},
		{"ErrStoreCreditMinimum", func(s *program.Settings) { s.Rewards[0] = storeCredit("5", 30); s.Rewards[0].MinSubtotalMinor = 100 }, "rewards[0].min_subtotal_minor"},
		{"ErrReferralStoreCredit", func(s *program.Settings) { s.Referral.FriendDiscountType = program.DiscountStoreCredit }, "referral.friend_discount_type"},

		{"ErrRateNegative", func(s *program.Settings) { s.PointsPerCurrencyUnit = dec("-1") }, "points_per_currency_unit"},
		{"ErrRateTooHigh", func(s *program.Settings) { s.PointsPerCurrencyUnit = dec("1000.5") }, "points_per_currency_unit"},
		{"ErrRateTooPrecise", func(s *program.Settings) { s.PointsPerCurrencyUnit = dec("0.00001") }, "points_per_currency_unit"},
		{"ErrEarnOn", func(s *program.Settings) { s.EarnOn = "shipped" }, "earn_on"},
		{"ErrEarnOnEmpty", func(s *program.Settings) { s.EarnOn = "" }, "earn_on"},
		{"ErrMinimumOrderNegative", func(s *program.Settings) { s.MinimumOrderMinor = -1 }, "minimum_order_minor"},
		{"ErrMinimumOrderHuge", func(s *program.Settings) { s.MinimumOrderMinor = program.MaxMoneyMinor + 1 }, "minimum_order_minor"},
		{"ErrSignupNegative", func(s *program.Settings) { s.SignupPoints = -5 }, "signup_points"},
		{"ErrSignupHuge", func(s *program.Settings) { s.SignupPoints = program.MaxCreditPoints + 1 }, "signup_points"},
		{"ErrBirthdayNegative", func(s *program.Settings) { s.BirthdayPoints = -1 }, "birthday_points"},
		{"ErrReviewNegative", func(s *program.Settings) { s.ReviewPoints = -1 }, "review_points"},
		{"ErrReviewDaysNegative", func(s *program.Settings) { s.ReviewRequestDays = -1 }, "review_request_days"},
		{"ErrReviewDaysHuge", func(s *program.Settings) { s.ReviewRequestDays = 366 }, "review_request_days"},
		{"GuestPointsOff", func(s *program.Settings) { s.GuestPointsDays = 0 }, ""},
		{"GuestPointsYear", func(s *program.Settings) { s.GuestPointsDays = program.MaxDays }, ""},
		{"ErrGuestPointsNegative", func(s *program.Settings) { s.GuestPointsDays = -1 }, "guest_points_days"},
		{"ErrGuestPointsHuge", func(s *program.Settings) { s.GuestPointsDays = 366 }, "guest_points_days"},
		{"ErrPendingNegative", func(s *program.Settings) { s.PendingDays = -1 }, "pending_days"},
		{"ErrPendingHuge", func(s *program.Settings) { s.PendingDays = 366 }, "pending_days"},
		{"ErrPendingOutlivesExpiry", func(s *program.Settings) { s.ExpiryMonths = 1; s.ReminderDays = nil; s.PendingDays = 28 }, "pending_days"},
		{"ErrExpiryNegative", func(s *program.Settings) { s.ExpiryMonths = -1 }, "expiry_months"},
		{"ErrExpiryHuge", func(s *program.Settings) { s.ExpiryMonths = 61 }, "expiry_months"},
		{"ErrReminderZero", func(s *program.Settings) { s.ReminderDays = []int{30, 0} }, "reminder_days[1]"},
		{"ErrReminderNegative", func(s *program.Settings) { s.ReminderDays = []int{-7} }, "reminder_days[0]"},
		{"ErrReminderDuplicate", func(s *program.Settings) { s.ReminderDays = []int{30, 7, 7} }, "reminder_days[2]"},
		{"ErrReminderAscending", func(s *program.Settings) { s.ReminderDays = []int{30, 1, 7} }, "reminder_days[2]"},
		{"ErrReminderNotBeforeExpiry", func(s *program.Settings) { s.ExpiryMonths = 1; s.ReminderDays = []int{28} }, "reminder_days[0]"},
		{"ErrTooManyReminders", func(s *program.Settings) { s.ReminderDays = []int{60, 30, 14, 7, 3, 1} }, "reminder_days"},
		{"ErrNudgeThreshold", func(s *program.Settings) { s.UnusedNudge.Enabled = true; s.UnusedNudge.ThresholdPoints = 0 }, "unused_nudge.threshold_points"},
		{"ErrNudgeDays", func(s *program.Settings) { s.UnusedNudge.Enabled = true; s.UnusedNudge.AfterDays = 0 }, "unused_nudge.after_days"},
		{"ErrNudgeDaysNegativeWhenDisabled", func(s *program.Settings) { s.UnusedNudge.AfterDays = -1 }, "unused_nudge.after_days"},
		{"ErrTooManyRewards", func(s *program.Settings) {
			for len(s.Rewards) <= program.MaxRewards {
				r := s.Rewards[0]
				r.ID = fmt.Sprintf("r%d", len(s.Rewards))
				s.Rewards = append(s.Rewards, r)
			}
		}, "rewards"},
		{"ErrRewardIDEmpty", func(s *program.Settings) { s.Rewards[1].ID = "" }, "rewards[1].id"},
		{"ErrRewardIDUpper", func(s *program.Settings) { s.Rewards[1].ID = "Five-Off" }, "rewards[1].id"},
		{"ErrRewardIDLeadingDash", func(s *program.Settings) { s.Rewards[1].ID = "-five" }, "rewards[1].id"},
		{"ErrRewardIDDuplicate", func(s *program.Settings) { s.Rewards[2].ID = s.Rewards[0].ID }, "rewards[2].id"},
		{"ErrRewardNameBlank", func(s *program.Settings) { s.Rewards[0].Name = "   " }, "rewards[0].name"},
		{"ErrRewardNameLong", func(s *program.Settings) { s.Rewards[0].Name = strings.Repeat("é", 81) }, "rewards[0].name"},
		{"ErrRewardCostZero", func(s *program.Settings) { s.Rewards[0].PointsCost = 0 }, "rewards[0].points_cost"},
		{"ErrRewardType", func(s *program.Settings) { s.Rewards[0].DiscountType = "free_shipping" }, "rewards[0].discount_type"},
		{"ErrRewardPercentOver100", func(s *program.Settings) { s.Rewards[2].Value = dec("100.01") }, "rewards[2].value"},
		{"ErrRewardPercentZero", func(s *program.Settings) { s.Rewards[2].Value = decimal.Zero }, "rewards[2].value"},
		{"ErrRewardPercentTooPrecise", func(s *program.Settings) { s.Rewards[2].Value = dec("12.345") }, "rewards[2].value"},
		{"ErrRewardAmountNegative", func(s *program.Settings) { s.Rewards[0].Value = dec("-5") }, "rewards[0].value"},
		{"ErrRewardAmountTooPrecise", func(s *program.Settings) { s.Rewards[0].Value = dec("5.0001") }, "rewards[0].value"},
		{"ErrRewardMinSubtotal", func(s *program.Settings) { s.Rewards[0].MinSubtotalMinor = -1 }, "rewards[0].min_subtotal_minor"},
		{"ErrRewardExpiry", func(s *program.Settings) { s.Rewards[0].ExpiresAfterDays = -1 }, "rewards[0].expires_after_days"},
		{"ErrReferrerPoints", func(s *program.Settings) { s.Referral.ReferrerPoints = -1 }, "referral.referrer_points"},
		{"ErrFriendDiscountType", func(s *program.Settings) { s.Referral.FriendDiscountType = "" }, "referral.friend_discount_type"},
		{"ErrFriendDiscountValue", func(s *program.Settings) { s.Referral.FriendDiscountValue = decimal.Zero }, "referral.friend_discount_value"},
		{"ErrTierMetric", func(s *program.Settings) { s.Tiers.Metric = "orders" }, "tiers.metric"},
		{"ErrTierWindow", func(s *program.Settings) { s.Tiers.Window = "calendar_year" }, "tiers.window"},
		{"ErrRollingWindowZero", func(s *program.Settings) { s.Tiers.WindowMonths = 0 }, "tiers.window_months"},
		{"ErrRollingWindowHuge", func(s *program.Settings) { s.Tiers.WindowMonths = 61 }, "tiers.window_months"},
		{"ErrTierDowngrade", func(s *program.Settings) { s.Tiers.Downgrade = "immediately" }, "tiers.downgrade"},
		{"ErrNoTiers", func(s *program.Settings) { s.Tiers.Levels = nil }, "tiers.levels"},
		{"ErrTooManyTiers", func(s *program.Settings) {
			for i := len(s.Tiers.Levels); i <= program.MaxTiers; i++ {
				s.Tiers.Levels = append(s.Tiers.Levels, program.Tier{Key: fmt.Sprintf("t%d", i), Name: "T", Threshold: int64(i) * 1e6, Multiplier: decimal.NewFromInt(2)})
			}
		}, "tiers.levels"},
		{"ErrFirstTierNotZero", func(s *program.Settings) { s.Tiers.Levels[0].Threshold = 100 }, "tiers.levels[0].threshold"},
		{"ErrTierThresholdEqual", func(s *program.Settings) { s.Tiers.Levels[2].Threshold = s.Tiers.Levels[1].Threshold }, "tiers.levels[2].threshold"},
		{"ErrTierThresholdDescending", func(s *program.Settings) { s.Tiers.Levels[1].Threshold = 200000 }, "tiers.levels[2].threshold"},
		{"ErrTierThresholdHuge", func(s *program.Settings) { s.Tiers.Levels[2].Threshold = program.MaxMoneyMinor + 1 }, "tiers.levels[2].threshold"},
		{"ErrTierKeyEmpty", func(s *program.Settings) { s.Tiers.Levels[1].Key = "" }, "tiers.levels[1].key"},
		{"ErrTierKeyDuplicate", func(s *program.Settings) { s.Tiers.Levels[1].Key = "bronze" }, "tiers.levels[1].key"},
		{"ErrTierKeySpace", func(s *program.Settings) { s.Tiers.Levels[1].Key = "si lver" }, "tiers.levels[1].key"},
		{"ErrTierName", func(s *program.Settings) { s.Tiers.Levels[1].Name = "" }, "tiers.levels[1].name"},
		{"ErrTierMultiplierZero", func(s *program.Settings) { s.Tiers.Levels[1].Multiplier = decimal.Zero }, "tiers.levels[1].multiplier"},
		{"ErrTierMultiplierHuge", func(s *program.Settings) { s.Tiers.Levels[1].Multiplier = dec("10.5") }, "tiers.levels[1].multiplier"},
		{"ErrTierMultiplierTooPrecise", func(s *program.Settings) { s.Tiers.Levels[1].Multiplier = dec("1.255") }, "tiers.levels[1].multiplier"},
		{"ErrTiersValidatedWhenDisabled", func(s *program.Settings) { s.Tiers.Enabled = false; s.Tiers.Levels[0].Threshold = 5 }, "tiers.levels[0].threshold"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := program.Defaults()
			tc.mutate(&s)
			err := s.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want a problem on %q", tc.field)
			}
			if got := app.ErrorCode(err); got != app.EINVALID {
				t.Errorf("ErrorCode = %q, want %q", got, app.EINVALID)
			}
			problems := program.FieldProblems(err)
			msg, ok := problems[tc.field]
			if !ok {
				t.Fatalf("problems = %v, want one on %q", problems, tc.field)
			}
			if msg == "" || !strings.HasSuffix(msg, ".") {
				t.Errorf("message %q should be a user-facing sentence", msg)
			}
			// Only the mutated field is wrong: nothing else may be flagged.
			if len(problems) != 1 {
				t.Errorf("problems = %v, want only %q", problems, tc.field)
			}
		})
	}
}

// storeCredit is a store credit reward of amount, valid for days.
func storeCredit(amount string, days int) program.Reward {
	return program.Reward{ID: "credit", Name: "Store credit", PointsCost: 500, DiscountType: program.DiscountStoreCredit,
		Value: dec(amount), ExpiresAfterDays: days}
}

func TestValidationError_AllProblems(t *testing.T) {
	t.Parallel()
	s := program.Defaults()
	s.EarnOn = "x"
	s.Tiers.Levels[1].Threshold = 0
	s.ReminderDays = []int{7, 30}
	err := s.Validate()

	var ve *program.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate() = %T, want *program.ValidationError", err)
	}
	want := []string{"earn_on", "reminder_days[1]", "tiers.levels[1].threshold"}
	if len(ve.Problems) != len(want) {
		t.Fatalf("problems = %+v, want fields %v", ve.Problems, want)
	}
	for i, f := range want {
		if ve.Problems[i].Field != f {
			t.Errorf("problem %d field = %q, want %q", i, ve.Problems[i].Field, f)
		}
	}
	// The app helpers see the first problem, so a JSON API can answer
	// {"error":{"code":"invalid","message":…,"field":"earn_on"}}.
	if got := app.ErrorField(err); got != "earn_on" {
		t.Errorf("ErrorField = %q, want earn_on", got)
	}
	if got := app.ErrorMessage(err); got != ve.Problems[0].Message {
		t.Errorf("ErrorMessage = %q, want %q", got, ve.Problems[0].Message)
	}
	if !strings.Contains(err.Error(), "tiers.levels[1].threshold") {
		t.Errorf("Error() = %q, want every field listed", err.Error())
	}
}

func TestFieldProblems(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want map[string]string
	}{
		{"Nil", nil, nil},
		{"Plain", errors.New("boom"), nil},
		{"AppErrorWithoutField", app.Errorf(app.EINVALID, "Bad."), nil},
		{"SingleFieldError", fmt.Errorf("wrap: %w", app.FieldError("points", "Too many.")), map[string]string{"points": "Too many."}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := program.FieldProblems(tc.err)
			if len(got) != len(tc.want) {
				t.Fatalf("FieldProblems = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("FieldProblems[%q] = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestSettings_JSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(program.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		"points_per_currency_unit", "earn_base", "earn_on", "minimum_order_minor", "signup_points",
		"birthday_points", "review_points", "review_request_days", "pending_days", "expiry_months",
		"reminder_days", "unused_nudge", "rewards", "referral", "tiers",
		"welcome_existing_accounts", "count_test_orders", "guest_points_days",
	} {
		if _, ok := m[key]; !ok {
			t.Errorf("JSON lacks %q: %s", key, b)
		}
	}
	if eb := m["earn_base"].(map[string]any); eb["include_shipping"] != false || eb["include_tax"] != false {
		t.Errorf("earn_base = %v, want shipping and tax excluded", eb)
	}
	// Existing customers are not welcomed and test orders do not count
	// unless the merchant says so; a program saved before these switches
	// existed reads them as off.
	if m["welcome_existing_accounts"] != false || m["count_test_orders"] != false {
		t.Errorf("welcome_existing_accounts = %v, count_test_orders = %v; want both off", m["welcome_existing_accounts"], m["count_test_orders"])
	}
	if m["guest_points_days"] != float64(30) {
		t.Errorf("guest_points_days = %v, want 30 by default", m["guest_points_days"])
	}
	var old program.Settings
	if err := json.Unmarshal([]byte(`{"signup_points": 100}`), &old); err != nil || old.WelcomeExistingAccounts || old.CountTestOrders || old.GuestPointsDays != 0 {
		t.Errorf("a program without the switches decodes as %+v, %v", old, err)
	}

	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		var back program.Settings
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		b2, _ := json.Marshal(back)
		if string(b) != string(b2) {
			t.Errorf("round trip changed JSON:\n%s\n%s", b, b2)
		}
	})
	t.Run("DecimalAsNumber", func(t *testing.T) {
		t.Parallel()
		var s program.Settings
		in := `{"points_per_currency_unit": 2.5, "tiers": {"levels": [{"key":"a","multiplier": 1.5}]}}`
		if err := json.Unmarshal([]byte(in), &s); err != nil {
			t.Fatal(err)
		}
		if !s.PointsPerCurrencyUnit.Equal(dec("2.5")) || !s.Tiers.Levels[0].Multiplier.Equal(dec("1.5")) {
			t.Errorf("decoded %v and %v", s.PointsPerCurrencyUnit, s.Tiers.Levels[0].Multiplier)
		}
	})
}

func TestSettings_BestReward(t *testing.T) {
	t.Parallel()
	s := program.Defaults()
	cases := []struct {
		name    string
		balance int64
		want    string
	}{
		{"NoneAffordable", 499, ""},
		{"ExactlyCheapest", 500, "amount-5"},
		{"BetweenTwo", 1499, "amount-10"},
		{"All", 1_000_000, "percent-15"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, ok := s.BestReward(tc.balance)
			if ok != (tc.want != "") || r.ID != tc.want {
				t.Errorf("BestReward(%d) = %q, %v; want %q", tc.balance, r.ID, ok, tc.want)
			}
		})
	}
	if r, ok := s.Reward("amount-10"); !ok || r.PointsCost != 1000 {
		t.Errorf("Reward(amount-10) = %+v, %v", r, ok)
	}
	if _, ok := s.Reward("nope"); ok {
		t.Error("Reward(nope) found")
	}
	if l, ok := s.Tiers.Tier("gold"); !ok || l.Name != "Gold" {
		t.Errorf("Tier(gold) = %+v, %v", l, ok)
	}
}
