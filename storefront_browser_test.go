package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/osteele/liquid"
	"github.com/osteele/liquid/render"

	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/shopify"
)

// extensionDir is the theme app extension, in Shopify CLI's layout.
const extensionDir = "extensions/loyalty-theme"

// scriptBudget is the most the extension's one script may weigh, in bytes,
// as it is shipped (unminified). The budget is 15 KB; Shopify's
// theme check for app extensions (AssetSizeAppBlockJavaScript, error
// level) allows 10,000 bytes, so that is the budget that holds.
const scriptBudget = 10_000

// proxyPrefix is where Shopify's app proxy serves the app on the shop's
// domain (shopify.app.toml [app_proxy] prefix and subpath).
const proxyPrefix = "/apps/loyalty"

// extBlock is one file of blocks/: its Liquid without the schema, and the
// schema.
type extBlock struct {
	file   string
	source string
	schema blockSchema
}

// blockSchema is the part of an app block's {% schema %} the tests read.
type blockSchema struct {
	Name       string    `json:"name"`
	Target     string    `json:"target"`
	JavaScript string    `json:"javascript"`
	Stylesheet string    `json:"stylesheet"`
	Settings   []setting `json:"settings"`
}

type setting struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Label   string `json:"label"`
	Content string `json:"content"`
	Info    string `json:"info"`
	Default any    `json:"default"`
	Options []struct {
		Value string `json:"value"`
		Label string `json:"label"`
	} `json:"options"`
}

var schemaTag = regexp.MustCompile(`(?s)\{%-?\s*schema\s*-?%\}(.*?)\{%-?\s*endschema\s*-?%\}`)

// loadBlocks reads every block of the extension; a block without exactly
// one valid JSON schema fails the test.
func loadBlocks(t *testing.T) map[string]extBlock {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(extensionDir, "blocks", "*.liquid"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no blocks in %s/blocks: %v", extensionDir, err)
	}
	blocks := map[string]extBlock{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := schemaTag.FindAllStringSubmatchIndex(string(raw), -1)
		if len(m) != 1 {
			t.Fatalf("%s: %d schema tags, want 1", f, len(m))
		}
		var b extBlock
		b.file = f
		dec := json.NewDecoder(strings.NewReader(string(raw[m[0][2]:m[0][3]])))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b.schema); err != nil {
			t.Fatalf("%s: schema is not the JSON expected: %v", f, err)
		}
		b.source = string(raw[:m[0][0]]) + string(raw[m[0][1]:])
		blocks[strings.TrimSuffix(filepath.Base(f), ".liquid")] = b
	}
	return blocks
}

// readLocale reads a locale file of the extension as nested maps.
func readLocale(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(extensionDir, "locales", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// lookup finds a dotted key ("loyalty.panel.close") in nested maps.
func lookup(m map[string]any, key string) (string, bool) {
	var cur any = m
	for _, part := range strings.Split(key, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		cur = mm[part]
	}
	s, ok := cur.(string)
	return s, ok
}

// liquidEngine renders the extension's Liquid as Shopify does, for what the
// extension uses: the t filter from locales/en.default.json (escaped unless
// the key ends in _html; a missing key shows "translation missing", as on
// Shopify), asset_url to the extension's assets, json, and {% render %} of
// snippets/ with only the globals and the arguments passed (snippets do not
// see the caller's variables).
func liquidEngine(t *testing.T, globals []string) *liquid.Engine {
	t.Helper()
	locale := readLocale(t, "en.default.json")
	e := liquid.NewEngine() // lenient like Shopify: a guest's customer.id is empty
	e.RegisterFilter("t", func(key string) string {
		s, ok := lookup(locale, key)
		if !ok {
			return "translation missing: en." + key
		}
		if strings.HasSuffix(key, "_html") {
			return s
		}
		return html.EscapeString(s)
	})
	e.RegisterFilter("asset_url", func(name string) string { return "/assets/" + name })
	e.RegisterFilter("json", func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			return "null"
		}
		return string(b)
	})
	e.RegisterTag("render", func(ctx render.Context) (string, error) {
		args := strings.TrimSpace(ctx.TagArgs())
		end := strings.IndexAny(args[1:], `'"`) + 1
		if end <= 0 || !strings.ContainsRune(`'"`, rune(args[0])) {
			return "", fmt.Errorf("render: want a quoted snippet name: %q", args)
		}
		name, rest := args[1:end], strings.TrimPrefix(strings.TrimSpace(args[end+1:]), ",")
		vars := map[string]any{}
		for _, g := range globals {
			vars[g] = ctx.Get(g)
		}
		for pair := range strings.SplitSeq(rest, ",") {
			if strings.TrimSpace(pair) == "" {
				continue
			}
			k, expr, ok := strings.Cut(pair, ":")
			if !ok {
				return "", fmt.Errorf("render %s: bad argument %q", name, pair)
			}
			v, err := ctx.EvaluateString(strings.TrimSpace(expr))
			if err != nil {
				return "", err
			}
			vars[strings.TrimSpace(k)] = v
		}
		src, err := os.ReadFile(filepath.Join(extensionDir, "snippets", name+".liquid"))
		if err != nil {
			return "", err
		}
		out, serr := e.ParseAndRenderString(string(src), vars)
		if serr != nil {
			return "", fmt.Errorf("snippet %s: %w", name, serr)
		}
		return out, nil
	})
	return e
}

