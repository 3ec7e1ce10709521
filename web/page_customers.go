package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/templates"
)

// Limits of the customer pages.
const (
	customerSearchLimit      = 50
	customerEventsShown      = 30
	customerLotsShown        = 50
	customerLedgerShown      = 100
	customerEventsLoaded     = 1000
	customerRedemptionsShown = 50
)

// handleCustomersPage searches the shop's customers by email, phone, name
// or Shopify id; with no query it lists the most recently updated.
func (s *server) handleCustomersPage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	q := strings.TrimSpace(c.QueryParam("q"))
	v := templates.CustomersView{
		Shell: s.pageShell(c, "Customers", routeAppCustomers), Action: s.e.Reverse(routeAppCustomers),
		Hidden: s.pageHidden(c), Query: q, Searched: q != "", Errors: templates.FieldErrors{},
	}
	if len(q) > 200 {
		v.Errors["q"] = "Search for at most 200 characters."
		return render(c, http.StatusUnprocessableEntity, templates.CustomersPage(v))
	}
	list, err := s.st.SearchCustomers(c.Request().Context(), shop.ID, strings.TrimPrefix(q, "gid://shopify/Customer/"), customerSearchLimit)
	if err != nil {
		return err
	}
	for _, cu := range list {
		id := strconv.FormatInt(cu.ShopifyID, 10)
		v.Rows = append(v.Rows, templates.CustomerRow{
			ShopifyID: id, Name: strings.TrimSpace(cu.FirstName + " " + cu.LastName), Email: cu.Email, Phone: cu.Phone,
			URL: s.pageURL(c, routeAppCustomer, nil, id),
		})
	}
	return render(c, http.StatusOK, templates.CustomersPage(v))
}

// handleCustomerPage shows one customer.
func (s *server) handleCustomerPage(c echo.Context) error {
	return s.renderCustomer(c, http.StatusOK, templates.AdjustForm{}, nil)
}

// renderCustomer renders a customer with the adjustment form adjust.
func (s *server) renderCustomer(c echo.Context, status int, adjust templates.AdjustForm, birthday *templates.BirthdayForm) error {
	return s.renderCustomerWith(c, status, adjust, birthday, "")
}

