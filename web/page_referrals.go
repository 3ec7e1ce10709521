package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/templates"
)

// Routes of the blocked referrals (the page and its JSON twin).
const (
	routeAppReferrals       = "app.referrals.list"
	routeAppReferralApprove = "app.referrals.approve"
	routeAPIReferrals       = "api.referrals.list"
	routeAPIReferralApprove = "api.referrals.approve"
	routeProxyRefer         = "proxy.api.referrals"
)

// doneReferralApproved is the outcome code of an approval, for the flash.
const doneReferralApproved = "referral-approved"

// handleReferralsPage lists the shop's blocked referrals.
func (s *server) handleReferralsPage(c echo.Context) error {
	return s.renderReferrals(c, http.StatusOK, nil)
}

func (s *server) renderReferrals(c echo.Context, status int, errs templates.FieldErrors) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	loc, err := s.shopLocation(c, shop.ID)
	if err != nil {
		return err
	}
	list, err := s.loyalty.Referrals(c.Request().Context(), shop.ID, store.ReferralBlocked)
	if err != nil {
		return err
	}
	v := templates.ReferralsView{Shell: s.pageShell(c, "Blocked referrals", routeAppReferrals), Errors: errs}
	if c.QueryParam(doneParam) == doneReferralApproved {
		v.Shell.Flash = templates.Flash{Tone: "success", Text: "Referral approved: the referrer got their reward."}
	}
	for _, r := range list {
		row := templates.ReferralRow{ID: r.ID, FriendEmail: r.FriendEmailMasked, ReferrerName: r.ReferrerName, Reason: r.Reason, OrderID: r.OrderID}
		if row.ReferrerName == "" {
			row.ReferrerName = r.ReferrerEmail
		}
		if r.ReferrerShopifyID != 0 {
			row.ReferrerURL = s.pageURL(c, routeAppCustomer, nil, strconv.FormatInt(r.ReferrerShopifyID, 10))
		}
		if r.BlockedAt != nil {
			row.BlockedAt = r.BlockedAt.In(loc)
		}
		if r.Approvable {
			row.ApproveURL = s.pageURL(c, routeAppReferralApprove, nil, strconv.FormatInt(r.ID, 10))
		}
		v.Rows = append(v.Rows, row)
	}
	return render(c, status, templates.ReferralsPage(v))
}

// handleReferralApprovePage approves a blocked referral: the referrer is
// paid once; a second approval re-renders the list with the reason (409).
func (s *server) handleReferralApprovePage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("id"), "id")
	if err != nil {
		return err
	}
	if err := s.loyalty.ApproveReferral(c.Request().Context(), shop.ID, id); err != nil {
		status, errs, ok := pageProblem(err)
		if !ok {
			return err
		}
		return s.renderReferrals(c, status, templates.FieldErrors{"": firstProblem(errs)})
	}
	return s.pageRedirect(c, routeAppReferrals, doneReferralApproved, nil)
}

// referralJSON is a referral in the JSON admin API.
type referralJSON struct {
	ID                 int64      `json:"id"`
	Status             string     `json:"status"`
	Reason             string     `json:"reason"`
	FriendEmail        string     `json:"friend_email"` // masked
	FriendCustomerID   *string    `json:"friend_customer_id"`
	ReferrerCustomerID string     `json:"referrer_customer_id"`
	ReferrerName       string     `json:"referrer_name"`
	OrderID            *string    `json:"order_id"`
	Approvable         bool       `json:"approvable"`
	BlockedAt          *time.Time `json:"blocked_at"`
	CreatedAt          time.Time  `json:"created_at"`
}

func toReferralJSON(r loyalty.ReferralItem) referralJSON {
	out := referralJSON{ID: r.ID, Status: r.Status, Reason: r.Reason, FriendEmail: r.FriendEmailMasked,
		ReferrerCustomerID: strconv.FormatInt(r.ReferrerShopifyID, 10), ReferrerName: r.ReferrerName,
		Approvable: r.Approvable, BlockedAt: r.BlockedAt, CreatedAt: r.CreatedAt}
	if r.FriendShopifyID != 0 {
		id := strconv.FormatInt(r.FriendShopifyID, 10)
		out.FriendCustomerID = &id
	}
	if r.OrderID != "" {
		out.OrderID = &r.OrderID
	}
	return out
}

// handleReferralsList is GET /api/v1/referrals?status=: the shop's
// referrals (open, verifying, completed or blocked; all when absent),
// newest first; a bad status is 422 with the field.
func (s *server) handleReferralsList(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	list, err := s.loyalty.Referrals(c.Request().Context(), shop.ID, c.QueryParam("status"))
	if err != nil {
		return err
	}
	out := make([]referralJSON, len(list))
	for i, r := range list {
		out[i] = toReferralJSON(r)
	}
	return c.JSON(http.StatusOK, out)
}

// handleReferralApprove is POST /api/v1/referrals/{id}/approve: a blocked
// referral whose friend paid an order completes and pays the referrer;
// 200 with {"id","status":"completed"}. Anything else (already approved,
// no order yet, not blocked) is 409; another shop's id is 404.
func (s *server) handleReferralApprove(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("id"), "id")
	if err != nil {
		return err
	}
	if err := s.loyalty.ApproveReferral(c.Request().Context(), shop.ID, id); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"id": id, "status": store.ReferralCompleted})
}
