package web

import (
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/templates"
)

// referralBodyLimit caps the friend's form: one email address.
const referralBodyLimit = "16K"

// handleReferralShow is GET /proxy/r/{code}, the storefront page
// https://{shop}/apps/loyalty/r/{code}: the friend's offer and an email
// form. A disabled program or an unknown code answers 404 with the reason.
func (s *server) handleReferralShow(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	ref, err := s.loyalty.Referrer(c.Request().Context(), shop.ID, c.Param("code"))
	if err != nil {
		return referralError(c, err, templates.ReferralView{})
	}
	return render(c, http.StatusOK, templates.ReferralPage(templates.ReferralView{
		ReferrerName: ref.FirstName, Offer: offer(ref.FriendDiscountType, ref.FriendDiscountValue.String(), ref.Currency),
		Action: referralAction(c, ref.Code),
	}))
}

// handleReferralSubmit is POST /proxy/r/{code} with the form field email:
// the friend gets a discount code (loyalty.Service.Refer; asking again
// shows the same code). Any email that is not the referrer's own gets the
// same answer, 201 and a code for a first order, whether or not it is a
// customer's or was referred before (no enumeration: such referrals are
// stored blocked for the merchant, and the code only works for customers
// without orders). Refusals re-render the form with the reason: 422 for a
// malformed email or a self-referral, 429 past the attempt limits per
// client address and per link or the link's daily cap, 404 for a disabled
// program or an unknown code. The storefront session
// (logged_in_customer_id) is trusted only because verifyProxy checked the
// signature over it.
func (s *server) handleReferralSubmit(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	code := c.Param("code")
	// The form body only: the query is Shopify's, and signed.
	email := strings.TrimSpace(c.Request().PostFormValue("email"))
	loggedIn, _ := loggedInCustomer(proxyRequest(c)) // 0 for a guest
	err = s.loyalty.ReferralAttempt(ctx, shop.ID, shop.Domain, code, shopperAddress(c.Request()))
	var fc *loyalty.FriendCoupon
	if err == nil {
		fc, err = s.loyalty.Refer(ctx, shop.ID, code, email, loggedIn)
	}
	if err != nil {
		v := templates.ReferralView{Email: email}
		if ref, rerr := s.loyalty.Referrer(ctx, shop.ID, code); rerr == nil {
			v.ReferrerName, v.Action = ref.FirstName, referralAction(c, ref.Code)
			v.Offer = offer(ref.FriendDiscountType, ref.FriendDiscountValue.String(), ref.Currency)
		}
		return referralError(c, err, v)
	}
	status := http.StatusOK
	if fc.Created {
		status = http.StatusCreated
	}
	return render(c, status, templates.ReferralPage(templates.ReferralView{
		Offer: offer(fc.DiscountType, fc.DiscountValue.String(), fc.Currency), CouponCode: fc.Code, Again: !fc.Created,
	}))
}

// referralError renders the page with a user-safe refusal and its status;
// internal errors go to the central handler.
func referralError(c echo.Context, err error, v templates.ReferralView) error {
	status, detail := classify(err)
	if status >= 500 || status == http.StatusUnauthorized {
		return err
	}
	if status == http.StatusNotFound {
		v.Action = "" // nothing to ask for
	}
	v.Error = detail.Message
	return render(c, status, templates.ReferralPage(v))
}

// referralAction is the storefront path the friend's form posts to: this
// page's own, under the proxy's path prefix (signed by Shopify), so the
// post comes back through the app proxy.
func referralAction(c echo.Context, code string) string {
	return storefrontPath(proxyRequest(c), "/r/"+code)
}

// offer words a friend discount: "10% off" or "USD 5.00 off".
func offer(t program.DiscountType, value, currency string) string {
	if t == program.DiscountPercentage {
		return value + "% off"
	}
	return strings.TrimSpace(currency+" "+value) + " off"
}

// shopperAddress is the shopper's IP address on an app-proxy request: the
// first X-Forwarded-For entry, which Shopify's proxy sets to the client it
// serves (the request reached us signed by Shopify, so the header is
// Shopify's, with any hops of our own hosting appended after it), else the
// connection's peer. [INFERRED] Shopify documents no header for it; the
// first entry is what its proxy is observed to send.
func shopperAddress(r *http.Request) string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		first, _, _ := strings.Cut(xff, ",")
		if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
			return ip.String()
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// referInput is the body of POST /proxy/api/v1/referrals.
type referInput struct {
	Email string `json:"email"`
}

// referView is a friend's discount code as the storefront JSON API
// answers it: for a first order only, one use.
type referView struct {
	Code           string `json:"code"`
	DiscountType   string `json:"discount_type"`
	DiscountValue  string `json:"discount_value"`
	Currency       string `json:"currency"`
	FirstOrderOnly bool   `json:"first_order_only"`
}

// handleProxyRefer is POST /proxy/api/v1/referrals {"email"}: the
// signed-in member refers a friend by email through their own link, and
// gets the friend's code to pass on. As on the referral page, any email
// but the member's own is answered alike (201, or 200 with the same code
// when asked again), customer or not (DESIGN.md §6: no enumeration); the
// member's own email or an alias of it is 422 (email), a guest 401, past
// the attempt limits 429.
func (s *server) handleProxyRefer(c echo.Context) error {
	shop, id, err := storefrontMember(c)
	if err != nil {
		return err
	}
	var in referInput
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	member, err := s.st.CustomerByShopifyID(ctx, shop.ID, id)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return app.Errorf(app.ENOTFOUND, "Your account is not in the loyalty program yet; try again after your first order or sign-up.")
	}
	if err != nil {
		return err
	}
	code, _, err := s.loyalty.ReferralLink(ctx, shop.ID, member.ID)
	if err != nil {
		return err
	}
	if err := s.loyalty.ReferralAttempt(ctx, shop.ID, shop.Domain, code, shopperOf(c).address); err != nil {
		return err
	}
	// The member is the referrer here: their own session is no
	// self-referral, their own email still is.
	fc, err := s.loyalty.Refer(ctx, shop.ID, code, in.Email, 0)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if fc.Created {
		status = http.StatusCreated
	}
	return c.JSON(status, referView{Code: fc.Code, DiscountType: string(fc.DiscountType), DiscountValue: fc.DiscountValue.String(),
		Currency: fc.Currency, FirstOrderOnly: true})
}
