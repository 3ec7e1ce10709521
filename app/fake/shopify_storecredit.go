package fake

import (
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/vektah/gqlparser/v2/ast"
)

// This file teaches the fake Shopify store credit (storeCreditAccountCredit
// and a customer's store credit accounts with their transactions) and
// discountCodeDelete, for store credit rewards and cancelled redemptions.
//
// storeCreditAccountCredit takes no idempotency key: every call that
// reaches the fake credits again, a lost answer (LoseNextAnswer) included.
// The checks follow StoreCreditAccountCreditUserErrorCode: the owner or
// account must exist (OWNER_NOT_FOUND, ACCOUNT_NOT_FOUND), the amount be
// positive (NEGATIVE_OR_ZERO_AMOUNT) in the shop currency
// (UNSUPPORTED_CURRENCY; MISMATCHING_CURRENCY against an account), and
// expiresAt in the future (EXPIRES_AT_IN_PAST). One check is stricter than
// Shopify, on purpose: expiresAt is required (Shopify allows credit that
// never expires; Perkbridge must always send the reward's expiry, and a
// missing one is a bug the fake reports). [INFERRED] the exact messages
// other than those the enum documents.

// ShopifyStoreCredit is one StoreCreditAccountCreditTransaction.
type ShopifyStoreCredit struct {
	ID         string // gid://shopify/StoreCreditAccountCreditTransaction/N
	AccountID  string // gid://shopify/StoreCreditAccount/N
	CustomerID int64
	Amount     decimal.Decimal
	Remaining  decimal.Decimal
	Currency   string
	ExpiresAt  time.Time
	CreatedAt  time.Time
}

type shopifyCreditAccount struct {
	ID         string
	CustomerID int64
	Currency   string
}

type creditRefusal struct{ code, message string }

type storeCreditPayload struct {
	tx     *ShopifyStoreCredit
	errors []any
}

type discountDeletePayload struct {
	deletedID string
	errors    []any
}

type moneyVal struct {
	amount   decimal.Decimal
	currency string
}

func init() {
	m := shopifySchema["Mutation"].fields
	m["storeCreditAccountCredit"] = gqlField{typ: "StoreCreditAccountCreditPayload", args: map[string]bool{"id": true, "creditInput": true}}
	m["discountCodeDelete"] = gqlField{typ: "DiscountCodeDeletePayload", args: map[string]bool{"id": true}}
	shopifySchema["StoreCreditAccountCreditPayload"] = gqlType{fields: map[string]gqlField{
		"storeCreditAccountTransaction": {typ: "StoreCreditAccountCreditTransaction"},
		"userErrors":                    {typ: "StoreCreditAccountCreditUserError", list: true},
	}}
	shopifySchema["StoreCreditAccountCreditUserError"] = gqlType{fields: map[string]gqlField{
		"field": {typ: "String", list: true}, "message": {typ: "String"}, "code": {typ: "StoreCreditAccountCreditUserErrorCode"},
	}}
	shopifySchema["DiscountCodeDeletePayload"] = gqlType{fields: map[string]gqlField{
		"deletedCodeDiscountId": {typ: "ID"}, "userErrors": {typ: "DiscountUserError", list: true},
	}}
	shopifySchema["Customer"].fields["storeCreditAccounts"] = gqlField{typ: "StoreCreditAccountConnection", conn: true, args: connArgs}
	shopifySchema["StoreCreditAccountConnection"] = gqlType{fields: map[string]gqlField{
		"nodes": {typ: "StoreCreditAccount", list: true}, "pageInfo": {typ: "PageInfo"},
	}}
	shopifySchema["StoreCreditAccount"] = gqlType{fields: map[string]gqlField{
		"id": {typ: "ID"}, "balance": {typ: "MoneyV2"},
		"transactions": {typ: "StoreCreditAccountTransactionConnection", conn: true, args: connArgs},
	}}
	shopifySchema["StoreCreditAccountTransactionConnection"] = gqlType{fields: map[string]gqlField{
		"nodes": {typ: "StoreCreditAccountTransaction", list: true}, "pageInfo": {typ: "PageInfo"},
	}}
	// An interface in Shopify's schema; the fake models it as a union of
	// its implementations, so fields are read through fragments.
	shopifySchema["StoreCreditAccountTransaction"] = gqlType{members: []string{
		"StoreCreditAccountCreditTransaction", "StoreCreditAccountDebitTransaction",
		"StoreCreditAccountDebitRevertTransaction", "StoreCreditAccountExpirationTransaction",
	}}
	shopifySchema["StoreCreditAccountCreditTransaction"] = gqlType{fields: map[string]gqlField{
		"id": {typ: "ID"}, "amount": {typ: "MoneyV2"}, "remainingAmount": {typ: "MoneyV2"},
		"balanceAfterTransaction": {typ: "MoneyV2"}, "expiresAt": {typ: "DateTime"}, "createdAt": {typ: "DateTime"},
		"account": {typ: "StoreCreditAccount"},
	}}
	shopifySchema["MoneyV2"] = gqlType{fields: map[string]gqlField{"amount": {typ: "Decimal"}, "currencyCode": {typ: "CurrencyCode"}}}
}

