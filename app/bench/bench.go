// Package bench is the load harness behind `make bench` (DESIGN.md §7): it
// runs the real perkbridge binary (`serve`: intake, processing and
// delivery in one process, as deployed; and a `worker` process for the
// crash measurement) against a local PostgreSQL and the Shopify, Klaviyo
// and CleverTap fakes, which it hosts itself on loopback, drives it from
// its own process over HTTP, and prints one table: each figure beside its
// reference limit or target, measured in the same run.
//
// It fails (Run returns Failures) only on a correctness failure: an event
// lost or doubled, a webhook not settled, a process that exited by
// itself. A missed performance target is a row marked "not met".
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/pglocal"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/tenant"
	"github.com/perkbridge/perkbridge/app/vault"
	"github.com/perkbridge/perkbridge/webhooks"
)

// Options size the run. The zero value of a field takes its default (the
// full run of DESIGN.md §7); OptionsFromEnv reads the BENCH_* knobs.
type Options struct {
	Binary        string        // the perkbridge binary; "" builds it from RepoDir
	RepoDir       string        // the module root; "" finds it from the working directory
	Fast          bool          // fsync off (smoke runs); the real bench commits durably
	E2ESeconds    float64       // each webhook-to-sink phase (60)
	Rates         []float64     // webhook-to-sink rates, orders/s (100, 500)
	SinkWait      time.Duration // how long to wait for the sink after a phase's last send (120 s)
	CTEvents      int           // CleverTap drain backlog (100,000)
	KlaviyoEvents int           // Klaviyo drain backlog (5,000)
	KlaviyoWindow time.Duration // Klaviyo measured window (20 s)
	KillRate      float64       // traffic during the crash measurement, orders/s (100)
	KillSeconds   float64       // its length (12)
	IntakeSeconds float64       // pgbench and intake each (10)
	Clients       int           // intake and pgbench client count (8)
	Budget        time.Duration // the whole run's time, to bound the final wait (10 min)
	Env           []string      // extra environment for the app processes (smoke runs: INBOX_LEASE=2s)
	Out           string        // where the table goes besides stdout; "" none
	Progress      io.Writer     // progress lines; nil discards
}

// OptionsFromEnv reads BENCH_SECONDS (each webhook-to-sink phase),
// BENCH_RATES ("100,500"), BENCH_SINK_WAIT, BENCH_CT_EVENTS,
// BENCH_KLAVIYO_EVENTS, BENCH_KLAVIYO_WINDOW, BENCH_KILL_RATE,
// BENCH_KILL_SECONDS, BENCH_INTAKE_SECONDS, BENCH_CLIENTS, BENCH_FAST=1,
// PERKBRIDGE_BIN and BENCH_OUT.
func OptionsFromEnv() Options {
	o := Options{Binary: os.Getenv("PERKBRIDGE_BIN"), Out: os.Getenv("BENCH_OUT"), Fast: os.Getenv("BENCH_FAST") == "1"}
	num := func(name string) float64 {
		v, err := strconv.ParseFloat(os.Getenv(name), 64)
		if err != nil || v <= 0 {
			return 0
		}
		return v
	}
	dur := func(name string) time.Duration {
		d, _ := time.ParseDuration(os.Getenv(name))
		return d
	}
	o.E2ESeconds = num("BENCH_SECONDS")
	for _, s := range strings.Split(os.Getenv("BENCH_RATES"), ",") {
		if v, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && v > 0 {
			o.Rates = append(o.Rates, v)
		}
	}
	o.SinkWait = dur("BENCH_SINK_WAIT")
	o.CTEvents = int(num("BENCH_CT_EVENTS"))
	o.KlaviyoEvents = int(num("BENCH_KLAVIYO_EVENTS"))
	o.KlaviyoWindow = dur("BENCH_KLAVIYO_WINDOW")
	o.KillRate = num("BENCH_KILL_RATE")
	o.KillSeconds = num("BENCH_KILL_SECONDS")
	o.IntakeSeconds = num("BENCH_INTAKE_SECONDS")
	o.Clients = int(num("BENCH_CLIENTS"))
	return o
}

func (o *Options) defaults() {
	def := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.E2ESeconds, 60)
	def(&o.KillRate, 100)
	def(&o.KillSeconds, 12)
	def(&o.IntakeSeconds, 10)
	if len(o.Rates) == 0 {
		o.Rates = []float64{100, 500}
	}
	if o.SinkWait <= 0 {
		o.SinkWait = 120 * time.Second
	}
	if o.CTEvents <= 0 {
		o.CTEvents = 100_000
	}
	if o.KlaviyoEvents <= 0 {
		o.KlaviyoEvents = 5000
	}
	if o.KlaviyoWindow <= 0 {
		o.KlaviyoWindow = 20 * time.Second
	}
	if o.Clients <= 0 {
		o.Clients = 8
	}
	if o.Budget <= 0 {
		o.Budget = 10 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Row is one line of the table.
type Row struct {
	Name, Measured, Target string
	Met                    string // "met", "not met (…)", or "n/a"
}

// Report is a run's outcome.
type Report struct {
	Date, Machine, Commit string
	Rows                  []Row
	Notes                 []string
	Failures              []string // correctness failures: the run fails
	Unsettled             int64    // webhooks and deliveries still pending when the budget ran out
	Wall                  time.Duration
}

// Markdown renders the report as the table `make bench` prints.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# make bench\n\n- date: %s\n- machine: %s\n- commit: %s\n- wall time: %s\n\n", r.Date, r.Machine, r.Commit, r.Wall.Round(time.Second))
	b.WriteString("| figure | measured | reference / target | met? |\n|---|---|---|---|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row.Name, row.Measured, row.Target, row.Met)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	switch {
	case len(r.Failures) == 0 && r.Unsettled == 0:
		b.WriteString("\nCorrectness: no event lost or doubled, every webhook and delivery settled, no process exited by itself.\n")
	case len(r.Failures) == 0:
		fmt.Fprintf(&b, "\nCorrectness: no event doubled, no process exited by itself; %d webhooks or deliveries were still pending at the end, so their events were not checked.\n", r.Unsettled)
	default:
		b.WriteString("\nCORRECTNESS FAILURES:\n")
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	}
	return b.String()
}

