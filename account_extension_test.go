package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// accountExtensionDir is the customer account UI extension.
const accountExtensionDir = "extensions/loyalty-account"

// accountTargets are the extension's targets and what each must render.
var accountTargets = map[string]string{
	"customer-account.page.render":               "the full Rewards page",
	"customer-account.order-status.block.render": "the order status block",
}

// TestAccountExtension_Manifest checks the customer account extension as
// Shopify CLI and npm would, without either (make test needs no npm and no
// network): the TOML is a ui_extension with the two targets, each module
// present, network access on; package.json pins exact versions, the API
// version matches the pinned @shopify/ui-extensions, and the lockfile
// holds exactly those pins with an integrity hash for every package (so
// `npm ci` reproduces the tree, offline from a cache); the sources import
// only those packages and call only routes of the customer account door;
// every translation key they use exists, with the placeholders they pass,
// and no locale text is left unused; APP_URL is the app's URL.
func TestAccountExtension_Manifest(t *testing.T) {
	t.Parallel()
	var manifest struct {
		APIVersion string `toml:"api_version"`
		Extensions []struct {
			Name      string `toml:"name"`
			Handle    string `toml:"handle"`
			Type      string `toml:"type"`
			Targeting []struct {
				Module string `toml:"module"`
				Target string `toml:"target"`
			} `toml:"targeting"`
			Capabilities struct {
				NetworkAccess bool `toml:"network_access"`
				APIAccess     bool `toml:"api_access"`
			} `toml:"capabilities"`
		} `toml:"extensions"`
	}
	md, err := toml.DecodeFile(filepath.Join(accountExtensionDir, "shopify.extension.toml"), &manifest)
	if err != nil {
		t.Fatalf("shopify.extension.toml: %v", err)
	}
	if extra := md.Undecoded(); len(extra) > 0 {
		t.Errorf("unexpected keys in shopify.extension.toml: %v", extra)
	}
	if len(manifest.Extensions) != 1 {
		t.Fatalf("%d extensions in the TOML, want 1", len(manifest.Extensions))
	}
	ext := manifest.Extensions[0]
	if ext.Type != "ui_extension" || ext.Handle != "loyalty-account" || ext.Name == "" {
		t.Errorf("extension = %q %q %q, want a named ui_extension with handle loyalty-account", ext.Name, ext.Handle, ext.Type)
	}
	if !ext.Capabilities.NetworkAccess {
		t.Error("network_access is off: the extension could not fetch the app's backend")
	}
	modules := map[string]string{} // target → module source
	for _, tg := range ext.Targeting {
		if _, ok := accountTargets[tg.Target]; !ok {
			t.Errorf("unexpected target %q", tg.Target)
			continue
		}
		raw, err := os.ReadFile(filepath.Join(accountExtensionDir, filepath.FromSlash(tg.Module)))
		if err != nil {
			t.Errorf("%s: module %s: %v", tg.Target, tg.Module, err)
			continue
		}
		modules[tg.Target] = string(raw)
	}
	for target, what := range accountTargets {
		src, ok := modules[target]
		if !ok {
			t.Errorf("no module for %s (%s)", target, what)
			continue
		}
		// The Preact flavour: the module's default export renders.
		if !strings.Contains(src, "export default async") || !strings.Contains(src, "render(") {
			t.Errorf("%s: the module does not export its render function", target)
		}
	}

	// package.json: exact pins, Shopify's package and the Preact flavour.
	var pkg struct {
		Dependencies    map[string]string `json:"dependencies"`
		DevDependencies map[string]string `json:"devDependencies"`
		Scripts         map[string]string `json:"scripts"`
	}
	readJSON(t, filepath.Join(accountExtensionDir, "package.json"), &pkg)
	exact := regexp.MustCompile(`^\d+\.\d+\.\d+$`)
	for name, v := range pkg.Dependencies {
		if !exact.MatchString(v) {
			t.Errorf("package.json: %s %q is not an exact version", name, v)
		}
	}
	for _, name := range []string{"@shopify/ui-extensions", "preact"} {
		if pkg.Dependencies[name] == "" {
			t.Errorf("package.json does not depend on %s", name)
		}
	}
	// '@shopify/ui-extensions/preact' imports @preact/signals, a peer of it.
	if pkg.Dependencies["@preact/signals"] == "" {
		t.Error("package.json lacks @preact/signals, which @shopify/ui-extensions/preact imports")
	}
	if len(pkg.DevDependencies) > 0 || len(pkg.Scripts) > 0 {
		t.Errorf("package.json has devDependencies %v or scripts %v: keep the extension to its runtime packages", pkg.DevDependencies, pkg.Scripts)
	}
	// @shopify/ui-extensions 2026.7.x serves api_version 2026-07.
	if v := strings.Split(pkg.Dependencies["@shopify/ui-extensions"], "."); len(v) == 3 {
		if want := v[0] + "-" + leftPad2(v[1]); manifest.APIVersion != want {
			t.Errorf("api_version %q, want %q for @shopify/ui-extensions %s", manifest.APIVersion, want, pkg.Dependencies["@shopify/ui-extensions"])
		}
	}

	// package-lock.json: v3, the same pins, every package with integrity.
	var lock struct {
		LockfileVersion int `json:"lockfileVersion"`
		Packages        map[string]struct {
			Version      string            `json:"version"`
			Integrity    string            `json:"integrity"`
			Dependencies map[string]string `json:"dependencies"`
			Link         bool              `json:"link"`
		} `json:"packages"`
	}
	readJSON(t, filepath.Join(accountExtensionDir, "package-lock.json"), &lock)
	if lock.LockfileVersion != 3 {
		t.Errorf("lockfileVersion %d, want 3", lock.LockfileVersion)
	}
	if root := lock.Packages[""]; !mapsEqual(root.Dependencies, pkg.Dependencies) {
		t.Errorf("the lockfile was made for dependencies %v, package.json has %v: run npm install --package-lock-only", root.Dependencies, pkg.Dependencies)
	}
	for name, v := range pkg.Dependencies {
		if got := lock.Packages["node_modules/"+name].Version; got != v {
			t.Errorf("lockfile has %s %q, package.json pins %q", name, got, v)
		}
	}
	for path, p := range lock.Packages {
		if path != "" && !p.Link && !strings.HasPrefix(p.Integrity, "sha512-") {
			t.Errorf("lockfile: %s has no sha512 integrity", path)
		}
	}

	// Sources: imports, routes, translation keys.
	srcFiles, _ := filepath.Glob(filepath.Join(accountExtensionDir, "src", "*"))
	if len(srcFiles) == 0 {
		t.Fatal("no sources")
	}
	var locale map[string]any
	readJSON(t, filepath.Join(accountExtensionDir, "locales", "en.default.json"), &locale)
	importRe := regexp.MustCompile(`(?m)^import\s+(?:[^'"]*\sfrom\s+)?['"]([^'"]+)['"]`)
	callRe := regexp.MustCompile("call\\([`']([^`'?]+)[`']\\s*(?:,\\s*\\{\\s*method:\\s*'([A-Z]+)')?")
	// t('key') and t('key', {a: …, b}) calls; and key strings kept in maps.
	tCallRe := regexp.MustCompile(`\bt\('([A-Za-z0-9_.]+)'(?:,\s*\{([^}]*)\})?\)`)
	keyLitRe := regexp.MustCompile(`'((?:` + strings.Join(topKeys(locale), "|") + `)\.[A-Za-z0-9_.]+)'`)
	optKeyRe := regexp.MustCompile(`(?:^|,)\s*([A-Za-z_]\w*)\s*(?::|,|$)`)
	routes := accountRoutes(t)
	used := map[string]bool{}
	var calls int
	for _, f := range srcFiles {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src := string(raw)
		for _, m := range importRe.FindAllStringSubmatch(src, -1) {
			spec := m[1]
			if strings.HasPrefix(spec, "./") {
				if _, err := os.Stat(filepath.Join(accountExtensionDir, "src", spec)); err != nil {
					t.Errorf("%s imports %s, which does not exist", f, spec)
				}
				continue
			}
			if pkgName := packageOf(spec); pkg.Dependencies[pkgName] == "" {
				t.Errorf("%s imports %s, not a dependency in package.json", f, spec)
			}
		}
		for _, m := range callRe.FindAllStringSubmatch(src, -1) {
			calls++
			method := m[2]
			if method == "" {
				method = "GET"
			}
			route := regexp.MustCompile(`\$\{[^}]+\}`).ReplaceAllString(m[1], ":param")
			if !routes[method+" "+route] {
				t.Errorf("%s calls %s %s, which the customer account door does not serve (%v)", f, method, m[1], sortedKeys(routes))
			}
		}
		for _, m := range tCallRe.FindAllStringSubmatch(src, -1) {
			key := m[1]
			used[key] = true
			texts, ok := localeTexts(locale, key)
			if !ok {
				t.Errorf("%s: translation %s is not in en.default.json", f, key)
				continue
			}
			given := map[string]bool{}
			for _, o := range optKeyRe.FindAllStringSubmatch(m[2], -1) {
				given[o[1]] = true
			}
			for _, text := range texts {
				for _, ph := range regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`).FindAllStringSubmatch(text, -1) {
					if !given[ph[1]] {
						t.Errorf("%s: %s needs {{%s}}, which the call does not pass", f, key, ph[1])
					}
				}
			}
		}
		for _, m := range keyLitRe.FindAllStringSubmatch(src, -1) {
			if used[m[1]] {
				continue // a t() call, checked above
			}
			used[m[1]] = true
			if _, ok := localeTexts(locale, m[1]); !ok {
				t.Errorf("%s: translation %s is not in en.default.json", f, m[1])
			}
		}
	}
	if calls < 6 {
		t.Errorf("found %d calls to the API in src; the page alone makes 6", calls)
	}
	for _, key := range localeKeys(locale, "") {
		if !used[key] {
			t.Errorf("en.default.json: %s is never used", key)
		}
	}

	// APP_URL is the app's application_url.
	var app struct {
		ApplicationURL string `toml:"application_url"`
	}
	if _, err := toml.DecodeFile("shopify.app.toml", &app); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(accountExtensionDir, "src", "config.js"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`export const APP_URL = "([^"]+)"`).FindStringSubmatch(string(raw))
	if m == nil || m[1] != strings.TrimRight(app.ApplicationURL, "/") {
		t.Errorf("src/config.js APP_URL = %v, want shopify.app.toml's application_url %q", m, app.ApplicationURL)
	}
}

// accountRoutes reads the customer account door's routes ("GET /member")
// from web/routes.go, with path parameters as ":param".
func accountRoutes(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("web", "routes.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`aapi\.(GET|POST|PUT|DELETE)\("([^"]+)"`).FindAllStringSubmatch(string(raw), -1) {
		out[m[1]+" "+regexp.MustCompile(`:\w+`).ReplaceAllString(m[2], ":param")] = true
	}
	if len(out) < 9 {
		t.Fatalf("found %d account routes in web/routes.go: %v", len(out), out)
	}
	return out
}

// localeTexts returns the text of a dotted key: one string, or the forms
// of a pluralized one ({"one": …, "other": …}).
func localeTexts(m map[string]any, key string) ([]string, bool) {
	var cur any = m
	for _, part := range strings.Split(key, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur = mm[part]
	}
	switch v := cur.(type) {
	case string:
		return []string{v}, true
	case map[string]any:
		if !isPlural(v) {
			return nil, false
		}
		var out []string
		for _, form := range v {
			s, ok := form.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// localeKeys lists the leaf keys of a locale, a pluralized group counting
// as one key.
func localeKeys(m map[string]any, prefix string) []string {
	var out []string
	for k, v := range m {
		key := prefix + k
		if sub, ok := v.(map[string]any); ok {
			if isPlural(sub) {
				out = append(out, key)
			} else {
				out = append(out, localeKeys(sub, key+".")...)
			}
			continue
		}
		out = append(out, key)
	}
	sort.Strings(out)
	return out
}

// isPlural reports a pluralized text: CLDR plural forms only, "other"
// among them, each a string.
func isPlural(m map[string]any) bool {
	if _, ok := m["other"].(string); !ok {
		return false
	}
	for k, v := range m {
		if _, ok := v.(string); !ok || !slices.Contains([]string{"zero", "one", "two", "few", "many", "other"}, k) {
			return false
		}
	}
	return true
}

func topKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, regexp.QuoteMeta(k))
	}
	sort.Strings(out)
	return out
}

// packageOf returns the npm package of an import specifier:
// "preact/hooks" → "preact", "@shopify/ui-extensions/preact" →
// "@shopify/ui-extensions".
func packageOf(spec string) string {
	parts := strings.Split(spec, "/")
	if strings.HasPrefix(spec, "@") && len(parts) > 1 {
		return parts[0] + "/" + parts[1]
	}
	return parts[0]
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func leftPad2(s string) string {
	if len(s) == 1 {
		return "0" + s
	}
	return s
}