// SetCurrency sets the shop's currency (Shop.currencyCode; default USD),
// the only one store credit may be issued in.
func (f *Shopify) SetCurrency(shop, currency string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shopLocked(normalizeShop(shop)).currency = strings.ToUpper(currency)
}

func (s *shopifyShop) currencyCode() string { return orDefault(s.currency, "USD") }

// RefuseNextStoreCredit makes the next storeCreditAccountCredit of shop
// answer one user error with code (a StoreCreditAccountCreditUserErrorCode
// such as CREDIT_LIMIT_EXCEEDED) and message, crediting nothing.
func (f *Shopify) RefuseNextStoreCredit(shop, code, message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shopLocked(normalizeShop(shop))
	s.refuseCredits = append(s.refuseCredits, creditRefusal{code, message})
}

// RemoveCustomer deletes a customer of shop, as when it was deleted in the
// admin; its store credit accounts stay, unreachable through it.
func (f *Shopify) RemoveCustomer(shop string, id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shopLocked(normalizeShop(shop))
	for i, c := range s.customers {
		if c.ID == id {
			s.customers = append(s.customers[:i:i], s.customers[i+1:]...)
			return
		}
	}
}

// DeleteDiscount deletes a discount of shop, as a merchant would in the
// admin.
func (f *Shopify) DeleteDiscount(shop, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shopLocked(normalizeShop(shop))
	for i, d := range s.discounts {
		if d.ID == id {
			s.discounts = append(s.discounts[:i:i], s.discounts[i+1:]...)
			return
		}
	}
}

// UseDiscount records that an order used the discount holding code (any
// case), as checkout does before the order's webhook arrives; it reports
// whether such a discount exists.
func (f *Shopify) UseDiscount(shop, code string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shopLocked(normalizeShop(shop))
	for i := range s.discounts {
		if strings.EqualFold(s.discounts[i].Code, code) {
			s.discounts[i].Uses++
			return true
		}
	}
	return false
}

// StoreCredits returns every store credit transaction made in shop, oldest
// first.
func (f *Shopify) StoreCredits(shop string) []ShopifyStoreCredit {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ShopifyStoreCredit
	for _, c := range f.shopLocked(normalizeShop(shop)).credits {
		out = append(out, *c)
	}
	return out
}

