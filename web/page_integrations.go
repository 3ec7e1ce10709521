package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/clevertap"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/templates"
)

// integrationForms are the set-up forms as submitted, to show back after a
// failed Initialize; nil means "as stored".
type integrationForms struct {
	cleverTap *templates.CleverTapForm
	klaviyo   *templates.KlaviyoForm
}

// handleIntegrationsPage shows a card per sink: state and set-up form.
func (s *server) handleIntegrationsPage(c echo.Context) error {
	return s.renderIntegrations(c, http.StatusOK, integrationForms{})
}

// renderIntegrations renders the integrations page; forms given in f
// replace the stored values of their card.
func (s *server) renderIntegrations(c echo.Context, status int, f integrationForms) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	list, err := s.forward.List(c.Request().Context(), shop.ID)
	if err != nil {
		return err
	}
	loc, err := s.shopLocation(c, shop.ID)
	if err != nil {
		return err
	}
	v := templates.IntegrationsView{
		Shell:     s.pageShell(c, "Integrations", routeAppIntegrations),
		EventsURL: s.pageURL(c, routeAppEvents, nil),
	}
	for _, in := range list {
		st := s.integrationState(c, in, loc)
		choice, meta := splitProperty(in.CommonProperty)
		switch in.Kind {
		case forward.KindCleverTap:
			form := templates.CleverTapForm{CommonProperty: choice, Metafield: meta, AccountID: in.AccountID, Region: in.Region, PhoneFallback: in.PhoneFallback}
			if f.cleverTap != nil {
				form = *f.cleverTap
			}
			if form.Region == "" {
				form.Region = clevertap.DefaultRegion
			}
			form.Action = s.pageURL(c, routeAppIntegrationConnect, nil, in.Kind)
			form.FallbackSent = s.fallbackSent(c, in.Kind)
			form.Regions = regionOptions()
			form.PasscodeHint = in.CredentialsHint
			v.CleverTap = templates.CleverTapCard{State: st, Form: form}
		case forward.KindKlaviyo:
			form := templates.KlaviyoForm{CommonProperty: choice, Metafield: meta, PhoneFallback: in.PhoneFallback, SendPhone: in.SendPhone}
			if f.klaviyo != nil {
				form = *f.klaviyo
			}
			form.Action = s.pageURL(c, routeAppIntegrationConnect, nil, in.Kind)
			form.FallbackSent = s.fallbackSent(c, in.Kind)
			form.KeyHint = in.CredentialsHint
			v.Klaviyo = templates.KlaviyoCard{State: st, Form: form}
		}
	}
	return render(c, status, templates.IntegrationsPage(v))
}

// integrationState is a card's state from the service's view.
func (s *server) integrationState(c echo.Context, in forward.IntegrationView, loc *time.Location) templates.IntegrationState {
	st := templates.IntegrationState{
		Kind: in.Kind, Label: kindLabel(in.Kind), Status: in.Status, Reason: in.StatusReason,
		CredentialsHint: in.CredentialsHint,
	}
	if in.ValidatedAt != nil {
		t := in.ValidatedAt.In(loc)
		st.ValidatedAt = &t
	}
	if in.Status == store.IntegrationInitializing {
		st.Reason = ""
	}
	if in.Kind == forward.KindCleverTap && in.AccountID != "" {
		st.Account = "Project " + in.AccountID
		if r, ok := clevertap.LookupRegion(in.Region); ok {
			st.Account += " in " + r.Name + " (" + r.Code + ")"
		}
	}
	if in.Kind == forward.KindKlaviyo && in.CredentialsHint != "" {
		st.Account = "Private key " + in.CredentialsHint
	}
	// A row exists once a set-up was submitted, even a failed one.
	if in.Status != store.IntegrationNotConnected || in.StatusReason != "" || in.CommonProperty != "" {
		st.DisconnectURL = s.pageURL(c, routeAppIntegrationDisconnect, nil, in.Kind)
	}
	return st
}

// regionOptions lists CleverTap's regions by name, as the server prefix
// select offers them.
func regionOptions() []templates.Option {
	out := make([]templates.Option, 0, len(clevertap.Regions))
	for _, r := range clevertap.Regions {
		out = append(out, templates.Option{Value: r.Code, Label: r.Name + " (" + r.Code + ")"})
	}
	return out
}

