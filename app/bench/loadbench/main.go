// Command loadbench is `make bench`: it runs the perkbridge binary under
// load against a local durable PostgreSQL and the sink fakes, prints one
// markdown table of DESIGN.md §7's figures beside their references and
// targets, and writes it to artifacts/bench/latest.md (BENCH_OUT). It
// exits 1 only on a correctness failure (an event lost or doubled, a
// process that exited by itself) or a run that could not be made, never
// on a missed performance target. Knobs: see bench.OptionsFromEnv.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/perkbridge/perkbridge/app/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := bench.OptionsFromEnv()
	if o.Out == "" {
		o.Out = "artifacts/bench/latest.md"
	}
	o.Progress = os.Stderr
	rep, err := bench.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Print(rep.Markdown())
	if len(rep.Failures) > 0 {
		os.Exit(1)
	}
}
