// Package config reads Perkbridge's configuration from the environment
// (DESIGN.md §6). Load validates every variable and names the variable and
// what is wrong with it; the result is returned, never stored globally.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultAPIVersion is the Shopify Admin API version the app is built for.
const DefaultAPIVersion = "2026-10"

// Config is the validated configuration of one process.
type Config struct {
	DatabaseURL      string // empty: start a local PostgreSQL under DataDir
	DataDir          string // where the local PostgreSQL keeps its cluster (".data")
	ShopifyAPIKey    string
	ShopifyAPISecret string
	// ShopifyOldAPISecret is accepted for HMAC and JWT checks while a
	// rotated client secret is still in use by Shopify (up to an hour).
	ShopifyOldAPISecret string
	AppURL              string // public https URL of this app, no trailing slash
	EncryptionKey       []byte // 32 bytes for AES-256-GCM
	// OldEncryptionKeys decrypt values written under earlier keys; new
	// values are always sealed with EncryptionKey.
	OldEncryptionKeys [][]byte
	Port              int
	APIVersion        string
	Scopes            string
	ShopOrigin        string // "https://{shop}"
	KlaviyoOrigin     string
	CleverTapOrigin   string // "" means the per-region default hosts
	Workers           bool   // serve also runs background workers
	// InboxLease is how long a worker holds the inbox rows it claimed
	// (INBOX_LEASE, default 20s): a process that dies gives them back
	// after it, and another one has processed them within DESIGN §7's 30 s.
	InboxLease time.Duration
	// MetricsAddr is the internal listener serving /metrics (METRICS_ADDR,
	// default 127.0.0.1:9090, demo 127.0.0.1:0; "off" for none).
	MetricsAddr string
	// MetricsToken, when set (METRICS_TOKEN), also serves /metrics on the
	// public port to "Authorization: Bearer <token>".
	MetricsToken string
	LogLevel     string
	LogFormat    string // "json" or "text"
	Demo         bool

	// Operational timings (docs/reliability.md). Zero keeps each
	// component's default; the fault-matrix suite shortens them so that
	// minutes of outage take seconds.
	//
	// DeliveryLease (DELIVERY_LEASE, default 2m) is how long a claimed
	// delivery batch stays invisible to other runners: a dead process's
	// deliveries are sent again after it.
	DeliveryLease time.Duration
	// DeliveryRetryUnit (DELIVERY_RETRY_UNIT, default 1s) is the unit of
	// the delivery retry schedule: attempt n waits 2^n units, capped at
	// 600 units, so the retry budget spans the same number of attempts
	// whatever the unit.
	DeliveryRetryUnit time.Duration
	// RiverRescueAfter (RIVER_RESCUE_AFTER, default 10m) is how long a
	// River job of a dead process stays running before River's rescuer
	// (every 30 s, on the leader) retries it; also the jobs' timeout when
	// shorter than one minute.
	RiverRescueAfter time.Duration
}

var versionRe = regexp.MustCompile(`^(\d{4}-(01|04|07|10)|unstable)$`)

// DefaultScopes are the access scopes the app requests (shopify.app.toml).
const DefaultScopes = "read_customers,write_customers,read_orders,write_discounts,write_app_proxy,read_themes,read_store_credit_accounts,read_store_credit_account_transactions,write_store_credit_account_transactions"