// renderCustomerWith is renderCustomer with the reason a cancellation was
// refused, shown above the rewards.
func (s *server) renderCustomerWith(c echo.Context, status int, adjust templates.AdjustForm, birthday *templates.BirthdayForm, redemptionErr string) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("id"), "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	sh, err := s.st.Shop(ctx, shop.ID)
	if err != nil {
		return err
	}
	loc := sh.Location()
	cv, err := s.loyalty.Customer(ctx, shop.ID, id)
	if err != nil {
		if app.ErrorCode(err) == app.ENOTFOUND {
			return app.Errorf(app.ENOTFOUND, "This shop has no customer %d.", id)
		}
		return err
	}
	row, err := s.st.CustomerByShopifyID(ctx, shop.ID, id)
	if err != nil {
		return err
	}
	settings, err := s.loyalty.GetProgram(ctx, shop.ID)
	if err != nil {
		return err
	}
	sid := strconv.FormatInt(id, 10)
	in := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		l := t.In(loc)
		return &l
	}
	v := templates.CustomerDetailView{
		Shell:     s.pageShell(c, "Customer "+sid, routeAppCustomers),
		BackURL:   s.pageURL(c, routeAppCustomers, nil),
		ShopifyID: sid, Name: strings.TrimSpace(cv.FirstName + " " + cv.LastName), Email: cv.Email, Phone: cv.Phone,
		Balance: cv.PointsBalance, Spendable: cv.SpendablePoints, Pending: cv.PendingPoints, Debt: cv.PointsDebt,
		Lifetime: cv.LifetimePoints, Tier: cv.TierName, TierSince: in(cv.TierSince), TierExpiresAt: in(cv.TierExpiresAt),
		NextExpiryAt: in(cv.NextExpiryAt), NextExpiryPoints: cv.NextExpiryPoints,
		DeliveriesURL: s.pageURL(c, routeAppDeliveries, url.Values{"customer_id": {sid}}),
		ReferralURL:   cv.ReferralURL,
	}
	if v.Tier == "" {
		v.Tier = cv.Tier
	}
	if cv.NextTier != "" {
		v.NextTier = cv.NextTier
		if l, ok := settings.Tiers.Tier(cv.NextTier); ok {
			v.NextTier = l.Name
		}
		if settings.Tiers.Metric == program.MetricAmountSpent {
			cur := shopCurrency(sh.Currency)
			v.ToNextTier = cur + " " + decimal.New(cv.AmountToNextTier, -int32(currencyExponent(cur))).StringFixed(int32(currencyExponent(cur)))
		} else {
			v.ToNextTier = strconv.FormatInt(cv.AmountToNextTier, 10) + " points"
		}
	}

	lots, err := s.st.Lots(ctx, shop.ID, row.ID)
	if err != nil {
		return err
	}
	now := s.now()
	for i := len(lots) - 1; i >= 0 && len(v.Lots) < customerLotsShown; i-- {
		l := lots[i]
		lr := templates.LotRow{Points: l.Points, Remaining: l.Remaining, CreatedAt: l.CreatedAt.In(loc), AvailableAt: in(l.AvailableAt), ExpiresAt: in(l.ExpiresAt)}
		switch {
		case l.Remaining == 0:
			lr.State = "spent"
		case l.ExpiresAt != nil && !now.Before(*l.ExpiresAt):
			lr.State = "expired"
		case l.AvailableAt != nil && now.Before(*l.AvailableAt):
			lr.State = "pending"
		default:
			lr.State = "open"
		}
		v.Lots = append(v.Lots, lr)
	}
	for _, e := range cv.Ledger {
		if len(v.Ledger) == customerLedgerShown {
			break
		}
		v.Ledger = append(v.Ledger, templates.LedgerRow{
			CreatedAt: e.CreatedAt.In(loc), Kind: e.Kind, Reason: e.Reason, Points: e.Points, OrderID: e.OrderID, Actor: e.Actor,
		})
	}

	events, err := s.st.LoyaltyEvents(ctx, shop.ID, store.LoyaltyEventFilter{CustomerID: row.ID, Limit: customerEventsLoaded})
	if err != nil {
		return err
	}
	deliveries, err := s.forward.ListDeliveries(ctx, shop.ID, forward.DeliveryFilter{CustomerID: sid, Limit: 500})
	if err != nil {
		return err
	}
	byEvent := map[string][]forward.DeliveryView{}
	for _, d := range deliveries {
		byEvent[d.EventID] = append(byEvent[d.EventID], d)
	}
	for i := len(events) - 1; i >= 0 && len(v.Events) < customerEventsShown; i-- {
		e := events[i]
		ce := templates.CustomerEvent{ID: e.ID.String(), Event: e.Key, OccurredAt: e.OccurredAt.In(loc), Summary: eventSummary(e)}
		for _, d := range byEvent[e.ID.String()] {
			b := templates.DeliveryBrief{
				IntegrationLabel: kindLabel(d.Integration), Status: d.Status, Attempts: d.Attempts,
				URL: s.pageURL(c, routeAppDeliveries, url.Values{"customer_id": {sid}, "event": {d.Event}, "integration": {d.Integration}}),
			}
			var parts []string
			if d.LastStatusCode != nil {
				parts = append(parts, strconv.Itoa(*d.LastStatusCode))
			}
			if d.LastError != "" {
				parts = append(parts, d.LastError)
			}
			b.Detail = strings.Join(parts, " · ")
			ce.Deliveries = append(ce.Deliveries, b)
		}
		v.Events = append(v.Events, ce)
	}

	if adjust.Key == "" {
		adjust.Key = uuid.NewString()
	}
	adjust.Action = s.pageURL(c, routeAppCustomerAdjust, nil, sid)
	v.Adjust = adjust
	bd, known, err := s.loyalty.CustomerBirthday(ctx, shop.ID, id)
	if err != nil {
		return err
	}
	if birthday == nil { // not a re-rendered post: the form shows what is stored
		birthday = &templates.BirthdayForm{}
		if known {
			birthday.Month, birthday.Day = strconv.Itoa(int(bd.Month)), strconv.Itoa(bd.Day)
		}
	}
	if known {
		birthday.Current = fmt.Sprintf("%d %s", bd.Day, bd.Month)
		birthday.Source = "set in the app"
		if acct, err := s.st.LoyaltyAccount(ctx, shop.ID, row.ID); err != nil || acct.BirthMonth == nil {
			birthday.Source = "from Shopify's birth date"
		} else if acct.BirthdaySetBy == loyalty.BirthdayByShopper {
			birthday.Source = "set by the customer"
		}
	}
	birthday.Action = s.pageURL(c, routeAppCustomerBirthday, nil, sid)
	v.Birthday = *birthday
	coupons, err := s.st.CouponsOf(ctx, shop.ID, row.ID)
	if err != nil {
		return err
	}
	for i, cp := range coupons {
		if i == customerRedemptionsShown {
			break
		}
		v.Redemptions = append(v.Redemptions, s.redemptionRow(c, sid, cp, loc))
	}
	v.RedemptionError = redemptionErr
	return render(c, status, templates.CustomerPage(v))
}

