package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestPageProgram_Switches: "count test orders", "welcome existing account
// holders" and "return expired rewards' points" are off by default, saved
// from the form, shown checked again, and while test orders count the home
// page warns about it.
func TestPageProgram_Switches(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	ctx := context.Background()
	switches := []string{"count_test_orders", "welcome_existing_accounts", "return_expired_reward_points"}
	_, d := b.page(t, pageShop, "/app/program")
	for _, name := range switches {
		box := d.Find(`input[type="checkbox"][name="` + name + `"]`)
		if box.Length() != 1 {
			t.Fatalf("no checkbox %s", name)
		}
		if _, on := box.Attr("checked"); on {
			t.Errorf("%s is on by default", name)
		}
	}
	_, home := b.page(t, pageShop, "/app")
	if strings.Contains(pageText(home.Find(`[data-testid="attention"]`)), "Test orders") {
		t.Fatal("test-order warning while they do not count")
	}

	f := programForm(d)
	for _, name := range switches {
		f.Set(name, "true")
	}
	rec, _ := b.submit(t, pageShop, formAction(t, d, `[data-testid="program-form"]`), f)
	requireRedirect(t, rec, "/app/program", "program-saved")
	st, err := b.loyalty.GetProgram(ctx, b.shop.ID)
	if err != nil || !st.CountTestOrders || !st.WelcomeExistingAccounts || !st.ReturnExpiredRewardPoints {
		t.Fatalf("saved %+v, %v", st, err)
	}
	_, d = b.page(t, pageShop, "/app/program")
	for _, name := range switches {
		if _, on := d.Find(`input[name="` + name + `"]`).Attr("checked"); !on {
			t.Errorf("%s not shown checked after saving", name)
		}
	}
	rec, home = b.page(t, pageShop, "/app")
	requireStatus(t, rec, http.StatusOK)
	if got := pageText(home.Find(`[data-testid="attention"]`)); !strings.Contains(got, "Test orders are earning points") {
		t.Errorf("no test-order warning on home: %q", got)
	}
}