// Load reads and validates the configuration. getenv is os.Getenv in
// production and a map lookup in tests. When demo is true, missing Shopify
// credentials and keys get local demo values so `demo` works offline.
func Load(getenv func(string) string, demo bool) (Config, error) {
	c := Config{
		DatabaseURL:         strings.TrimSpace(getenv("DATABASE_URL")),
		DataDir:             getenv("DATA_DIR"),
		ShopifyAPIKey:       strings.TrimSpace(getenv("SHOPIFY_API_KEY")),
		ShopifyAPISecret:    strings.TrimSpace(getenv("SHOPIFY_API_SECRET")),
		ShopifyOldAPISecret: strings.TrimSpace(getenv("SHOPIFY_OLD_API_SECRET")),
		AppURL:              strings.TrimRight(strings.TrimSpace(getenv("APP_URL")), "/"),
		APIVersion:          getenv("SHOPIFY_API_VERSION"),
		Scopes:              getenv("SHOPIFY_SCOPES"),
		ShopOrigin:          getenv("SHOPIFY_SHOP_ORIGIN"),
		KlaviyoOrigin:       getenv("KLAVIYO_API_ORIGIN"),
		CleverTapOrigin:     getenv("CLEVERTAP_API_ORIGIN"),
		LogLevel:            getenv("LOG_LEVEL"),
		LogFormat:           getenv("LOG_FORMAT"),
		Demo:                demo,
		Workers:             true,
		InboxLease:          20 * time.Second,
	}
	var problems []string
	bad := func(name, format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}
	if c.DataDir == "" {
		c.DataDir = ".data"
	}
	if demo && c.DatabaseURL != "" {
		// The demo writes a made-up shop and simulated traffic: never into
		// a database that is not on this machine.
		if host, ok := databaseHost(c.DatabaseURL); !ok {
			bad("DATABASE_URL", "the demo runs only against a database on this machine (localhost, 127.0.0.1, ::1 or a Unix socket), got host %q; unset it to use a local one", host)
		}
	}
	if demo {
		if c.ShopifyAPIKey == "" {
			c.ShopifyAPIKey = "demo-api-key"
		}
		if c.ShopifyAPISecret == "" {
			c.ShopifyAPISecret = "demo-api-secret"
		}
	}
	if c.ShopifyAPIKey == "" {
		bad("SHOPIFY_API_KEY", "is required (the app's client id from the Partner Dashboard)")
	}
	if c.ShopifyAPISecret == "" {
		bad("SHOPIFY_API_SECRET", "is required (the app's client secret)")
	}
	if c.AppURL == "" && demo {
		c.AppURL = "http://localhost"
	}
	if c.AppURL == "" {
		bad("APP_URL", "is required (the public https URL Shopify calls, e.g. https://perkbridge.example.com)")
	} else if u, err := url.Parse(c.AppURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		bad("APP_URL", "must be an absolute http(s) URL, got %q", c.AppURL)
	} else if u.Scheme != "https" && !demo && !isLoopback(u.Hostname()) {
		bad("APP_URL", "must use https outside demo mode and localhost, got %q", c.AppURL)
	}
	if k := strings.TrimSpace(getenv("ENCRYPTION_KEY")); k != "" {
		key, err := decodeKey(k)
		if err != nil {
			bad("ENCRYPTION_KEY", "%v", err)
		}
		c.EncryptionKey = key
	} else if demo {
		// A fixed demo key: demo data is not secret and must survive restarts.
		c.EncryptionKey = []byte("perkbridge-demo-key-not-a-secret")
	} else {
		bad("ENCRYPTION_KEY", "is required: 32 random bytes, base64 (openssl rand -base64 32)")
	}
	if old := strings.TrimSpace(getenv("ENCRYPTION_KEYS_OLD")); old != "" {
		for i, k := range strings.Split(old, ",") {
			key, err := decodeKey(strings.TrimSpace(k))
			if err != nil {
				bad("ENCRYPTION_KEYS_OLD", "key %d: %v", i+1, err)
				continue
			}
			c.OldEncryptionKeys = append(c.OldEncryptionKeys, key)
		}
	}
	c.Port = 8080
	if p := getenv("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			bad("PORT", "must be a TCP port number, got %q", p)
		}
		c.Port = n
	}
	if c.APIVersion == "" {
		c.APIVersion = DefaultAPIVersion
	} else if !versionRe.MatchString(c.APIVersion) {
		bad("SHOPIFY_API_VERSION", "must look like 2026-10 (a quarterly release) or unstable, got %q", c.APIVersion)
	}
	if c.Scopes == "" {
		c.Scopes = DefaultScopes
	}
	if c.ShopOrigin == "" {
		c.ShopOrigin = "https://{shop}"
	} else if !strings.Contains(c.ShopOrigin, "{shop}") {
		bad("SHOPIFY_SHOP_ORIGIN", "must contain {shop}, got %q", c.ShopOrigin)
	} else if err := checkOrigin(strings.ReplaceAll(c.ShopOrigin, "{shop}", "x.myshopify.com")); err != nil {
		bad("SHOPIFY_SHOP_ORIGIN", "%v", err)
	}
	if c.KlaviyoOrigin == "" {
		c.KlaviyoOrigin = "https://a.klaviyo.com"
	} else if err := checkOrigin(c.KlaviyoOrigin); err != nil {
		bad("KLAVIYO_API_ORIGIN", "%v", err)
	}
	c.KlaviyoOrigin = strings.TrimRight(c.KlaviyoOrigin, "/")
	if c.CleverTapOrigin != "" {
		if err := checkOrigin(strings.ReplaceAll(c.CleverTapOrigin, "{region}", "eu1")); err != nil {
			bad("CLEVERTAP_API_ORIGIN", "%v", err)
		}
		c.CleverTapOrigin = strings.TrimRight(c.CleverTapOrigin, "/")
	}
	c.MetricsToken = strings.TrimSpace(getenv("METRICS_TOKEN"))
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		bad("METRICS_TOKEN", "must be at least 16 characters (a random secret)")
	}
	switch m := strings.TrimSpace(getenv("METRICS_ADDR")); {
	case m == "off":
	case m == "" && demo:
		c.MetricsAddr = "127.0.0.1:0"
	case m == "":
		c.MetricsAddr = "127.0.0.1:9090"
	default:
		if _, port, err := net.SplitHostPort(m); err != nil || port == "" {
			bad("METRICS_ADDR", "must be host:port (e.g. 127.0.0.1:9090) or off, got %q", m)
		}
		c.MetricsAddr = m
	}
	if w := getenv("WORKERS"); w != "" {
		switch w {
		case "0", "false":
			c.Workers = false
		case "1", "true":
		default:
			bad("WORKERS", "must be 0 or 1, got %q", w)
		}
	}
	if l := strings.TrimSpace(getenv("INBOX_LEASE")); l != "" {
		d, err := time.ParseDuration(l)
		if err != nil || d < time.Second || d > time.Hour {
			bad("INBOX_LEASE", "must be a duration from 1s to 1h (e.g. 30s), got %q", l)
		} else {
			c.InboxLease = d
		}
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
		min  time.Duration
	}{
		{"DELIVERY_LEASE", &c.DeliveryLease, time.Second},
		{"DELIVERY_RETRY_UNIT", &c.DeliveryRetryUnit, time.Millisecond},
		{"RIVER_RESCUE_AFTER", &c.RiverRescueAfter, time.Second},
	} {
		v := strings.TrimSpace(getenv(d.name))
		if v == "" {
			continue
		}
		n, err := time.ParseDuration(v)
		if err != nil || n < d.min {
			bad(d.name, "must be a duration of at least %s (e.g. 30s, 2m), got %q", d.min, v)
			continue
		}
		*d.dst = n
	}
	switch c.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		bad("LOG_LEVEL", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	switch c.LogFormat {
	case "", "json", "text":
	default:
		bad("LOG_FORMAT", "must be json or text, got %q", c.LogFormat)
	}
	if len(problems) > 0 {
		return Config{}, errors.New("config: " + strings.Join(problems, "; "))
	}
	return c, nil
}

