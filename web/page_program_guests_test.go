package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestPageProgram_GuestPointsDays: the merchant sets how long a guest
// order's points wait for an account (default 30, 0 off, at most 365).
func TestPageProgram_GuestPointsDays(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	rec, d := b.page(t, pageShop, "/app/program")
	requireStatus(t, rec, http.StatusOK)
	if v, _ := d.Find(`input[name="guest_points_days"]`).Attr("value"); v != "30" {
		t.Fatalf("guest_points_days default = %q", v)
	}
	action := formAction(t, d, `[data-testid="program-form"]`)

	f := programForm(d)
	f.Set("guest_points_days", "366")
	rec, d2 := b.submit(t, pageShop, action, f)
	requireStatus(t, rec, http.StatusUnprocessableEntity)
	if got := pageText(d2.Find("#f-guest-points-days-error")); !strings.Contains(got, "365") {
		t.Errorf("error beside the field = %q", got)
	}

	f.Set("guest_points_days", "0")
	rec, _ = b.submit(t, pageShop, action, f)
	requireRedirect(t, rec, "/app/program", "program-saved")
	_, d = b.page(t, pageShop, "/app/program")
	if v, _ := d.Find(`input[name="guest_points_days"]`).Attr("value"); v != "0" {
		t.Fatalf("guest_points_days after saving 0 = %q", v)
	}
}
