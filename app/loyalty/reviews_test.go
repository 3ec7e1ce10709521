package loyalty_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/ledger"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
)

// line is one line item of a test order.
type line struct {
	Product  int64 // 0: a custom item without a product
	Title    string
	GiftCard bool
}

// fulfilled builds a paid order of customer with lines, fulfilled (one
// successful fulfilment created at at) when at is not zero.
func fulfilled(t testing.TB, id, customer int64, at time.Time, lines ...line) []byte {
	t.Helper()
	b := order{ID: id, Customer: customer, Subtotal: "40.00"}.body(t)
	items := make([]map[string]any, len(lines))
	for i, l := range lines {
		items[i] = map[string]any{"id": id*10 + int64(i), "title": l.Title, "name": l.Title, "quantity": 1, "price": "10.00",
			"gift_card": l.GiftCard, "product_id": nil}
		if l.Product != 0 {
			items[i]["product_id"] = l.Product
		}
	}
	raw, _ := json.Marshal(items)
	b = setRaw(t, b, "line_items", string(raw))
	if at.IsZero() {
		b = setRaw(t, b, "fulfillment_status", "null")
		return setRaw(t, b, "fulfillments", "[]")
	}
	b = set(t, b, "fulfillment_status", "fulfilled")
	return setRaw(t, b, "fulfillments", fmt.Sprintf(`[{"id":%d,"status":"cancelled","created_at":%q},{"id":%d,"status":"success","created_at":%q}]`,
		id+1, at.Add(time.Hour).Format(time.RFC3339), id+2, at.Format(time.RFC3339)))
}

func (b *bundle) orderRow(t testing.TB, shop *store.Shop, id int64) *store.LoyaltyOrder {
	t.Helper()
	o, err := b.st.LoyaltyOrderByGID(context.Background(), shop.ID, fmt.Sprintf("gid://shopify/Order/%d", id))
	if err != nil {
		t.Fatalf("order %d: %v", id, err)
	}
	return o
}