// Row names, in the table's order; the smoke test checks every one.
const (
	RowPgbench     = "reference: one-row inserts of the same body (pgbench)"
	RowIntake      = "webhook intake, workers on"
	RowE2E         = "webhook to sink at %s orders/s"
	RowSustained   = "webhook to sink at %s orders/s, rate sustained"
	RowCleverTap   = "CleverTap drain"
	RowKlaviyo     = "Klaviyo drain, share of the events limit"
	RowKlaviyoOver = "Klaviyo limits never exceeded"
	RowResume      = "resume after kill -9 of a worker"
	RowRSS         = "peak RSS, %s"
)

const (
	apiKey      = "bench-key"
	apiSecret   = "bench-secret"
	encKey      = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	encRaw      = "0123456789abcdef0123456789abcdef"
	klaviyoKey  = "pk_bench_0123456789abcdef0123"
	ctPasscode  = "BENCH-PASS"
	ctE2E       = "BENCH-E2E"
	ctDrain     = "BENCH-DRAIN"
	e2eShop     = "bench-e2e.myshopify.com"
	drainShop   = "bench-ct.myshopify.com"
	klaviyoShop = "bench-kl.myshopify.com"
	intakeShop  = "bench-intake.myshopify.com"
	// Order ids: phase p's order i is orderBase + p*phaseStride + i.
	orderBase   = 8_100_000_000_000
	phaseStride = 10_000_000
)

// bench is one run's state.
type bench struct {
	o      Options
	rep    *Report
	ctx    context.Context
	logDir string
	start  time.Time

	pg  *pglocal.Cluster
	db  *store.DB
	st  *store.Store
	sf  *fake.Shopify
	kf  *fake.Klaviyo
	cf  *fake.CleverTap
	kc  *statusCounter
	cc  *statusCounter
	fwd *forward.Service
	tn  *tenant.Service

	sfURL, kURL, cURL string
	serve, worker     *child
	shops             map[string]*store.Shop
	orders            *orderBodies

	// Every acknowledged e2e-shop order (phase index and number) and the
	// time it was sent: the final exactly-once check covers them all.
	mu      sync.Mutex
	e2eSent map[int64]time.Time
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.o.Progress, "bench %s: %s\n", time.Now().Format(time.TimeOnly), fmt.Sprintf(format, args...))
}

func (b *bench) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.logf("CORRECTNESS FAILURE: %s", msg)
	b.rep.Failures = append(b.rep.Failures, msg)
}

func (b *bench) row(name, measured, target, met string) {
	b.rep.Rows = append(b.rep.Rows, Row{Name: name, Measured: measured, Target: target, Met: met})
	b.logf("| %s | %s | %s | %s |", name, measured, target, met)
}

func (b *bench) note(format string, args ...any) {
	b.rep.Notes = append(b.rep.Notes, fmt.Sprintf(format, args...))
}

// Run runs the bench. The error is for a run that could not be made
// (no PostgreSQL, a build failure); correctness failures are in
// Report.Failures.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	start := time.Now()
	b := &bench{o: o, ctx: ctx, rep: &Report{Date: start.UTC().Format(time.RFC3339)}, shops: map[string]*store.Shop{}, e2eSent: map[int64]time.Time{}, start: start}
	cleanup, err := b.setup()
	defer cleanup()
	if err != nil {
		return nil, err
	}
	var rssStop atomic.Bool
	defer rssStop.Store(true)
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		for !rssStop.Load() {
			b.serve.SampleRSS()
			b.worker.SampleRSS()
			time.Sleep(250 * time.Millisecond)
		}
	}()

	var phases []func() error
	for i, rate := range o.Rates {
		phases = append(phases, func() error { return b.e2e(1+i, rate) })
	}
	phases = append(phases, b.cleverTapDrain, b.klaviyoDrain, b.kill, b.intake)
	for _, phase := range phases {
		if err := phase(); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("bench: interrupted: %w", err)
		}
	}
	b.finalChecks()
	rssStop.Store(true)
	<-rssDone
	b.serve.Stop()
	b.worker.Stop()
	for _, c := range []*child{b.serve, b.worker} {
		for _, cr := range c.Crashes() {
			b.fail("%s (log %s):\n%s", cr, c.Log, c.Tail(20))
		}
	}
	b.row(fmt.Sprintf(RowRSS, "serve"), fmt.Sprintf("%.0f MB", b.serve.PeakMB()), "< 200 MB", metBelow(b.serve.PeakMB(), 200, "MB"))
	b.row(fmt.Sprintf(RowRSS, "worker"), fmt.Sprintf("%.0f MB", b.worker.PeakMB()), "< 200 MB", metBelow(b.worker.PeakMB(), 200, "MB"))
	// The table in the brief's order (the phases run in another: intake
	// last, so its backlog delays nothing after it).
	order := []string{RowPgbench, RowIntake, "webhook to sink", RowCleverTap, RowKlaviyo, RowKlaviyoOver, RowResume, "peak RSS"}
	rank := func(name string) int {
		for i, p := range order {
			if strings.HasPrefix(name, p) {
				return i
			}
		}
		return len(order)
	}
	slices.SortStableFunc(b.rep.Rows, func(x, y Row) int { return rank(x.Name) - rank(y.Name) })
	b.rep.Wall = time.Since(start)
	if len(b.rep.Failures) == 0 {
		os.RemoveAll(b.logDir)
	} else {
		b.note("the app processes' logs are kept in %s", b.logDir)
	}
	if o.Out != "" {
		if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
			return b.rep, err
		}
		if err := os.WriteFile(o.Out, []byte(b.rep.Markdown()), 0o644); err != nil {
			return b.rep, err
		}
	}
	return b.rep, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

func metBelow(v, limit float64, unit string) string {
	if v < limit {
		return "met"
	}
	return fmt.Sprintf("**not met** (%.3g %s over)", v-limit, unit)
}

