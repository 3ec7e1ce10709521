package klaviyo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// ImportProfile creates or updates a profile (POST /api/profile-import/),
// setting its custom properties (loyalty_points_balance, loyalty_tier, …).
// Properties not sent are left unchanged. Klaviyo answers 201 when it
// created the profile and 200 when it updated one; a 409 duplicate_profile
// (the identifiers belong to two profiles) is a permanent *APIError whose
// Errors[0].Meta holds duplicate_profile_id.
func (c *Client) ImportProfile(ctx context.Context, p Profile) error {
	if !p.identified() {
		return fmt.Errorf("klaviyo: import profile: %w",
			invalid(ErrInvalidEvent, "The Klaviyo profile has no email, phone number or external id.", "no profile identifier"))
	}
	body, err := marshal(profileRef(p))
	if err != nil {
		return fmt.Errorf("klaviyo: import profile: %w",
			invalid(ErrInvalidEvent, "The Klaviyo profile properties cannot be encoded.", err.Error()))
	}
	_, err = c.do(ctx, "import profile", http.MethodPost, "/api/profile-import/", body)
	return err
}

// Account is the Klaviyo account a private key belongs to.
type Account struct {
	ID                 string
	PublicAPIKey       string
	TestAccount        bool
	Timezone           string
	PreferredCurrency  string
	Locale             string
	Industry           string
	OrganizationName   string
	WebsiteURL         string
	DefaultSenderName  string
	DefaultSenderEmail string
}

// Account returns the key's account (GET /api/accounts/). It is the cheap
// credential check (sinks.md §1.7): a bad key is a 401 *APIError
// (AuthFailure), a valid key without accounts:read a 403 (MissingScope).
// Its limit is 1/s and 15/min, so cache the answer.
func (c *Client) Account(ctx context.Context) (*Account, error) {
	raw, err := c.do(ctx, "account", http.MethodGet, "/api/accounts/", nil)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Data []struct {
			ID         string `json:"id"`
			Attributes struct {
				TestAccount        bool   `json:"test_account"`
				PublicAPIKey       string `json:"public_api_key"`
				Timezone           string `json:"timezone"`
				PreferredCurrency  string `json:"preferred_currency"`
				Locale             string `json:"locale"`
				Industry           string `json:"industry"`
				ContactInformation struct {
					DefaultSenderName  string `json:"default_sender_name"`
					DefaultSenderEmail string `json:"default_sender_email"`
					WebsiteURL         string `json:"website_url"`
					OrganizationName   string `json:"organization_name"`
				} `json:"contact_information"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("klaviyo: account: decode response: %w", err)
	}
	if len(doc.Data) == 0 {
		return nil, errors.New("klaviyo: account: no account in the response")
	}
	d := doc.Data[0]
	a := d.Attributes
	return &Account{
		ID: d.ID, PublicAPIKey: a.PublicAPIKey, TestAccount: a.TestAccount, Timezone: a.Timezone,
		PreferredCurrency: a.PreferredCurrency, Locale: a.Locale, Industry: a.Industry,
		OrganizationName: a.ContactInformation.OrganizationName, WebsiteURL: a.ContactInformation.WebsiteURL,
		DefaultSenderName: a.ContactInformation.DefaultSenderName, DefaultSenderEmail: a.ContactInformation.DefaultSenderEmail,
	}, nil
}
