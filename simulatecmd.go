package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/perkbridge/perkbridge/app/simulate"
)

// runSimulate sends simulated shop traffic to a running instance: signed
// webhooks through its intake and signed storefront calls through its app
// proxy routes, each with fresh ids, until -duration or -count is reached
// or the command is interrupted.
func runSimulate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	appURL := fs.String("url", "http://127.0.0.1:8080", "the app's origin (webhooks go to /webhooks, storefront calls to /proxy)")
	shop := fs.String("shop", demoShop, "the installed shop the traffic is for")
	secret := fs.String("secret", "", "the app's client secret, to sign with (default $SHOPIFY_API_SECRET, or the demo's)")
	rate := fs.Float64("rate", 2, "actions a second")
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted or -count)")
	count := fs.Int("count", 0, "stop after this many actions (0: no limit)")
	seed := fs.Uint64("seed", 0, "seed for the choice of actions (0: random)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" {
		*secret = getenv("SHOPIFY_API_SECRET")
	}
	if *secret == "" {
		*secret = "demo-api-secret"
	}
	if *rate <= 0 || *rate > 1000 {
		return fmt.Errorf("simulate: -rate must be above 0 and at most 1000")
	}
	opts := simulate.Options{AppURL: strings.TrimRight(*appURL, "/"), Shop: *shop, Secret: *secret, Rate: *rate, Seed: *seed}
	if err := opts.Validate(); err != nil {
		return err
	}
	sim := simulate.New(opts)
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	fmt.Fprintf(stdout, "Sending simulated traffic for %s to %s at %g actions a second. Stop with Ctrl-C.\n", *shop, opts.AppURL, *rate)
	tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
	defer tick.Stop()
	report := time.NewTicker(10 * time.Second)
	defer report.Stop()
send:
	for n := 0; *count == 0 || n < *count; n++ {
		if action, err := sim.Step(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintf(stderr, "%s failed: %v\n", action, err)
		}
		select {
		case <-ctx.Done():
			break send
		case <-report.C:
			fmt.Fprintln(stdout, summary(sim))
		case <-tick.C:
		}
	}
	fmt.Fprintln(stdout, summary(sim))
	if _, errs := sim.Counts(); errs > 0 {
		return fmt.Errorf("simulate: %d actions failed", errs)
	}
	return nil
}

// reportTraffic prints the simulator's summary every interval until ctx
// ends, so the demo's terminal shows the traffic going on.
func reportTraffic(ctx context.Context, out io.Writer, sim *simulate.Simulator, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fmt.Fprintln(out, "Simulated traffic "+summary(sim))
		}
	}
}

// summary is one line of the actions sent so far.
func summary(sim *simulate.Simulator) string {
	counts, errs := sim.Counts()
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys)+1)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	parts = append(parts, fmt.Sprintf("errors %d", errs))
	return "sent: " + strings.Join(parts, ", ")
}