// setup builds the binary, starts PostgreSQL, the fakes and the app, and
// installs the shops. cleanup undoes whatever was done.
func (b *bench) setup() (cleanup func(), err error) {
	var undo []func()
	cleanup = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	ctx := b.ctx
	repo := b.o.RepoDir
	if repo == "" {
		if repo, err = findRepo(); err != nil {
			return cleanup, err
		}
	}
	b.rep.Commit = gitCommit(repo)
	tmp, err := os.MkdirTemp("", "perkbridge-bench-")
	if err != nil {
		return cleanup, err
	}
	_ = os.Chmod(tmp, 0o755)
	undo = append(undo, func() { os.RemoveAll(tmp) })
	bin := b.o.Binary
	if bin == "" {
		bin = filepath.Join(tmp, "perkbridge")
		b.logf("building %s", bin)
		cmd := exec.Command("go", "build", "-o", bin, ".")
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return cleanup, fmt.Errorf("building perkbridge: %v\n%s", err, out)
		}
	}

	b.logf("starting PostgreSQL (durable: %v)", !b.o.Fast)
	pg, err := pglocal.Start(ctx, pglocal.Options{Dir: filepath.Join(tmp, "pg"), Database: "perkbridge", Fast: b.o.Fast})
	if err != nil {
		return cleanup, err
	}
	undo = append(undo, func() { _ = pg.Remove(context.Background()) })
	b.pg = pg
	db, err := store.Open(ctx, pg.URL, 16, slog.New(slog.DiscardHandler))
	if err != nil {
		return cleanup, err
	}
	undo = append(undo, db.Close)
	if err := store.Migrate(ctx, db.SQL); err != nil {
		return cleanup, err
	}
	b.db, b.st = db, store.New(db.Gorm)
	var pgVersion string
	_ = db.Pool.QueryRow(ctx, "SHOW server_version").Scan(&pgVersion)
	b.rep.Machine = fmt.Sprintf("%d CPUs (nproc), %s/%s, PostgreSQL %s (%s, same machine)", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH,
		pgVersion, map[bool]string{true: "fsync off: smoke run, figures meaningless", false: "durable: fsync on"}[b.o.Fast])

	// The fakes, on loopback, with their real limits.
	b.sf = fake.NewShopify(fake.ShopifyOptions{APIKey: apiKey, APISecret: apiSecret})
	b.kf = fake.NewKlaviyo(fake.KlaviyoOptions{Keys: []fake.KlaviyoKey{{Key: klaviyoKey}}})
	b.cf = fake.NewCleverTap(fake.CleverTapOptions{})
	b.cf.AddAccount(ctE2E, ctPasscode, "in1")
	b.cf.AddAccount(ctDrain, ctPasscode, "in1")
	b.kc, b.cc = &statusCounter{h: b.kf}, &statusCounter{h: b.cf}
	for _, s := range []struct {
		h   http.Handler
		url *string
	}{{b.sf, &b.sfURL}, {b.kc, &b.kURL}, {b.cc, &b.cURL}} {
		srv := httptest.NewServer(s.h)
		undo = append(undo, srv.Close)
		*s.url = srv.URL
	}

	v, err := vault.New([]byte(encRaw))
	if err != nil {
		return cleanup, err
	}
	log := slog.New(slog.DiscardHandler)
	b.tn = tenant.New(b.st, &shopify.App{APIKey: apiKey, APISecret: apiSecret, ShopOrigin: b.sfURL + "/{shop}", Version: "2026-10"}, v, log)
	b.fwd = forward.New(b.st, v, b.tn, log, forward.Options{KlaviyoOrigin: b.kURL, CleverTapOrigin: func(r string) string { return b.cURL + "/" + r }})
	for _, domain := range []string{e2eShop, drainShop, klaviyoShop, intakeShop} {
		b.sf.InstallShop(domain)
		sh, err := b.tn.InstallFromIDToken(ctx, domain, b.sf.MintIDToken(domain, 1, time.Minute))
		if err != nil {
			return cleanup, fmt.Errorf("installing %s: %w", domain, err)
		}
		b.shops[domain] = sh
	}
	for _, c := range []struct{ shop, account string }{{e2eShop, ctE2E}, {drainShop, ctDrain}} {
		id := b.shops[c.shop].ID
		if _, err := b.fwd.ConnectCleverTap(ctx, id, forward.CleverTapInput{CommonProperty: "customer_id", AccountID: c.account, Passcode: ctPasscode, Region: "in1"}); err != nil {
			return cleanup, err
		}
		if _, err := b.fwd.CreateDefinition(ctx, id, forward.KindCleverTap, forward.DefinitionInput{Event: "wallet_points_rewarded"}); err != nil {
			return cleanup, err
		}
	}
	kid := b.shops[klaviyoShop].ID
	if _, err := b.fwd.ConnectKlaviyo(ctx, kid, forward.KlaviyoInput{CommonProperty: "email", PrivateAPIKey: klaviyoKey}); err != nil {
		return cleanup, err
	}
	if _, err := b.fwd.CreateDefinition(ctx, kid, forward.KindKlaviyo, forward.DefinitionInput{Event: "wallet_points_rewarded"}); err != nil {
		return cleanup, err
	}
	if b.orders, err = newOrderBodies(5000); err != nil {
		return cleanup, err
	}

	// The app: production settings, pointed at the fakes.
	if b.logDir, err = os.MkdirTemp("", "perkbridge-bench-logs-"); err != nil {
		return cleanup, err
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"DATABASE_URL=" + pg.URL, "SHOPIFY_API_KEY=" + apiKey, "SHOPIFY_API_SECRET=" + apiSecret,
		"APP_URL=http://localhost", "ENCRYPTION_KEY=" + encKey,
		"SHOPIFY_SHOP_ORIGIN=" + b.sfURL + "/{shop}", "KLAVIYO_API_ORIGIN=" + b.kURL, "CLEVERTAP_API_ORIGIN=" + b.cURL + "/{region}",
		"METRICS_ADDR=off", "LOG_FORMAT=json", "LOG_LEVEL=info",
	}
	env = append(env, b.o.Env...)
	port, err := freePort()
	if err != nil {
		return cleanup, err
	}
	b.serve = &child{Name: "serve", Mode: "serve", Bin: bin, Port: port, Env: append(slices.Clone(env), "PORT="+strconv.Itoa(port)),
		Log: filepath.Join(b.logDir, "serve.log")}
	b.worker = &child{Name: "worker", Mode: "worker", Bin: bin, Env: slices.Clone(env), Log: filepath.Join(b.logDir, "worker.log")}
	undo = append(undo, func() { b.serve.Stop(); b.worker.Stop() })
	if err := b.serve.Start(); err != nil {
		return cleanup, err
	}
	if err := waitHealthy(b.serve, 60*time.Second); err != nil {
		return cleanup, err
	}
	if err := waitStarted(b.serve, 0, 60*time.Second); err != nil {
		return cleanup, err
	}
	b.logf("serve up on %s (logs in %s)", b.serve.URL(), b.logDir)
	return cleanup, nil
}

func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(data, []byte("module github.com/perkbridge/perkbridge\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("bench: run from inside the perkbridge module (no go.mod found)")
		}
		dir = parent
	}
}

func gitCommit(repo string) string {
	out, err := exec.Command("git", "-C", repo, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", repo, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		c += " (with uncommitted changes)"
	}
	return c
}

