package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/perkbridge/perkbridge/app/job"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
)

// signedProxy is the query Shopify sends for a storefront request with the
// storefront's own query extra, all of it signed with secret.
func signedProxy(shop, customer string, ts time.Time, secret string, extra url.Values) url.Values {
	q := url.Values{
		"shop":                  {shop},
		"logged_in_customer_id": {customer},
		"path_prefix":           {"/apps/loyalty"},
		"timestamp":             {strconv.FormatInt(ts.Unix(), 10)},
	}
	for k, vs := range extra {
		q[k] = vs
	}
	q.Set("signature", shopify.SignProxy(secret, q))
	return q
}

// applyOrder runs an order webhook through the loyalty engine directly,
// committing like the worker (an ignored delivery still commits).
func (b *testBundle) applyOrder(t *testing.T, sh *store.Shop, topic string, id, customer int64, products map[int64]string) {
	t.Helper()
	o := &shopify.Order{
		ID: id, AdminGraphQLAPIID: shopify.GID("Order", id), Name: fmt.Sprintf("#%d", id), Currency: "USD",
		SubtotalPrice: "10.00", SourceName: "web",
		Customer: &shopify.CustomerRef{ID: customer, AdminGraphQLAPIID: shopify.GID("Customer", customer)},
	}
	for pid, title := range products {
		o.LineItems = append(o.LineItems, shopify.LineItem{ID: pid * 7, ProductID: pid, Title: title, Quantity: 1, Price: "10.00"})
	}
	if topic == "orders/fulfilled" {
		o.FulfillmentStatus = "fulfilled"
	}
	ctx := context.Background()
	err := b.st.Tx(ctx, func(tx *store.Store) error {
		err := b.loyalty.Order(ctx, tx, sh, topic, o, 0)
		var ig *job.IgnoredError
		if errors.As(err, &ig) {
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatalf("%s %d: %v", topic, id, err)
	}
}

func (b *testBundle) count(t *testing.T, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := b.db.Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (b *testBundle) points(t *testing.T, sh *store.Shop, customer int64) int64 {
	t.Helper()
	return b.count(t, "SELECT coalesce(sum(points_balance), 0) FROM loyalty_accounts WHERE shop_id = $1 AND shopify_customer_id = $2", sh.ID, customer)
}

// reviewSetup installs a shop where customer 1001 received a lamp and a rug
// (order 5001), paid for a chair not yet shipped (order 5002), and customer
// 1002 received a vase.
func reviewSetup(t *testing.T) (*testBundle, *store.Shop) {
	t.Helper()
	b := setup(t)
	sh := b.install(t, "review-shop.myshopify.com")
	b.applyOrder(t, sh, "orders/fulfilled", 5001, 1001, map[int64]string{11: "Lamp", 12: "Rug"})
	b.applyOrder(t, sh, "orders/paid", 5002, 1001, map[int64]string{13: "Chair"})
	b.applyOrder(t, sh, "orders/fulfilled", 5003, 1002, map[int64]string{14: "Vase"})
	return b, sh
}

func TestProxyReviews_Page(t *testing.T) {
	t.Parallel()
	b, sh := reviewSetup(t)

	rec := b.get("/proxy/reviews?" + signedProxy(sh.Domain, "1001", b.clock.Now(), testAPISecret, nil).Encode())
	requireStatus(t, rec, http.StatusOK)
	d := doc(t, rec)
	var titles []string
	d.Find(`[data-testid="review-product"] h2`).Each(func(_ int, s *goquery.Selection) { titles = append(titles, s.Text()) })
	if strings.Join(titles, ",") != "Lamp,Rug" {
		t.Fatalf("reviewable products %v, want Lamp,Rug (the chair is not shipped, the vase is someone else's)", titles)
	}
	form := d.Find(`form[data-testid="review-form"]`).First()
	if action, _ := form.Attr("action"); action != "/apps/loyalty/reviews" {
		t.Errorf("form posts to %q, want the storefront path", action)
	}
	if tok, _ := form.Find(`input[name="token"]`).Attr("value"); len(tok) != 64 {
		t.Errorf("form token %q", tok)
	}
	if d.Find(`input[name="rating"]`).Length() != 10 {
		t.Errorf("%d rating inputs, want 5 per product", d.Find(`input[name="rating"]`).Length())
	}
	if n := d.Find("script, link, img, [src]").Length(); n != 0 {
		t.Errorf("%d external or script elements on the storefront page", n)
	}

	// A review_requested link narrows the page to its order.
	q := signedProxy(sh.Domain, "1002", b.clock.Now(), testAPISecret, url.Values{"order": {"#5003"}})
	d = doc(t, b.get("/proxy/reviews?"+q.Encode()))
	if got := pageText(d.Find(`[data-testid="review-order"]`)); got != "Order #5003" {
		t.Errorf("order heading %q", got)
	}
	if got := pageText(d.Find(`[data-testid="review-product"] h2`)); got != "Vase" {
		t.Errorf("products of order #5003: %q", got)
	}

	// A guest sees how to log in, and no form.
	rec = b.get("/proxy/reviews?" + signedProxy(sh.Domain, "", b.clock.Now(), testAPISecret, nil).Encode())
	requireStatus(t, rec, http.StatusOK)
	d = doc(t, rec)
	if d.Find(`[data-testid="review-login"]`).Length() != 1 || d.Find("form").Length() != 0 {
		t.Errorf("guest page: %s", truncate(rec.Body.String(), 400))
	}

	// Forged queries show nobody's products.
	tampered := signedProxy(sh.Domain, "1002", b.clock.Now(), testAPISecret, nil)
	tampered.Set("logged_in_customer_id", "1001")
	for name, q := range map[string]url.Values{
		"Tampered":    tampered,
		"WrongSecret": signedProxy(sh.Domain, "1001", b.clock.Now(), "guess", nil),
		"Stale":       signedProxy(sh.Domain, "1001", b.clock.Now().Add(-10*time.Minute), testAPISecret, nil),
		"Unsigned":    {"shop": {sh.Domain}, "logged_in_customer_id": {"1001"}},
	} {
		rec := b.get("/proxy/reviews?" + q.Encode())
		if rec.Code != http.StatusUnauthorized || strings.Contains(rec.Body.String(), "Lamp") {
			t.Errorf("%s: status %d, body %s", name, rec.Code, truncate(rec.Body.String(), 200))
		}
	}
}

func TestProxyReviews_Submit(t *testing.T) {
	t.Parallel()
	b, sh := reviewSetup(t)
	before := b.points(t, sh, 1001)

	token := func(customer string) string {
		d := doc(t, b.get("/proxy/reviews?"+signedProxy(sh.Domain, customer, b.clock.Now(), testAPISecret, nil).Encode()))
		tok, _ := d.Find(`input[name="token"]`).First().Attr("value")
		if tok == "" {
			t.Fatalf("no form token for customer %s", customer)
		}
		return tok
	}
	tok := token("1001")
	post := func(q url.Values, form url.Values) *httptest.ResponseRecorder {
		return b.send(http.MethodPost, "/proxy/reviews?"+q.Encode(), strings.NewReader(form.Encode()),
			"Content-Type", "application/x-www-form-urlencoded")
	}
	signed := func(customer string) url.Values {
		return signedProxy(sh.Domain, customer, b.clock.Now(), testAPISecret, nil)
	}
	form := func(token, product, rating, body string) url.Values {
		return url.Values{"token": {token}, "product_id": {product}, "rating": {rating}, "body": {body}}
	}
	message := func(rec *httptest.ResponseRecorder, testid string) string {
		return pageText(doc(t, rec).Find(`[data-testid="` + testid + `"]`))
	}

	refused := []struct {
		name    string
		rec     *httptest.ResponseRecorder
		status  int
		message string
	}{
		{"NotLoggedIn", post(signed(""), form(tok, "11", "5", "")), http.StatusUnauthorized, "Log in to your account to review a product."},
		{"RatingTooHigh", post(signed("1001"), form(tok, "11", "6", "")), http.StatusUnprocessableEntity, "Choose a rating from 1 to 5 stars."},
		{"RatingMissing", post(signed("1001"), form(tok, "11", "", "")), http.StatusUnprocessableEntity, "Choose a rating from 1 to 5 stars."},
		{"NotPurchased", post(signed("1001"), form(tok, "99", "5", "")), http.StatusForbidden, "You can only review products you bought and received."},
		{"NotReceived", post(signed("1001"), form(tok, "13", "5", "")), http.StatusForbidden, "You can only review products you bought and received."},
		{"SomeoneElses", post(signed("1001"), form(tok, "14", "5", "")), http.StatusForbidden, "You can only review products you bought and received."},
		{"NoToken", post(signed("1001"), form("", "11", "5", "")), http.StatusForbidden, "This form has expired. Reload the page and try again."},
		{"OtherCustomersToken", post(signed("1001"), form(token("1002"), "11", "5", "")), http.StatusForbidden, "This form has expired. Reload the page and try again."},
	}
	for _, tc := range refused {
		if tc.rec.Code != tc.status || message(tc.rec, "review-error") != tc.message {
			t.Errorf("%s: status %d message %q, want %d %q", tc.name, tc.rec.Code, message(tc.rec, "review-error"), tc.status, tc.message)
		}
	}
	// Forged signatures never reach the handler.
	tampered := signed("1002")
	tampered.Set("logged_in_customer_id", "1001")
	for name, q := range map[string]url.Values{
		"Tampered":    tampered,
		"WrongSecret": signedProxy(sh.Domain, "1001", b.clock.Now(), "guess", nil),
		"Unsigned":    {"shop": {sh.Domain}, "logged_in_customer_id": {"1001"}},
	} {
		if rec := post(q, form(tok, "11", "5", "")); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s: status %d", name, rec.Code)
		}
	}
	if n := b.count(t, "SELECT count(*) FROM reviews"); n != 0 {
		t.Fatalf("refused posts stored %d reviews", n)
	}
	if got := b.points(t, sh, 1001); got != before {
		t.Fatalf("refused posts changed the balance: %d → %d", before, got)
	}

	rec := post(signed("1001"), form(tok, "11", "4", "Warm light."))
	requireStatus(t, rec, http.StatusOK)
	if got := message(rec, "review-notice"); got != "Thank you for reviewing Lamp! You earned 50 points." {
		t.Fatalf("notice %q", got)
	}
	if got := pageText(doc(t, rec).Find(`[data-product-id="11"] [data-testid="review-done"]`)); !strings.Contains(got, "4 out of 5") {
		t.Errorf("reviewed product shows %q", got)
	}
	if got := b.points(t, sh, 1001) - before; got != 50 {
		t.Fatalf("credited %d, want the default 50 review points", got)
	}

	// The same product again: the same answer, no second credit.
	rec = post(signed("1001"), form(tok, "11", "1", "Changed my mind"))
	requireStatus(t, rec, http.StatusOK)
	if got := message(rec, "review-notice"); got != "You already reviewed Lamp. Thank you!" {
		t.Fatalf("second review notice %q", got)
	}
	if got := b.points(t, sh, 1001) - before; got != 50 {
		t.Fatalf("after a second review credited %d in all, want 50", got)
	}
	if n := b.count(t, "SELECT count(*) FROM reviews WHERE shop_id = $1 AND rating = 4 AND body = 'Warm light.'", sh.ID); n != 1 {
		t.Fatalf("%d stored reviews, want the first one", n)
	}
	if n := b.count(t, "SELECT count(*) FROM ledger_entries WHERE shop_id = $1 AND kind = 'review'", sh.ID); n != 1 {
		t.Fatalf("%d review ledger entries", n)
	}
	if n := b.count(t, "SELECT count(*) FROM loyalty_events WHERE shop_id = $1 AND key = 'review_submitted'", sh.ID); n != 1 {
		t.Fatalf("%d review_submitted events", n)
	}
}