// CheckRewardDiscount reports what is wrong with d as a loyalty reward
// code for one customer (nil when nothing): it must be limited to exactly
// that customer (context.customers.add = [customerGID], no segment) and be
// usable once (usageLimit 1, appliesOncePerCustomer).
func CheckRewardDiscount(d ShopifyDiscount, customerGID string) error {
	var problems []string
	if len(d.CustomerIDs) != 1 || d.CustomerIDs[0] != customerGID || len(d.CustomerSegmentIDs) != 0 {
		problems = append(problems, fmt.Sprintf("limited to customers %v and segments %v, not to %s alone", d.CustomerIDs, d.CustomerSegmentIDs, customerGID))
	}
	if d.UsageLimit != 1 {
		problems = append(problems, fmt.Sprintf("usage limit %d, not 1", d.UsageLimit))
	}
	if !d.AppliesOncePerCustomer {
		problems = append(problems, "not once per customer")
	}
	if ctx, ok := d.Input["context"].(map[string]any); ok && ctx["all"] != nil {
		problems = append(problems, "context all")
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("discount %s: %s", d.Code, strings.Join(problems, "; "))
}

// DenyStoreCredit makes storeCreditAccountCredit and
// Customer.storeCreditAccounts answer ACCESS_DENIED for shop, as for an app
// installed before it asked for the store credit scopes (deny false grants
// them again).
func (f *Shopify) DenyStoreCredit(shop string, deny bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shopLocked(normalizeShop(shop)).noStoreCredit = deny
}

// denyStoreCredit reports, and records as a top-level ACCESS_DENIED error,
// whether the shop lacks the store credit scope for field.
func (e *gqlExec) denyStoreCredit(fld *ast.Field, path []any, scope string) bool {
	if !e.shop.noStoreCredit {
		return false
	}
	e.fail(fmt.Sprintf("Access denied for %s field. Required access: `%s` access scope.", fld.Name, scope), fld.Position, path,
		ext("code", "ACCESS_DENIED", "documentation", "https://shopify.dev/api/usage/access-scopes", "requiredAccess", "`"+scope+"` access scope."))
	return true
}

// creditStoreCredit implements storeCreditAccountCredit.
func (e *gqlExec) creditStoreCredit(a map[string]any) *storeCreditPayload {
	p := &storeCreditPayload{}
	add := func(field []string, code, msg string) {
		p.errors = append(p.errors, &userError{field: field, message: msg, code: code})
	}
	if len(e.shop.refuseCredits) > 0 {
		r := e.shop.refuseCredits[0]
		e.shop.refuseCredits = e.shop.refuseCredits[1:]
		add([]string{"creditInput"}, r.code, r.message)
		return p
	}
	shopCurrency := e.shop.currencyCode()
	id, _ := a["id"].(string)
	var account *shopifyCreditAccount
	var customer *ShopifyCustomer
	if cid, ok := parseGID(id, "Customer"); ok {
		customer, _ = e.findCustomer(func(c *ShopifyCustomer) bool { return c.ID == cid }).(*ShopifyCustomer)
		if customer == nil {
			add([]string{"id"}, "OWNER_NOT_FOUND", "Owner does not exist.")
			return p
		}
	} else {
		for _, acc := range e.shop.creditAccounts {
			if acc.ID == id {
				account = acc
			}
		}
		if account == nil {
			add([]string{"id"}, "ACCOUNT_NOT_FOUND", "The store credit account could not be found.")
			return p
		}
	}
	in, _ := a["creditInput"].(map[string]any)
	money, _ := in["creditAmount"].(map[string]any)
	amountText := fmt.Sprint(money["amount"])
	amount, err := decimal.NewFromString(amountText)
	currency, _ := money["currencyCode"].(string)
	switch {
	case err != nil:
		add([]string{"creditInput", "creditAmount", "amount"}, "", "Amount is invalid")
	case amount.Sign() <= 0:
		add([]string{"creditInput", "creditAmount", "amount"}, "NEGATIVE_OR_ZERO_AMOUNT", "A positive amount must be used to credit a store credit account.")
	}
	switch {
	case account != nil && !strings.EqualFold(account.Currency, currency):
		add([]string{"creditInput", "creditAmount", "currencyCode"}, "MISMATCHING_CURRENCY", "The currency provided does not match the currency of the store credit account.")
	case !strings.EqualFold(currency, shopCurrency):
		add([]string{"creditInput", "creditAmount", "currencyCode"}, "UNSUPPORTED_CURRENCY", "The currency provided is not currently supported.")
	}
	rawExpiry, _ := in["expiresAt"].(string)
	expires, perr := time.Parse(time.RFC3339, rawExpiry)
	switch {
	case rawExpiry == "":
		// Stricter than Shopify (see the file comment): no code exists.
		add([]string{"creditInput", "expiresAt"}, "", "Expires at can't be blank (the fake requires an expiry on every store credit)")
	case perr != nil:
		add([]string{"creditInput", "expiresAt"}, "", "Expires at is invalid")
	case !expires.After(e.f.now()):
		add([]string{"creditInput", "expiresAt"}, "EXPIRES_AT_IN_PAST", "The expiry date must be in the future.")
	}
	if len(p.errors) > 0 {
		return p
	}
	if account == nil {
		for _, acc := range e.shop.creditAccounts {
			if acc.CustomerID == customer.ID && strings.EqualFold(acc.Currency, currency) {
				account = acc
			}
		}
		if account == nil {
			e.f.nextID++
			account = &shopifyCreditAccount{ID: fmt.Sprintf("gid://shopify/StoreCreditAccount/%d", 7000+e.f.nextID),
				CustomerID: customer.ID, Currency: strings.ToUpper(currency)}
			e.shop.creditAccounts = append(e.shop.creditAccounts, account)
		}
	}
	e.f.nextID++
	tx := &ShopifyStoreCredit{
		ID: fmt.Sprintf("gid://shopify/StoreCreditAccountCreditTransaction/%d", 8000+e.f.nextID), AccountID: account.ID,
		CustomerID: account.CustomerID, Amount: amount, Remaining: amount, Currency: account.Currency,
		ExpiresAt: expires.UTC(), CreatedAt: e.f.now().UTC(),
	}
	e.shop.credits = append(e.shop.credits, tx)
	p.tx = tx
	return p
}

// deleteDiscount implements discountCodeDelete. [INFERRED] the user error
// for an unknown id.
func (e *gqlExec) deleteDiscount(a map[string]any) *discountDeletePayload {
	id, _ := a["id"].(string)
	for i, d := range e.shop.discounts {
		if d.ID == id {
			e.shop.discounts = append(e.shop.discounts[:i:i], e.shop.discounts[i+1:]...)
			return &discountDeletePayload{deletedID: id}
		}
	}
	return &discountDeletePayload{errors: []any{&userError{field: []string{"id"}, message: "Discount does not exist", code: "INVALID"}}}
}

// storeCreditAccounts serves Customer.storeCreditAccounts.
func (e *gqlExec) storeCreditAccounts(c *ShopifyCustomer, a map[string]any) any {
	var items []any
	var cursors []string
	for _, acc := range e.shop.creditAccounts {
		if acc.CustomerID == c.ID {
			items = append(items, acc)
			cursors = append(cursors, acc.ID)
		}
	}
	return paginate(items, cursors, toInt(a["first"]), toInt(a["last"]), a)
}

// creditTransactions serves StoreCreditAccount.transactions, newest last
// (reverse for newest first), filtered by expires_at terms (">=", "<=",
// ">", "<", ":" for equal, ANDed); other terms are ignored as Shopify does.
func (e *gqlExec) creditTransactions(acc *shopifyCreditAccount, a map[string]any) any {
	q, _ := a["query"].(string)
	var items []any
	var cursors []string
	for _, t := range e.shop.credits {
		if t.AccountID == acc.ID && matchExpiresAt(t.ExpiresAt, q) {
			items = append(items, t)
			cursors = append(cursors, t.ID)
		}
	}
	if rev, _ := a["reverse"].(bool); rev {
		for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
			items[i], items[j] = items[j], items[i]
			cursors[i], cursors[j] = cursors[j], cursors[i]
		}
	}
	return paginate(items, cursors, toInt(a["first"]), toInt(a["last"]), a)
}