// orderBodies makes distinct orders/paid bodies from the sample: order id
// has its own id, GraphQL id and name, and one of customers customers.
type orderBodies struct {
	tmpl      string
	customers int64
}

func newOrderBodies(customers int64) (*orderBodies, error) {
	raw, err := webhooks.Sample("orders/paid")
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	m["id"] = "__OID__"
	m["admin_graphql_api_id"] = "gid://shopify/Order/__OIDS__"
	m["name"] = "#L__OIDS__"
	cust, ok := m["customer"].(map[string]any)
	if !ok {
		return nil, errors.New("bench: the orders/paid sample has no customer")
	}
	cust["id"] = "__CID__"
	cust["admin_graphql_api_id"] = "gid://shopify/Customer/__CIDS__"
	cust["email"] = "load__CIDS__@example.com"
	// A member with an account earns at once (a guest's points wait:
	// points_waiting, not the event measured).
	cust["state"] = "enabled"
	m["email"] = "load__CIDS__@example.com"
	tmpl, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &orderBodies{tmpl: string(tmpl), customers: customers}, nil
}

func (o *orderBodies) body(oid int64) []byte {
	id := strconv.FormatInt(oid, 10)
	cid := strconv.FormatInt(7_300_000_000_000+oid%o.customers, 10)
	return []byte(strings.NewReplacer(`"__OID__"`, id, `__OIDS__`, id, `"__CID__"`, cid, `__CIDS__`, cid).Replace(o.tmpl))
}

// sender posts signed webhooks to the serve process.
type sender struct {
	url    string
	client *http.Client
}

func newSender(url string) *sender {
	return &sender{url: url + "/webhooks", client: &http.Client{
		Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256},
		Timeout:   30 * time.Second,
	}}
}