func (b *bundle) fulfilledAt(t testing.TB, shop *store.Shop, id int64) *time.Time {
	t.Helper()
	at, err := b.st.OrderFulfilledAt(context.Background(), shop.ID, b.orderRow(t, shop, id).ID)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// TestReviews_FulfilmentRemembered: orders/fulfilled stores the fulfilment
// time (the successful fulfilment's) and the reviewable products once; an
// order topic saying fulfilled does too; unfulfilled and guest orders store
// nothing.
func TestReviews_FulfilmentRemembered(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const ann int64 = 8600000000000000001
	const o1, o2, o3, o4 int64 = 8610000000000000001, 8610000000000000002, 8610000000000000003, 8610000000000000004
	shipped := t0.Add(-3 * time.Hour)
	lines := []line{{Product: 501, Title: "Lamp"}, {Product: 502, Title: "Rug"}, {Product: 501, Title: "Lamp"},
		{Title: "Protection plan"}, {Product: 503, Title: "Gift card", GiftCard: true}}

	b.deliver(t, b.shop, "orders/fulfilled", fulfilled(t, o1, ann, shipped, lines...))
	if at := b.fulfilledAt(t, b.shop, o1); at == nil || !at.Equal(shipped) {
		t.Fatalf("fulfilled_at = %v, want %v", at, shipped)
	}
	want := "[{501 Lamp} {502 Rug}]"
	ps, err := b.st.OrderProducts(context.Background(), b.shop.ID, b.orderRow(t, b.shop, o1).ID)
	if err != nil || fmt.Sprint(ps) != want {
		t.Fatalf("products %v (%v), want %s", ps, err, want)
	}

	// A replay, or a later webhook with another fulfilment, changes nothing.
	b.clock.Add(time.Hour)
	b.deliver(t, b.shop, "orders/fulfilled", fulfilled(t, o1, ann, shipped.Add(2*time.Hour), lines...))
	b.deliver(t, b.shop, "orders/updated", fulfilled(t, o1, ann, shipped.Add(2*time.Hour), lines...))
	if at := b.fulfilledAt(t, b.shop, o1); !at.Equal(shipped) {
		t.Fatalf("fulfilled_at moved to %v", at)
	}
	if n := b.count(t, "SELECT count(*) FROM order_products WHERE shop_id = $1", b.shop.ID); n != 2 {
		t.Fatalf("%d product rows after replays, want 2", n)
	}

	// orders/updated saying fulfilled, with no fulfilment in the payload:
	// the time it was seen.
	body := fulfilled(t, o2, ann, shipped, line{Product: 504, Title: "Vase"})
	body = setRaw(t, body, "fulfillments", "[]")
	b.deliver(t, b.shop, "orders/updated", body)
	if at := b.fulfilledAt(t, b.shop, o2); at == nil || !at.Equal(b.clock.Now()) {
		t.Fatalf("fulfilled_at = %v, want the processing time %v", at, b.clock.Now())
	}

	// Paid but not fulfilled, and a guest's fulfilled order: nothing.
	b.deliver(t, b.shop, "orders/paid", fulfilled(t, o3, ann, time.Time{}, line{Product: 505, Title: "Chair"}))
	if at := b.fulfilledAt(t, b.shop, o3); at != nil {
		t.Fatalf("unfulfilled order has fulfilled_at %v", at)
	}
	b.deliver(t, b.shop, "orders/fulfilled", fulfilled(t, o4, 0, shipped, line{Product: 506, Title: "Desk"}))
	if at := b.fulfilledAt(t, b.shop, o4); at != nil {
		t.Fatalf("guest order has fulfilled_at %v", at)
	}
	if n := b.count(t, "SELECT count(*) FROM order_products WHERE shop_id = $1", b.shop.ID); n != 3 {
		t.Fatalf("%d product rows, want 3 (two of o1, one of o2)", n)
	}
}

// TestReviews_RequestAfterDays: review_requested goes out once per order,
// not before ReviewRequestDays after the fulfilment, not twice, not for
// cancelled or fully refunded orders, not at all when the days are 0.
func TestReviews_RequestAfterDays(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.program(t, b.shop, func(s *program.Settings) { s.ReviewRequestDays = 14 })
	const ann, ben int64 = 8600000000000000011, 8600000000000000012
	const kept, cancelled, refunded, stale int64 = 8620000000000000001, 8620000000000000002, 8620000000000000003, 8620000000000000004

	b.deliver(t, b.shop, "orders/fulfilled", fulfilled(t, kept, ann, t0, line{Product: 2, Title: "Rug"}, line{Product: 1, Title: "Lamp"}))
	b.deliver(t, b.shop, "orders/fulfilled", fulfilled(t, cancelled, ann, t0, line{Product: 3, Title: "Vase"}))
	b.deliver(t, b.shop, "orders/cancelled", fulfilled(t, cancelled, ann, t0, line{Product: 3, Title: "Vase"}))
	b.deliver(t, b.shop, "orders/fulfilled", fulfilled(t, refunded, ben, t0, line{Product: 4, Title: "Desk"}))
	b.deliver(t, b.shop, "refunds/create", refund{ID: 8630000000000000001, Order: refunded, Lines: []string{"40.00"}}.body(t))
	if o := b.orderRow(t, b.shop, refunded); o.BaseMinor == 0 || o.RefundedBaseMinor < o.BaseMinor {
		t.Fatalf("refund setup: base %d refunded %d", o.BaseMinor, o.RefundedBaseMinor)
	}
	// Fulfilled long before the requests were due: never asked.
	b.deliver(t, b.shop, "orders/fulfilled", fulfilled(t, stale, ben, t0.AddDate(0, 0, -60), line{Product: 5, Title: "Chair"}))

	ny, _ := time.LoadLocation("America/New_York")
	due := t0.In(ny).AddDate(0, 0, 14)
	r, err := b.svc.RunMaintenance(ctx, b.shop.ID, due.Add(-time.Minute))
	if err != nil || r.Reviews != 0 || len(b.events(t, b.shop, "review_requested")) != 0 {
		t.Fatalf("a minute early: %+v %v", r, err)
	}
	r, err = b.svc.RunMaintenance(ctx, b.shop.ID, due)
	if err != nil || r.Reviews != 1 {
		t.Fatalf("when due: %+v %v", r, err)
	}
	evs := b.events(t, b.shop, "review_requested")
	if len(evs) != 1 {
		t.Fatalf("%d review_requested events, want 1", len(evs))
	}
	p := props(t, evs[0])
	wantURL := fmt.Sprintf("https://%s/apps/loyalty/reviews?order=%%23%d", b.shop.Domain, kept%100000)
	if p["order_id"] != fmt.Sprint(kept) || p["order_name"] != fmt.Sprintf("#%d", kept%100000) ||
		p["product_titles"] != "Lamp, Rug" || p["review_url"] != wantURL {
		t.Fatalf("review_requested %v (want url %s)", p, wantURL)
	}
	if evs[0].ShopifyCustomerID != ann || evs[0].Channel != "online_store" {
		t.Fatalf("event customer %d channel %q", evs[0].ShopifyCustomerID, evs[0].Channel)
	}

	// The claim behind it is exclusive, and refuses orders that no longer
	// stand.
	for _, id := range []int64{kept, cancelled, refunded} {
		if claimed, err := b.st.ClaimReviewRequest(ctx, b.shop.ID, b.orderRow(t, b.shop, id).ID, due); err != nil || claimed {
			t.Fatalf("claim of order %d after the run: %v %v", id, claimed, err)
		}
	}

	// Later runs, and runs racing each other, ask nobody again.
	var wg sync.WaitGroup
	counts := make([]int, 4)
	errs := make([]error, 4)
	for i := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i], errs[i] = b.svc.RequestReviews(ctx, b.shop.ID, due.Add(time.Duration(i+1)*time.Hour))
		}()
	}
	wg.Wait()
	for i := range counts {
		if errs[i] != nil || counts[i] != 0 {
			t.Fatalf("rerun %d: %d requests, %v", i, counts[i], errs[i])
		}
	}
	if n := len(b.events(t, b.shop, "review_requested")); n != 1 {
		t.Fatalf("%d review_requested after reruns", n)
	}
}