// CleverTapRegionOrigin returns the API origin for a CleverTap region
// (DESIGN.md §6): the override with {region} replaced when one is set,
// otherwise https://{region}.api.clevertap.com, and https://api.clevertap.com
// for the EU default region.
func (c Config) CleverTapRegionOrigin(region string) string {
	if c.CleverTapOrigin != "" {
		return strings.ReplaceAll(c.CleverTapOrigin, "{region}", region)
	}
	if region == "eu1" || region == "" {
		return "https://api.clevertap.com"
	}
	return "https://" + region + ".api.clevertap.com"
}

func decodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("must be base64: %v", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("must decode to 32 bytes, got %d", len(key))
	}
	return key, nil
}

func checkOrigin(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("must be an absolute http(s) URL, got %q", s)
	}
	return nil
}

// databaseHost returns a database URL's host and whether it is on this
// machine (loopback, or a Unix socket folder).
func databaseHost(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "unparseable URL", false
	}
	host := u.Hostname()
	if host == "" {
		host = u.Query().Get("host") // a Unix socket folder is local
		return host, host == "" || strings.HasPrefix(host, "/")
	}
	if ip := net.ParseIP(host); ip != nil {
		return host, ip.IsLoopback()
	}
	return host, isLoopback(host)
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// ListenHost is the interface the HTTP server binds: loopback in demo mode
// (the demo authenticates with a local session and must not be reachable
// from the network), every interface otherwise.
func (c Config) ListenHost() string {
	if c.Demo {
		return "127.0.0.1"
	}
	return ""
}