// post sends one orders/paid webhook and reports whether it was
// acknowledged with 200.
func (s *sender) post(shop string, oid int64, body []byte) bool {
	req, _ := http.NewRequest(http.MethodPost, s.url, bytes.NewReader(body))
	id := "bench-" + strconv.FormatInt(oid, 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", "orders/paid")
	req.Header.Set("X-Shopify-Shop-Domain", shop)
	req.Header.Set("X-Shopify-Webhook-Id", id)
	req.Header.Set("X-Shopify-Event-Id", "evt-"+id)
	req.Header.Set("X-Shopify-API-Version", "2026-10")
	req.Header.Set("X-Shopify-Triggered-At", time.Now().UTC().Format(time.RFC3339Nano))
	req.Header.Set("X-Shopify-Hmac-Sha256", fake.SignShopifyWebhook(apiSecret, body))
	resp, err := s.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// drive posts n orders (ids first..first+n-1) to shop at rate per second,
// open loop: a slow answer does not slow the sender down. It returns when
// each was sent (zero when not acknowledged) and the acknowledgement
// latencies.
func (b *bench) drive(shop string, first int64, n int, rate float64) (sentAt []time.Time, acks []time.Duration, failed int) {
	s := newSender(b.serve.URL())
	sentAt = make([]time.Time, n)
	acks = make([]time.Duration, n)
	var fails atomic.Int64
	work := make(chan int, 4096)
	var wg sync.WaitGroup
	for range 128 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				oid := first + int64(i)
				body := b.orders.body(oid)
				start := time.Now()
				ok := s.post(shop, oid, body)
				acks[i] = time.Since(start)
				if ok {
					sentAt[i] = start
				} else {
					fails.Add(1)
				}
			}
		}()
	}
	t0 := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for i := range n {
		if d := time.Until(t0.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		if b.ctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	return sentAt, acks, int(fails.Load())
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// waitCT waits up to d until count, over the CleverTap fake's events, is
// at least need. It sleeps on the fake's own condition (at least as many
// new events as are missing) instead of polling, so waiting costs the
// machine nothing while the app works.
func (b *bench) waitCT(d time.Duration, need int, count func([]fake.CleverTapEvent) int) bool {
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	for {
		evs := b.cf.Events()
		got := count(evs)
		if got >= need {
			return true
		}
		if err := b.cf.WaitForEvents(ctx, len(evs)+need-got); err != nil {
			return false
		}
	}
}

// ctOrders indexes the CleverTap fake's events of account by order id:
// when each was accepted, and how many times.
func (b *bench) ctOrders(account string) (at map[int64]time.Time, count map[int64]int) {
	return ctIndexCount(b.cf.Events(), account)
}

func ctIndex(evs []fake.CleverTapEvent, account string) map[int64]time.Time {
	at, _ := ctIndexCount(evs, account)
	return at
}

func ctIndexCount(evs []fake.CleverTapEvent, account string) (at map[int64]time.Time, count map[int64]int) {
	at, count = map[int64]time.Time{}, map[int64]int{}
	for _, ev := range evs {
		if ev.Account != account {
			continue
		}
		oid, err := strconv.ParseInt(fmt.Sprint(ev.Data["order_id"]), 10, 64)
		if err != nil {
			continue
		}
		count[oid]++
		if t, ok := at[oid]; !ok || ev.ReceivedAt.Before(t) {
			at[oid] = ev.ReceivedAt
		}
	}
	return at, count
}

// e2e offers rate orders/s for E2ESeconds and measures, per order, from
// sending its webhook to the CleverTap fake accepting its event.
func (b *bench) e2e(phase int, rate float64) error {
	n := max(1, int(rate*b.o.E2ESeconds))
	first := int64(orderBase + phase*phaseStride)
	b.logf("webhook to sink: %d orders at %.0f/s", n, rate)
	cpu0 := b.sampleCPU()
	sentAt, acks, failed := b.drive(e2eShop, first, n, rate)
	want := 0
	b.mu.Lock()
	for i, t := range sentAt {
		if !t.IsZero() {
			b.e2eSent[first+int64(i)] = t
			want++
		}
	}
	b.mu.Unlock()
	inPhase := func(at map[int64]time.Time) int {
		got := 0
		for i, t := range sentAt {
			if _, ok := at[first+int64(i)]; ok && !t.IsZero() {
				got++
			}
		}
		return got
	}
	sendEnd := time.Now()
	b.waitCT(b.o.SinkWait, want, func(evs []fake.CleverTapEvent) int {
		return inPhase(ctIndex(evs, ctE2E))
	})
	b.cpuNote(fmt.Sprintf("the %.0f orders/s phase (first webhook sent to last event at the sink)", rate), cpu0, b.sampleCPU())
	at, _ := b.ctOrders(ctE2E)
	var e2e []time.Duration
	var firstSent, last time.Time
	for i, t := range sentAt {
		if t.IsZero() {
			continue
		}
		if firstSent.IsZero() || t.Before(firstSent) {
			firstSent = t
		}
		if a, ok := at[first+int64(i)]; ok {
			e2e = append(e2e, a.Sub(t))
			if a.After(last) {
				last = a
			}
		}
	}
	rs := strconv.FormatFloat(rate, 'f', -1, 64)
	missing := want - len(e2e)
	measured := func(p float64) string {
		s := fmt.Sprintf("%d ms", percentile(e2e, p).Milliseconds())
		if missing > 0 {
			// The undelivered ones are later than any delivered: the
			// percentile is a lower bound once it falls among them.
			if int(p*float64(want)) >= len(e2e) {
				s = fmt.Sprintf("> %s (%d of %d not at the sink %s after the last send)", time.Since(sendEnd).Round(time.Second), missing, want, b.o.SinkWait)
			}
		}
		return s
	}
	p50, p99 := percentile(e2e, 0.5), percentile(e2e, 0.99)
	metDur := func(d, limit time.Duration, p float64) string {
		if missing > 0 && int(p*float64(want)) >= len(e2e) {
			return "**not met**"
		}
		if d < limit {
			return "met"
		}
		return fmt.Sprintf("**not met** (%s over)", (d - limit).Round(time.Millisecond))
	}
	target := func(limit string) string {
		if rate >= 500 {
			return limit + " (DESIGN §7, at 500/s)"
		}
		return limit + " (at 500/s; informative here)"
	}
	b.row(fmt.Sprintf(RowE2E, rs)+" p50", measured(0.5), target("< 1 s"), metDur(p50, time.Second, 0.5))
	b.row(fmt.Sprintf(RowE2E, rs)+" p99", measured(0.99), target("< 3 s"), metDur(p99, 3*time.Second, 0.99))
	sustained := 0.0
	if len(e2e) > 0 && last.After(firstSent) {
		sustained = float64(len(e2e)) / last.Sub(firstSent).Seconds()
	}
	met := "met"
	if sustained < 0.95*rate || missing > 0 {
		met = fmt.Sprintf("**not met** (%.0f/s short)", rate-sustained)
	}
	b.row(fmt.Sprintf(RowSustained, rs), fmt.Sprintf("%.0f orders/s (%d events over %.1f s; ack p99 %d ms, %d not acknowledged)",
		sustained, len(e2e), last.Sub(firstSent).Seconds(), percentile(acks, 0.99).Milliseconds(), failed), fmt.Sprintf("%s orders/s offered", rs), met)
	if failed > 0 {
		b.note("%d of %d webhooks at %s/s were not acknowledged with 200 (Shopify would retry them); they are left out of the latencies", failed, n, rs)
	}
	return nil
}

// queue inserts n wallet_points_rewarded events for shop spread over
// customers customers and routes them, all in one transaction, so the
// delivery runner sees the whole backlog at once. It returns the commit
// time.
func (b *bench) queue(shop string, n, customers int) (time.Time, error) {
	sh := b.shops[shop]
	base := time.Now().UnixNano() % 1_000_000_000 * 1_000_000
	err := b.st.Tx(b.ctx, func(tx *store.Store) error {
		g := tx.Gorm()
		if err := g.Exec(`INSERT INTO customers (shop_id, shopify_id, gid, email)
SELECT ?, ?::bigint + s, 'gid://shopify/Customer/' || (?::bigint + s), 'b' || (?::bigint + s) || '@example.com'
FROM generate_series(1, ?) s`, sh.ID, base, base, base, customers).Error; err != nil {
			return err
		}
		if err := g.Exec(`INSERT INTO loyalty_events (id, shop_id, customer_id, shopify_customer_id, key, channel, occurred_at,
    properties, points_balance, tier, currency, source_key)
SELECT gen_random_uuid(), c.shop_id, c.id, c.shopify_id, 'wallet_points_rewarded', 'online_store', now() - interval '1 minute',
    jsonb_build_object('points', 10 + s % 50, 'reason', 'order', 'order_id', (5544332211 + s)::text, 'order_name', '#' || s),
    100 + s, 'silver', 'USD', 'bench:' || s
FROM generate_series(1, ?) s
JOIN customers c ON c.shop_id = ? AND c.shopify_id = ?::bigint + 1 + (s % ?)`, n, sh.ID, base, customers).Error; err != nil {
			return err
		}
		var ids []uuid.UUID
		if err := g.Raw(`SELECT e.id FROM loyalty_events e WHERE e.shop_id = ?
AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.shop_id = e.shop_id AND d.event_id = e.id) ORDER BY e.seq`, sh.ID).Scan(&ids).Error; err != nil {
			return err
		}
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), 5000)]
			ids = ids[len(chunk):]
			if _, err := tx.RouteEvents(b.ctx, app.ShopID(sh.ID), chunk); err != nil {
				return err
			}
		}
		// The customers' profiles count as synced: the drain measures events.
		return g.Exec("UPDATE profile_syncs SET synced_version = version WHERE shop_id = ?", sh.ID).Error
	})
	return time.Now(), err
}

// backlogNote notes the webhooks and deliveries an earlier phase left
// pending when phase starts (they compete with it).
func (b *bench) backlogNote(phase string) {
	w := b.count("SELECT count(*) FROM webhooks WHERE status = 'pending'")
	d := b.count("SELECT count(*) FROM deliveries WHERE status = 'pending'")
	if w > 0 || d > 0 {
		b.note("%s started with %d webhooks and %d deliveries pending (sent but not yet recorded, or waiting) from earlier phases", phase, w, d)
	}
}

func (b *bench) count(q string, args ...any) int64 {
	var n int64
	if err := b.db.Pool.QueryRow(b.ctx, q, args...).Scan(&n); err != nil {
		b.logf("%s: %v", q, err)
		return -1
	}
	return n
}