// TestReviews_RequestConcurrent: workers racing on the same due orders
// write each request once.
func TestReviews_RequestConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.program(t, b.shop, func(s *program.Settings) { s.ReviewRequestDays = 3 })
	for i := range int64(5) {
		b.deliver(t, b.shop, "orders/fulfilled", fulfilled(t, 8640000000000000001+i, 8600000000000000021+i%2, t0, line{Product: 10 + i, Title: "Thing"}))
	}
	now := t0.AddDate(0, 0, 4)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := b.svc.RequestReviews(ctx, b.shop.ID, now)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != 5 || len(b.events(t, b.shop, "review_requested")) != 5 {
		t.Fatalf("racing runs sent %d requests, %d events; want 5", total, len(b.events(t, b.shop, "review_requested")))
	}
}

// TestReviews_RequestOff: with ReviewRequestDays 0 nothing is asked.
func TestReviews_RequestOff(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.program(t, b.shop, func(s *program.Settings) { s.ReviewRequestDays = 0 })
	b.deliver(t, b.shop, "orders/fulfilled", fulfilled(t, 8650000000000000001, 8600000000000000031, t0, line{Product: 1, Title: "Lamp"}))
	n, err := b.svc.RequestReviews(context.Background(), b.shop.ID, t0.AddDate(0, 0, 20))
	if err != nil || n != 0 || len(b.events(t, b.shop, "review_requested")) != 0 {
		t.Fatalf("requests off: %d, %v", n, err)
	}
}

