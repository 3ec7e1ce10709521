package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/web"
)

// Credentials the fake sinks of setupPages accept.
const (
	pageKlaviyoKey   = "pk_page_test_0123456789abcdef"
	pageCTAccount    = "PAGE-ACC-0001"
	pageCTPasscode   = "PAGE-PASSCODE"
	pageCTRegion     = "in1"
	pageShop         = "shop-a.myshopify.com"
	pageOtherShop    = "shop-b.myshopify.com"
	pageCustomerID   = 7001
	pageCustomerGID  = "gid://shopify/Customer/7001"
	pageOtherCustID  = 9001
	pageFormType     = "application/x-www-form-urlencoded"
	pageLoyaltyActor = "user:42"
)

// pageBundle is the test bundle for the admin pages: fake Klaviyo and
// CleverTap behind the forward service, and a loyalty service that routes
// the events it writes to the integrations (as serve wires it), so that
// manual adjustments produce deliveries.
type pageBundle struct {
	*testBundle
	shop, other *store.Shop
	kl          *fake.Klaviyo
}

func setupPages(t *testing.T) *pageBundle {
	t.Helper()
	kl := fake.NewKlaviyo(fake.KlaviyoOptions{Keys: []fake.KlaviyoKey{{Key: pageKlaviyoKey}}, DisableRateLimits: true})
	klSrv := httptest.NewServer(kl)
	t.Cleanup(klSrv.Close)
	ct := fake.NewCleverTap(fake.CleverTapOptions{})
	ct.AddAccount(pageCTAccount, pageCTPasscode, pageCTRegion)
	ctSrv := httptest.NewServer(ct)
	t.Cleanup(ctSrv.Close)
	b := setup(t, func(o *setupOpts) {
		o.env = map[string]string{"KLAVIYO_API_ORIGIN": klSrv.URL, "CLEVERTAP_API_ORIGIN": ctSrv.URL + "/{region}"}
	})
	b.loyalty = loyalty.New(b.st, b.tenant, nil, b.deps.Logger, loyalty.WithEventsHook(forward.RouteHook))
	deps := b.deps
	deps.Loyalty = b.loyalty
	deps.Metrics = prometheus.NewRegistry()
	e, err := web.NewServer(deps)
	if err != nil {
		t.Fatal(err)
	}
	b.e = e
	pb := &pageBundle{testBundle: b, kl: kl}
	pb.shop = b.install(t, pageShop)
	pb.other = b.install(t, pageOtherShop)
	ctx := context.Background()
	if _, _, err := b.st.UpsertCustomer(ctx, pb.shop.ID, store.CustomerIdentity{ShopifyID: pageCustomerID, GID: pageCustomerGID,
		Email: "ada@example.com", Phone: "+14155550101", FirstName: "Ada", LastName: "Lovelace"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.st.UpsertCustomer(ctx, pb.other.ID, store.CustomerIdentity{ShopifyID: pageOtherCustID, GID: "gid://shopify/Customer/9001",
		Email: "bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	return pb
}

// page loads an admin page of shop as the embedded admin does: a document
// request with a fresh ID token in the query.
func (b *pageBundle) page(t *testing.T, shop, path string) (*httptest.ResponseRecorder, *goquery.Document) {
	t.Helper()
	u, err := url.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k, v := range embeddedQuery(shop) {
		q[k] = v
	}
	q.Set("id_token", b.token(shop))
	u.RawQuery = q.Encode()
	rec := b.get(u.String())
	return rec, doc(t, rec)
}

// submit posts a form as app.js does inside the admin: fetch with the
// ID token as bearer, asking for HTML.
func (b *pageBundle) submit(t *testing.T, shop, action string, form url.Values) (*httptest.ResponseRecorder, *goquery.Document) {
	t.Helper()
	rec := b.send(http.MethodPost, action, strings.NewReader(form.Encode()),
		"Authorization", "Bearer "+b.token(shop), "Content-Type", pageFormType, "Accept", "text/html")
	return rec, doc(t, rec)
}

// formAction returns the action of the form sel in d.
func formAction(t *testing.T, d *goquery.Document, sel string) string {
	t.Helper()
	a, ok := d.Find(sel).Attr("action")
	if !ok {
		t.Fatalf("no form %s", sel)
	}
	return a
}

// requireRedirect checks a Post/Redirect/Get answer: 303 to path with the
// outcome code, keeping the embedded parameters.
func requireRedirect(t *testing.T, rec *httptest.ResponseRecorder, path, done string) *url.URL {
	t.Helper()
	requireStatus(t, rec, http.StatusSeeOther)
	u := location(t, rec)
	if u.Path != path || u.Query().Get("done") != done {
		t.Fatalf("redirect to %s, want %s?done=%s", u, path, done)
	}
	if u.Query().Get("shop") != pageShop || u.Query().Get("embedded") != "1" || u.Query().Has("id_token") {
		t.Errorf("redirect %s does not keep the embedded parameters (or leaks the token)", u)
	}
	return u
}

func pageText(s *goquery.Selection) string { return strings.Join(strings.Fields(s.Text()), " ") }

// connectCleverTap connects the fake CleverTap account for shop A through
// the page.
func (b *pageBundle) connectCleverTap(t *testing.T) {
	t.Helper()
	_, d := b.page(t, pageShop, "/app/integrations")
	rec, _ := b.submit(t, pageShop, formAction(t, d, `[data-testid="clevertap-form"]`), url.Values{
		"common_property": {"customer_id"}, "account_id": {pageCTAccount}, "passcode": {pageCTPasscode}, "region": {pageCTRegion},
	})
	requireRedirect(t, rec, "/app/integrations", "clevertap-connected")
}

// createEvent forwards key to kind through the events page.
func (b *pageBundle) createEvent(t *testing.T, kind, key string) {
	t.Helper()
	_, d := b.page(t, pageShop, "/app/events")
	rec, _ := b.submit(t, pageShop, formAction(t, d, `[data-testid="event-create-form"]`), url.Values{"integration": {kind}, "event": {key}})
	requireRedirect(t, rec, "/app/events", "event-created")
}

// credit adds points to the test customer by hand, which writes a
// wallet_points_rewarded event and routes it.
func (b *pageBundle) credit(t *testing.T, points int64) {
	t.Helper()
	ctx := app.WithActor(context.Background(), pageLoyaltyActor)
	if _, err := b.loyalty.Adjust(ctx, b.shop.ID, pageCustomerID, points, "test credit", ""); err != nil {
		t.Fatal(err)
	}
}

// deliveryIDs returns shop A's delivery ids, oldest first.
func (b *pageBundle) deliveryIDs(t *testing.T) []int64 {
	t.Helper()
	var ids []int64
	if err := b.db.Gorm.Raw("SELECT id FROM deliveries WHERE shop_id = ? ORDER BY id", b.shop.ID).Scan(&ids).Error; err != nil {
		t.Fatal(err)
	}
	return ids
}

// setDelivery puts a delivery in a final state, as a runner would.
func (b *pageBundle) setDelivery(t *testing.T, id int64, status string, code int, lastError, excerpt string, attempts int) {
	t.Helper()
	var codePtr *int
	if code != 0 {
		codePtr = &code
	}
	err := b.db.Gorm.Exec(`UPDATE deliveries SET status = ?, last_status_code = ?, last_error = ?, response_excerpt = ?, attempts = ?,
sent_at = CASE WHEN ? IN ('sent', 'late') THEN now() ELSE NULL END WHERE id = ?`, status, codePtr, lastError, excerpt, attempts, status, id).Error
	if err != nil {
		t.Fatal(err)
	}
}

func (b *pageBundle) deliveryStatus(t *testing.T, id int64) string {
	t.Helper()
	var s string
	if err := b.db.Gorm.Raw("SELECT status FROM deliveries WHERE id = ?", id).Scan(&s).Error; err != nil {
		t.Fatal(err)
	}
	return s
}

func ftoa(n int64) string { return strconv.FormatInt(n, 10) }
