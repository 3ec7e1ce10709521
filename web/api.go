package web

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Integration kinds and statuses of the JSON API (DESIGN.md §6).
const (
	integrationCleverTap    = "clevertap"
	integrationKlaviyo      = "klaviyo"
	integrationNotConnected = "not_connected"
)

// integrationJSON is an integration in the API.
type integrationJSON struct {
	Kind           string `json:"kind"`
	Status         string `json:"status"` // not_connected, initializing, active, paused
	StatusReason   string `json:"status_reason"`
	CommonProperty string `json:"common_property"`
	Region         string `json:"region,omitempty"` // CleverTap only
}

// handleIntegrationsList is GET /api/v1/integrations. Until forwarding
// lands, no integration can be connected, so both are not_connected.
func (s *server) handleIntegrationsList(c echo.Context) error {
	if _, err := shopFrom(c); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, []integrationJSON{
		{Kind: integrationCleverTap, Status: integrationNotConnected},
		{Kind: integrationKlaviyo, Status: integrationNotConnected},
	})
}

// customerJSON is a customer in the API: identity now, loyalty fields as
// the loyalty engine fills them.
type customerJSON struct {
	ShopifyCustomerID int64             `json:"shopify_customer_id"`
	Email             string            `json:"email"`
	Phone             string            `json:"phone"`
	FirstName         string            `json:"first_name"`
	LastName          string            `json:"last_name"`
	PointsBalance     int64             `json:"points_balance"`
	Tier              string            `json:"tier"`
	Ledger            []ledgerEntryJSON `json:"ledger"`
}

// ledgerEntryJSON is one ledger entry of a customer (DESIGN.md §6).
type ledgerEntryJSON struct {
	Points    int64     `json:"points"`
	Kind      string    `json:"kind"`
	Reason    string    `json:"reason"`
	OrderID   *int64    `json:"order_id"`
	CreatedAt time.Time `json:"created_at"`
}

// handleCustomerShow is GET /api/v1/customers/{shopify_customer_id}. The
// lookup is scoped to the authenticated shop, so another shop's customer
// is simply not found.
func (s *server) handleCustomerShow(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("shopify_customer_id"), "shopify_customer_id")
	if err != nil {
		return err
	}
	cu, err := s.st.CustomerByShopifyID(c.Request().Context(), shop.ID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, customerJSON{
		ShopifyCustomerID: cu.ShopifyID,
		Email:             cu.Email,
		Phone:             cu.Phone,
		FirstName:         cu.FirstName,
		LastName:          cu.LastName,
		Ledger:            []ledgerEntryJSON{},
	})
}

// dataRequestJSON is an export made for customers/data_request, for the
// merchant to download and send to the customer.
type dataRequestJSON struct {
	ID                int64           `json:"id"`
	ShopifyRequestID  int64           `json:"shopify_request_id"`
	ShopifyCustomerID int64           `json:"shopify_customer_id"`
	CreatedAt         time.Time       `json:"created_at"`
	Export            json.RawMessage `json:"export"`
}

// handleDataRequestsList is GET /api/v1/data_requests.
func (s *server) handleDataRequestsList(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	list, err := s.st.DataRequests(c.Request().Context(), shop.ID)
	if err != nil {
		return err
	}
	out := make([]dataRequestJSON, 0, len(list))
	for _, d := range list {
		out = append(out, dataRequestJSON{
			ID: d.ID, ShopifyRequestID: d.ShopifyRequestID, ShopifyCustomerID: d.ShopifyCustomerID,
			CreatedAt: d.CreatedAt, Export: d.Export,
		})
	}
	return c.JSON(http.StatusOK, out)
}
