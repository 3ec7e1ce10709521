package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/config"
	"github.com/perkbridge/perkbridge/app/engagement"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/inbox"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/pglocal"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/tenant"
	"github.com/perkbridge/perkbridge/app/vault"
	"github.com/perkbridge/perkbridge/app/worker"
	"github.com/perkbridge/perkbridge/templates"
	"github.com/perkbridge/perkbridge/web"
	"github.com/perkbridge/perkbridge/webhooks"
)

type mode int

const (
	modeServe mode = iota
	modeWorker
	modeDemo
)

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	switch cfg.LogLevel {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" || (cfg.LogFormat == "" && !cfg.Demo) {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openDatabase connects to DATABASE_URL, or starts the local PostgreSQL
// under DataDir when it is unset, and applies migrations. where says, for
// people, which database it is.
func openDatabase(ctx context.Context, cfg config.Config, log *slog.Logger) (db *store.DB, closeDB func(), where string, err error) {
	url := cfg.DatabaseURL
	cleanup := func() {}
	where = "DATABASE_URL (" + redactURL(url) + ")"
	if url == "" {
		c, err := pglocal.Start(ctx, pglocal.Options{Dir: filepath.Join(cfg.DataDir, "pg"), Database: "perkbridge", Logger: log})
		if err != nil {
			return nil, nil, "", err
		}
		log.Info("using local PostgreSQL (DATABASE_URL unset)", "dir", c.Dir, "port", c.Port)
		where = fmt.Sprintf("local PostgreSQL in %s, port %d (DATABASE_URL unset; kept between runs)", c.Dir, c.Port)
		url = c.URL
		cleanup = func() {
			if err := c.Stop(context.Background()); err != nil {
				log.Error("stopping local PostgreSQL", "err", err)
			}
		}
	}
	db, err = store.Open(ctx, url, 40, log)
	if err != nil {
		cleanup()
		return nil, nil, "", err
	}
	if err := store.Migrate(ctx, db.SQL); err != nil {
		db.Close()
		cleanup()
		return nil, nil, "", err
	}
	return db, func() { db.Close(); cleanup() }, where, nil
}

// redactURL drops the password from a database URL, for messages.
func redactURL(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "unparseable URL"
	}
	return u.Redacted()
}

func runMigrate(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg := config.Config{DatabaseURL: getenv("DATABASE_URL"), DataDir: getenv("DATA_DIR"), LogFormat: "text"}
	if cfg.DataDir == "" {
		cfg.DataDir = ".data"
	}
	log := newLogger(cfg, stderr)
	db, cleanup, _, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer cleanup()
	cur, _, _, err := store.MigrationStatus(ctx, db.SQL)
	if err != nil {
		return err
	}
	log.Info("database is migrated", "version", cur)
	return nil
}