// TestReviews_Submit: a review of a received product is stored once and
// credits ReviewPoints once, with review_submitted and
// wallet_points_rewarded; everything else is refused and changes nothing.
func TestReviews_Submit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.program(t, b.shop, func(s *program.Settings) { s.ReviewPoints = 50 })
	const ann, ben int64 = 8600000000000000041, 8600000000000000042
	const lamp, rug, chair, vase int64 = 701, 702, 703, 704
	b.deliver(t, b.shop, "orders/fulfilled", fulfilled(t, 8660000000000000001, ann, t0, line{Product: lamp, Title: "Lamp"}))
	b.deliver(t, b.shop, "orders/paid", fulfilled(t, 8660000000000000002, ann, time.Time{}, line{Product: rug, Title: "Rug"}))
	b.deliver(t, b.shop, "orders/fulfilled", fulfilled(t, 8660000000000000003, ann, t0, line{Product: vase, Title: "Vase"}))
	b.deliver(t, b.shop, "orders/cancelled", fulfilled(t, 8660000000000000003, ann, t0, line{Product: vase, Title: "Vase"}))
	b.deliver(t, b.shop, "orders/fulfilled", fulfilled(t, 8660000000000000004, ben, t0, line{Product: chair, Title: "Chair"}))
	before := b.balance(t, b.shop, ann)

	refused := []struct {
		name string
		in   loyalty.ReviewInput
		code string
	}{
		{"NotLoggedIn", loyalty.ReviewInput{ProductID: lamp, Rating: 5}, app.EUNAUTHORIZED},
		{"RatingZero", loyalty.ReviewInput{ShopifyCustomerID: ann, ProductID: lamp, Rating: 0}, app.EINVALID},
		{"RatingSix", loyalty.ReviewInput{ShopifyCustomerID: ann, ProductID: lamp, Rating: 6}, app.EINVALID},
		{"NoProduct", loyalty.ReviewInput{ShopifyCustomerID: ann, Rating: 4}, app.EINVALID},
		{"BodyTooLong", loyalty.ReviewInput{ShopifyCustomerID: ann, ProductID: lamp, Rating: 4, Body: string(bytes.Repeat([]byte("a"), loyalty.MaxReviewBodyLen+1))}, app.EINVALID},
		{"NeverBought", loyalty.ReviewInput{ShopifyCustomerID: ann, ProductID: 999, Rating: 4}, app.EFORBIDDEN},
		{"NotReceived", loyalty.ReviewInput{ShopifyCustomerID: ann, ProductID: rug, Rating: 4}, app.EFORBIDDEN},
		{"OrderCancelled", loyalty.ReviewInput{ShopifyCustomerID: ann, ProductID: vase, Rating: 4}, app.EFORBIDDEN},
		{"SomeoneElses", loyalty.ReviewInput{ShopifyCustomerID: ann, ProductID: chair, Rating: 4}, app.EFORBIDDEN},
		{"UnknownCustomer", loyalty.ReviewInput{ShopifyCustomerID: 12345, ProductID: lamp, Rating: 4}, app.EFORBIDDEN},
	}
	for _, tc := range refused {
		if _, err := b.svc.SubmitReview(ctx, b.shop.ID, tc.in); app.ErrorCode(err) != tc.code {
			t.Errorf("%s: error %v, want code %s", tc.name, err, tc.code)
		}
	}
	if n := b.count(t, "SELECT count(*) FROM reviews"); n != 0 {
		t.Fatalf("refused reviews stored %d rows", n)
	}

	res, err := b.svc.SubmitReview(ctx, b.shop.ID, loyalty.ReviewInput{ShopifyCustomerID: ann, ProductID: lamp, Rating: 4, Body: "  Bright.  "})
	if err != nil || res.Duplicate || res.Points != 50 || res.Review.Rating != 4 || res.Review.Body != "Bright." || res.Product.Title != "Lamp" {
		t.Fatalf("first review: %+v %v", res, err)
	}
	if got := b.balance(t, b.shop, ann) - before; got != 50 {
		t.Fatalf("review credited %d, want 50", got)
	}

	// The same product again: the earlier review stands, nothing credited.
	again, err := b.svc.SubmitReview(ctx, b.shop.ID, loyalty.ReviewInput{ShopifyCustomerID: ann, ProductID: lamp, Rating: 1, Body: "Changed my mind"})
	if err != nil || !again.Duplicate || again.Points != 0 || again.Review.Rating != 4 || again.Review.ID != res.Review.ID {
		t.Fatalf("second review: %+v %v", again, err)
	}
	if got := b.balance(t, b.shop, ann) - before; got != 50 {
		t.Fatalf("after the second review: credited %d in all, want 50", got)
	}
	es := b.entries(t, b.shop, ann)
	if countKind(es, ledger.KindReview) != 1 {
		t.Fatalf("review entries: %v", keys(es))
	}
	wantKey := fmt.Sprintf("review:gid://shopify/Customer/%d:gid://shopify/Product/%d", ann, lamp)
	for _, e := range es {
		if e.Kind == ledger.KindReview && (e.IdempotencyKey != wantKey || e.Reason != ledger.ReasonReview || e.Points != 50) {
			t.Fatalf("review entry %+v", e)
		}
	}
	sub := b.events(t, b.shop, "review_submitted")
	if len(sub) != 1 {
		t.Fatalf("%d review_submitted", len(sub))
	}
	if p := props(t, sub[0]); p["product_id"] != fmt.Sprint(lamp) || p["rating"] != float64(4) || p["points"] != float64(50) || sub[0].PointsBalance != before+50 {
		t.Fatalf("review_submitted %v balance %d", p, sub[0].PointsBalance)
	}
	var rewarded int
	for _, e := range b.events(t, b.shop, "wallet_points_rewarded") {
		if p := props(t, e); p["reason"] == "review" {
			rewarded++
			if p["points"] != float64(50) || e.ShopifyCustomerID != ann {
				t.Fatalf("wallet_points_rewarded %v", p)
			}
		}
	}
	if rewarded != 1 {
		t.Fatalf("%d wallet_points_rewarded for reviews", rewarded)
	}
	b.reconcile(t, b.shop, ann)

	// What the storefront lists: received products, with the rating given.
	ps, err := b.svc.ReviewableProducts(ctx, b.shop.ID, ann)
	if err != nil || len(ps) != 1 || ps[0].ProductID != lamp || ps[0].Rating != 4 {
		t.Fatalf("reviewable products %+v %v", ps, err)
	}
	if ps, err := b.svc.ReviewableProducts(ctx, b.shop.ID, 424242); err != nil || len(ps) != 0 {
		t.Fatalf("unknown customer: %+v %v", ps, err)
	}
}

