package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPageHome_Maintenance: the home page says when the periodic loyalty
// work last completed, in the shop's time zone, or that it has not run.
func TestPageHome_Maintenance(t *testing.T) {
	t.Parallel()
	b := setupPages(t)
	rec, d := b.page(t, pageShop, "/app")
	requireStatus(t, rec, http.StatusOK)
	if got := pageText(d.Find(`[data-testid="maintenance"]`)); !strings.Contains(got, "have not run yet") {
		t.Errorf("before any run: %q", got)
	}
	at := time.Date(2026, 12, 3, 14, 5, 0, 0, time.UTC)
	if err := b.st.MarkMaintenanceCompleted(t.Context(), b.shop.ID, at); err != nil {
		t.Fatal(err)
	}
	rec, d = b.page(t, pageShop, "/app")
	requireStatus(t, rec, http.StatusOK)
	when := d.Find(`[data-testid="maintenance-at"]`)
	got, _ := time.Parse(time.RFC3339, when.AttrOr("datetime", ""))
	if !got.Equal(at) || !strings.Contains(pageText(d.Find(`[data-testid="maintenance"]`)), "last ran") {
		t.Errorf("after a run: datetime %q, text %q", when.AttrOr("datetime", ""), pageText(d.Find(`[data-testid="maintenance"]`)))
	}
}
