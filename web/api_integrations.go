package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/store"
)

// handleIntegrationsList is GET /api/v1/integrations: both kinds, CleverTap
// then Klaviyo, not_connected when the shop never connected one.
func (s *server) handleIntegrationsList(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	list, err := s.forward.List(c.Request().Context(), shop.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

// handleIntegrationShow is GET /api/v1/integrations/{kind}.
func (s *server) handleIntegrationShow(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	v, err := s.forward.Get(c.Request().Context(), shop.ID, c.Param("kind"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// handleIntegrationConnect is PUT /api/v1/integrations/{kind} ("Initialize"):
// the body is forward.KlaviyoInput or forward.CleverTapInput by kind. The
// service saves the integration and checks the credentials with the sink.
// Active answers 200 with the integration. When the sink refused the
// credentials the integration is still saved (not_connected, or paused if
// it had been connected) and the answer is 422: the message is the sink's
// reason, the field is the input to fix (see connectFailureField), and the
// error object carries the saved integration as "integration". An empty
// secret keeps the stored one, so a merchant told to choose another
// CleverTap region re-submits with only the region changed.
func (s *server) handleIntegrationConnect(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var v forward.IntegrationView
	switch kind := c.Param("kind"); kind {
	case forward.KindKlaviyo:
		var in forward.KlaviyoInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		v, err = s.forward.ConnectKlaviyo(ctx, shop.ID, in)
	case forward.KindCleverTap:
		var in forward.CleverTapInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		v, err = s.forward.ConnectCleverTap(ctx, shop.ID, in)
	default:
		return unknownIntegration(kind)
	}
	if err != nil {
		return err
	}
	if v.Status != store.IntegrationActive {
		return &apiFailure{
			err:   app.FieldError(connectFailureField(v), "%s", v.StatusReason),
			extra: map[string]any{"integration": v},
		}
	}
	return c.JSON(http.StatusOK, v)
}

// connectFailureField names the input a merchant should change after the
// sink refused the credentials: the region when CleverTap accepted them in
// another region (the reason names it), else the secret. The service gives
// the outcome only as the reason text; the API test pins both reasons, so
// a reworded reason fails there rather than here.
func connectFailureField(v forward.IntegrationView) string {
	if v.Kind == forward.KindKlaviyo {
		return "private_api_key"
	}
	if strings.Contains(v.StatusReason, "These credentials work in") {
		return "region"
	}
	return "passcode"
}

// handleIntegrationDisconnect is DELETE /api/v1/integrations/{kind}: 204.
// Its event definitions and deliveries go with it (forward.Disconnect).
func (s *server) handleIntegrationDisconnect(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	if err := s.forward.Disconnect(c.Request().Context(), shop.ID, c.Param("kind")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// handleEventsList is GET /api/v1/integrations/{kind}/events.
func (s *server) handleEventsList(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	list, err := s.forward.ListDefinitions(c.Request().Context(), shop.ID, c.Param("kind"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

// handleEventCreate is POST /api/v1/integrations/{kind}/events: 201 with
// the definition; a second definition of the same event is 409.
func (s *server) handleEventCreate(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	var in forward.DefinitionInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	d, err := s.forward.CreateDefinition(c.Request().Context(), shop.ID, c.Param("kind"), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, d)
}

// handleEventUpdate is PATCH /api/v1/integrations/{kind}/events/{id}:
// absent fields are left alone.
func (s *server) handleEventUpdate(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("id"), "id")
	if err != nil {
		return err
	}
	var p forward.DefinitionPatch
	if err := bindJSON(c, &p); err != nil {
		return err
	}
	d, err := s.forward.UpdateDefinition(c.Request().Context(), shop.ID, c.Param("kind"), id, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

// handleEventTest is POST /api/v1/integrations/{kind}/events/{id}/test
// {"customer_id"}: sends a test of the definition to that customer through
// the real delivery path; 202 with the delivery (pending; poll GET
// /api/v1/deliveries?customer_id= for its outcome, payload and answer).
func (s *server) handleEventTest(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("id"), "id")
	if err != nil {
		return err
	}
	// The id as a number or a string (Shopify's ids can exceed 2^53).
	var in struct {
		CustomerID json.RawMessage `json:"customer_id"`
	}
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	cust, err := strconv.ParseInt(strings.Trim(string(in.CustomerID), `"`), 10, 64)
	if err != nil || cust <= 0 {
		return app.FieldError("customer_id", "customer_id must be the customer's Shopify id.")
	}
	d, err := s.forward.SendTest(c.Request().Context(), shop.ID, c.Param("kind"), id, cust)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, d)
}

// handleEventDelete is DELETE /api/v1/integrations/{kind}/events/{id}: 204.
func (s *server) handleEventDelete(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("id"), "id")
	if err != nil {
		return err
	}
	if err := s.forward.DeleteDefinition(c.Request().Context(), shop.ID, c.Param("kind"), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// unknownIntegration is the 404 of a kind that does not exist, worded as
// the forward service words it.
func unknownIntegration(kind string) error {
	return app.Errorf(app.ENOTFOUND, "Unknown integration %q: use klaviyo or clevertap.", kind)
}