// storefront is a stand-in for a shop's Online Store with the extension
// installed: a plain theme page with the app blocks in a section and the
// app embed in the body, the extension's assets, fake account pages, and
// /apps/loyalty/* forwarded to the app as Shopify's app proxy does.
type storefront struct {
	t       *testing.T
	blocks  map[string]extBlock
	engine  *liquid.Engine
	app     *url.URL
	secret  string
	shop    string
	proxied atomic.Int64 // requests forwarded to the app
}

// customerCookie is who is "signed in" to the fake storefront.
const customerCookie = "storefront_customer"

var storefrontCustomers = map[string]map[string]any{
	"7001": {"id": 7001, "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
}

func newStorefront(t *testing.T, appURL, secret, shop string) (*storefront, *httptest.Server) {
	t.Helper()
	u, err := url.Parse(appURL)
	if err != nil {
		t.Fatal(err)
	}
	sf := &storefront{t: t, blocks: loadBlocks(t), app: u, secret: secret, shop: shop}
	sf.engine = liquidEngine(t, []string{"customer", "routes", "shop", "request"})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		sf.page(w, r, []string{"points-balance", "rewards", "referral", "birthday"})
	})
	mux.HandleFunc("GET /pages/about", func(w http.ResponseWriter, r *http.Request) { sf.page(w, r, nil) })
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServer(http.Dir(filepath.Join(extensionDir, "assets")))))
	mux.HandleFunc("GET /account/login", sf.login)
	mux.HandleFunc("POST /account/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: customerCookie, Value: r.FormValue("customer"), Path: "/"})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /account/register", sf.login)
	mux.HandleFunc(proxyPrefix+"/", sf.proxy)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return sf, srv
}

// signedIn is the storefront customer of the request (nil: a guest).
func (sf *storefront) signedIn(r *http.Request) (string, map[string]any) {
	c, err := r.Cookie(customerCookie)
	if err != nil || storefrontCustomers[c.Value] == nil {
		return "", nil
	}
	return c.Value, storefrontCustomers[c.Value]
}

// renderBlock renders a block with its schema's default settings.
func (sf *storefront) renderBlock(name string, customer map[string]any) string {
	b, ok := sf.blocks[name]
	if !ok {
		sf.t.Errorf("no block %s", name)
		return ""
	}
	settings := map[string]any{}
	for _, s := range b.schema.Settings {
		if s.ID != "" {
			settings[s.ID] = s.Default
		}
	}
	var cust any // nil for a guest, as {% if customer %} expects
	if customer != nil {
		cust = customer
	}
	bindings := map[string]any{
		"block":    map[string]any{"id": name + "-1", "settings": settings, "shopify_attributes": ""},
		"customer": cust,
		"routes":   map[string]any{"root_url": "/", "account_login_url": "/account/login", "account_register_url": "/account/register"},
		"shop":     map[string]any{"name": "Perkbridge Demo", "permanent_domain": sf.shop},
		"request":  map[string]any{"locale": map[string]any{"iso_code": "en"}},
	}
	out, err := sf.engine.ParseAndRenderString(b.source, bindings)
	if err != nil {
		sf.t.Errorf("render %s: %v", b.file, err)
	}
	return out
}

