package loyalty_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/webhooks"
)

// TestBirthday_FromShopifyFactsToEvent: a birth date a merchant keeps in
// Shopify (the standard customer metafield facts.birth_date) reaches the
// program with no call to SetBirthday: customers/create arrives, the
// periodic work reads the facts in one batched query, and birthday_reward
// fires on the day in the shop's zone, once a year; 29 February is
// celebrated on the 28th in other years; a changed date in Shopify is read
// again after customers/update; a Shopify outage holds up nothing else.
func TestBirthday_FromShopifyFactsToEvent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := withQuickShopify(t, b)
	b.proc = webhooks.NewProcessor(b.svc, b.log)
	ctx := context.Background()
	const leapling, plain, none = 7101, 7102, 7103
	f.AddCustomer(b.shop.Domain, fake.ShopifyCustomer{ID: leapling, Email: "leap@example.com", Metafields: map[string]string{"facts.birth_date": "1992-02-29"}})
	f.AddCustomer(b.shop.Domain, fake.ShopifyCustomer{ID: plain, Email: "plain@example.com", Metafields: map[string]string{"facts.birth_date": "1988-07-14"}})
	f.AddCustomer(b.shop.Domain, fake.ShopifyCustomer{ID: none, Email: "none@example.com"})
	for _, id := range []int64{leapling, plain, none} {
		b.deliver(t, b.shop, "customers/create", customerBody(id, fmt.Sprintf("c%d@example.com", id)))
	}

	ny, _ := time.LoadLocation("America/New_York")
	rewarded := func(id int64) int {
		t.Helper()
		n := 0
		for _, e := range b.events(t, b.shop, "birthday_reward") {
			if e.ShopifyCustomerID == id {
				n++
			}
		}
		return n
	}
	// A Shopify outage on the first run: the facts wait, nothing else does.
	f.FailNext(b.shop.Domain, http.StatusServiceUnavailable, 4) // one query, tried 4 times
	if r, err := b.svc.RunMaintenance(ctx, b.shop.ID, time.Date(2027, 2, 1, 12, 0, 0, 0, ny)); err != nil || r.Facts != 0 {
		t.Fatalf("maintenance during an outage: %+v, %v", r, err)
	}
	// Facts queries only: the run also reads the published theme.
	factsQueries := func() int {
		n := 0
		for _, r := range f.Requests(b.shop.Domain) {
			if strings.Contains(string(r.Body), "CustomersMetafield") {
				n++
			}
		}
		return n
	}
	requests := factsQueries()
	r, err := b.svc.RunMaintenance(ctx, b.shop.ID, time.Date(2027, 2, 1, 12, 5, 0, 0, ny))
	if err != nil || r.Facts != 3 {
		t.Fatalf("facts read: %+v, %v", r, err)
	}
	if n := factsQueries() - requests; n != 1 {
		t.Fatalf("%d Admin API calls for 3 customers' facts, want 1 batched query", n)
	}
	if r, _ := b.svc.RunMaintenance(ctx, b.shop.ID, time.Date(2027, 2, 1, 12, 10, 0, 0, ny)); r.Facts != 0 {
		t.Fatalf("facts read again without a change: %d", r.Facts)
	}

	// 2027 is not a leap year: 28 February in New York, not in UTC.
	lateUTC := time.Date(2027, 2, 28, 3, 0, 0, 0, time.UTC) // still the 27th in New York
	if _, err := b.svc.GrantBirthdays(ctx, b.shop.ID, lateUTC); err != nil || rewarded(leapling) != 0 {
		t.Fatalf("rewarded on the 27th in the shop's zone: %d, %v", rewarded(leapling), err)
	}
	for _, at := range []time.Time{time.Date(2027, 2, 28, 8, 0, 0, 0, ny), time.Date(2027, 2, 28, 20, 0, 0, 0, ny)} {
		if _, err := b.svc.RunMaintenance(ctx, b.shop.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	if rewarded(leapling) != 1 || rewarded(plain) != 0 || rewarded(none) != 0 {
		t.Fatalf("after 28 Feb 2027: leapling %d, plain %d, none %d", rewarded(leapling), rewarded(plain), rewarded(none))
	}
	// 2028 is a leap year: the 29th, not the 28th.
	b.svc.GrantBirthdays(ctx, b.shop.ID, time.Date(2028, 2, 28, 12, 0, 0, 0, ny))
	if rewarded(leapling) != 1 {
		t.Fatal("rewarded on 28 Feb of a leap year")
	}
	b.svc.GrantBirthdays(ctx, b.shop.ID, time.Date(2028, 2, 29, 12, 0, 0, 0, ny))
	if rewarded(leapling) != 2 {
		t.Fatalf("leap-year birthday: %d rewards", rewarded(leapling))
	}

	// The merchant corrects a date in Shopify: customers/update marks the
	// facts stale, the next run reads them, the new day pays.
	f.AddCustomer(b.shop.Domain, fake.ShopifyCustomer{ID: plain, Email: "plain@example.com", Metafields: map[string]string{"facts.birth_date": "1988-08-15"}})
	b.deliver(t, b.shop, "customers/update", customerBody(plain, fmt.Sprintf("c%d@example.com", plain)))
	if r, err := b.svc.RunMaintenance(ctx, b.shop.ID, time.Date(2028, 8, 15, 9, 0, 0, 0, ny)); err != nil || r.Facts != 1 || rewarded(plain) != 1 {
		t.Fatalf("after the correction: %+v, %v, %d rewards", r, err, rewarded(plain))
	}
	// A birthday set through the app wins over Shopify's.
	if err := b.svc.SetBirthday(ctxAs("user:1"), b.shop.ID, none, time.December, 1); err != nil {
		t.Fatal(err)
	}
	if bd, ok, err := b.svc.CustomerBirthday(ctx, b.shop.ID, none); err != nil || !ok || bd != (loyalty.Birthday{Month: time.December, Day: 1}) {
		t.Fatalf("birthday of %d: %+v %v %v", none, bd, ok, err)
	}
	if bd, ok, _ := b.svc.CustomerBirthday(ctx, b.shop.ID, plain); !ok || bd != (loyalty.Birthday{Month: time.August, Day: 15}) {
		t.Fatalf("birthday from Shopify: %+v %v", bd, ok)
	}
	b.reconcile(t, b.shop, leapling)
}

// TestBirthday_ShopperOnceAYear: the storefront may set a birthday once a
// year; the same date again is no change; staff may always correct it.
func TestBirthday_ShopperOnceAYear(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.deliver(t, b.shop, "customers/create", customerBody(sampleCustomerID, "john@example.com"))
	set := func(month time.Month, day int) error {
		return b.svc.SetShopperBirthday(ctx, b.shop.ID, sampleCustomerID, month, day)
	}
	for _, tc := range []struct {
		name    string
		advance time.Duration
		month   time.Month
		day     int
		want    string
	}{
		{"first time", 0, time.June, 1, ""},
		{"same date again", time.Hour, time.June, 1, ""},
		{"change within the year", 24 * time.Hour, time.June, 2, app.ECONFLICT},
		{"impossible date", 0, time.April, 31, app.EINVALID},
		{"a year later", 365 * 24 * time.Hour, time.June, 2, ""},
		{"right after that change", time.Hour, time.June, 3, app.ECONFLICT},
	} {
		b.clock.Add(tc.advance)
		if err := set(tc.month, tc.day); app.ErrorCode(err) != tc.want {
			t.Fatalf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if err := b.svc.SetBirthday(ctxAs("user:1"), b.shop.ID, sampleCustomerID, time.June, 3); err != nil {
		t.Fatalf("staff correction: %v", err)
	}
	if bd, _, _ := b.svc.CustomerBirthday(ctx, b.shop.ID, sampleCustomerID); bd != (loyalty.Birthday{Month: time.June, Day: 3}) {
		t.Fatalf("birthday %+v", bd)
	}
}
