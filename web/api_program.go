package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app/program"
)

// handleProgramShow is GET /api/v1/program: the shop's program settings,
// the defaults until the merchant saves some.
func (s *server) handleProgramShow(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	settings, err := s.loyalty.GetProgram(c.Request().Context(), shop.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, settings)
}

// handleProgramSave is PUT /api/v1/program: the body replaces the whole
// program (program.Settings; an absent field is its zero value). Invalid
// settings are 422 with every problem in "fields" (JSON path → message),
// the first one as "field"; nothing is saved. The answer is the settings
// as stored.
func (s *server) handleProgramSave(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	var settings program.Settings
	if err := bindJSON(c, &settings); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.loyalty.SaveProgram(ctx, shop.ID, settings); err != nil {
		return err
	}
	saved, err := s.loyalty.GetProgram(ctx, shop.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, saved)
}
