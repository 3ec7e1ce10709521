package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
)

// referralShop installs shop-a with referrals on and a referrer, Ada
// (ada@example.com, Shopify id 8001), and returns her referral code.
func referralShop(t *testing.T, b *testBundle) (*store.Shop, string) {
	t.Helper()
	ctx := context.Background()
	sh := b.install(t, "shop-a.myshopify.com")
	s := program.Defaults()
	s.Referral.Enabled = true
	if err := b.loyalty.SaveProgram(ctx, sh.ID, s); err != nil {
		t.Fatal(err)
	}
	c, _, err := b.st.UpsertCustomer(ctx, sh.ID, store.CustomerIdentity{ShopifyID: 8001, GID: "gid://shopify/Customer/8001",
		Email: "ada@example.com", FirstName: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	code, u, err := b.loyalty.ReferralLink(ctx, sh.ID, c.ID)
	if err != nil || !referralURLRe.MatchString(u) {
		t.Fatalf("referral link %q: %v", u, err)
	}
	return sh, code
}

// proxyPost posts the friend's form through the app proxy: Shopify's
// signed query on the URL, the form in the body.
func (b *testBundle) proxyPost(path string, q url.Values, email string) *httptest.ResponseRecorder {
	return b.send(http.MethodPost, path+"?"+q.Encode(), strings.NewReader(url.Values{"email": {email}}.Encode()),
		"Content-Type", "application/x-www-form-urlencoded")
}

func TestProxyReferral(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sh, code := referralShop(t, b)
	path := "/proxy/r/" + code
	signed := func(customer string) url.Values { return proxyQuery(sh.Domain, customer, b.clock.Now(), testAPISecret) }
	referrals := func() int64 {
		var n int64
		if err := b.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM referrals WHERE shop_id = $1", sh.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	rec := b.get(path + "?" + signed("").Encode())
	requireStatus(t, rec, http.StatusOK)
	d := doc(t, rec)
	if got := pageText(d.Find(`[data-testid="referral-title"]`)); got != "Ada sent you 10% off your first order" {
		t.Errorf("title = %q", got)
	}
	if action, _ := d.Find(`[data-testid="referral-form"]`).Attr("action"); action != "/apps/loyalty/r/"+code {
		t.Errorf("form action = %q", action)
	}
	if d.Find(`script, link[rel="stylesheet"], img`).Length() != 0 {
		t.Error("the storefront page loads external assets or scripts")
	}

	// The friend asks: 201 with the code; again: 200, the same code.
	rec = b.proxyPost(path, signed(""), "Grace@Example.com")
	requireStatus(t, rec, http.StatusCreated)
	first := pageText(doc(t, rec).Find(`[data-testid="referral-coupon"]`))
	if !strings.HasPrefix(first, "PBF-") {
		t.Fatalf("coupon = %q", first)
	}
	rec = b.proxyPost(path, signed(""), "grace@example.com")
	requireStatus(t, rec, http.StatusOK)
	if again := pageText(doc(t, rec).Find(`[data-testid="referral-coupon"]`)); again != first {
		t.Fatalf("second ask got %q, first %q", again, first)
	}
	if n := referrals(); n != 1 {
		t.Fatalf("%d referrals", n)
	}

	// A customer who has ordered.
	ctx := context.Background()
	old, _, err := b.st.UpsertCustomer(ctx, sh.ID, store.CustomerIdentity{ShopifyID: 8002, GID: "gid://shopify/Customer/8002", Email: "old@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Pool.Exec(ctx, `INSERT INTO orders (shop_id, order_gid, shopify_id, customer_id, shopify_customer_id, created_at, updated_at)
VALUES ($1, 'gid://shopify/Order/1', 1, $2, 8002, now(), now())`, sh.ID, old.ID); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, path, customer, email string
		status                      int
		message                     string
		form                        bool
	}{
		{"MalformedEmail", path, "", "grace@", http.StatusUnprocessableEntity, "Enter a valid email address", true},
		{"SelfByEmail", path, "", "ADA@example.com", http.StatusUnprocessableEntity, "own referral link", true},
		{"SelfByAlias", path, "", "ada+deals@Example.com", http.StatusUnprocessableEntity, "own referral link", true},
		{"SelfBySession", path, "8001", "ada.alias@example.com", http.StatusUnprocessableEntity, "own referral link", true},
		{"UnknownCode", "/proxy/r/ZZZZZZZZ", "", "new@example.com", http.StatusNotFound, "referral link is not valid", false},
	} {
		rec := b.proxyPost(tc.path, signed(tc.customer), tc.email)
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, rec.Code, tc.status)
			continue
		}
		d := doc(t, rec)
		if got := pageText(d.Find(`[data-testid="referral-error"]`)); !strings.Contains(got, tc.message) {
			t.Errorf("%s: message %q, want %q", tc.name, got, tc.message)
		}
		if got := d.Find(`[data-testid="referral-form"]`).Length() == 1; got != tc.form {
			t.Errorf("%s: form shown = %v", tc.name, got)
		}
		if d.Find(`[data-testid="referral-coupon"]`).Length() != 0 {
			t.Errorf("%s: a coupon was shown", tc.name)
		}
	}
	rec = b.get("/proxy/r/ZZZZZZZZ?" + signed("").Encode())
	requireStatus(t, rec, http.StatusNotFound)

	// Forged app-proxy queries are refused before anything is written.
	tampered := signed("")
	tampered.Set("logged_in_customer_id", "8002")
	for name, q := range map[string]url.Values{
		"Tampered":    tampered,
		"WrongSecret": proxyQuery(sh.Domain, "", b.clock.Now(), "guess"),
		"Stale":       proxyQuery(sh.Domain, "", b.clock.Now().Add(-10*time.Minute), testAPISecret),
		"Unsigned":    {"shop": {sh.Domain}},
	} {
		if rec := b.proxyPost(path, q, "forged-"+strings.ToLower(name)+"@example.com"); rec.Code != http.StatusUnauthorized {
			t.Errorf("POST %s: status %d", name, rec.Code)
		}
		if rec := b.get(path + "?" + q.Encode()); rec.Code != http.StatusUnauthorized {
			t.Errorf("GET %s: status %d", name, rec.Code)
		}
	}
	if n := referrals(); n != 1 {
		t.Fatalf("%d referrals after refusals and forgeries, want 1", n)
	}

	// The program switched off: the link explains, nothing is given.
	s := program.Defaults()
	if err := b.loyalty.SaveProgram(ctx, sh.ID, s); err != nil {
		t.Fatal(err)
	}
	for _, rec := range []*httptest.ResponseRecorder{b.get(path + "?" + signed("").Encode()), b.proxyPost(path, signed(""), "late@example.com")} {
		requireStatus(t, rec, http.StatusNotFound)
		if got := pageText(doc(t, rec).Find(`[data-testid="referral-error"]`)); !strings.Contains(got, "not running a referral program") {
			t.Errorf("disabled: message %q", got)
		}
	}
	if n := referrals(); n != 1 {
		t.Fatalf("%d referrals while disabled", n)
	}
}

// TestProxyReferral_NoEnumeration: the form answers an email that is a
// customer's (with orders), one another member referred first, and a new
// one alike: the same status and the same page, but for the code.
func TestProxyReferral_NoEnumeration(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sh, code := referralShop(t, b)
	ctx := context.Background()
	old, _, err := b.st.UpsertCustomer(ctx, sh.ID, store.CustomerIdentity{ShopifyID: 8002, GID: "gid://shopify/Customer/8002", Email: "old@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Pool.Exec(ctx, `INSERT INTO orders (shop_id, order_gid, shopify_id, customer_id, shopify_customer_id, created_at, updated_at)
VALUES ($1, 'gid://shopify/Order/1', 1, $2, 8002, now(), now())`, sh.ID, old.ID); err != nil {
		t.Fatal(err)
	}
	// Another member referred taken@example.com first.
	alan, _, err := b.st.UpsertCustomer(ctx, sh.ID, store.CustomerIdentity{ShopifyID: 8003, GID: "gid://shopify/Customer/8003", Email: "alan@example.com", FirstName: "Alan"})
	if err != nil {
		t.Fatal(err)
	}
	alanCode, _, err := b.loyalty.ReferralLink(ctx, sh.ID, alan.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.loyalty.Refer(ctx, sh.ID, alanCode, "taken@example.com", 0); err != nil {
		t.Fatal(err)
	}

	answer := func(email string) (int, string) {
		rec := b.proxyPost("/proxy/r/"+code, proxyQuery(sh.Domain, "", b.clock.Now(), testAPISecret), email)
		d := doc(t, rec)
		coupon := pageText(d.Find(`[data-testid="referral-coupon"]`))
		if !strings.HasPrefix(coupon, "PBF-") {
			t.Fatalf("%s: no code in %s", email, rec.Body)
		}
		return rec.Code, strings.ReplaceAll(rec.Body.String(), coupon, "PBF-XXXX-XXXX")
	}
	newStatus, newBody := answer("new@example.com")
	if newStatus != http.StatusCreated || !strings.Contains(newBody, "first order") {
		t.Fatalf("new email: %d %s", newStatus, newBody)
	}
	// Asking again is answered alike too (the same code, 200).
	againStatus, againBody := answer("NEW@example.com")
	if againStatus != http.StatusOK || againBody == newBody {
		t.Fatalf("new email again: %d", againStatus)
	}
	for _, email := range []string{"old@example.com", "taken@example.com"} {
		status, body := answer(email)
		if status != newStatus || body != newBody {
			t.Errorf("%q answered %d, differently from a new email:\n%s\n---\n%s", email, status, body, newBody)
		}
		status, body = answer(" " + strings.ToUpper(email))
		if status != againStatus || body != againBody {
			t.Errorf("%q asked again answered %d, differently from a new email asked again", email, status)
		}
	}
	var blocked int64
	if err := b.db.Pool.QueryRow(ctx, "SELECT count(*) FROM referrals WHERE shop_id = $1 AND status = 'blocked'", sh.ID).Scan(&blocked); err != nil {
		t.Fatal(err)
	}
	if blocked != 2 {
		t.Fatalf("%d blocked referrals, want 2 (the customer, the email referred first)", blocked)
	}
}

// TestProxyReferral_AttemptLimits: a client address gets
// MaxReferralAttemptsPerAddress tries an hour, whatever they were, then
// 429 with the reason; another address still gets through; the next hour
// the address may try again.
func TestProxyReferral_AttemptLimits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sh, code := referralShop(t, b)
	post := func(addr, email string) *httptest.ResponseRecorder {
		q := proxyQuery(sh.Domain, "", b.clock.Now(), testAPISecret)
		return b.send(http.MethodPost, "/proxy/r/"+code+"?"+q.Encode(), strings.NewReader(url.Values{"email": {email}}.Encode()),
			"Content-Type", "application/x-www-form-urlencoded", "X-Forwarded-For", addr+", 10.0.0.1")
	}
	for i := range loyalty.MaxReferralAttemptsPerAddress {
		email := fmt.Sprintf("friend%d@example.com", i)
		if i%3 == 0 {
			email = "not-an-email" // refused tries count too
		}
		if rec := post("203.0.113.9", email); rec.Code == http.StatusTooManyRequests {
			t.Fatalf("try %d refused", i)
		}
	}
	rec := post("203.0.113.9", "one-more@example.com")
	requireStatus(t, rec, http.StatusTooManyRequests)
	d := doc(t, rec)
	if got := pageText(d.Find(`[data-testid="referral-error"]`)); !strings.Contains(got, "Too many tries") {
		t.Fatalf("message %q", got)
	}
	if d.Find(`[data-testid="referral-coupon"]`).Length() != 0 {
		t.Fatal("a code past the limit")
	}
	var n int64
	if err := b.db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM referrals WHERE shop_id = $1 AND friend_email = 'one-more@example.com'", sh.ID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("referral stored past the limit: %d %v", n, err)
	}
	if rec := post("198.51.100.4", "other-network@example.com"); rec.Code != http.StatusCreated {
		t.Fatalf("another address: %d", rec.Code)
	}
	b.clock.Advance(time.Hour)
	if rec := post("203.0.113.9", "next-hour@example.com"); rec.Code != http.StatusCreated {
		t.Fatalf("next hour: %d", rec.Code)
	}
}

// TestProxyAPI_Refer: POST /proxy/api/v1/referrals {"email"} by the
// signed-in member answers a customer's email and a new one alike (201
// and a code for a first order), refuses the member's own alias (422 with
// the field) and guests (401).
func TestProxyAPI_Refer(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	sh := b.install(t, "shop-a.myshopify.com")
	ctx := context.Background()
	s := program.Defaults()
	s.Referral.Enabled = true
	if err := b.loyalty.SaveProgram(ctx, sh.ID, s); err != nil {
		t.Fatal(err)
	}
	ada := b.customer(t, sh, 5_300_000_001, "ada@example.com")
	old := b.customer(t, sh, 5_300_000_002, "old@example.com")
	if _, err := b.db.Pool.Exec(ctx, `INSERT INTO orders (shop_id, order_gid, shopify_id, customer_id, shopify_customer_id, created_at, updated_at)
VALUES ($1, 'gid://shopify/Order/1', 1, $2, $3, now(), now())`, sh.ID, old.id, old.shopifyID); err != nil {
		t.Fatal(err)
	}
	adaID := itoa(ada.shopifyID)
	shape := func(res *httpResult) string {
		v := res.json(t)
		code, _ := v["code"].(string)
		if !strings.HasPrefix(code, "PBF-") {
			t.Fatalf("no code: %s", res.body)
		}
		return strings.ReplaceAll(res.body, code, "CODE")
	}
	resNew, _ := b.proxyAPI(t, http.MethodPost, "/referrals", sh.Domain, adaID, map[string]any{"email": "new@example.com"})
	resOld, _ := b.proxyAPI(t, http.MethodPost, "/referrals", sh.Domain, adaID, map[string]any{"email": "old@example.com"})
	if resNew.code != http.StatusCreated || resOld.code != resNew.code || shape(resNew) != shape(resOld) {
		t.Fatalf("new %d %s, customer %d %s", resNew.code, resNew.body, resOld.code, resOld.body)
	}
	if v := resNew.json(t); v["first_order_only"] != true || v["discount_type"] != "percentage" {
		t.Fatalf("answer %v", v)
	}
	again, _ := b.proxyAPI(t, http.MethodPost, "/referrals", sh.Domain, adaID, map[string]any{"email": "NEW@example.com"})
	if again.code != http.StatusOK || again.json(t)["code"] != resNew.json(t)["code"] {
		t.Fatalf("again %d %s", again.code, again.body)
	}
	self, _ := b.proxyAPI(t, http.MethodPost, "/referrals", sh.Domain, adaID, map[string]any{"email": "Ada+me@example.com"})
	if self.code != http.StatusUnprocessableEntity || !strings.Contains(self.body, `"field":"email"`) {
		t.Fatalf("self alias %d %s", self.code, self.body)
	}
	guest, _ := b.proxyAPI(t, http.MethodPost, "/referrals", sh.Domain, "", map[string]any{"email": "x@example.com"})
	if guest.code != http.StatusUnauthorized {
		t.Fatalf("guest %d", guest.code)
	}
}
