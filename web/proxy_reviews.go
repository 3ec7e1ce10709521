package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/loyalty"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/templates"
)

// reviewBodyLimit caps a review form post (the text is at most
// loyalty.MaxReviewBodyLen characters).
const reviewBodyLimit = "64K"

// reviewToken binds a review form to the shop and customer. The customer
// comes from Shopify's signature, but a storefront session cookie would
// also ride along on a form another site posts to the shop; that site
// cannot know this token.
func (s *server) reviewToken(shop string, customer int64) string {
	m := hmac.New(sha256.New, []byte(s.cfg.ShopifyAPISecret))
	m.Write([]byte("perkbridge review form\x00" + shop + "\x00" + strconv.FormatInt(customer, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

func reviewsView(pr shopify.ProxyRequest) templates.ReviewsView {
	return templates.ReviewsView{FormAction: storefrontPath(pr, "/reviews"), LoginURL: "/account/login"}
}

// handleProxyReviews is GET /proxy/reviews (storefront /apps/loyalty/reviews):
// the logged-in customer's received products, each with a review form or
// the rating given. ?order= (a review_requested link) narrows the list to
// that order when it is one of the customer's.
func (s *server) handleProxyReviews(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	pr := proxyRequest(c)
	v := reviewsView(pr)
	customer, ok := loggedInCustomer(pr)
	if !ok {
		return render(c, http.StatusOK, templates.ReviewsPage(v))
	}
	return s.renderReviews(c, shop, customer, c.QueryParam("order"), v, http.StatusOK)
}

// renderReviews renders the review page of a logged-in customer.
func (s *server) renderReviews(c echo.Context, shop app.Shop, customer int64, order string, v templates.ReviewsView, status int) error {
	products, err := s.loyalty.ReviewableProducts(c.Request().Context(), shop.ID, customer)
	if err != nil {
		return err
	}
	if order != "" {
		var mine []store.ReviewableProduct
		for _, p := range products {
			if p.OrderName == order || strconv.FormatInt(orderNumber(p.OrderGID), 10) == order {
				mine = append(mine, p)
			}
		}
		if len(mine) > 0 {
			products, v.Order = mine, mine[0].OrderName
		}
	}
	v.LoggedIn = true
	v.Token = s.reviewToken(shop.Domain, customer)
	v.Products = make([]templates.ReviewProductView, len(products))
	for i, p := range products {
		v.Products[i] = templates.ReviewProductView{ProductID: strconv.FormatInt(p.ProductID, 10), Title: p.Title, Rating: p.Rating}
	}
	return render(c, status, templates.ReviewsPage(v))
}

func orderNumber(gid string) int64 {
	_, id, err := shopify.ParseGID(gid)
	if err != nil {
		return 0
	}
	return id
}

// handleProxyReviewSubmit is POST /proxy/reviews: a review from the form.
// The customer is the signed logged_in_customer_id, never a form field.
// Refusals re-render the page with the reason and its status; a second
// review of the same product answers like the first (nothing changes).
func (s *server) handleProxyReviewSubmit(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	pr := proxyRequest(c)
	v := reviewsView(pr)
	customer, ok := loggedInCustomer(pr)
	if !ok {
		v.Error = "Log in to your account to review a product."
		return render(c, http.StatusUnauthorized, templates.ReviewsPage(v))
	}
	req := c.Request()
	// Form fields come from the body only: the query is Shopify's.
	if !hmac.Equal([]byte(req.PostFormValue("token")), []byte(s.reviewToken(shop.Domain, customer))) {
		v.Error = "This form has expired. Reload the page and try again."
		return s.renderReviews(c, shop, customer, "", v, http.StatusForbidden)
	}
	// Unparsable numbers become 0, which the use case refuses by field.
	productID, _ := strconv.ParseInt(req.PostFormValue("product_id"), 10, 64)
	rating, _ := strconv.Atoi(req.PostFormValue("rating"))
	res, err := s.loyalty.SubmitReview(req.Context(), shop.ID, loyalty.ReviewInput{
		ShopifyCustomerID: customer, ProductID: productID, Rating: rating, Body: req.PostFormValue("body"),
	})
	switch code := app.ErrorCode(err); {
	case err == nil:
	case code == app.EINVALID || code == app.EFORBIDDEN || code == app.EUNAUTHORIZED || code == app.ECONFLICT:
		v.Error = app.ErrorMessage(err)
		return s.renderReviews(c, shop, customer, "", v, statusByCode[code])
	default:
		return err
	}
	switch {
	case res.Duplicate:
		v.Notice = fmt.Sprintf("You already reviewed %s. Thank you!", res.Product.Title)
	case res.Points > 0:
		v.Notice = fmt.Sprintf("Thank you for reviewing %s! You earned %d points.", res.Product.Title, res.Points)
	default:
		v.Notice = fmt.Sprintf("Thank you for reviewing %s!", res.Product.Title)
	}
	return s.renderReviews(c, shop, customer, "", v, http.StatusOK)
}