// cleverTapDrain queues CTEvents events at once and measures the time
// until the fake (which answers at once) accepted them all.
func (b *bench) cleverTapDrain() error {
	n := b.o.CTEvents
	b.backlogNote("the CleverTap drain")
	b.logf("CleverTap drain: queueing %d events", n)
	t0, err := b.queue(drainShop, n, 1000)
	if err != nil {
		return fmt.Errorf("queueing the CleverTap backlog: %w", err)
	}
	wait := max(2*time.Minute, time.Duration(n/500)*time.Second)
	done := b.waitCT(wait, n, func(evs []fake.CleverTapEvent) int {
		c := 0
		for _, ev := range evs {
			if ev.Account == ctDrain {
				c++
			}
		}
		return c
	})
	var last time.Time
	seen := map[string]int{}
	for _, ev := range b.cf.Events() {
		if ev.Account == ctDrain {
			seen[fmt.Sprint(ev.Data["order_id"])]++
			if ev.ReceivedAt.After(last) {
				last = ev.ReceivedAt
			}
		}
	}
	doubled := 0
	for _, c := range seen {
		if c > 1 {
			doubled++
		}
	}
	if doubled > 0 {
		b.fail("CleverTap drain: %d events accepted more than once", doubled)
	}
	target := fmt.Sprintf("< %s for %d events (30 s per 100,000)", time.Duration(float64(30*time.Second)*float64(n)/100_000).Round(time.Millisecond), n)
	if !done {
		b.row(RowCleverTap, fmt.Sprintf("> %s (%d of %d at the sink)", wait, len(seen), n), target, "**not met**")
		b.note("CleverTap drain incomplete after %s: checked again at the end", wait)
		return nil
	}
	d := last.Sub(t0)
	limit := time.Duration(float64(30*time.Second) * float64(n) / 100_000)
	met := "met"
	if d >= limit {
		met = fmt.Sprintf("**not met** (%s over)", (d - limit).Round(time.Millisecond))
	}
	b.row(RowCleverTap, fmt.Sprintf("%.1f s (%.0f events/s; max %d uploads in flight, %d answered 429)", d.Seconds(), float64(n)/d.Seconds(), b.cf.MaxInFlight(), b.cc.count(429)), target, met)
	return nil
}

// klaviyoDrain queues KlaviyoEvents events (the runner sends single events
// while the minute's steady budget lasts and the rest in bulk jobs) and measures
// how many single events Klaviyo accepts in a window of KlaviyoWindow
// inside one wall-clock minute (Klaviyo's fixed windows), against what
// its limits allow in that window: 350/s burst, 3,500/min steady.
func (b *bench) klaviyoDrain() error {
	w := b.o.KlaviyoWindow
	// The window must end within the minute it starts in, with a margin
	// for queueing.
	now := time.Now()
	if now.Add(w + 2*time.Second + w/4).After(now.Truncate(time.Minute).Add(time.Minute)) {
		next := now.Truncate(time.Minute).Add(time.Minute)
		b.logf("Klaviyo drain: waiting %s for the next minute", time.Until(next).Round(time.Second))
		sleepCtx(b.ctx, time.Until(next))
	}
	b.backlogNote("the Klaviyo drain")
	b.logf("Klaviyo drain: queueing %d events", b.o.KlaviyoEvents)
	t0, err := b.queue(klaviyoShop, b.o.KlaviyoEvents, 500)
	if err != nil {
		return fmt.Errorf("queueing the Klaviyo backlog: %w", err)
	}
	end := t0.Add(w)
	if minuteEnd := t0.Truncate(time.Minute).Add(time.Minute); end.After(minuteEnd) {
		end = minuteEnd
		b.note("the Klaviyo window was cut to %s by the minute's end (queueing took long)", end.Sub(t0).Round(time.Millisecond))
	}
	sleepCtx(b.ctx, time.Until(end.Add(time.Second)))
	inWindow := 0
	for _, e := range b.kf.Events() {
		if !e.Bulk && !e.ReceivedAt.Before(t0) && e.ReceivedAt.Before(end) {
			inWindow++
		}
	}
	// Whole seconds touched by the window (fixed one-second windows).
	secs := int(end.Unix() - t0.Unix() + 1)
	if end.Truncate(time.Second).Equal(end) {
		secs--
	}
	allowed := min(3500, 350*secs, b.o.KlaviyoEvents)
	share := 100 * float64(inWindow) / float64(allowed)
	met := "met"
	if share < 90 {
		met = fmt.Sprintf("**not met** (%.1f points short)", 90-share)
	}
	b.row(RowKlaviyo, fmt.Sprintf("%.1f%% (%d single events in %.1f s; the limits allow %d)", share, inWindow, end.Sub(t0).Seconds(), allowed),
		">= 90% of 350/s burst, 3,500/min steady", met)
	return nil
}

// klaviyoLimits checks every Klaviyo event the run sent against the
// published limits: single events 350/s and 3,500/min, bulk requests 10/s
// and 150/min, in fixed windows; and no 429.
func (b *bench) klaviyoLimits() {
	perSec, perMin := map[int64]int{}, map[int64]int{}
	for _, e := range b.kf.Events() {
		if e.Bulk {
			continue
		}
		perSec[e.ReceivedAt.Unix()]++
		perMin[e.ReceivedAt.Unix()/60]++
	}
	bulkSec, bulkMin := map[int64]int{}, map[int64]int{}
	for _, r := range b.kf.Requests() {
		if r.Method == http.MethodPost && strings.HasPrefix(r.Path, "/api/event-bulk-create-jobs") {
			bulkSec[r.At.Unix()]++
			bulkMin[r.At.Unix()/60]++
		}
	}
	peak := func(m map[int64]int) int {
		p := 0
		for _, v := range m {
			p = max(p, v)
		}
		return p
	}
	s, m, bs, bm, t := peak(perSec), peak(perMin), peak(bulkSec), peak(bulkMin), b.kc.count(429)
	met := "met"
	if s > 350 || m > 3500 || bs > 10 || bm > 150 || t > 0 {
		met = "**not met**"
	}
	b.row(RowKlaviyoOver, fmt.Sprintf("peak %d events/s, %d/min; bulk %d req/s, %d/min; %d answered 429", s, m, bs, bm, t),
		"<= 350/s, 3,500/min; bulk <= 10/s, 150/min; no 429", met)
}

