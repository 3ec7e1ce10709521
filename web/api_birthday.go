package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/loyalty"
)

// birthdayInput is the body of PUT /api/v1/customers/{id}/birthday and
// PUT /proxy/api/v1/birthday (DESIGN.md §6).
type birthdayInput struct {
	Month *int `json:"month"`
	Day   *int `json:"day"`
}

// bindBirthday reads and checks the presence of month and day (their
// calendar check is the loyalty service's).
func bindBirthday(c echo.Context) (time.Month, int, error) {
	var in birthdayInput
	if err := bindJSON(c, &in); err != nil {
		return 0, 0, err
	}
	switch {
	case in.Month == nil:
		return 0, 0, app.FieldError("month", "month is required.")
	case in.Day == nil:
		return 0, 0, app.FieldError("day", "day is required.")
	}
	return time.Month(*in.Month), *in.Day, nil
}

func birthdayJSON(month time.Month, day int) map[string]int {
	return map[string]int{"month": int(month), "day": day}
}

// handleCustomerBirthday is PUT /api/v1/customers/{shopify_customer_id}/birthday:
// staff set (or correct) a customer's birthday; an impossible date is 422
// with the field. It answers the birthday stored.
func (s *server) handleCustomerBirthday(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("shopify_customer_id"), "shopify_customer_id")
	if err != nil {
		return err
	}
	month, day, err := bindBirthday(c)
	if err != nil {
		return err
	}
	if err := s.loyalty.SetBirthday(c.Request().Context(), shop.ID, id, month, day); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, birthdayJSON(month, day))
}

// handleProxyBirthday is PUT /proxy/api/v1/birthday: the signed-in
// shopper sets their own birthday. An impossible date is 422 with the
// field; a change within a year of the last one is 409; the same date again
// is 200 and changes nothing.
func (s *server) handleProxyBirthday(c echo.Context) error {
	shop, id, err := storefrontMember(c)
	if err != nil {
		return err
	}
	month, day, err := bindBirthday(c)
	if err != nil {
		return err
	}
	if err := s.loyalty.SetShopperBirthday(c.Request().Context(), shop.ID, id, month, day); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, birthdayJSON(month, day))
}

// memberBirthday is the member's birthday for GET /proxy/api/v1/member, nil
// when none is known.
func (s *server) memberBirthday(c echo.Context, shop app.Shop, id int64) (*loyalty.Birthday, error) {
	b, ok, err := s.loyalty.CustomerBirthday(c.Request().Context(), shop.ID, id)
	if err != nil || !ok {
		return nil, err
	}
	return &b, nil
}