// TestReviews_SubmitConcurrent: double clicks racing each other credit once.
func TestReviews_SubmitConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.program(t, b.shop, func(s *program.Settings) { s.ReviewPoints = 30 })
	const ann int64 = 8600000000000000051
	b.deliver(t, b.shop, "orders/fulfilled", fulfilled(t, 8670000000000000001, ann, t0, line{Product: 801, Title: "Lamp"}))
	before := b.balance(t, b.shop, ann)
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := 0
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := b.svc.SubmitReview(ctx, b.shop.ID, loyalty.ReviewInput{ShopifyCustomerID: ann, ProductID: 801, Rating: 5})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			if !res.Duplicate {
				fresh++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if fresh != 1 || b.balance(t, b.shop, ann)-before != 30 || len(b.events(t, b.shop, "review_submitted")) != 1 {
		t.Fatalf("%d accepted, credited %d, %d events", fresh, b.balance(t, b.shop, ann)-before, len(b.events(t, b.shop, "review_submitted")))
	}
}

// TestReviews_NoPoints: with ReviewPoints 0 a review is accepted with no
// ledger entry and review_submitted says 0 points.
func TestReviews_NoPoints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.program(t, b.shop, func(s *program.Settings) { s.ReviewPoints = 0 })
	const ann int64 = 8600000000000000061
	b.deliver(t, b.shop, "orders/fulfilled", fulfilled(t, 8680000000000000001, ann, t0, line{Product: 901, Title: "Lamp"}))
	res, err := b.svc.SubmitReview(context.Background(), b.shop.ID, loyalty.ReviewInput{ShopifyCustomerID: ann, ProductID: 901, Rating: 3})
	if err != nil || res.Points != 0 || res.Duplicate {
		t.Fatalf("%+v %v", res, err)
	}
	if countKind(b.entries(t, b.shop, ann), ledger.KindReview) != 0 {
		t.Fatal("a review entry without review points")
	}
	sub := b.events(t, b.shop, "review_submitted")
	if len(sub) != 1 || props(t, sub[0])["points"] != float64(0) {
		t.Fatalf("review_submitted %v", sub)
	}
}

