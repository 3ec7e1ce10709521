package web

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

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