// redemptionRow describes one coupon or store credit for the customer page.
func (s *server) redemptionRow(c echo.Context, sid string, cp store.Coupon, loc *time.Location) templates.RedemptionRow {
	r := templates.RedemptionRow{
		ID: strconv.FormatInt(cp.ID, 10), Reward: cp.RewardName, Code: cp.Code, Points: cp.PointsSpent, Status: cp.Status,
		Used: cp.RedeemedAt != nil, CreatedAt: cp.CreatedAt.In(loc), StoreCredit: cp.DiscountType == store.DiscountTypeStoreCredit,
	}
	if cp.ExpiresAt != nil {
		t := cp.ExpiresAt.In(loc)
		r.ExpiresAt = &t
	}
	switch cp.DiscountType {
	case string(program.DiscountPercentage):
		r.Value = cp.DiscountValue + "% off"
	case string(program.DiscountFixedAmount):
		r.Value = cp.DiscountValue + " off"
	case store.DiscountTypeStoreCredit:
		r.Value = cp.Currency + " " + cp.DiscountValue + " store credit"
		r.Code = ""
	}
	if cp.Status == store.CouponFailed {
		r.Detail = cp.LastError
	}
	if cp.Status == store.CouponActive && cp.RedeemedAt == nil && !r.StoreCredit {
		r.CancelURL = s.pageURL(c, routeAppCustomerCancel, nil, sid, r.ID)
	}
	return r
}

// handleCustomerCancelPage is POST
// /app/customers/{id}/redemptions/{redemption_id}/cancel, the cancel button
// of the customer page (loyalty.CancelRedemption). A refusal (used meanwhile,
// not active: 409; Shopify unreachable: 503) re-renders the page with the
// reason above the rewards.
func (s *server) handleCustomerCancelPage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("id"), "id")
	if err != nil {
		return err
	}
	rid, err := parseID(c.Param("redemption_id"), "redemption_id")
	if err != nil {
		return err
	}
	if _, err := s.loyalty.CancelRedemption(c.Request().Context(), shop.ID, id, rid); err != nil {
		status, errs, ok := pageProblem(err)
		if !ok || app.ErrorCode(err) == app.ENOTFOUND {
			return err
		}
		return s.renderCustomerWith(c, status, templates.AdjustForm{}, nil, firstProblem(errs))
	}
	return s.pageRedirect(c, routeAppCustomer, "redemption-cancelled", nil, strconv.FormatInt(id, 10))
}

