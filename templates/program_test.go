package templates_test

import (
	"strings"
	"testing"

	"github.com/perkbridge/perkbridge/templates"
)

func TestProgramPage(t *testing.T) {
	t.Parallel()
	v := templates.ProgramView{
		Shell: shell(false), Action: "/app/program", Currency: "EUR",
		Form: templates.ProgramForm{
			PointsPerCurrencyUnit: "abc", EarnOn: "fulfilled", MinimumOrder: "20", ReminderDays: "7, 30", IncludeTax: true,
			Rewards:      []templates.RewardForm{{ID: "amount-5", Name: "5 off", PointsCost: "500", DiscountType: "fixed_amount", Value: "5"}, {DiscountType: "fixed_amount"}},
			TiersEnabled: true, TierMetric: "amount_spent",
			Tiers: []templates.TierForm{{Key: "bronze", Name: "Bronze", Threshold: "0", Multiplier: "1"}, {Key: "gold", Name: "Gold", Threshold: "10", Multiplier: "11"}, {}},
		},
		Errors: templates.FieldErrors{
			"points_per_currency_unit":       "Enter a number, such as 1.5.",
			"reminder_days":                  "Reminder days must be in descending order.",
			"tiers.levels[1].multiplier":     "Multiplier must be more than 0 and at most 10.",
			"rewards":                        "At most 20 rewards are allowed.",
			"unused_nudge.threshold_points":  "",
			"referral.friend_discount_value": "A percentage discount must be more than 0 and at most 100.",
		},
		Problems: []templates.Problem{
			{Field: "points_per_currency_unit", Label: "Points per currency unit", Message: "Enter a number, such as 1.5."},
			{Field: "reminder_days", Label: "Expiry reminders", Message: "Reminder days must be in descending order."},
			{Field: "rewards", Label: "Rewards", Message: "At most 20 rewards are allowed."},
			{Field: "tiers.levels[1].multiplier", Label: "Tier 2: points multiplier", Message: "Multiplier must be more than 0 and at most 10."},
		},
	}
	d := render(t, templates.ProgramPage(v))
	summary := d.Find(`[data-testid="program-errors"]`)
	if role, _ := summary.Attr("role"); role != "alert" {
		t.Errorf("summary role = %q", role)
	}
	if !strings.HasPrefix(text(summary), "4 settings need a fix:") {
		t.Errorf("summary = %q", text(summary))
	}
	links := summary.Find("a")
	wantLinks := []string{"#f-points-per-currency-unit", "#f-reminder-days", "#f-rewards-error", "#f-tiers-levels-1-multiplier"}
	for i, want := range wantLinks {
		if href, _ := links.Eq(i).Attr("href"); href != want {
			t.Errorf("summary link %d = %q, want %q", i, href, want)
		}
		if d.Find(want).Length() != 1 {
			t.Errorf("summary link %s has no target", want)
		}
	}
	if got := text(links.Eq(3)); got != "Tier 2: points multiplier: Multiplier must be more than 0 and at most 10." {
		t.Errorf("summary line = %q", got)
	}
	// Input names are the JSON paths; what was typed is shown back.
	in := d.Find(`input[name="points_per_currency_unit"]`)
	if v, _ := in.Attr("value"); v != "abc" {
		t.Errorf("typed value = %q", v)
	}
	if inv, _ := in.Attr("aria-invalid"); inv != "true" {
		t.Error("not marked invalid")
	}
	if db, _ := in.Attr("aria-describedby"); db != "f-points-per-currency-unit-hint f-points-per-currency-unit-error" {
		t.Errorf("aria-describedby = %q", db)
	}
	if got := text(d.Find(`#f-tiers-levels-1-multiplier-error`)); got != "Multiplier must be more than 0 and at most 10." {
		t.Errorf("tier error = %q", got)
	}
	if v, _ := d.Find(`input[name="tiers.levels[1].multiplier"]`).Attr("value"); v != "11" {
		t.Errorf("tier multiplier = %q", v)
	}
	if got := text(d.Find(`#f-referral-friend-discount-value-error`)); !strings.Contains(got, "percentage") {
		t.Errorf("referral error = %q", got)
	}
	if v, _ := d.Find(`select[name="earn_on"] option[selected]`).Attr("value"); v != "fulfilled" {
		t.Errorf("earn_on = %q", v)
	}
	if _, ok := d.Find(`input[name="earn_base.include_tax"]`).Attr("checked"); !ok {
		t.Error("include_tax not checked")
	}
	if !strings.Contains(text(d.Find(`label[for="f-minimum-order-minor"]`)), "EUR") {
		t.Error("money label does not name the currency")
	}
	// The blank last rows add a reward and a tier; only real rows can be removed.
	rewards := d.Find(`[data-testid="reward-row"]`)
	if rewards.Length() != 2 || rewards.Eq(1).Find(`input[name$=".remove"]`).Length() != 0 || rewards.Eq(0).Find(`input[name="rewards[0].remove"]`).Length() != 1 {
		t.Error("reward rows")
	}
	if d.Find(`[data-testid="tier-row"]`).Length() != 3 {
		t.Error("tier rows")
	}
	requireLabels(t, d, d.Find(`[data-testid="program-form"]`))
	if d.Find(`button[type="submit"][form="program-form"]`).Length() != 1 {
		t.Error("no save button at the top")
	}
}
