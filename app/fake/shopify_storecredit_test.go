package fake_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app/fake"
)

const creditMutation = `mutation Credit($id: ID!, $input: StoreCreditAccountCreditInput!) {
  storeCreditAccountCredit(id: $id, creditInput: $input) {
    storeCreditAccountTransaction { id amount { amount currencyCode } expiresAt account { id } }
    userErrors { field code message }
  }
}`

const creditsQuery = `query Credits($id: ID!, $q: String) {
  customer(id: $id) {
    storeCreditAccounts(first: 5) {
      nodes {
        id balance { amount currencyCode }
        transactions(first: 10, reverse: true, query: $q) {
          nodes { __typename ... on StoreCreditAccountCreditTransaction { id amount { amount } expiresAt createdAt remainingAmount { amount } } }
        }
      }
    }
  }
}`

// TestShopify_StoreCreditAccountCredit: the fake credits an existing
// customer in the shop currency with a future expiry and refuses the rest
// with Shopify's user error codes; every call credits (no idempotency key),
// a lost answer included; the customer's accounts list the credits,
// filtered by expires_at.
func TestShopify_StoreCreditAccountCredit(t *testing.T) {
	t.Parallel()
	b := setupShopify(t)
	tok := b.fake.ValidAccessToken(testShop)
	b.fake.AddCustomer(testShop, fake.ShopifyCustomer{ID: 624407574, Email: "ada@example.com"})
	const gid = "gid://shopify/Customer/624407574"
	expires := b.clock.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	input := func(amount, currency string, expiresAt any) map[string]any {
		in := map[string]any{"creditAmount": map[string]any{"amount": amount, "currencyCode": currency}}
		if expiresAt != nil {
			in["expiresAt"] = expiresAt
		}
		return in
	}
	credit := func(id string, in map[string]any) map[string]any {
		t.Helper()
		r := b.graphql(t, tok, creditMutation, map[string]any{"id": id, "input": in})
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		return path(r.JSON(t), "data", "storeCreditAccountCredit").(map[string]any)
	}

	d := credit(gid, input("5.00", "USD", expires.Format(time.RFC3339)))
	txID, _ := path(d, "storeCreditAccountTransaction", "id").(string)
	accountID, _ := path(d, "storeCreditAccountTransaction", "account", "id").(string)
	if !strings.HasPrefix(txID, "gid://shopify/StoreCreditAccountCreditTransaction/") || len(path(d, "userErrors").([]any)) != 0 ||
		path(d, "storeCreditAccountTransaction", "amount", "amount") != "5" || path(d, "storeCreditAccountTransaction", "expiresAt") != expires.Format(time.RFC3339) {
		t.Fatalf("credit = %v", d)
	}

	for _, tc := range []struct {
		name, id   string
		in         map[string]any
		code, want string
	}{
		{"UnknownCustomer", "gid://shopify/Customer/1", input("5.00", "USD", expires.Format(time.RFC3339)), "OWNER_NOT_FOUND", "Owner does not exist"},
		{"UnknownAccount", "gid://shopify/StoreCreditAccount/1", input("5.00", "USD", expires.Format(time.RFC3339)), "ACCOUNT_NOT_FOUND", "could not be found"},
		{"ZeroAmount", gid, input("0", "USD", expires.Format(time.RFC3339)), "NEGATIVE_OR_ZERO_AMOUNT", "positive amount"},
		{"OtherCurrency", gid, input("5.00", "EUR", expires.Format(time.RFC3339)), "UNSUPPORTED_CURRENCY", "not currently supported"},
		{"AccountCurrency", accountID, input("5.00", "EUR", expires.Format(time.RFC3339)), "MISMATCHING_CURRENCY", "does not match"},
		{"PastExpiry", gid, input("5.00", "USD", b.clock.Now().Add(-time.Minute).Format(time.RFC3339)), "EXPIRES_AT_IN_PAST", "in the future"},
		{"NoExpiry", gid, input("5.00", "USD", nil), "", "Expires at can't be blank"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := credit(tc.id, tc.in)
			if path(d, "storeCreditAccountTransaction") != nil || path(d, "userErrors", 0, "code") != nilIfEmpty(tc.code) ||
				!strings.Contains(path(d, "userErrors", 0, "message").(string), tc.want) {
				t.Fatalf("got %v, want %s %q", d, tc.code, tc.want)
			}
		})
	}
	if n := len(b.fake.StoreCredits(testShop)); n != 1 {
		t.Fatalf("refusals credited: %d credits", n)
	}

	// Refused on demand; then a lost answer still credits.
	b.fake.RefuseNextStoreCredit(testShop, "CREDIT_LIMIT_EXCEEDED", "The operation would cause the account's credit limit to be exceeded.")
	if d := credit(gid, input("5.00", "USD", expires.Format(time.RFC3339))); path(d, "userErrors", 0, "code") != "CREDIT_LIMIT_EXCEEDED" {
		t.Fatalf("refusal = %v", d)
	}
	b.fake.LoseNextAnswer(testShop, http.StatusGatewayTimeout, 1)
	r := b.graphql(t, tok, creditMutation, map[string]any{"id": accountID, "input": input("7.50", "USD", expires.Add(time.Second).Format(time.RFC3339))})
	if r.Status != http.StatusGatewayTimeout {
		t.Fatalf("lost answer = %d", r.Status)
	}
	credits := b.fake.StoreCredits(testShop)
	if len(credits) != 2 || credits[1].Amount.String() != "7.5" || credits[1].AccountID != accountID || !credits[1].ExpiresAt.Equal(expires.Add(time.Second)) {
		t.Fatalf("credits %+v", credits)
	}

	// Without the store credit scopes: ACCESS_DENIED on the mutation and on
	// the accounts, nothing credited.
	b.fake.DenyStoreCredit(testShop, true)
	denied := b.graphql(t, tok, creditMutation, map[string]any{"id": gid, "input": input("5.00", "USD", expires.Format(time.RFC3339))}).JSON(t)
	if path(denied, "errors", 0, "extensions", "code") != "ACCESS_DENIED" || path(denied, "data", "storeCreditAccountCredit") != nil {
		t.Fatalf("denied credit = %v", denied)
	}
	denied = b.graphql(t, tok, creditsQuery, map[string]any{"id": gid}).JSON(t)
	if path(denied, "errors", 0, "extensions", "code") != "ACCESS_DENIED" {
		t.Fatalf("denied accounts = %v", denied)
	}
	b.fake.DenyStoreCredit(testShop, false)
	if n := len(b.fake.StoreCredits(testShop)); n != 2 {
		t.Fatalf("%d credits after denied calls", n)
	}

	// The account lists both, newest first; the expires_at filter keeps one.
	q := b.graphql(t, tok, creditsQuery, map[string]any{"id": gid})
	acc := path(q.JSON(t), "data", "customer", "storeCreditAccounts", "nodes", 0)
	if path(acc, "id") != accountID || path(acc, "balance", "amount") != "12.5" || path(acc, "transactions", "nodes", 0, "amount", "amount") != "7.5" ||
		path(acc, "transactions", "nodes", 0, "__typename") != "StoreCreditAccountCreditTransaction" || len(path(acc, "transactions", "nodes").([]any)) != 2 {
		t.Fatalf("accounts = %s", q.Body)
	}
	exact := "expires_at:>='" + expires.Format(time.RFC3339) + "' AND expires_at:<='" + expires.Format(time.RFC3339) + "'"
	q = b.graphql(t, tok, creditsQuery, map[string]any{"id": gid, "q": exact})
	nodes := path(q.JSON(t), "data", "customer", "storeCreditAccounts", "nodes", 0, "transactions", "nodes").([]any)
	if len(nodes) != 1 || path(nodes[0], "id") != txID {
		t.Fatalf("filtered = %s", q.Body)
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// TestShopify_DiscountCodeDelete: a code discount is deleted once; an
// unknown id is a user error. CheckRewardDiscount accepts a code limited
// to one customer and usable once, and names what else is wrong.
func TestShopify_DiscountCodeDelete(t *testing.T) {
	t.Parallel()
	b := setupShopify(t)
	tok := b.fake.ValidAccessToken(testShop)
	const create = `mutation C($input: DiscountCodeBasicInput!) { discountCodeBasicCreate(basicCodeDiscount: $input) { codeDiscountNode { id } userErrors { code } } }`
	input := map[string]any{
		"title": "Reward", "code": "PB-AAAA-BBBB", "startsAt": "2026-11-23T00:00:00Z", "usageLimit": 1, "appliesOncePerCustomer": true,
		"context":      map[string]any{"customers": map[string]any{"add": []any{"gid://shopify/Customer/7"}}},
		"customerGets": map[string]any{"value": map[string]any{"percentage": 0.1}, "items": map[string]any{"all": true}},
	}
	id := path(b.graphql(t, tok, create, map[string]any{"input": input}).JSON(t), "data", "discountCodeBasicCreate", "codeDiscountNode", "id").(string)
	d := b.fake.DiscountCodes(testShop)[0]
	if err := fake.CheckRewardDiscount(d, "gid://shopify/Customer/7"); err != nil {
		t.Fatal(err)
	}
	if err := fake.CheckRewardDiscount(d, "gid://shopify/Customer/8"); err == nil {
		t.Fatal("a code for customer 7 passed as customer 8's")
	}
	d.UsageLimit, d.AppliesOncePerCustomer = 0, false
	if err := fake.CheckRewardDiscount(d, "gid://shopify/Customer/7"); err == nil || !strings.Contains(err.Error(), "usage limit") {
		t.Fatalf("unlimited code: %v", err)
	}

	const del = `mutation D($id: ID!) { discountCodeDelete(id: $id) { deletedCodeDiscountId userErrors { field code message } } }`
	r := path(b.graphql(t, tok, del, map[string]any{"id": id}).JSON(t), "data", "discountCodeDelete")
	if path(r, "deletedCodeDiscountId") != id || len(path(r, "userErrors").([]any)) != 0 || len(b.fake.DiscountCodes(testShop)) != 0 {
		t.Fatalf("delete = %v", r)
	}
	r = path(b.graphql(t, tok, del, map[string]any{"id": id}).JSON(t), "data", "discountCodeDelete")
	if path(r, "deletedCodeDiscountId") != nil || !strings.Contains(path(r, "userErrors", 0, "message").(string), "does not exist") {
		t.Fatalf("second delete = %v", r)
	}
}