// TestReviews_Compliance: a data request exports the reviews;
// customers/redact deletes the customer's reviews and order products;
// shop/redact deletes every review row of the shop; a merge moves reviews
// to the kept customer.
func TestReviews_Compliance(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const redacted int64 = 191167 // the compliance samples' customer
	const other, gone int64 = 8600000000000000071, 8600000000000000072
	compliance := func(topic string) []byte {
		return bytes.ReplaceAll(sample(t, topic), []byte("{shop}.myshopify.com"), []byte(b.shop.Domain))
	}
	b.deliver(t, b.shop, "customers/create", customerBody(redacted, "john@example.com"))
	for i, c := range []int64{redacted, other, gone} {
		b.deliver(t, b.shop, "orders/fulfilled", fulfilled(t, 8690000000000000001+int64(i), c, t0, line{Product: 1001, Title: "Lamp"}))
		if _, err := b.svc.SubmitReview(ctx, b.shop.ID, loyalty.ReviewInput{ShopifyCustomerID: c, ProductID: 1001, Rating: 5, Body: "secret opinion"}); err != nil {
			t.Fatal(err)
		}
	}
	b.deliver(t, b.shop, "orders/fulfilled", fulfilled(t, 8690000000000000009, gone, t0, line{Product: 1002, Title: "Rug"}))
	if _, err := b.svc.SubmitReview(ctx, b.shop.ID, loyalty.ReviewInput{ShopifyCustomerID: gone, ProductID: 1002, Rating: 2}); err != nil {
		t.Fatal(err)
	}

	b.deliver(t, b.shop, "customers/data_request", compliance("customers/data_request"))
	reqs, err := b.st.DataRequests(ctx, b.shop.ID)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("%d exports %v", len(reqs), err)
	}
	var export struct {
		Loyalty struct {
			Reviews []map[string]any `json:"reviews"`
		} `json:"loyalty"`
	}
	if err := json.Unmarshal(reqs[0].Export, &export); err != nil {
		t.Fatal(err)
	}
	if rs := export.Loyalty.Reviews; len(rs) != 1 || rs[0]["body"] != "secret opinion" || rs[0]["product_id"] != "1001" || rs[0]["rating"] != float64(5) {
		t.Fatalf("export reviews %v", rs)
	}

	// Merge: the kept customer already reviewed the lamp, so only the rug
	// review moves.
	b.deliver(t, b.shop, "customers/merge", mergeBody(other, gone))
	keptID := b.customerRow(t, b.shop, other).ID
	if n := b.count(t, "SELECT count(*) FROM reviews WHERE customer_id = $1", keptID); n != 2 {
		t.Fatalf("kept customer has %d reviews after the merge, want 2", n)
	}

	redactedID := b.customerRow(t, b.shop, redacted).ID
	b.deliver(t, b.shop, "customers/redact", compliance("customers/redact"))
	if n := b.count(t, "SELECT count(*) FROM reviews WHERE shop_id = $1 AND (customer_id = $2 OR body = 'secret opinion' AND shopify_customer_id = $3)", b.shop.ID, redactedID, redacted); n != 0 {
		t.Fatalf("%d reviews survive customers/redact", n)
	}
	if n := b.count(t, "SELECT count(*) FROM order_products p JOIN orders o ON o.id = p.order_id WHERE o.shopify_customer_id = $1", redacted); n != 0 {
		t.Fatalf("%d order products survive customers/redact", n)
	}
	if n := b.count(t, "SELECT count(*) FROM reviews WHERE shop_id = $1", b.shop.ID); n != 3 {
		t.Fatalf("customers/redact left %d reviews of other customers, want 3", n)
	}

	b.deliver(t, b.shop, "app/uninstalled", []byte(`{"id":1,"name":"x"}`)) // shop/redact follows an uninstall
	b.deliver(t, b.shop, "shop/redact", compliance("shop/redact"))
	for _, tb := range []string{"reviews", "order_products"} {
		if n := b.count(t, "SELECT count(*) FROM "+tb+" WHERE shop_id = $1", b.shop.ID); n != 0 {
			t.Errorf("%d %s rows survive shop/redact", n, tb)
		}
	}
}