// handleIntegrationConnectPage is "Initialize": it validates the set-up
// with the sink. Success redirects to the page with a confirmation; a
// refusal (wrong region, bad key) shows the form again, 422, with the
// sink's exact reason next to the field to change.
func (s *server) handleIntegrationConnectPage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	kind := c.Param("kind")
	ctx := c.Request().Context()
	prop := joinProperty(c.FormValue("common_property"), c.FormValue("metafield"))
	var (
		v     forward.IntegrationView
		forms integrationForms
	)
	switch kind {
	case forward.KindCleverTap:
		f := &templates.CleverTapForm{
			CommonProperty: strings.TrimSpace(c.FormValue("common_property")), Metafield: strings.TrimSpace(c.FormValue("metafield")),
			AccountID: strings.TrimSpace(c.FormValue("account_id")), Region: strings.TrimSpace(c.FormValue("region")),
			PhoneFallback: c.FormValue("phone_fallback") == "true",
		}
		forms.cleverTap = f
		v, err = s.forward.ConnectCleverTap(ctx, shop.ID, forward.CleverTapInput{
			CommonProperty: prop, AccountID: f.AccountID, Passcode: c.FormValue("passcode"), Region: f.Region,
			PhoneFallback: formChoice(c, "phone_fallback"),
		})
		if err != nil {
			return s.integrationFailed(c, err, forms, &f.Errors)
		}
		if v.Status != store.IntegrationActive {
			f.Errors = templates.FieldErrors{cleverTapReasonField(v.StatusReason): v.StatusReason}
			return s.renderIntegrations(c, http.StatusUnprocessableEntity, forms)
		}
	case forward.KindKlaviyo:
		f := &templates.KlaviyoForm{
			CommonProperty: strings.TrimSpace(c.FormValue("common_property")), Metafield: strings.TrimSpace(c.FormValue("metafield")),
			PhoneFallback: c.FormValue("phone_fallback") == "true", SendPhone: c.FormValue("send_phone") == "true",
		}
		forms.klaviyo = f
		v, err = s.forward.ConnectKlaviyo(ctx, shop.ID, forward.KlaviyoInput{CommonProperty: prop, PrivateAPIKey: c.FormValue("private_api_key"),
			PhoneFallback: formChoice(c, "phone_fallback"), SendPhone: formChoice(c, "send_phone")})
		if err != nil {
			return s.integrationFailed(c, err, forms, &f.Errors)
		}
		if v.Status != store.IntegrationActive {
			f.Errors = templates.FieldErrors{"private_api_key": v.StatusReason}
			return s.renderIntegrations(c, http.StatusUnprocessableEntity, forms)
		}
	default:
		return app.Errorf(app.ENOTFOUND, "Unknown integration %q: use klaviyo or clevertap.", kind)
	}
	return s.pageRedirect(c, routeAppIntegrations, kind+"-connected", nil)
}

// integrationFailed shows the set-up form again with the problems of err
// (invalid input: 422; the sink could not be reached: 503).
func (s *server) integrationFailed(c echo.Context, err error, forms integrationForms, errs *templates.FieldErrors) error {
	status, fields, ok := pageProblem(err)
	if !ok {
		return err
	}
	*errs = fields
	return s.renderIntegrations(c, status, forms)
}

// cleverTapReasonField is the input a refused CleverTap set-up points at:
// the server prefix when the credentials work in another region, the form
// as a whole otherwise.
func cleverTapReasonField(reason string) string {
	if strings.Contains(reason, "work in") || strings.Contains(reason, "server prefix") {
		return "region"
	}
	return ""
}

// handleIntegrationDisconnectPage disconnects an integration.
func (s *server) handleIntegrationDisconnectPage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	kind := c.Param("kind")
	if err := s.forward.Disconnect(c.Request().Context(), shop.ID, kind); err != nil {
		if app.ErrorCode(err) == app.ENOTFOUND && (kind == forward.KindCleverTap || kind == forward.KindKlaviyo) {
			// Already gone (a second click): the outcome is the same.
			return s.pageRedirect(c, routeAppIntegrations, kind+"-disconnected", nil)
		}
		return err
	}
	return s.pageRedirect(c, routeAppIntegrations, kind+"-disconnected", nil)
}

// formChoice reads an identity checkbox of the integration forms: the form
// marks that it carries the choices (identity_choices), so an unchecked
// box means off; a post without the marker keeps the saved choice (nil).
func formChoice(c echo.Context, name string) *bool {
	if c.FormValue("identity_choices") == "" {
		return nil
	}
	v := c.FormValue(name) == "true"
	return &v
}

// fallbackSent counts the events of the last 30 days that reached a
// customer of the integration of kind by phone (the fallback); 0 when it
// cannot be counted (the page still renders).
func (s *server) fallbackSent(c echo.Context, kind string) int64 {
	shop, err := shopFrom(c)
	if err != nil {
		return 0
	}
	n, err := s.st.CountFallbackDeliveries(c.Request().Context(), shop.ID, kind, s.now().AddDate(0, 0, -30))
	if err != nil {
		s.log.WarnContext(c.Request().Context(), "counting phone fallback deliveries", "err", err)
	}
	return n
}