func runServe(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer, m mode, demoOpts demoOptions) error {
	cfg, err := config.Load(getenv, m == modeDemo)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	var demo *demoEnv
	if m == modeDemo {
		if demo, err = startDemoSinks(ctx, &cfg, log); err != nil {
			return err
		}
		defer demo.Close()
	}
	db, closeDB, dbWhere, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeDB()

	v, err := vault.New(cfg.EncryptionKey, cfg.OldEncryptionKeys...)
	if err != nil {
		return err
	}
	st := store.New(db.Gorm)
	sh := &shopify.App{
		APIKey: cfg.ShopifyAPIKey, APISecret: cfg.ShopifyAPISecret, OldAPISecret: cfg.ShopifyOldAPISecret,
		Scopes: cfg.Scopes, RedirectURL: cfg.AppURL + "/auth/callback", Version: cfg.APIVersion, ShopOrigin: cfg.ShopOrigin,
	}
	tn := tenant.New(st, sh, v, log)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// The loyalty Service enqueues after commit through an insert-only
	// client, because the working client is built with the Service.
	inserter, err := worker.NewClient(db.Pool, worker.Config{}, worker.Deps{})
	if err != nil {
		return err
	}
	// Event forwarding: deliveries are routed in the same transaction that
	// writes the loyalty events (the events hook), and sent by the Runner.
	fwd := forward.New(st, v, tn, log, forward.Options{KlaviyoOrigin: cfg.KlaviyoOrigin, CleverTapOrigin: cfg.CleverTapRegionOrigin})
	loyal := loyalty.New(st, tn, inserter, log, loyalty.WithEventsHook(forward.RouteHook))
	processor := webhooks.NewProcessor(loyal, log)
	work := m == modeWorker || (m != modeWorker && cfg.Workers)
	// Opens and clicks read back from Klaviyo, per event and day.
	eng := engagement.New(st, fwd, log, engagement.Options{})
	wcfg := worker.Config{Work: work, MaintenanceOnStart: true, QuietRiver: m == modeDemo,
		RescueStuckJobsAfter: cfg.RiverRescueAfter}
	if cfg.RiverRescueAfter > 0 && cfg.RiverRescueAfter < time.Minute {
		wcfg.JobTimeout = cfg.RiverRescueAfter // River wants the timeout within the rescue delay
	}
	rc, err := worker.NewClient(db.Pool, wcfg, worker.Deps{Store: st, Logger: log, Loyalty: loyal, Engagement: eng})
	if err != nil {
		return err
	}
	metrics := worker.NewMetrics(reg, db.Pool)
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	go metrics.RefreshLoop(runCtx, worker.RefreshEvery, log)
	if work {
		// River gets its own context: cancelling it is a hard stop, which
		// would cancel jobs under way; stopWorkers stops River gracefully.
		if err := rc.Start(context.WithoutCancel(runCtx)); err != nil {
			return fmt.Errorf("start workers: %w", err)
		}
		go metrics.Observe(runCtx, rc, log)
		log.Info("workers started")
	}
	// The intake's group-commit writer (serve and demo modes): made before
	// the claimer, which defers to it when intake falls behind.
	var writer *inbox.Writer
	var yield func() bool
	if m != modeWorker {
		writer = inbox.NewWriter(db.Pool, inbox.Options{})
		yield = writer.Busy
	}
	runnerDone := make(chan struct{})
	claimerDone := make(chan struct{})
	if work {
		ropts := forward.RunnerOptions{Lease: cfg.DeliveryLease}
		if cfg.DeliveryRetryUnit > 0 {
			ropts.Backoff = forward.ScaledBackoff(cfg.DeliveryRetryUnit)
		}
		runner := forward.NewRunner(db, fwd, ropts)
		go func() {
			defer close(runnerDone)
			if err := runner.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("delivery runner stopped", "err", err)
			}
		}()
		// The inbox: webhooks are claimed from their rows in leased
		// batches, woken by the intake commit's notification.
		claimer := worker.NewClaimer(db, processor.Dispatch, log, worker.ClaimerOptions{Lease: cfg.InboxLease, Yield: yield})
		reg.MustRegister(claimer.Collectors()...)
		go func() { defer close(claimerDone); _ = claimer.Run(runCtx) }()
	} else {
		close(runnerDone)
		close(claimerDone)
	}
	stopWorkers := func() {
		if !work {
			return
		}
		cancelRun() // the runner and the claimer finish their batches in progress
		<-runnerDone
		<-claimerDone
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := rc.Stop(sctx); err != nil {
			log.Warn("workers did not stop cleanly", "err", err)
		}
	}
	stopMetrics, err := serveMetrics(cfg.MetricsAddr, reg, log)
	if err != nil {
		stopWorkers()
		return err
	}
	defer stopMetrics()
	if m == modeWorker {
		<-ctx.Done()
		stopWorkers()
		return nil
	}

	reg.MustRegister(writer.Collectors()...)
	writerCtx, stopWriter := context.WithCancel(context.Background())
	defer stopWriter()
	writerDone := make(chan struct{})
	go func() { writer.Run(writerCtx); close(writerDone) }()
	intake := webhooks.NewHandler(sh, writer, log, reg)

	var demoSinks func(string) (templates.DemoSinksView, bool)
	if demo != nil {
		demoSinks = demo.SinkView
	}
	e, err := web.NewServer(web.Deps{
		Logger: log, Config: cfg, DB: db, Store: st, Shopify: sh, Tenant: tn, Vault: v, Metrics: reg,
		WebhookHandler: intake.Serve,
		Reprocess:      func(ctx context.Context, id int64) error { return st.NotifyWebhooks(ctx) },
		Loyalty:        loyal,
		Forward:        fwd,
		DemoSinks:      demoSinks,

		Engagement: eng,
		RefreshEngagement: func(ctx context.Context, shopID app.ShopID) error {
			return worker.RefreshEngagementNow(ctx, rc, shopID)
		},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.ListenHost(), strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second}
	url := "http://" + ln.Addr().String()
	log.Info("listening", "url", url)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	simCtx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	simDone := make(chan struct{})
	close(simDone)
	if demo != nil {
		// The seed goes through the real intake, so the server must be up.
		seeded, err := demo.Seed(ctx, st, tn, fwd, loyal, url, demoOpts.connect, log)
		if err != nil {
			_ = srv.Close()
			return err
		}
		// Read the sandbox Klaviyo's opens and clicks now rather than at
		// the next hourly tick (nothing to read when it is not connected).
		if err := worker.RefreshEngagementNow(ctx, rc, seeded.ID); err != nil {
			log.Warn("demo: engagement refresh not queued", "err", err)
		}
		if demoOpts.traffic > 0 {
			sim := demo.Simulator(url, cfg.ShopifyAPISecret, demoOpts.traffic, log)
			simDone = make(chan struct{})
			go func() { defer close(simDone); _ = sim.Run(simCtx) }()
			go reportTraffic(simCtx, stdout, sim, 30*time.Second)
		}
		printDemoBanner(stdout, demo, url, dbWhere, cfg.ShopifyAPISecret, demoOpts)
	}
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("server failed", "err", err)
		}
	}
	log.Info("shutting down")
	stopSim()
	<-simDone // the simulator's last request is answered before the server stops
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx) // in-flight webhooks finish their commit first
	stopWriter()
	<-writerDone
	stopWorkers()
	return nil
}

// serveMetrics serves /metrics on the internal address addr ("" for none),
// away from the public port. It returns the function that stops it.
func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR %s: %w (set METRICS_ADDR to a free host:port, or off)", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", web.MetricsHandler(reg))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
