// Command perkbridge is the one binary of the Perkbridge Shopify app:
//
//	perkbridge serve     web server and background workers (WORKERS=0: web only)
//	perkbridge worker    background workers only
//	perkbridge migrate   apply database migrations and exit
//	perkbridge demo      the app with a demo store, sandbox sinks and simulated shoppers, offline
//	perkbridge simulate  send simulated shop traffic to a running instance
//	perkbridge webhook   send a correctly signed sample webhook to a URL
//
// main only builds a signal context and calls run, which wires everything
// and is what main_test.go drives end to end.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "perkbridge:", err)
		os.Exit(1)
	}
}

const usage = `Usage: perkbridge <command> [flags]

Commands:
  serve     run the web server and the background workers (WORKERS=0: web only)
  worker    run the background workers only
  migrate   apply database migrations and exit
  demo      run the app with a demo store, sandbox Klaviyo/CleverTap and simulated
            shoppers (offline); -traffic=N actions a second, 0 for none
  simulate  send simulated shop traffic (signed webhooks, storefront calls) to an
            instance: perkbridge simulate -url URL -rate N
  webhook   send a signed sample webhook: perkbridge webhook -topic orders/paid -url URL -shop SHOP
  healthcheck  exit 0 when the server on $PORT answers /healthz (for container health checks)

With DATABASE_URL unset, a local PostgreSQL is started under .data/.
See README.md for the configuration variables.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, getenv, stdout, stderr, modeServe, demoOptions{})
	case "worker":
		return runServe(ctx, getenv, stdout, stderr, modeWorker, demoOptions{})
	case "demo":
		opts, err := parseDemoFlags(args[1:], stderr)
		if err != nil {
			return err
		}
		return runServe(ctx, getenv, stdout, stderr, modeDemo, opts)
	case "simulate":
		return runSimulate(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, getenv, stderr)
	case "webhook":
		return runWebhook(ctx, args[1:], getenv, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func runHealthcheck(ctx context.Context, getenv func(string) string) error {
	port := getenv("PORT")
	if port == "" {
		port = "8080"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s", resp.Status)
	}
	return nil
}