// page is a plain theme page: app blocks in a section of the page, the
// app embed at the end of the body, and the schemas' stylesheet and
// deferred script once each, as Shopify injects them.
func (sf *storefront) page(w http.ResponseWriter, r *http.Request, appBlocks []string) {
	_, customer := sf.signedIn(r)
	var body strings.Builder
	for _, name := range appBlocks {
		body.WriteString(`<div class="theme-block">` + sf.renderBlock(name, customer) + `</div>`)
	}
	embed := sf.renderBlock("loyalty-embed", customer)
	assets := map[string]bool{}
	for _, name := range append(slices.Clone(appBlocks), "loyalty-embed") {
		assets["css:"+sf.blocks[name].schema.Stylesheet], assets["js:"+sf.blocks[name].schema.JavaScript] = true, true
	}
	var head strings.Builder
	for _, a := range slices.Sorted(maps.Keys(assets)) {
		kind, name, _ := strings.Cut(a, ":")
		switch {
		case name == "":
		case kind == "css":
			head.WriteString(`<link rel="stylesheet" href="/assets/` + name + `">`)
		default:
			head.WriteString(`<script src="/assets/` + name + `" defer></script>`)
		}
	}
	account := `<a href="/account/login">Sign in</a>`
	if customer != nil {
		account = `<span>Hi, ` + html.EscapeString(customer["first_name"].(string)) + `</span>`
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Perkbridge Demo</title>
<style>
body { margin: 0; font-family: "Helvetica Neue", Helvetica, Arial, sans-serif; color: #222; background: #fafaf7; }
header { display: flex; justify-content: space-between; align-items: center; padding: 1rem 2rem; border-bottom: 1px solid #e4e2dc; background: #fff; }
header strong { font-size: 1.25rem; letter-spacing: .02em; }
header nav { display: flex; gap: 1.5rem; }
a { color: inherit; }
main { max-width: 72rem; margin: 0 auto; padding: 2rem; }
h1 { font-family: Georgia, "Times New Roman", serif; font-weight: 400; font-size: 2.25rem; margin: 0 0 .5rem; }
h2 { font-family: Georgia, "Times New Roman", serif; font-weight: 400; font-size: 1.5rem; }
.theme-blocks { display: grid; grid-template-columns: repeat(auto-fill, minmax(20rem, 1fr)); gap: 1.5rem; margin-top: 2rem; }
</style>
%s</head>
<body>
<header><strong>Perkbridge Demo</strong><nav><a href="/">Home</a><a href="/pages/about">About</a>%s</nav></header>
<main><h1>Rewards</h1><p>Earn points on every order and turn them into discounts.</p>
<section class="theme-blocks">%s</section></main>
%s
</body></html>`, head.String(), account, body.String(), embed)
}

// login is the shop's account page, reduced to a button per test customer.
func (sf *storefront) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, `<!doctype html><html lang="en"><head><title>Account</title></head><body><h1>Account</h1>
<form method="post" action="/account/login"><input type="hidden" name="customer" value="7001">
<button type="submit" data-testid="sign-in-ada">Sign in as Ada Lovelace</button></form></body></html>`)
}

// proxy forwards /apps/loyalty/* to the app's /proxy/* as Shopify's app
// proxy does: the shopper's query plus shop, logged_in_customer_id (empty
// for a guest), path_prefix and timestamp, signed with the app's secret;
// cookies stay on the storefront.
func (sf *storefront) proxy(w http.ResponseWriter, r *http.Request) {
	sf.proxied.Add(1)
	customer, _ := sf.signedIn(r)
	q := r.URL.Query()
	for _, k := range []string{"shop", "logged_in_customer_id", "path_prefix", "timestamp", "signature"} {
		q.Del(k)
	}
	q.Set("shop", sf.shop)
	q.Set("logged_in_customer_id", customer)
	q.Set("path_prefix", proxyPrefix)
	q.Set("timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	q.Set("signature", shopify.SignProxy(sf.secret, q))
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.Out.URL.Scheme, pr.Out.URL.Host = sf.app.Scheme, sf.app.Host
		pr.Out.URL.Path = "/proxy" + strings.TrimPrefix(r.URL.Path, proxyPrefix)
		pr.Out.URL.RawPath = ""
		pr.Out.URL.RawQuery = q.Encode()
		pr.Out.Host = sf.app.Host
		pr.Out.Header.Del("Cookie")
	}}
	rp.ServeHTTP(w, r)
}

// TestExtension_ManifestBlocksAndBudget checks the theme app extension as
// Shopify CLI and theme check would: the TOML is a theme extension; every
// block has one valid schema with a name and a target (body for the app
// embed, section for the app blocks) naming only assets that exist; there
// is exactly one script, deferred through the schemas and under its
// budget; the Liquid uses only existing assets, snippets and translation
// keys, and no tag theme app extensions reject.
func TestExtension_ManifestBlocksAndBudget(t *testing.T) {
	t.Parallel()
	var manifest struct {
		Name string `toml:"name"`
		Type string `toml:"type"`
	}
	md, err := toml.DecodeFile(filepath.Join(extensionDir, "shopify.extension.toml"), &manifest)
	if err != nil {
		t.Fatalf("shopify.extension.toml: %v", err)
	}
	if manifest.Type != "theme" || manifest.Name == "" {
		t.Errorf("manifest = %+v, want a named extension of type theme", manifest)
	}
	if extra := md.Undecoded(); len(extra) > 0 {
		t.Errorf("unexpected keys in shopify.extension.toml: %v", extra)
	}

	assets, err := os.ReadDir(filepath.Join(extensionDir, "assets"))
	if err != nil {
		t.Fatal(err)
	}
	var scripts []string
	have := map[string]bool{}
	for _, a := range assets {
		have[a.Name()] = true
		if strings.HasSuffix(a.Name(), ".js") {
			scripts = append(scripts, a.Name())
		}
	}
	if len(scripts) != 1 {
		t.Fatalf("scripts in assets = %v, want exactly one", scripts)
	}
	info, err := os.Stat(filepath.Join(extensionDir, "assets", scripts[0]))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d bytes (budget %d)", scripts[0], info.Size(), scriptBudget)
	if info.Size() > scriptBudget {
		t.Errorf("%s is %d bytes, over its budget of %d", scripts[0], info.Size(), scriptBudget)
	}

	schemaLocale := readLocale(t, "en.default.schema.json")
	locale := readLocale(t, "en.default.json")
	schemaKey := func(where, s string) {
		if k, ok := strings.CutPrefix(s, "t:"); ok {
			if _, found := lookup(schemaLocale, k); !found {
				t.Errorf("%s: %q is not in en.default.schema.json", where, s)
			}
		}
	}
	blocks := loadBlocks(t)
	embeds := 0
	for name, b := range blocks {
		s := b.schema
		if s.Name == "" {
			t.Errorf("%s: schema has no name", b.file)
		}
		schemaKey(b.file, s.Name)
		switch s.Target {
		case "body":
			embeds++
			// The launch checklist finds the embed in the theme's
			// settings and deep-links to it by this handle.
			if name != loyalty.ThemeEmbedHandle {
				t.Errorf("%s: the app embed is %q, but the checklist looks for %q", b.file, name, loyalty.ThemeEmbedHandle)
			}
		case "section":
		default:
			t.Errorf("%s: target %q, want body (app embed) or section (app block)", b.file, s.Target)
		}
		if s.JavaScript != scripts[0] || !have[s.Stylesheet] {
			t.Errorf("%s: javascript %q, stylesheet %q: want the one script and an existing stylesheet", b.file, s.JavaScript, s.Stylesheet)
		}
		ids := map[string]bool{}
		for _, st := range s.Settings {
			where := b.file + " setting " + st.ID
			for _, v := range []string{st.Label, st.Content, st.Info} {
				schemaKey(where, v)
			}
			for _, o := range st.Options {
				schemaKey(where, o.Label)
			}
			if st.Type == "header" {
				continue
			}
			if st.ID == "" || ids[st.ID] || st.Label == "" {
				t.Errorf("%s: setting %+v needs a unique id and a label", b.file, st)
			}
			ids[st.ID] = true
			if st.Type == "select" && !slices.ContainsFunc(st.Options, func(o struct {
				Value string `json:"value"`
				Label string `json:"label"`
			}) bool {
				return o.Value == st.Default
			}) {
				t.Errorf("%s: select %s defaults to %v, not one of its options", b.file, st.ID, st.Default)
			}
		}
		if name == "loyalty-embed" && s.Target != "body" {
			t.Errorf("the app embed targets %q", s.Target)
		}
	}
	if embeds != 1 || len(blocks) != 5 {
		t.Errorf("%d blocks with %d app embeds, want the embed and 4 app blocks", len(blocks), embeds)
	}

	// Every Liquid file: assets, snippets and translation keys exist; no tag
	// that theme app extensions reject (theme check's AppBlockValidTags);
	// scripts only through the schemas (deferred), or JSON data.
	liquidFiles, _ := filepath.Glob(filepath.Join(extensionDir, "*", "*.liquid"))
	assetRef := regexp.MustCompile(`'([^']+)'\s*\|\s*asset_url`)
	renderRef := regexp.MustCompile(`\{%-?\s*render\s+'([^']+)'`)
	tKey := regexp.MustCompile(`'([a-z0-9_.]+)'\s*\|\s*t\b`)
	badTag := regexp.MustCompile(`\{%-?\s*(include|javascript|stylesheet|layout|section)\b`)
	scriptTag := regexp.MustCompile(`<script\b[^>]*>`)
	for _, f := range liquidFiles {
		raw, _ := os.ReadFile(f)
		src := string(raw)
		for _, m := range assetRef.FindAllStringSubmatch(src, -1) {
			if !have[m[1]] {
				t.Errorf("%s: asset %s does not exist", f, m[1])
			}
		}
		for _, m := range renderRef.FindAllStringSubmatch(src, -1) {
			if _, err := os.Stat(filepath.Join(extensionDir, "snippets", m[1]+".liquid")); err != nil {
				t.Errorf("%s: snippet %s does not exist", f, m[1])
			}
		}
		for _, m := range tKey.FindAllStringSubmatch(src, -1) {
			if _, ok := lookup(locale, m[1]); !ok {
				t.Errorf("%s: translation %s is not in en.default.json", f, m[1])
			}
		}
		if m := badTag.FindString(src); m != "" {
			t.Errorf("%s: %s is not allowed in a theme app extension", f, m)
		}
		for _, tag := range scriptTag.FindAllString(src, -1) {
			if !strings.Contains(tag, `type="application/json"`) {
				t.Errorf("%s: %s: scripts load through the schema's javascript (deferred)", f, tag)
			}
		}
		if strings.Contains(src, "http://") || strings.Contains(src, "https://") || strings.Contains(src, "cdn.") {
			t.Errorf("%s: refers to a remote URL; the extension ships everything it uses", f)
		}
	}

	// The script's texts: every key the snippet passes exists, and none needs
	// HTML escaping (the t filter would hand the script &#39; and the like).
	js, _ := locale["loyalty"].(map[string]any)["js"].(map[string]any)
	i18n, _ := os.ReadFile(filepath.Join(extensionDir, "snippets", "pb-i18n.liquid"))
	for k, v := range js {
		if !strings.Contains(string(i18n), "'loyalty.js."+k+"'") {
			t.Errorf("loyalty.js.%s is not passed to the script by pb-i18n.liquid", k)
		}
		if s := v.(string); html.EscapeString(s) != s {
			t.Errorf("loyalty.js.%s = %q has characters the t filter escapes", k, s)
		}
	}
	script, _ := os.ReadFile(filepath.Join(extensionDir, "assets", scripts[0]))
	used := regexp.MustCompile(`\bt\('([a-z_]+)'[,)]`).FindAllStringSubmatch(string(script), -1)
	for _, k := range ledger.Kinds() { // activity entries: t('kind_' + a.kind)
		used = append(used, []string{"", "kind_" + string(k)})
	}
	for _, m := range used {
		if _, ok := js[m[1]]; !ok {
			t.Errorf("the script uses text %s, which is not in locales › loyalty.js", m[1])
		}
	}
	if bytes.Contains(script, []byte("http")) || !bytes.Contains(script, []byte("'/api/v1'")) {
		t.Error("the script must call only relative URLs under the app proxy")
	}
}

// TestStorefront_PanelGuestThenMemberRedeems runs the extension in headless
// Chromium on a storefront-like page whose /apps/loyalty is the real app
// behind a signing proxy: a guest opens the panel and sees the pitch and
// the sign-in link; signed in as Ada, she sees her balance, redeems a
// reward and gets the code with its checkout link; the panel keeps the
// keyboard (Tab stays inside, Escape returns to the launcher). Screenshots
// of both panels go to artifacts/screenshots.
func TestStorefront_PanelGuestThenMemberRedeems(t *testing.T) {
	t.Parallel()
	br := newBrowser(t)
	const secret = "demo-api-secret"
	base, out := mustRun(t, []string{"demo", "-connect=false", "-traffic=0"}, map[string]string{"DATABASE_URL": pgtest.NewURL(t)})

	// Once the seed's customers/create is processed, the merchant gives Ada
	// 1,000 points through the admin API (whatever she had before).
	token := fake.NewShopify(fake.ShopifyOptions{APIKey: "demo-api-key", APISecret: secret}).MintIDToken(demoShop, 42, 10*time.Minute)
	adminAPI := func(method, path string, body any) (int, map[string]any) {
		var r io.Reader
		if body != nil {
			raw, _ := json.Marshal(body)
			r = bytes.NewReader(raw)
		}
		req, _ := http.NewRequest(method, base+path, r)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}
	waitFor(t, "Ada's account", func() bool {
		code, _ := adminAPI(http.MethodGet, "/api/v1/customers/7001", nil)
		return code == http.StatusOK
	})
	if code, v := adminAPI(http.MethodPost, "/api/v1/customers/7001/points", map[string]any{"points": 1000, "reason": "Welcome to the beta"}); code != http.StatusOK {
		t.Fatalf("credit Ada: %d %v\n%s", code, v, out.String())
	}
	_, ada := adminAPI(http.MethodGet, "/api/v1/customers/7001", nil)
	balance := int64(ada["points_balance"].(float64))
	if balance < 1000 {
		t.Fatalf("Ada has %d points", balance)
	}

	sf, sfSrv := newStorefront(t, base, secret, demoShop)
	shop := sfSrv.URL
	launcher := `#pb-embed [data-pb-act="launcher"]`
	panel := `#pb-panel`

	// A page with only the embed calls the app when the panel opens, not
	// before.
	br.do(chromedp.Navigate(shop + "/pages/about"))
	br.waitFor("the script", `document.readyState == 'complete'`)
	time.Sleep(300 * time.Millisecond)
	if n := sf.proxied.Load(); n != 0 {
		t.Errorf("the embed alone called the app %d times before the panel opened", n)
	}

	// The shopper prefers reduced motion: the panel must not animate (and
	// the screenshots catch it at rest).
	if _, err := chromedp.Call(br.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}},
	}); err != nil {
		t.Fatal(err)
	}

	// Guest: the launcher opens the panel with the pitch, how it works and
	// the shop's sign-in and sign-up pages; rewards are listed, not
	// redeemable. The blocks use their settings.
	br.do(chromedp.Navigate(shop + "/"))
	br.waitFor("the launcher", `!!document.querySelector('`+launcher+`')`)
	if got := br.attr(launcher, "aria-expanded"); got != "false" {
		t.Errorf("launcher aria-expanded = %q before opening", got)
	}
	if src := br.evalString(`document.documentElement.outerHTML`); strings.Contains(src, "translation missing") || strings.Contains(src, "Liquid error") {
		t.Errorf("the page shows a Liquid problem:\n%s", src)
	}
	if style := br.attr(`[data-pb=balance]`, "style"); style != "--pb-accent: #1f3a5f; --pb-on-accent: #ffffff;" {
		t.Errorf("balance block style = %q, want its color settings", style)
	}
	br.do(chromedp.Click(chromedp.CSS(launcher)))
	br.waitFor("the guest panel", `document.querySelector('#pb-embed').dataset.pbState == 'guest' && document.querySelectorAll('#pb-panel .pb-reward').length > 0`)
	if got := br.attr(launcher, "aria-expanded"); got != "true" {
		t.Errorf("launcher aria-expanded = %q when open", got)
	}
	if f := br.evalString(`document.activeElement.closest('#pb-panel') ? document.activeElement.id : 'outside: ' + document.activeElement.tagName`); f != "pb-panel-title" {
		t.Errorf("focus after opening = %q, want the panel's title", f)
	}
	if anim := br.evalString(`getComputedStyle(document.querySelector('#pb-panel')).animationName`); anim != "none" {
		t.Errorf("the panel animates (%s) for a shopper who prefers reduced motion", anim)
	}
	guest := br.textNow(panel)
	for _, want := range []string{"Join our rewards program", "How it works", "Create account", "Sign in", "What your points buy", "5 off your order", "500 points"} {
		if !strings.Contains(guest, want) {
			t.Errorf("guest panel lacks %q: %s", want, guest)
		}
	}
	if br.evalBool(`[...document.querySelectorAll('#pb-panel [data-pb-act=redeem]')].some((b) => b.getClientRects().length)`) {
		t.Error("a guest sees a redeem button")
	}
	if href := br.attr(`#pb-panel [data-pb-login]`, "href"); href != "/account/login" {
		t.Errorf("sign-in link = %q", href)
	}
	br.viewShot("storefront-panel-guest")

	// Sign in through the shop's account page, back to the storefront.
	br.do(chromedp.Click(chromedp.CSS(`#pb-panel [data-pb-login]`)))
	br.do(chromedp.WaitVisible(chromedp.CSS(`[data-testid="sign-in-ada"]`)))
	if st := br.submit(chromedp.Click(chromedp.CSS(`[data-testid="sign-in-ada"]`))); st != 200 {
		t.Fatalf("sign in: %d", st)
	}

	// Member: the blocks show her balance at once; the panel too.
	br.waitFor("the member's balance block", `document.querySelector('[data-pb=balance] [data-f=balance]')?.textContent == '`+groupThousands(balance)+`'`)
	br.do(chromedp.Click(chromedp.CSS(launcher)))
	br.waitFor("the member panel", `document.querySelector('#pb-embed').dataset.pbState == 'member' && document.querySelectorAll('#pb-panel .pb-entry').length > 0`)
	member := br.textNow(panel)
	for _, want := range []string{"Your points", groupThousands(balance), "Redeem points", "Refer a friend", "Recent activity", "Adjusted by the shop", "expire on"} {
		if !strings.Contains(member, want) {
			t.Errorf("member panel lacks %q: %s", want, member)
		}
	}
	if strings.Contains(member, "Welcome to the beta") {
		t.Error("the shopper sees the merchant's note on the adjustment")
	}
	if v := br.evalString(`document.querySelector('#pb-panel [data-f=referral_url]').value`); !strings.Contains(v, demoShop+"/apps/loyalty/r/") {
		t.Errorf("referral link = %q", v)
	}
	redeem := `#pb-panel [data-pb-act=redeem][value="amount-5"]`
	if label := br.attr(redeem, "aria-label"); label != "Redeem 5 off your order for 500 points" {
		t.Errorf("redeem button label = %q", label)
	}

	// Keyboard: Tab and Shift+Tab stay inside the open panel.
	br.do(chromedp.Focus(chromedp.CSS(`#pb-panel-title`)))
	for i := 0; i < 30; i++ {
		br.do(chromedp.KeyEvent(kb.Tab))
		if in := br.evalBool(`!!document.activeElement.closest('#pb-panel')`); !in {
			t.Fatalf("Tab %d left the panel for %s", i+1, br.evalString(`document.activeElement.outerHTML.slice(0, 80)`))
		}
	}
	br.do(chromedp.Focus(chromedp.CSS(`#pb-panel [data-pb-act=close]`)))
	for i := 0; i < 3; i++ {
		br.do(chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
		if in := br.evalBool(`!!document.activeElement.closest('#pb-panel')`); !in {
			t.Fatalf("Shift+Tab %d left the panel for %s", i+1, br.evalString(`document.activeElement.outerHTML.slice(0, 80)`))
		}
	}

	// Redeem: pending while Shopify creates the discount, then the code.
	br.do(chromedp.Click(chromedp.CSS(redeem)))
	br.waitLong("the code", `!document.querySelector('#pb-panel [data-pb-code]').hidden`)
	code := br.text(`#pb-panel [data-f=code]`)
	if !regexp.MustCompile(`^[A-Z0-9-]{6,}$`).MatchString(code) {
		t.Errorf("code = %q", code)
	}
	if href := br.attr(`#pb-panel [data-f=apply]`, "href"); href != "/discount/"+url.PathEscape(code)+"?redirect=/checkout" {
		t.Errorf("apply link = %q", href)
	}
	if msg := br.text(`#pb-panel [data-pb-box] [data-pb-msg]`); msg != "Your code "+code+" is ready." {
		t.Errorf("status = %q", msg)
	}
	if f := br.evalString(`document.activeElement.matches('[data-pb-code]') ? 'code' : document.activeElement.outerHTML.slice(0, 80)`); f != "code" {
		t.Errorf("focus after redeeming = %s, want the code", f)
	}
	br.waitFor("the balance after redeeming", `document.querySelector('#pb-panel [data-f=balance]').textContent == '`+groupThousands(balance-500)+`'`)
	if role, live := br.attr(`#pb-panel [data-pb-box] [data-pb-msg]`, "role"), br.attr(`#pb-panel [data-pb-box] [data-pb-msg]`, "aria-live"); role != "status" || live != "polite" {
		t.Errorf("status message role=%q aria-live=%q, want a polite live region", role, live)
	}
	br.viewShot("storefront-panel-member")
	if _, ada := adminAPI(http.MethodGet, "/api/v1/customers/7001", nil); int64(ada["points_balance"].(float64)) != balance-500 {
		t.Errorf("Ada's balance after redeeming = %v, want %d", ada["points_balance"], balance-500)
	}

	// Escape closes the panel; focus is back on the launcher.
	br.do(chromedp.KeyEvent(kb.Escape))
	if !br.evalBool(`document.querySelector('#pb-panel').hidden && document.activeElement.matches('[data-pb-act=launcher]')`) {
		t.Errorf("after Escape: panel hidden %v, focus on %s", br.evalBool(`document.querySelector('#pb-panel').hidden`),
			br.evalString(`document.activeElement.outerHTML.slice(0, 80)`))
	}
	if got := br.attr(launcher, "aria-expanded"); got != "false" {
		t.Errorf("launcher aria-expanded = %q after Escape", got)
	}

	// The app blocks: the code is in the rewards block too; the referral
	// link copies; the birthday form answers in its live region (the
	// birthday route may not exist yet: then it says so).
	if got := br.text(`[data-pb=rewards] [data-pb-code] [data-f=code]`); got != code {
		t.Errorf("rewards block code = %q, want %q", got, code)
	}
	br.do(chromedp.Click(chromedp.CSS(`[data-pb=referral] [data-pb-act=copy]`)))
	br.waitFor("the copy answer", `document.querySelector('[data-pb=referral] [data-pb-msg]').textContent != ''`)
	br.choose(`[data-pb=birthday] select[name=month]`, "3")
	br.choose(`[data-pb=birthday] select[name=day]`, "14")
	br.do(chromedp.Click(chromedp.CSS(`[data-pb=birthday] [type=submit]`)))
	br.waitFor("the birthday answer", `document.querySelector('[data-pb=birthday] [data-pb-msg]').textContent != ''`)
	switch msg := br.text(`[data-pb=birthday] [data-pb-msg]`); msg {
	case "Saved. Look out for your birthday gift.":
		br.shot("storefront-blocks-member")
		// The member's birthday comes back in the form on the next page.
		br.do(chromedp.Reload())
		br.waitFor("the birthday in the form", `document.querySelector('[data-pb=birthday] select[name=month]').value == '3' && document.querySelector('[data-pb=birthday] select[name=day]').value == '14'`)
	case "Birthday gifts aren’t available in this shop yet.": // no PUT /proxy/api/v1/birthday in this build
		br.shot("storefront-blocks-member")
	default:
		t.Errorf("birthday answer = %q", msg)
	}

	// The code is still there on the next page of the session.
	br.do(chromedp.Navigate(shop + "/pages/about"))
	br.do(chromedp.Click(chromedp.CSS(launcher)))
	br.waitFor("the code on the next page", `document.querySelector('#pb-panel [data-f=code]').textContent == '`+code+`'`)

	// A redemption Shopify could not complete: the page says the points came
	// back and the shopper can try again. (The answers are stubbed in the
	// page, so nothing is spent.)
	br.do(chromedp.Evaluate[chromedp.Void](`(() => {
		const real = window.fetch;
		const answer = (body, status) => Promise.resolve(new Response(JSON.stringify(body), {status, headers: {'Content-Type': 'application/json'}}));
		const failed = {id: 999999, status: 'failed', reward_id: 'amount-5', points_spent: 500};
		window.fetch = (url, opts) => String(url).endsWith('/redemptions') ? answer({...failed, status: 'pending'}, 201)
			: String(url).endsWith('/redemptions/999999') ? answer(failed, 200) : real(url, opts);
	})()`))
	br.do(chromedp.Click(chromedp.CSS(redeem)))
	br.waitFor("the failure", `document.querySelector('#pb-panel [data-pb-box] [data-pb-msg]').dataset.bad == 'true'`)
	if msg := br.text(`#pb-panel [data-pb-box] [data-pb-msg]`); msg != "We couldn’t create your code, so your 500 points are back in your balance." {
		t.Errorf("failure message = %q", msg)
	}
	if !br.evalBool(`document.activeElement.matches('#pb-panel [data-pb-msg]') && document.querySelector('#pb-panel [data-pb-code]').hidden`) {
		t.Errorf("after a failed redemption focus is on %s", br.evalString(`document.activeElement.outerHTML.slice(0, 80)`))
	}
	br.waitFor("redeem buttons back", `!document.querySelector('`+redeem+`').disabled`)

	// A store credit reward has no code: the box says the credit was added
	// and shows no code. (Stubbed like the failure above.)
	br.do(chromedp.Evaluate[chromedp.Void](`(() => {
		const real = window.fetch;
		const answer = (body, status) => Promise.resolve(new Response(JSON.stringify(body), {status, headers: {'Content-Type': 'application/json'}}));
		const credit = {id: 999998, status: 'active', reward_id: 'amount-5', points_spent: 500, discount_type: 'store_credit', amount: '5.00', currency: 'USD'};
		window.fetch = (url, opts) => String(url).endsWith('/redemptions') ? answer({...credit, status: 'pending'}, 201)
			: String(url).endsWith('/redemptions/999998') ? answer(credit, 200) : real(url, opts);
	})()`))
	br.do(chromedp.Click(chromedp.CSS(redeem)))
	br.waitFor("the store credit answer", `document.querySelector('#pb-panel [data-pb-box] [data-pb-msg]').textContent.includes('store credit')`)
	if msg := br.text(`#pb-panel [data-pb-box] [data-pb-msg]`); msg != "5.00 USD was added to your store credit. It applies at checkout when you are signed in." {
		t.Errorf("store credit message = %q", msg)
	}
	if !br.evalBool(`document.querySelector('#pb-panel [data-pb-code]').hidden`) {
		t.Error("a store credit shows a code box")
	}
	br.waitFor("redeem buttons back", `!document.querySelector('`+redeem+`').disabled`)

	// On a phone the panel is a bottom sheet.
	br.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	br.do(chromedp.Reload())
	br.waitFor("the launcher", `!!document.querySelector('`+launcher+`')`)
	br.do(chromedp.Click(chromedp.CSS(launcher)))
	br.waitFor("the member panel", `document.querySelector('#pb-embed').dataset.pbState == 'member'`)
	if w := br.evalString(`String(document.querySelector('#pb-panel').getBoundingClientRect().width)`); w != "390" {
		t.Errorf("panel width on a phone = %s, want the full 390", w)
	}
	br.viewShot("storefront-panel-member-phone")

	br.mu.Lock()
	defer br.mu.Unlock()
	for _, p := range br.problems {
		t.Errorf("browser reported %s", p)
	}
}

// groupThousands writes n as the page does for lang="en": 1,100.
func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// evalString and evalBool evaluate JavaScript in the page.
func (b *browser) evalString(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func (b *browser) evalBool(js string) bool {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// attr is an attribute of the first element sel matches ("" when none).
func (b *browser) attr(sel, name string) string {
	b.t.Helper()
	return b.evalString(`document.querySelector(` + jsString(sel) + `)?.getAttribute(` + jsString(name) + `) ?? ''`)
}

// waitLong polls a JavaScript condition for up to a minute (a redemption
// waits for the app's job to create the discount in Shopify).
func (b *browser) waitLong(what, js string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(time.Minute))); err != nil {
		b.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// viewShot saves a PNG of the viewport (where the launcher and the panel
// float) as artifacts/screenshots/<name>.png.
func (b *browser) viewShot(name string) {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(screenshotDir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	b.t.Logf("screenshot %s: %s", name, abs)
}
