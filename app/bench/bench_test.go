package bench_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/bench"
	"github.com/perkbridge/perkbridge/app/pglocal"
)

// TestSmoke runs the whole load program with tiny phases (a few hundred
// events, 1-2 s each) so the harness behind `make bench` does not rot: the
// table has every row and the run found no correctness failure. It checks
// no figure: on a shared machine they mean nothing at this size.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts PostgreSQL")
	}
	out := filepath.Join(t.TempDir(), "latest.md")
	var progress strings.Builder
	rep, err := bench.Run(context.Background(), bench.Options{
		Fast:          true,
		E2ESeconds:    1,
		Rates:         []float64{50, 100},
		SinkWait:      30 * time.Second,
		CTEvents:      500,
		KlaviyoEvents: 200,
		KlaviyoWindow: time.Second,
		KillRate:      100,
		KillSeconds:   3,
		IntakeSeconds: 1,
		Clients:       4,
		// Short leases: the killed worker's webhooks and deliveries come
		// back in seconds, not the production 20 s and 2 min.
		Env:      []string{"INBOX_LEASE=2s", "DELIVERY_LEASE=3s"},
		Budget:   time.Minute,
		Out:      out,
		Progress: &progress,
	})
	if errors.Is(err, pglocal.ErrNoBinaries) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if len(rep.Failures) > 0 {
		t.Errorf("correctness failures: %q\n%s", rep.Failures, progress.String())
	}
	want := []string{bench.RowPgbench, bench.RowIntake, bench.RowCleverTap, bench.RowKlaviyo, bench.RowKlaviyoOver, bench.RowResume,
		fmt.Sprintf(bench.RowRSS, "serve"), fmt.Sprintf(bench.RowRSS, "worker")}
	for _, r := range []string{"50", "100"} {
		want = append(want, fmt.Sprintf(bench.RowE2E, r)+" p50", fmt.Sprintf(bench.RowE2E, r)+" p99", fmt.Sprintf(bench.RowSustained, r))
	}
	rows := map[string]bench.Row{}
	for _, r := range rep.Rows {
		rows[r.Name] = r
	}
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range want {
		r, ok := rows[name]
		if !ok {
			t.Errorf("no row %q in the table:\n%s", name, rep.Markdown())
			continue
		}
		if r.Measured == "" || r.Target == "" || r.Met == "" {
			t.Errorf("row %q has an empty cell: %+v", name, r)
		}
		if !strings.Contains(string(written), "| "+name+" |") {
			t.Errorf("row %q is not in %s", name, out)
		}
	}
	if len(rep.Rows) != len(want) {
		t.Errorf("%d rows, want %d:\n%s", len(rep.Rows), len(want), rep.Markdown())
	}
	t.Logf("progress:\n%s\n%s", progress.String(), rep.Markdown())
	// The resume row measured a kill (the worker held webhooks).
	if r := rows[bench.RowResume]; strings.HasPrefix(r.Measured, "not measured") {
		t.Errorf("no kill measured: %+v", r)
	}
	for _, s := range []string{"- machine: ", "- commit: ", "- date: ", "| figure | measured | reference / target | met? |"} {
		if !strings.Contains(string(written), s) {
			t.Errorf("%s lacks %q", out, s)
		}
	}
}
