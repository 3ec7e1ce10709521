package shopify

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/perkbridge/perkbridge/app"
)

// This file holds the Admin API calls of store credit rewards and of
// cancelled redemptions: storeCreditAccountCredit, the look-up of a
// customer's store credit transactions that reconciles a credit whose
// answer was lost, and discountCodeDelete.

// StoreCreditInput is one credit to a customer's store credit account.
// storeCreditAccountCredit takes no idempotency key: the caller journals the
// intent first and, after any doubt, looks the credit up
// (StoreCreditCredits) before sending it again.
type StoreCreditInput struct {
	// OwnerGID is the customer (gid://shopify/Customer/N); Shopify opens the
	// account in Currency when the customer has none.
	OwnerGID string
	Amount   string // decimal text in major units, "5.00"
	Currency string // ISO 4217, the shop currency
	// ExpiresAt is when the credit expires; it must be in the future.
	// Perkbridge always sends it, to the second, and finds the credit by it.
	ExpiresAt time.Time
}

// StoreCreditTransaction is a StoreCreditAccountCreditTransaction.
type StoreCreditTransaction struct {
	ID        string // gid://shopify/StoreCreditAccountCreditTransaction/N
	AccountID string // gid://shopify/StoreCreditAccount/N
	Amount    Money
	Currency  string
	Remaining Money // what the customer has not spent of it
	ExpiresAt time.Time
	CreatedAt time.Time
}

type moneyV2 struct {
	Amount       Money  `json:"amount"`
	CurrencyCode string `json:"currencyCode"`
}

type creditTransaction struct {
	Typename        string    `json:"__typename"`
	ID              string    `json:"id"`
	Amount          moneyV2   `json:"amount"`
	RemainingAmount moneyV2   `json:"remainingAmount"`
	ExpiresAt       time.Time `json:"expiresAt"`
	CreatedAt       time.Time `json:"createdAt"`
	Account         *struct {
		ID string `json:"id"`
	} `json:"account"`
}

func (t creditTransaction) transaction(accountID string) StoreCreditTransaction {
	if t.Account != nil && t.Account.ID != "" {
		accountID = t.Account.ID
	}
	return StoreCreditTransaction{ID: t.ID, AccountID: accountID, Amount: t.Amount.Amount, Currency: t.Amount.CurrencyCode,
		Remaining: t.RemainingAmount.Amount, ExpiresAt: t.ExpiresAt.UTC(), CreatedAt: t.CreatedAt.UTC()}
}

const storeCreditAccountCredit = `mutation StoreCreditAccountCredit($id: ID!, $creditInput: StoreCreditAccountCreditInput!) {
  storeCreditAccountCredit(id: $id, creditInput: $creditInput) {
    storeCreditAccountTransaction {
      id amount { amount currencyCode } remainingAmount { amount currencyCode } expiresAt createdAt account { id }
    }
    userErrors { field message code }
  }
}`

// CreditStoreCredit adds in.Amount of store credit to the customer's
// account (storeCreditAccountCredit), expiring at in.ExpiresAt. Shopify's
// userErrors (ACCOUNT_NOT_FOUND, OWNER_NOT_FOUND, EXPIRES_AT_IN_PAST,
// MISMATCHING_CURRENCY, NEGATIVE_OR_ZERO_AMOUNT, UNSUPPORTED_CURRENCY,
// CREDIT_LIMIT_EXCEEDED) come back as an EINVALID *app.Error wrapping a
// *MutationError: final, the credit was not made. The mutation is sent once
// (DoOnce): any other error leaves it unknown whether the credit was made,
// and the caller must look it up (StoreCreditCredits) before sending again.
func (c *Client) CreditStoreCredit(ctx context.Context, in StoreCreditInput) (*StoreCreditTransaction, error) {
	switch {
	case in.OwnerGID == "":
		return nil, app.FieldError("id", "A customer or store credit account id is required.")
	case len(in.Currency) != 3:
		return nil, app.FieldError("currencyCode", "A three-letter currency code is required.")
	case in.ExpiresAt.IsZero():
		return nil, app.FieldError("expiresAt", "Perkbridge sends every store credit with its expiry.")
	}
	if n, err := Money(in.Amount).MinorUnits(6); err != nil || n <= 0 {
		return nil, app.FieldError("amount", "Amount must be a positive decimal.")
	}
	vars := map[string]any{
		"id": in.OwnerGID,
		"creditInput": map[string]any{
			"creditAmount": map[string]any{"amount": in.Amount, "currencyCode": strings.ToUpper(in.Currency)},
			"expiresAt":    in.ExpiresAt.UTC().Format(time.RFC3339),
		},
	}
	var data struct {
		Credit *struct {
			Transaction *creditTransaction `json:"storeCreditAccountTransaction"`
			UserErrors  []UserError        `json:"userErrors"`
		} `json:"storeCreditAccountCredit"`
	}
	// Never resent on a 5xx or a timeout: Shopify may have credited.
	if err := c.DoOnce(ctx, storeCreditAccountCredit, vars, &data); err != nil {
		return nil, fmt.Errorf("shopify: credit store credit: %w", err)
	}
	if data.Credit == nil {
		return nil, fmt.Errorf("shopify: credit store credit: empty response")
	}
	if err := UserErrorsErr("credit store credit", data.Credit.UserErrors); err != nil {
		return nil, err
	}
	if data.Credit.Transaction == nil {
		return nil, fmt.Errorf("shopify: credit store credit: no transaction returned")
	}
	t := data.Credit.Transaction.transaction("")
	return &t, nil
}