// kill starts the worker process, offers KillRate orders/s to the e2e
// shop, kills the worker with SIGKILL once it holds webhooks (leased by
// its claimer), starts it again at once, and measures how long until
// every webhook it held is processed.
func (b *bench) kill() error {
	b.backlogNote("the kill measurement")
	off := b.worker.LogSize()
	if err := b.worker.Start(); err != nil {
		return err
	}
	if err := waitStarted(b.worker, off, 60*time.Second); err != nil {
		return err
	}
	n := max(1, int(b.o.KillRate*b.o.KillSeconds))
	first := int64(orderBase + 9*phaseStride)
	b.logf("kill -9: %d orders at %.0f/s, a worker killed once it holds webhooks", n, b.o.KillRate)
	b.note("after the kill, deliveries the killed worker had claimed wait for their lease (DELIVERY_LEASE, 2 min by default) before another runner sends them: the resume row counts webhooks, as DESIGN.md §7 does")
	shopID := b.shops[e2eShop].ID
	type result struct {
		held           []int64
		resume         time.Duration
		measured, ok   bool
		looks, kills   int
		notRunningSeen bool
	}
	resCh := make(chan result, 1)
	holding := func(pid int) []int64 {
		var ids []int64
		rows, err := b.db.Pool.Query(b.ctx, "SELECT id FROM webhooks WHERE shop_id = $1 AND status = 'pending' AND lease_until > now() AND lease_holder LIKE $2",
			shopID, "claimer-"+strconv.Itoa(pid)+"-%")
		if err != nil {
			b.logf("webhooks held: %v", err)
			return nil
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if rows.Scan(&id) == nil {
				ids = append(ids, id)
			}
		}
		return ids
	}
	go func() {
		var r result
		defer func() { resCh <- r }()
		// From a third of the traffic on, look for a moment when the
		// worker holds webhooks (rows under its claimer's live lease);
		// kill it then and start it again at once.
		sleepCtx(b.ctx, time.Duration(b.o.KillSeconds/3*float64(time.Second)))
		deadline := time.Now().Add(time.Duration(b.o.KillSeconds / 2 * float64(time.Second)))
		for time.Now().Before(deadline) {
			pid := b.worker.Pid()
			if pid == 0 {
				r.notRunningSeen = true
				return
			}
			r.looks++
			if len(holding(pid)) == 0 {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			b.worker.Signal(syscall.SIGKILL)
			at := time.Now()
			r.kills++
			held := holding(pid) // what the dead process held at its death
			off := b.worker.LogSize()
			if err := b.worker.Start(); err != nil {
				b.logf("restarting the worker: %v", err)
				return
			}
			if err := waitStarted(b.worker, off, 60*time.Second); err != nil {
				b.logf("%v", err)
			}
			if len(held) == 0 {
				continue // its rows settled between the look and the kill
			}
			r.held, r.measured = held, true
			r.ok = waitUntil(b.ctx, 2*time.Minute, 20*time.Millisecond, func() bool {
				return b.count("SELECT count(*) FROM webhooks WHERE id = ANY($1) AND status = 'pending'", held) == 0
			})
			r.resume = time.Since(at)
			return
		}
	}()
	sentAt, _, failed := b.drive(e2eShop, first, n, b.o.KillRate)
	b.mu.Lock()
	for i, t := range sentAt {
		if !t.IsZero() {
			b.e2eSent[first+int64(i)] = t
		}
	}
	b.mu.Unlock()
	r := <-resCh
	if failed > 0 {
		b.note("%d of %d webhooks during the kill were not acknowledged with 200", failed, n)
	}
	switch {
	case !r.measured:
		why := fmt.Sprintf("the worker held no webhook at a kill (%d looks, %d kills)", r.looks, r.kills)
		if r.notRunningSeen {
			why = "the worker was not running"
		}
		b.row(RowResume, "not measured: "+why, "< 30 s for every webhook it held", "**not met** (no measured kill)")
	case !r.ok:
		b.row(RowResume, fmt.Sprintf("> %s (%d held)", r.resume.Round(time.Millisecond), len(r.held)), "< 30 s for every webhook it held", "**not met**")
	default:
		met := "met"
		if r.resume >= 30*time.Second {
			met = fmt.Sprintf("**not met** (%s over)", (r.resume - 30*time.Second).Round(time.Millisecond))
		}
		b.row(RowResume, fmt.Sprintf("%.1f s (%d webhooks held by the killed process)", r.resume.Seconds(), len(r.held)), "< 30 s for every webhook it held", met)
	}
	b.worker.Stop()
	return nil
}

// intake measures the reference (pgbench: one-row inserts of the same
// body into the inbox table, one commit each) and then the app's intake
// at the same client count, closed loop, with its workers processing
// what it takes in.
func (b *bench) intake() error {
	secs := b.o.IntakeSeconds
	c := b.o.Clients
	ref, how, err := b.pgbench(c, secs)
	if err != nil {
		return err
	}
	b.logf("intake: %d clients for %.0f s", c, secs)
	s := newSender(b.serve.URL())
	var next, ok, bad atomic.Int64
	var mu sync.Mutex
	var acks []time.Duration
	start := time.Now()
	cpu0 := b.sampleCPU()
	defer func() { b.cpuNote("the intake phase", cpu0, b.sampleCPU()) }()
	deadline := start.Add(time.Duration(secs * float64(time.Second)))
	first := int64(orderBase + 10*phaseStride)
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				oid := first + next.Add(1)
				body := b.orders.body(oid)
				t := time.Now()
				if s.post(intakeShop, oid, body) {
					ok.Add(1)
					mine = append(mine, time.Since(t))
				} else {
					bad.Add(1)
				}
			}
			mu.Lock()
			acks = append(acks, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	rate := float64(ok.Load()) / time.Since(start).Seconds()
	b.row(RowPgbench, fmt.Sprintf("%.0f rows/s", ref), fmt.Sprintf("%d clients, one commit per row (%s)", c, how), "n/a")
	met := "met"
	if rate < ref {
		met = fmt.Sprintf("**not met** (%.0f/s short, %.2fx)", ref-rate, rate/ref)
	}
	b.row(RowIntake, fmt.Sprintf("%.0f webhooks/s (%.2fx the reference; ack p50 %d ms, p99 %d ms; %d not acknowledged)", rate, rate/ref,
		percentile(acks, 0.5).Milliseconds(), percentile(acks, 0.99).Milliseconds(), bad.Load()), fmt.Sprintf(">= 1.0x the reference (%.0f/s)", ref), met)
	return nil
}

// pgbench runs the reference with /usr/bin/pgbench when there is one
// (a custom script: one INSERT of the sample body per transaction), else
// an equivalent Go loop.
func (b *bench) pgbench(clients int, secs float64) (float64, string, error) {
	body, err := webhooks.Sample("orders/paid")
	if err != nil {
		return 0, "", err
	}
	insert := func(id string) string {
		return "INSERT INTO webhooks (shop_domain, webhook_id, topic, body, status) VALUES ('ref.myshopify.com', " + id +
			", 'orders/paid', '\\x" + fmt.Sprintf("%x", body) + "'::bytea, 'processed');\n"
	}
	if path, err := exec.LookPath("pgbench"); err == nil {
		dir, err := os.MkdirTemp("", "perkbridge-pgbench-")
		if err != nil {
			return 0, "", err
		}
		defer os.RemoveAll(dir)
		script := filepath.Join(dir, "insert.sql")
		if err := os.WriteFile(script, []byte(insert("gen_random_uuid()::text")), 0o644); err != nil {
			return 0, "", err
		}
		b.logf("reference: pgbench, %d clients for %.0f s", clients, secs)
		cmd := exec.CommandContext(b.ctx, path, "-n", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(clients, runtime.NumCPU())),
			"-T", strconv.Itoa(int(secs+0.5)), "-f", script, b.pg.URL)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, "", fmt.Errorf("pgbench: %v\n%s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "tps" && f[1] == "=" {
				if v, err := strconv.ParseFloat(f[2], 64); err == nil {
					return v, "pgbench, custom script", nil
				}
			}
		}
		return 0, "", fmt.Errorf("pgbench: no tps in its output:\n%s", out)
	}
	b.logf("reference: no pgbench, a Go loop, %d clients for %.0f s", clients, secs)
	var n, seq atomic.Int64
	deadline := time.Now().Add(time.Duration(secs * float64(time.Second)))
	var wg sync.WaitGroup
	start := time.Now()
	var firstErr atomic.Value
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := b.db.Pool.Exec(b.ctx, `INSERT INTO webhooks (shop_domain, webhook_id, topic, body, status) VALUES ('ref.myshopify.com', $1, 'orders/paid', $2, 'processed')`,
					"ref-"+strconv.FormatInt(seq.Add(1), 10), body); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, "", err
	}
	return float64(n.Load()) / time.Since(start).Seconds(), "Go loop (no pgbench on PATH)", nil
}