// eventSummary writes an event's own fields, in catalog order, as
// "points 404 · reason order · order_name #1001".
func eventSummary(e store.LoyaltyEvent) string {
	def, ok := event.Lookup(event.Key(e.Key))
	if !ok || len(e.Properties) == 0 {
		return ""
	}
	props := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(e.Properties))
	dec.UseNumber()
	if err := dec.Decode(&props); err != nil {
		return ""
	}
	var parts []string
	for _, f := range def.Fields {
		v, ok := props[f.Name]
		if !ok || v == nil || v == "" {
			continue
		}
		s := fmt.Sprint(v)
		if f.Type == event.TypeTime {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				s = t.Format("2 Jan 2006")
			}
		}
		parts = append(parts, f.Name+" "+s)
		if len(parts) == 4 {
			break
		}
	}
	return strings.Join(parts, " · ")
}

// handleCustomerAdjustPage credits or debits points by hand. The form's
// idempotency key makes a double submission adjust once.
func (s *server) handleCustomerAdjustPage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("id"), "id")
	if err != nil {
		return err
	}
	form := templates.AdjustForm{
		Points: strings.TrimSpace(c.FormValue("points")), Reason: strings.TrimSpace(c.FormValue("reason")),
		Key: strings.TrimSpace(c.FormValue("idempotency_key")), Errors: templates.FieldErrors{},
	}
	if len(form.Key) > 64 {
		form.Key = ""
	}
	points, perr := strconv.ParseInt(strings.ReplaceAll(strings.TrimPrefix(form.Points, "+"), ",", ""), 10, 64)
	if perr != nil {
		form.Errors["points"] = "Enter a whole number of points, such as 100 or -50."
	}
	if form.Reason == "" {
		form.Errors["reason"] = "Say why, for the ledger."
	}
	if len(form.Errors) > 0 {
		return s.renderCustomer(c, http.StatusUnprocessableEntity, form, nil)
	}
	key := form.Key
	if key != "" {
		key = "page:" + key
	}
	if _, err := s.loyalty.Adjust(c.Request().Context(), shop.ID, id, points, form.Reason, key); err != nil {
		status, errs, ok := pageProblem(err)
		if !ok {
			return err
		}
		if app.ErrorCode(err) == app.ENOTFOUND {
			return err
		}
		if _, isField := errs["points"]; !isField && errs[""] != "" && strings.Contains(errs[""], "points") {
			errs = templates.FieldErrors{"points": errs[""]}
		}
		form.Errors = errs
		return s.renderCustomer(c, status, form, nil)
	}
	return s.pageRedirect(c, routeAppCustomer, "adjusted", nil, strconv.FormatInt(id, 10))
}

// handleCustomerBirthdayPage is POST /app/customers/{id}/birthday: staff
// set or correct the customer's birthday; problems are shown beside the
// fields (422).
func (s *server) handleCustomerBirthdayPage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("id"), "id")
	if err != nil {
		return err
	}
	form := &templates.BirthdayForm{Month: strings.TrimSpace(c.FormValue("month")), Day: strings.TrimSpace(c.FormValue("day")), Errors: templates.FieldErrors{}}
	month, merr := strconv.Atoi(form.Month)
	if merr != nil {
		form.Errors["month"] = "Choose a month."
	}
	day, derr := strconv.Atoi(form.Day)
	if derr != nil {
		form.Errors["day"] = "Enter the day of the month, such as 4."
	}
	if len(form.Errors) == 0 {
		err = s.loyalty.SetBirthday(c.Request().Context(), shop.ID, id, time.Month(month), day)
		if err == nil {
			return s.pageRedirect(c, routeAppCustomer, "birthday-saved", nil, strconv.FormatInt(id, 10))
		}
		status, errs, ok := pageProblem(err)
		if !ok || app.ErrorCode(err) == app.ENOTFOUND {
			return err
		}
		form.Errors = errs
		return s.renderCustomer(c, status, templates.AdjustForm{}, form)
	}
	return s.renderCustomer(c, http.StatusUnprocessableEntity, templates.AdjustForm{}, form)
}