func matchExpiresAt(t time.Time, q string) bool {
	for _, term := range splitSearch(q) {
		v, ok := strings.CutPrefix(strings.ToLower(term), "expires_at:")
		if !ok {
			continue
		}
		op := ""
		for _, o := range []string{">=", "<=", ">", "<"} {
			if strings.HasPrefix(v, o) {
				op, v = o, v[len(o):]
				break
			}
		}
		bound, err := time.Parse(time.RFC3339, strings.ToUpper(strings.Trim(v, `"'`)))
		if err != nil {
			return false
		}
		switch op {
		case ">=":
			ok = !t.Before(bound)
		case "<=":
			ok = !t.After(bound)
		case ">":
			ok = t.After(bound)
		case "<":
			ok = t.Before(bound)
		default:
			ok = t.Equal(bound)
		}
		if !ok {
			return false
		}
	}
	return true
}

// resolveStoreCreditTypes resolves the types this file adds.
func (e *gqlExec) resolveStoreCreditTypes(typeName string, obj any, fld *ast.Field) any {
	a := e.args(fld)
	switch typeName {
	case "StoreCreditAccountCreditPayload":
		p := obj.(*storeCreditPayload)
		if fld.Name == "userErrors" {
			return p.errors
		}
		if p.tx == nil {
			return nil
		}
		return p.tx
	case "StoreCreditAccountCreditUserError":
		u := obj.(*userError)
		switch fld.Name {
		case "field":
			out := make([]any, len(u.field))
			for i, s := range u.field {
				out[i] = s
			}
			return out
		case "message":
			return u.message
		case "code":
			return nullable(u.code)
		}
	case "DiscountCodeDeletePayload":
		p := obj.(*discountDeletePayload)
		if fld.Name == "userErrors" {
			return p.errors
		}
		return nullable(p.deletedID)
	case "StoreCreditAccountConnection", "StoreCreditAccountTransactionConnection":
		pg := obj.(*connPage)
		if fld.Name == "nodes" {
			return pg.items
		}
		return pg
	case "StoreCreditAccount":
		acc := obj.(*shopifyCreditAccount)
		switch fld.Name {
		case "id":
			return acc.ID
		case "balance":
			sum := decimal.Zero
			for _, t := range e.shop.credits {
				if t.AccountID == acc.ID && t.ExpiresAt.After(e.f.now()) {
					sum = sum.Add(t.Remaining)
				}
			}
			return &moneyVal{sum, acc.Currency}
		case "transactions":
			return e.creditTransactions(acc, a)
		}
	case "StoreCreditAccountCreditTransaction":
		t := obj.(*ShopifyStoreCredit)
		switch fld.Name {
		case "id":
			return t.ID
		case "amount", "balanceAfterTransaction":
			return &moneyVal{t.Amount, t.Currency}
		case "remainingAmount":
			return &moneyVal{t.Remaining, t.Currency}
		case "expiresAt":
			return t.ExpiresAt.UTC().Format(time.RFC3339)
		case "createdAt":
			return t.CreatedAt.UTC().Format(time.RFC3339)
		case "account":
			for _, acc := range e.shop.creditAccounts {
				if acc.ID == t.AccountID {
					return acc
				}
			}
		}
	case "MoneyV2":
		m := obj.(*moneyVal)
		if fld.Name == "amount" {
			return m.amount.String()
		}
		return m.currency
	}
	return nil
}
