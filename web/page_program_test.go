package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// programForm returns the values the program form would submit as shown.
func programForm(d *goquery.Document) url.Values {
	f := url.Values{}
	d.Find(`[data-testid="program-form"]`).Find("input, select").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Attr("name")
		if name == "" {
			return
		}
		switch {
		case s.Is(`input[type="checkbox"]`):
			if _, ok := s.Attr("checked"); ok {
				f.Add(name, s.AttrOr("value", "on"))
			}
		case s.Is("select"):
			f.Set(name, s.Find("option[selected]").AttrOr("value", s.Find("option").First().AttrOr("value", "")))
		default:
			f.Set(name, s.AttrOr("value", ""))
		}
	})
	return f
}

func TestPageProgram(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	ctx := context.Background()
	rec, d := b.page(t, pageShop, "/app/program")
	requireStatus(t, rec, http.StatusOK)
	if v, _ := d.Find(`input[name="signup_points"]`).Attr("value"); v != "100" {
		t.Errorf("signup default = %q", v)
	}
	// Tier thresholds on amount spent are shown in major units.
	if v, _ := d.Find(`input[name="tiers.levels[1].threshold"]`).Attr("value"); v != "500" {
		t.Errorf("silver threshold = %q", v)
	}
	action := formAction(t, d, `[data-testid="program-form"]`)

	// Submitting the form as shown saves the same settings.
	rec, _ = b.submit(t, pageShop, action, programForm(d))
	requireRedirect(t, rec, "/app/program", "program-saved")

	// Invalid values: every problem beside its field and in the summary,
	// what was typed kept, nothing saved.
	f := programForm(d)
	f.Set("points_per_currency_unit", "abc")
	f.Set("reminder_days", "7, 30")
	f.Set("tiers.levels[2].multiplier", "11")
	f.Set("referral.friend_discount_value", "150")
	rec, d = b.submit(t, pageShop, action, f)
	requireStatus(t, rec, http.StatusUnprocessableEntity)
	for id, want := range map[string]string{
		"f-points-per-currency-unit-error":       "Enter a number",
		"f-reminder-days-error":                  "descending",
		"f-tiers-levels-2-multiplier-error":      "Multiplier",
		"f-referral-friend-discount-value-error": "percentage",
	} {
		if got := pageText(d.Find("#" + id)); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want %q in it", id, got, want)
		}
	}
	if n := d.Find(`[data-testid="program-errors"] li`).Length(); n != 4 {
		t.Errorf("summary lines = %d", n)
	}
	if got := pageText(d.Find(`[data-testid="program-errors"] li`).First()); !strings.HasPrefix(got, "Points per currency unit:") {
		t.Errorf("first summary line = %q", got)
	}
	if v, _ := d.Find(`input[name="tiers.levels[2].multiplier"]`).Attr("value"); v != "11" {
		t.Errorf("typed multiplier = %q", v)
	}
	st, err := b.loyalty.GetProgram(ctx, b.shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.ReminderDays) != 3 {
		t.Errorf("invalid form saved: %v", st.ReminderDays)
	}

	// Change values, remove a reward, add a tier by its name alone.
	_, d = b.page(t, pageShop, "/app/program")
	f = programForm(d)
	f.Set("points_per_currency_unit", "2.5")
	f.Set("minimum_order_minor", "20.50")
	f.Set("reminder_days", "14, 3")
	f.Set("rewards[1].remove", "true")
	f.Set("tiers.levels[3].name", "Platinum")
	f.Set("tiers.levels[3].threshold", "5000")
	f.Set("tiers.levels[3].multiplier", "2")
	f.Set("referral.enabled", "true")
	rec, _ = b.submit(t, pageShop, action, f)
	requireRedirect(t, rec, "/app/program", "program-saved")
	st, err = b.loyalty.GetProgram(ctx, b.shop.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.PointsPerCurrencyUnit.String() != "2.5" || st.MinimumOrderMinor != 2050 || len(st.ReminderDays) != 2 || st.ReminderDays[0] != 14 {
		t.Errorf("saved = %s %d %v", st.PointsPerCurrencyUnit, st.MinimumOrderMinor, st.ReminderDays)
	}
	if len(st.Rewards) != 2 || st.Rewards[1].ID != "percent-15" {
		t.Errorf("rewards = %+v", st.Rewards)
	}
	if n := len(st.Tiers.Levels); n != 4 || st.Tiers.Levels[3].Key != "platinum" || st.Tiers.Levels[3].Threshold != 500000 {
		t.Errorf("tiers = %+v", st.Tiers.Levels)
	}
	if !st.Referral.Enabled {
		t.Error("referral not enabled")
	}
	// Shop B still has the defaults.
	other, err := b.loyalty.GetProgram(ctx, b.other.ID)
	if err != nil {
		t.Fatal(err)
	}
	if other.PointsPerCurrencyUnit.String() != "1" {
		t.Errorf("shop B changed: %s", other.PointsPerCurrencyUnit)
	}
}
