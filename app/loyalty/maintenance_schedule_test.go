package loyalty_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/worker"
)

// TestMaintenance_RunsOnStartForDueShops: a worker that starts runs the
// periodic loyalty work at once (a process restarted more often than the
// tick never starves it), for the shops whose work is due and not for a
// shop done moments ago, and records when each run completed.
func TestMaintenance_RunsOnStartForDueShops(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	due, recent := b.newShop(t, "Europe/Berlin"), b.newShop(t, "UTC")
	doneAt := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	if err := b.st.MarkMaintenanceCompleted(ctx, recent.ID, doneAt); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// A tick of an hour: only the start tick can run within the test.
	rc, err := worker.NewClient(b.db.Pool, worker.Config{Work: true, ID: "maint",
		LoyaltyTickInterval: time.Hour, MaintenanceOnStart: true},
		worker.Deps{Store: b.st, Logger: log, Loyalty: b.svc})
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rc.Stop(sctx)
	})
	waitFor(t, "the start tick and the due shop's maintenance to complete", func() bool {
		sh, err := b.st.Shop(ctx, due.ID)
		return err == nil && sh.MaintenanceCompletedAt != nil &&
			b.count(t, "SELECT count(*) FROM river_job WHERE kind = 'loyalty_tick' AND state = 'completed'") == 1
	})
	// The tick has completed, so every job it enqueued exists now.
	if n := b.count(t, "SELECT count(*) FROM river_job WHERE kind = 'loyalty_maintenance' AND (args->>'shop_id')::bigint = $1", recent.ID); n != 0 {
		t.Fatalf("the shop done a minute ago was enqueued %d times", n)
	}
	if sh, _ := b.st.Shop(ctx, recent.ID); sh.MaintenanceCompletedAt == nil || !sh.MaintenanceCompletedAt.Equal(doneAt) {
		t.Fatalf("recent shop's completion moved: %v", sh.MaintenanceCompletedAt)
	}
	// Due again once a tick has passed: the query the tick runs.
	ids, err := b.st.ShopsDueForMaintenance(ctx, time.Now().Add(time.Hour))
	if err != nil || len(ids) < 2 {
		t.Fatalf("due after an hour: %v, %v", ids, err)
	}
}