// finalChecks waits for the pipeline to settle (within the run's
// budget), then checks: no event reached a sink twice; every acknowledged
// e2e order's event reached CleverTap, every queued drain event did, and
// every Klaviyo delivery was sent, unless it is still on its way (a
// webhook pending, a delivery pending: slow, reported, not lost); no
// delivery failed or was skipped.
func (b *bench) finalChecks() {
	e2eID, klID, ctID := b.shops[e2eShop].ID, b.shops[klaviyoShop].ID, b.shops[drainShop].ID
	const unsettledQ = `SELECT (SELECT count(*) FROM webhooks WHERE shop_id = $1 AND status = 'pending')
	+ (SELECT count(*) FROM deliveries WHERE shop_id = ANY($2) AND status = 'pending')`
	shops := []int64{int64(e2eID), int64(klID), int64(ctID)}
	wait := max(30*time.Second, b.o.Budget-time.Since(b.start)-30*time.Second)
	b.logf("final checks: waiting up to %s for the pipeline to settle", wait.Round(time.Second))
	settled := waitUntil(b.ctx, wait, 250*time.Millisecond, func() bool { return b.count(unsettledQ, e2eID, shops) == 0 })
	unsettled := b.count(unsettledQ, e2eID, shops)
	if !settled {
		b.rep.Unsettled = unsettled
		b.note("%d webhooks or deliveries were still pending at the end of the run's %s budget (slow, not lost: not counted as lost below)", unsettled, b.o.Budget)
	}

	// CleverTap has no deduplication: an upload whose outcome a killed
	// process never recorded is sent again, and the delivery is flagged
	// possibly duplicated (DESIGN.md §8). A second copy is a failure only
	// when its delivery is not flagged.
	evs := b.cf.Events()
	_, counts := ctIndexCount(evs, ctE2E)
	eventIDs := map[int64][]string{}
	for _, ev := range evs {
		if ev.Account != ctE2E {
			continue
		}
		if oid, err := strconv.ParseInt(fmt.Sprint(ev.Data["order_id"]), 10, 64); err == nil && counts[oid] > 1 {
			eventIDs[oid] = append(eventIDs[oid], fmt.Sprint(ev.Data["event_id"]))
		}
	}
	missing := 0
	var doubledIDs []string
	b.mu.Lock()
	sent := len(b.e2eSent)
	for oid := range b.e2eSent {
		switch c := counts[oid]; {
		case c == 0:
			missing++
		case c > 1:
			doubledIDs = append(doubledIDs, eventIDs[oid][0])
		}
	}
	b.mu.Unlock()
	if missing > 0 && settled {
		b.fail("%d of %d acknowledged orders have no event at CleverTap, with nothing pending", missing, sent)
	}
	if len(doubledIDs) > 0 {
		flagged := b.count("SELECT count(*) FROM deliveries WHERE event_id::text = ANY($1) AND possibly_duplicated", doubledIDs)
		if int(flagged) < len(doubledIDs) {
			b.fail("%d orders' events were accepted by CleverTap more than once without their delivery flagged possibly duplicated (%d flagged)", len(doubledIDs)-int(flagged), flagged)
		}
		b.note("%d orders' events reached CleverTap twice, each delivery flagged possibly duplicated (a kill between the upload and the recording of its outcome; CleverTap cannot deduplicate)", flagged)
	}
	if f := b.count("SELECT count(*) FROM webhooks WHERE shop_id = $1 AND status = 'failed'", e2eID); f != 0 {
		b.fail("%d of the e2e shop's webhooks failed", f)
	}
	if f := b.count("SELECT count(*) FROM deliveries WHERE shop_id = ANY($1) AND status = 'failed' AND NOT possibly_duplicated", shops); f != 0 {
		b.fail("%d deliveries failed", f)
	}
	if f := b.count("SELECT count(*) FROM deliveries WHERE shop_id = ANY($1) AND status = 'skipped'", shops); f != 0 {
		b.note("%d deliveries were skipped (with a reason)", f)
	}
	seen := map[string]int{}
	for _, ev := range b.cf.Events() {
		if ev.Account == ctDrain {
			seen[fmt.Sprint(ev.Data["order_id"])]++
		}
	}
	if len(seen) != b.o.CTEvents && settled {
		b.fail("CleverTap drain: %d distinct events at the sink for %d queued, with nothing pending", len(seen), b.o.CTEvents)
	}
	if d := b.kf.Duplicates(); d != 0 {
		b.fail("Klaviyo: %d duplicate events", d)
	}
	klaviyo := map[string]bool{}
	for _, e := range b.kf.Events() {
		klaviyo[e.UniqueID] = true
	}
	if len(klaviyo) != b.o.KlaviyoEvents && settled {
		b.fail("Klaviyo drain: %d distinct events at the sink for %d queued, with nothing pending", len(klaviyo), b.o.KlaviyoEvents)
	}
	b.klaviyoLimits()
}
