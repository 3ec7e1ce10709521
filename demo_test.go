package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// sinkJSON is GET /demo/sinks/{kind} as JSON.
type sinkJSON struct {
	Events   int64 `json:"events"`
	Profiles int64 `json:"profiles"`
	Records  []struct {
		Kind       string `json:"kind"`
		Name       string `json:"name"`
		Identity   string `json:"identity"`
		Properties []struct{ Key, Value string }
	} `json:"records"`
}

func getJSON(t *testing.T, client *http.Client, url string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s: %v: %s", url, err, body)
		}
	}
	return resp.StatusCode
}

// simulatedEmail is the address form of the simulator's shoppers, never
// one of the seeded customers'.
var simulatedEmail = regexp.MustCompile(`email [a-z]+\.[a-z]+\.\d+@example\.com`)

// TestDemo_ShowsTheLoop is the newcomer's `make demo`: the demo starts from
// an empty folder with no DATABASE_URL (its own PostgreSQL, as root too),
// on random ports; the sandbox Klaviyo and CleverTap are connected with the
// example events; the simulator's shoppers order, and their events reach
// both sandbox sinks, show on the inspector pages and in the statistics.
// A second run on the same folder reuses the data and sets nothing up twice.
func TestDemo_ShowsTheLoop(t *testing.T) {
	t.Parallel()
	// The folder a newcomer clones into; its parent must let PostgreSQL's
	// user in when we are root (t.TempDir's parents are 0700).
	base, err := os.MkdirTemp("", "perkbridge-demo-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(base, ".data")
	env := map[string]string{"DATA_DIR": dataDir}

	app, out, stop := startRun(t, []string{"demo", "-traffic=15"}, env)
	waitFor(t, "the demo's banner", func() bool { return strings.Contains(out.String(), "Stop with Ctrl-C") })
	banner := out.String()
	for _, want := range []string{
		"Perkbridge demo is running.", app + "/demo/login?shop=" + demoShop, "local PostgreSQL in " + filepath.Join(dataDir, "pg"),
		demoKlaviyoKey, demoCleverTapAccount, demoCleverTapCode, "region " + demoCleverTapRegion,
		app + "/demo/sinks/klaviyo", app + "/demo/sinks/clevertap", "wallet_points_rewarded, coupon_created, tier_upgraded, referral_completed, birthday_reward",
		"simulated shoppers, 15 actions a second",
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner lacks %q:\n%s", want, banner)
		}
	}

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	// Events of shoppers the simulator created (not the seed's) at both sinks.
	waitLong(t, "simulated shoppers' events at both sandbox sinks", func() bool {
		var kl, ct sinkJSON
		getJSON(t, client, app+"/demo/sinks/klaviyo", &kl)
		getJSON(t, client, app+"/demo/sinks/clevertap", &ct)
		klOK, ctOK := false, false
		for _, r := range kl.Records {
			klOK = klOK || (r.Kind == "event" && r.Name == "wallet_points_rewarded" && simulatedEmail.MatchString(r.Identity))
		}
		for _, r := range ct.Records {
			if r.Kind == "event" && r.Name == "wallet_points_rewarded" {
				for _, p := range r.Properties {
					// customer_id is the common property: an id of the
					// simulator's, not a seeded 700x.
					ctOK = ctOK || (p.Key == "customer_id" && len(p.Value) > 10)
				}
			}
		}
		return klOK && ctOK
	})

	// The inspector pages show the same, newest first, linked from home.
	for _, kind := range []string{"klaviyo", "clevertap"} {
		resp, err := client.Get(app + "/demo/sinks/" + kind)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := goquery.NewDocumentFromReader(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s inspector: %d %v", kind, resp.StatusCode, err)
		}
		names := doc.Find(`[data-testid="sink-record"][data-kind="event"] [data-testid="sink-record-name"]`).Map(func(_ int, s *goquery.Selection) string { return s.Text() })
		if len(names) == 0 || !contains(names, "wallet_points_rewarded") {
			t.Errorf("%s inspector lists events %v", kind, names)
		}
		var prev time.Time
		doc.Find(`[data-testid="sink-record"] time`).Each(func(i int, s *goquery.Selection) {
			at, _ := time.Parse(time.RFC3339, s.AttrOr("datetime", ""))
			if i > 0 && at.After(prev) {
				t.Errorf("%s inspector is not newest first: %s after %s", kind, at, prev)
			}
			prev = at
		})
	}
	resp, err := client.Get(app + "/demo/login?shop=" + demoShop)
	if err != nil {
		t.Fatal(err)
	}
	home, _ := goquery.NewDocumentFromReader(resp.Body)
	resp.Body.Close()
	links := home.Find(`[data-testid="sandbox-link"]`).Map(func(_ int, s *goquery.Selection) string { return s.AttrOr("href", "") })
	if resp.StatusCode != 200 || !contains(links, "/demo/sinks/klaviyo") || !contains(links, "/demo/sinks/clevertap") {
		t.Fatalf("admin home: %d, sandbox links %v", resp.StatusCode, links)
	}

	// Both integrations were connected through Initialize, with the five
	// example events, and the statistics count what was sent.
	var integrations []map[string]any
	if code := getJSON(t, client, app+"/api/v1/integrations", &integrations); code != 200 {
		t.Fatalf("integrations: %d", code)
	}
	for _, in := range integrations {
		if in["status"] != "active" {
			t.Errorf("integration %v is %v: %v", in["kind"], in["status"], in["status_reason"])
		}
	}
	definitions := func() map[string]int {
		n := map[string]int{}
		for _, kind := range []string{"klaviyo", "clevertap"} {
			var defs []map[string]any
			getJSON(t, client, app+"/api/v1/integrations/"+kind+"/events", &defs)
			n[kind] = len(defs)
		}
		return n
	}
	if n := definitions(); n["klaviyo"] != len(demoEvents) || n["clevertap"] != len(demoEvents) {
		t.Errorf("event definitions = %v, want %d each", n, len(demoEvents))
	}
	for _, kind := range []string{"klaviyo", "clevertap"} {
		waitLong(t, kind+" statistics", func() bool {
			var stats struct {
				Totals map[string]int64 `json:"totals"`
			}
			getJSON(t, client, app+"/api/v1/stats?integration="+kind+"&event=wallet_points_rewarded", &stats)
			return stats.Totals["sent"] > 0
		})
	}

	// Ctrl-C stops everything cleanly (stop fails the test otherwise), and
	// a second run on the same folder reuses the data.
	var customersBefore int
	{
		var list []map[string]any
		getJSON(t, client, app+"/api/v1/deliveries?integration=klaviyo", &list)
		customersBefore = len(list)
	}
	stop()
	app2, out2, stop2 := startRun(t, []string{"demo", "-traffic=0"}, map[string]string{"DATA_DIR": dataDir})
	defer stop2()
	waitFor(t, "the second run's banner", func() bool { return strings.Contains(out2.String(), "Stop with Ctrl-C") })
	if !strings.Contains(out2.String(), "local PostgreSQL in "+filepath.Join(dataDir, "pg")) || !strings.Contains(out2.String(), "Traffic            off") {
		t.Errorf("second run's banner:\n%s", out2.String())
	}
	jar2, _ := cookiejar.New(nil)
	client2 := &http.Client{Jar: jar2, Timeout: 10 * time.Second}
	if resp, err := client2.Get(app2 + "/demo/login?shop=" + demoShop); err != nil || resp.StatusCode != 200 {
		t.Fatalf("second run's admin: %v", err)
	} else {
		resp.Body.Close()
	}
	var list []map[string]any
	getJSON(t, client2, app2+"/api/v1/deliveries?integration=klaviyo", &list)
	if len(list) < customersBefore || customersBefore == 0 {
		t.Errorf("second run sees %d Klaviyo deliveries, the first had %d", len(list), customersBefore)
	}
	client = client2
	app = app2
	if n := definitions(); n["klaviyo"] != len(demoEvents) || n["clevertap"] != len(demoEvents) {
		t.Errorf("after a second run, event definitions = %v, want %d each", n, len(demoEvents))
	}

	// `perkbridge simulate` drives any instance: 20 actions, none failing
	// (run returns an error when one does), and new events reach the sinks.
	var simOut syncBuffer
	if err := run(context.Background(), []string{"simulate", "-url", app2, "-rate", "50", "-count", "20", "-seed", "7"},
		func(string) string { return "" }, &simOut, &simOut); err != nil {
		t.Fatalf("simulate: %v\n%s", err, simOut.String())
	}
	if !strings.Contains(simOut.String(), "errors 0") {
		t.Errorf("simulate printed:\n%s", simOut.String())
	}
	waitLong(t, "the simulated traffic's events at the second run's sinks", func() bool {
		var kl sinkJSON
		getJSON(t, client2, app2+"/demo/sinks/klaviyo", &kl)
		for _, r := range kl.Records {
			if r.Kind == "event" && simulatedEmail.MatchString(r.Identity) {
				return true
			}
		}
		return false
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// waitLong is waitFor with room for a cold start on a busy 2-core machine.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
