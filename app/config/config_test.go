package config_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/config"
)

var key32 = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func valid() map[string]string {
	return map[string]string{
		"SHOPIFY_API_KEY":    "key",
		"SHOPIFY_API_SECRET": "secret",
		"APP_URL":            "https://perkbridge.example.com/",
		"ENCRYPTION_KEY":     key32,
	}
}

func TestLoad_Defaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(valid()), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.APIVersion != "2026-10" || c.AppURL != "https://perkbridge.example.com" {
		t.Fatalf("defaults: %+v", c)
	}
	if c.ShopOrigin != "https://{shop}" || c.KlaviyoOrigin != "https://a.klaviyo.com" || !c.Workers {
		t.Fatalf("origins: %+v", c)
	}
	if got := c.CleverTapRegionOrigin("eu1"); got != "https://api.clevertap.com" {
		t.Fatalf("eu1 origin %q", got)
	}
	if got := c.CleverTapRegionOrigin("in1"); got != "https://in1.api.clevertap.com" {
		t.Fatalf("in1 origin %q", got)
	}
}

func TestLoad_CleverTapOverride(t *testing.T) {
	t.Parallel()
	m := valid()
	m["CLEVERTAP_API_ORIGIN"] = "http://127.0.0.1:9002/{region}"
	c, err := config.Load(env(m), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"eu1", "in1"} {
		if got, want := c.CleverTapRegionOrigin(r), "http://127.0.0.1:9002/"+r; got != want {
			t.Errorf("region %s: %q want %q", r, got, want)
		}
	}
}

func TestLoad_Errors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, key, value, want string
	}{
		{"MissingKey", "SHOPIFY_API_KEY", "", "SHOPIFY_API_KEY: is required"},
		{"MissingSecret", "SHOPIFY_API_SECRET", "", "SHOPIFY_API_SECRET: is required"},
		{"MissingAppURL", "APP_URL", "", "APP_URL: is required"},
		{"HTTPAppURL", "APP_URL", "http://perkbridge.example.com", "APP_URL: must use https"},
		{"RelativeAppURL", "APP_URL", "perkbridge", "APP_URL: must be an absolute"},
		{"ShortEncryptionKey", "ENCRYPTION_KEY", base64.StdEncoding.EncodeToString([]byte("short")), "ENCRYPTION_KEY: must decode to 32 bytes, got 5"},
		{"NotBase64", "ENCRYPTION_KEY", "!!!", "ENCRYPTION_KEY: must be base64"},
		{"MissingEncryptionKey", "ENCRYPTION_KEY", "", "ENCRYPTION_KEY: is required"},
		{"BadPort", "PORT", "http", `PORT: must be a TCP port number, got "http"`},
		{"BadVersion", "SHOPIFY_API_VERSION", "2026-11", "SHOPIFY_API_VERSION: must look like 2026-10"},
		{"OriginWithoutShop", "SHOPIFY_SHOP_ORIGIN", "http://127.0.0.1:9001", "SHOPIFY_SHOP_ORIGIN: must contain {shop}"},
		{"BadKlaviyoOrigin", "KLAVIYO_API_ORIGIN", "ftp://x", "KLAVIYO_API_ORIGIN: must be an absolute"},
		{"BadWorkers", "WORKERS", "maybe", "WORKERS: must be 0 or 1"},
		{"BadInboxLease", "INBOX_LEASE", "soon", "INBOX_LEASE: must be a duration"},
		{"TinyInboxLease", "INBOX_LEASE", "10ms", "INBOX_LEASE: must be a duration from 1s"},
		{"BadLogLevel", "LOG_LEVEL", "loud", "LOG_LEVEL: must be"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := valid()
			m[tc.key] = tc.value
			_, err := config.Load(env(m), false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want containing %q", err, tc.want)
			}
		})
	}
}

// TestLoad_InboxLease: 20 s unless INBOX_LEASE says otherwise (the fault
// tests shorten it to see a killed worker's webhooks taken over sooner).
func TestLoad_InboxLease(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(valid()), false)
	if err != nil || c.InboxLease != 20*time.Second {
		t.Fatalf("default lease %v, %v", c.InboxLease, err)
	}
	m := valid()
	m["INBOX_LEASE"] = "5s"
	if c, err = config.Load(env(m), false); err != nil || c.InboxLease != 5*time.Second {
		t.Fatalf("INBOX_LEASE=5s gives %v, %v", c.InboxLease, err)
	}
}

func TestLoad_AllProblemsAtOnce(t *testing.T) {
	t.Parallel()
	_, err := config.Load(env(map[string]string{}), false)
	if err == nil {
		t.Fatal("empty environment must fail")
	}
	for _, name := range []string{"SHOPIFY_API_KEY", "SHOPIFY_API_SECRET", "APP_URL", "ENCRYPTION_KEY"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

// TestLoad_DemoOnlyOnThisMachine: the demo refuses a database elsewhere,
// naming the variable, and takes any local one.
func TestLoad_DemoOnlyOnThisMachine(t *testing.T) {
	t.Parallel()
	for url, ok := range map[string]bool{
		"postgres://u@db.example.com:5432/app":     false,
		"postgres://u@10.0.0.5/app":                false,
		"postgres://u@127.0.0.1:5432/app":          true,
		"postgres://u@127.0.0.2/app":               true,
		"postgres://u@localhost/app":               true,
		"postgres://u@[::1]:5432/app":              true,
		"postgres:///app?host=/var/run/postgresql": true,
		"postgres:///app?host=db.internal.example": false,
	} {
		_, err := config.Load(env(map[string]string{"DATABASE_URL": url}), true)
		if (err == nil) != ok || (err != nil && !strings.Contains(err.Error(), "DATABASE_URL")) {
			t.Errorf("%s: %v, want accepted %v", url, err, ok)
		}
	}
	// Serving (not the demo) may use any database.
	m := valid()
	m["DATABASE_URL"] = "postgres://u@db.example.com:5432/app"
	if _, err := config.Load(env(m), false); err != nil {
		t.Errorf("serve refused a remote database: %v", err)
	}
}

func TestLoad_DemoNeedsNothing(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(map[string]string{}), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.EncryptionKey) != 32 || c.ShopifyAPISecret == "" || !c.Demo {
		t.Fatalf("demo config incomplete: %+v", c)
	}
}

func TestLoad_OperationalTimings(t *testing.T) {
	t.Parallel()
	c, err := config.Load(env(valid()), false)
	if err != nil {
		t.Fatal(err)
	}
	if c.DeliveryLease != 0 || c.DeliveryRetryUnit != 0 || c.RiverRescueAfter != 0 {
		t.Fatalf("unset timings must keep the components' defaults (zero): %+v", c)
	}
	m := valid()
	m["DELIVERY_LEASE"], m["DELIVERY_RETRY_UNIT"], m["RIVER_RESCUE_AFTER"] = "3s", "10ms", "5s"
	if c, err = config.Load(env(m), false); err != nil {
		t.Fatal(err)
	}
	if c.DeliveryLease != 3*time.Second || c.DeliveryRetryUnit != 10*time.Millisecond || c.RiverRescueAfter != 5*time.Second {
		t.Fatalf("timings: %+v", c)
	}
	m["DELIVERY_LEASE"], m["DELIVERY_RETRY_UNIT"] = "10ms", "soon"
	_, err = config.Load(env(m), false)
	if err == nil || !strings.Contains(err.Error(), "DELIVERY_LEASE") || !strings.Contains(err.Error(), "DELIVERY_RETRY_UNIT") {
		t.Fatalf("bad timings: %v", err)
	}
}