const storeCreditCredits = `query StoreCreditCredits($id: ID!, $query: String!) {
  customer(id: $id) {
    storeCreditAccounts(first: 5) {
      nodes {
        id
        transactions(first: 25, reverse: true, query: $query) {
          nodes {
            __typename
            ... on StoreCreditAccountCreditTransaction {
              id amount { amount currencyCode } remainingAmount { amount currencyCode } expiresAt createdAt
            }
          }
        }
      }
    }
  }
}`

// StoreCreditCredits returns the credit transactions of the customer's
// store credit accounts that expire within a second of expiresAt
// (transactions' expires_at filter), newest first. A customer Shopify does
// not know is an ENOTFOUND *app.Error; a customer without an account has
// none.
func (c *Client) StoreCreditCredits(ctx context.Context, customerGID string, expiresAt time.Time) ([]StoreCreditTransaction, error) {
	from, to := expiresAt.UTC().Add(-time.Second), expiresAt.UTC().Add(time.Second)
	q := fmt.Sprintf("expires_at:>='%s' AND expires_at:<='%s'", from.Format(time.RFC3339), to.Format(time.RFC3339))
	var data struct {
		Customer *struct {
			Accounts struct {
				Nodes []struct {
					ID           string `json:"id"`
					Transactions struct {
						Nodes []creditTransaction `json:"nodes"`
					} `json:"transactions"`
				} `json:"nodes"`
			} `json:"storeCreditAccounts"`
		} `json:"customer"`
	}
	if err := c.Do(ctx, storeCreditCredits, map[string]any{"id": customerGID, "query": q}, &data); err != nil {
		return nil, fmt.Errorf("shopify: store credit transactions: %w", err)
	}
	if data.Customer == nil {
		return nil, app.Errorf(app.ENOTFOUND, "Customer not found in Shopify.")
	}
	var out []StoreCreditTransaction
	for _, a := range data.Customer.Accounts.Nodes {
		for _, t := range a.Transactions.Nodes {
			if t.Typename == "StoreCreditAccountCreditTransaction" && t.ID != "" {
				out = append(out, t.transaction(a.ID))
			}
		}
	}
	return out, nil
}

const discountCodeDelete = `mutation DiscountCodeDelete($id: ID!) {
  discountCodeDelete(id: $id) {
    deletedCodeDiscountId
    userErrors { field message code }
  }
}`

// DeleteDiscountCode deletes a code discount (discountCodeDelete), so a
// cancelled reward's code stops working at once. A discount that no longer
// exists counts as deleted: ok reports whether this call deleted it.
func (c *Client) DeleteDiscountCode(ctx context.Context, discountID string) (deleted bool, err error) {
	var data struct {
		Delete *struct {
			DeletedID  *string     `json:"deletedCodeDiscountId"`
			UserErrors []UserError `json:"userErrors"`
		} `json:"discountCodeDelete"`
	}
	if err := c.Do(ctx, discountCodeDelete, map[string]any{"id": discountID}, &data); err != nil {
		return false, fmt.Errorf("shopify: delete discount code: %w", err)
	}
	if data.Delete == nil {
		return false, fmt.Errorf("shopify: delete discount code: empty response")
	}
	if ue := data.Delete.UserErrors; len(ue) > 0 {
		for _, e := range ue {
			if strings.Contains(strings.ToLower(e.Message), "does not exist") {
				return false, nil
			}
		}
		return false, UserErrorsErr("delete discount code", ue)
	}
	return data.Delete.DeletedID != nil, nil
}

const discountUsage = `query DiscountUsage($code: String!) {
  codeDiscountNodeByCode(code: $code) { id codeDiscount { __typename ... on DiscountCodeBasic { asyncUsageCount } } }
}`

// DiscountUsage looks a code up and returns its discount's id and how many
// orders used it (asyncUsageCount, which Shopify updates asynchronously,
// so a use a moment old may not show yet). found is false when no discount
// holds the code.
func (c *Client) DiscountUsage(ctx context.Context, code string) (id string, uses int, found bool, err error) {
	var data struct {
		Node *struct {
			ID           string `json:"id"`
			CodeDiscount *struct {
				AsyncUsageCount int `json:"asyncUsageCount"`
			} `json:"codeDiscount"`
		} `json:"codeDiscountNodeByCode"`
	}
	if err := c.Do(ctx, discountUsage, map[string]any{"code": code}, &data); err != nil {
		return "", 0, false, fmt.Errorf("shopify: discount usage: %w", err)
	}
	if data.Node == nil {
		return "", 0, false, nil
	}
	if data.Node.CodeDiscount != nil {
		uses = data.Node.CodeDiscount.AsyncUsageCount
	}
	return data.Node.ID, uses, true, nil
}
