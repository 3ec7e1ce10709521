package shopify

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/perkbridge/perkbridge/app"
)

// UserError is one entry of a mutation's userErrors: a business error that
// Shopify reports with HTTP 200 and no top-level errors.
type UserError struct {
	Field   []string `json:"field"` // input path, e.g. ["basicCodeDiscount", "code"]
	Message string   `json:"message"`
	Code    string   `json:"code"` // e.g. "TAKEN"; not every mutation returns codes
}

// MutationError carries all userErrors of one mutation. It is the cause
// wrapped by the *app.Error that UserErrorsErr returns.
type MutationError struct {
	Op         string
	UserErrors []UserError
}

// Error implements the error interface.
func (e *MutationError) Error() string {
	msgs := make([]string, len(e.UserErrors))
	for i, ue := range e.UserErrors {
		msgs[i] = ue.Message
		if len(ue.Field) > 0 {
			msgs[i] = strings.Join(ue.Field, ".") + ": " + ue.Message
		}
	}
	return fmt.Sprintf("shopify: %s: %s", e.Op, strings.Join(msgs, "; "))
}

// HasCode reports whether any user error has the given code.
func (e *MutationError) HasCode(code string) bool {
	for _, ue := range e.UserErrors {
		if ue.Code == code {
			return true
		}
	}
	return false
}

// UserErrorsErr returns nil when ue is empty and otherwise an EINVALID
// *app.Error whose message and field come from the first user error (Shopify
// writes these for merchants) and whose cause is a *MutationError with all
// of them.
func UserErrorsErr(op string, ue []UserError) error {
	if len(ue) == 0 {
		return nil
	}
	return &app.Error{
		Code:    app.EINVALID,
		Message: ue[0].Message,
		Field:   strings.Join(ue[0].Field, "."),
		Err:     &MutationError{Op: op, UserErrors: ue},
	}
}

// MetafieldRef names one metafield to read, e.g. {"$app:loyalty", "points"}.
type MetafieldRef struct {
	Namespace string
	Key       string
}

// String returns "namespace.key", the key of Customer.Metafields.
func (r MetafieldRef) String() string { return r.Namespace + "." + r.Key }

// validRef reports whether r only uses the characters Shopify allows, which
// also makes it safe to write as a GraphQL string literal.
func validRef(r MetafieldRef) bool {
	ok := func(s string, extra string, maxLen int) bool {
		if s == "" || len(s) > maxLen {
			return false
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || strings.IndexByte(extra, c) >= 0) {
				return false
			}
		}
		return true
	}
	return ok(r.Namespace, "$:", 255) && ok(r.Key, "", 64)
}

// MaxCustomersPerFactsQuery bounds CustomersMetafield's batch: 50
// customers with one metafield each cost about 100 points, a tenth of the
// single-query ceiling.
const MaxCustomersPerFactsQuery = 50

// CustomersMetafield reads one metafield of up to
// MaxCustomersPerFactsQuery customers in one query (one aliased customer
// field each). The answer maps each gid to the value, nil when the
// customer has no such metafield or no longer exists.
func (c *Client) CustomersMetafield(ctx context.Context, gids []string, ref MetafieldRef) (map[string]*string, error) {
	if len(gids) == 0 {
		return map[string]*string{}, nil
	}
	if len(gids) > MaxCustomersPerFactsQuery {
		return nil, fmt.Errorf("shopify: customers metafield: %d customers, at most %d", len(gids), MaxCustomersPerFactsQuery)
	}
	if !validRef(ref) {
		return nil, fmt.Errorf("shopify: customers metafield: invalid metafield %q", ref.String())
	}
	var q strings.Builder
	q.WriteString("query CustomersMetafield {")
	for i, gid := range gids {
		if kind, _, err := ParseGID(gid); err != nil || kind != "Customer" {
			return nil, app.Errorf(app.EINVALID, "Invalid customer id %q.", gid)
		}
		fmt.Fprintf(&q, " c%d: customer(id: %q) { id metafield(namespace: %q, key: %q) { value } }", i, gid, ref.Namespace, ref.Key)
	}
	q.WriteString(" }")
	var data map[string]*struct {
		Metafield *struct {
			Value string `json:"value"`
		} `json:"metafield"`
	}
	if err := c.Do(ctx, q.String(), nil, &data); err != nil {
		return nil, fmt.Errorf("shopify: customers metafield: %w", err)
	}
	out := make(map[string]*string, len(gids))
	for i, gid := range gids {
		out[gid] = nil
		if cu := data["c"+strconv.Itoa(i)]; cu != nil && cu.Metafield != nil {
			v := cu.Metafield.Value
			out[gid] = &v
		}
	}
	return out, nil
}

// Customer fetches a customer by gid with the requested metafields. A
// missing customer is an ENOTFOUND *app.Error.
func (c *Client) Customer(ctx context.Context, gid string, metafields []MetafieldRef) (*Customer, error) {
	if kind, _, err := ParseGID(gid); err != nil || kind != "Customer" {
		return nil, app.Errorf(app.EINVALID, "Invalid customer id.")
	}
	var q strings.Builder
	q.WriteString("query Customer($id: ID!) { customer(id: $id) { id legacyResourceId firstName lastName ")
	q.WriteString("defaultEmailAddress { emailAddress } defaultPhoneNumber { phoneNumber }")
	for i, r := range metafields {
		if !validRef(r) {
			return nil, fmt.Errorf("shopify: customer: invalid metafield %q", r.String())
		}
		// Literals rather than variables keep the query text, and so its
		// remembered cost, the same for the same refs.
		fmt.Fprintf(&q, " mf%d: metafield(namespace: %q, key: %q) { value }", i, r.Namespace, r.Key)
	}
	q.WriteString(" } }")

	var data struct {
		Customer json.RawMessage `json:"customer"`
	}
	if err := c.Do(ctx, q.String(), map[string]any{"id": gid}, &data); err != nil {
		return nil, fmt.Errorf("shopify: customer: %w", err)
	}
	if len(data.Customer) == 0 || string(data.Customer) == "null" {
		return nil, app.Errorf(app.ENOTFOUND, "Customer not found.")
	}
	// The fixed fields decode into a struct, the mfN aliases by name.
	var dc struct {
		ID                  string `json:"id"`
		LegacyResourceID    string `json:"legacyResourceId"`
		FirstName           string `json:"firstName"`
		LastName            string `json:"lastName"`
		DefaultEmailAddress *struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"defaultEmailAddress"`
		DefaultPhoneNumber *struct {
			PhoneNumber string `json:"phoneNumber"`
		} `json:"defaultPhoneNumber"`
	}
	var aliases map[string]json.RawMessage
	if err := json.Unmarshal(data.Customer, &dc); err != nil {
		return nil, fmt.Errorf("shopify: customer: decode: %w", err)
	}
	if err := json.Unmarshal(data.Customer, &aliases); err != nil {
		return nil, fmt.Errorf("shopify: customer: decode: %w", err)
	}
	cu := &Customer{
		AdminGraphQLAPIID: dc.ID,
		FirstName:         dc.FirstName,
		LastName:          dc.LastName,
		Metafields:        make(map[string]string),
	}
	if dc.DefaultEmailAddress != nil {
		cu.Email = dc.DefaultEmailAddress.EmailAddress
	}
	if dc.DefaultPhoneNumber != nil {
		cu.Phone = dc.DefaultPhoneNumber.PhoneNumber
	}
	if id, err := strconv.ParseInt(dc.LegacyResourceID, 10, 64); err == nil {
		cu.ID = id
	} else if _, id, err := ParseGID(dc.ID); err == nil {
		cu.ID = id
	}
	for i, r := range metafields {
		var mf *struct {
			Value string `json:"value"`
		}
		if v, ok := aliases["mf"+strconv.Itoa(i)]; ok {
			if err := json.Unmarshal(v, &mf); err != nil {
				return nil, fmt.Errorf("shopify: customer: decode metafield %s: %w", r, err)
			}
		}
		if mf != nil {
			cu.Metafields[r.String()] = mf.Value
		}
	}
	return cu, nil
}

// ShopInfo is the shop's own description from the Admin API.
type ShopInfo struct {
	Name            string `json:"name"`
	Email           string `json:"email"`
	MyshopifyDomain string `json:"myshopifyDomain"`
	CurrencyCode    string `json:"currencyCode"`
	IanaTimezone    string `json:"ianaTimezone"`
}

// Shop fetches the shop's name, email, domain, currency and time zone.
func (c *Client) Shop(ctx context.Context) (*ShopInfo, error) {
	const q = "query Shop { shop { name email myshopifyDomain currencyCode ianaTimezone } }"
	var data struct {
		Shop *ShopInfo `json:"shop"`
	}
	if err := c.Do(ctx, q, nil, &data); err != nil {
		return nil, fmt.Errorf("shopify: shop: %w", err)
	}
	if data.Shop == nil {
		return nil, app.Errorf(app.ENOTFOUND, "Shop not found.")
	}
	return data.Shop, nil
}

// DiscountCodeInput describes a one-time reward code. Set exactly one of
// Percentage (0 < p ≤ 1) and Amount (a decimal string such as "5.00").
type DiscountCodeInput struct {
	Title           string
	Code            string
	CustomerGID     string // the only customer allowed to use it; "" for everyone
	Percentage      float64
	Amount          string
	StartsAt        time.Time // zero: now
	EndsAt          time.Time // zero: never
	MinimumSubtotal string    // optional minimum order subtotal, decimal string
}

// DiscountCodeNode is a created code discount.
type DiscountCodeNode struct {
	ID    string // gid://shopify/DiscountCodeNode/...
	Code  string
	Title string
}

const discountCodeBasicCreate = `mutation DiscountCodeBasicCreate($input: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $input) {
    codeDiscountNode { id }
    userErrors { field message code }
  }
}`

// CreateDiscountCode creates a basic code discount that one customer can use
// once: usageLimit 1, appliesOncePerCustomer, on all items. Shopify's
// userErrors (such as a taken code) come back as an EINVALID *app.Error
// wrapping a *MutationError; retry a taken code with a new one.
func (c *Client) CreateDiscountCode(ctx context.Context, in DiscountCodeInput) (*DiscountCodeNode, error) {
	input, err := c.discountInput(in)
	if err != nil {
		return nil, err
	}
	return c.createBasicDiscount(ctx, input, in)
}

// createBasicDiscount sends discountCodeBasicCreate with input (built
// from in by discountInput) and reads the created node.
func (c *Client) createBasicDiscount(ctx context.Context, input map[string]any, in DiscountCodeInput) (*DiscountCodeNode, error) {
	var data struct {
		Create *struct {
			CodeDiscountNode *struct {
				ID string `json:"id"`
			} `json:"codeDiscountNode"`
			UserErrors []UserError `json:"userErrors"`
		} `json:"discountCodeBasicCreate"`
	}
	if err := c.Do(ctx, discountCodeBasicCreate, map[string]any{"input": input}, &data); err != nil {
		return nil, fmt.Errorf("shopify: create discount code: %w", err)
	}
	if data.Create == nil {
		return nil, fmt.Errorf("shopify: create discount code: empty response")
	}
	if err := UserErrorsErr("create discount code", data.Create.UserErrors); err != nil {
		return nil, err
	}
	if data.Create.CodeDiscountNode == nil {
		return nil, fmt.Errorf("shopify: create discount code: no discount node returned")
	}
	return &DiscountCodeNode{ID: data.Create.CodeDiscountNode.ID, Code: in.Code, Title: in.Title}, nil
}

const codeDiscountNodeByCode = `query CodeDiscountNodeByCode($code: String!) {
  codeDiscountNodeByCode(code: $code) { id }
}`

// DiscountCodeByCode looks a discount code up (codeDiscountNodeByCode,
// case-insensitive): the discount that holds it, or nil when none does. It
// tells whether an earlier create whose answer was lost (a timeout) did
// create the code.
func (c *Client) DiscountCodeByCode(ctx context.Context, code string) (*DiscountCodeNode, error) {
	var data struct {
		Node *struct {
			ID string `json:"id"`
		} `json:"codeDiscountNodeByCode"`
	}
	if err := c.Do(ctx, codeDiscountNodeByCode, map[string]any{"code": code}, &data); err != nil {
		return nil, fmt.Errorf("shopify: look up discount code: %w", err)
	}
	if data.Node == nil {
		return nil, nil
	}
	return &DiscountCodeNode{ID: data.Node.ID, Code: code}, nil
}

// discountInput validates in and builds DiscountCodeBasicInput. The customer
// restriction uses "context", which replaced the deprecated
// "customerSelection".
func (c *Client) discountInput(in DiscountCodeInput) (map[string]any, error) {
	switch {
	case strings.TrimSpace(in.Title) == "":
		return nil, app.FieldError("title", "Title is required.")
	case strings.TrimSpace(in.Code) == "":
		return nil, app.FieldError("code", "Code is required.")
	case (in.Percentage != 0) == (in.Amount != ""):
		return nil, app.FieldError("value", "Set either a percentage or an amount.")
	case in.Percentage < 0 || in.Percentage > 1:
		return nil, app.FieldError("percentage", "Percentage must be between 0 and 1.")
	}
	var value map[string]any
	if in.Amount != "" {
		if n, err := Money(in.Amount).MinorUnits(6); err != nil || n <= 0 {
			return nil, app.FieldError("amount", "Amount must be a positive decimal.")
		}
		value = map[string]any{"discountAmount": map[string]any{"amount": in.Amount, "appliesOnEachItem": false}}
	} else {
		value = map[string]any{"percentage": in.Percentage}
	}
	starts := in.StartsAt
	if starts.IsZero() {
		starts = c.app.now()
	}
	input := map[string]any{
		"title":                  in.Title,
		"code":                   in.Code,
		"startsAt":               starts.UTC().Format(time.RFC3339),
		"customerGets":           map[string]any{"value": value, "items": map[string]any{"all": true}},
		"appliesOncePerCustomer": true,
		"usageLimit":             1,
	}
	if in.CustomerGID != "" {
		if kind, _, err := ParseGID(in.CustomerGID); err != nil || kind != "Customer" {
			return nil, app.FieldError("customer", "Invalid customer id.")
		}
		input["context"] = map[string]any{"customers": map[string]any{"add": []string{in.CustomerGID}}}
	} else {
		input["context"] = map[string]any{"all": "ALL"}
	}
	if !in.EndsAt.IsZero() {
		if !in.EndsAt.After(starts) {
			return nil, app.FieldError("endsAt", "End must be after start.")
		}
		input["endsAt"] = in.EndsAt.UTC().Format(time.RFC3339)
	}
	if in.MinimumSubtotal != "" {
		if n, err := Money(in.MinimumSubtotal).MinorUnits(6); err != nil || n < 0 {
			return nil, app.FieldError("minimumSubtotal", "Minimum subtotal must be a decimal.")
		}
		input["minimumRequirement"] = map[string]any{"subtotal": map[string]any{"greaterThanOrEqualToSubtotal": in.MinimumSubtotal}}
	}
	return input, nil
}

const segmentCreate = `mutation SegmentCreate($name: String!, $query: String!) {
  segmentCreate(name: $name, query: $query) {
    segment { id }
    userErrors { field message }
  }
}`

const segmentsList = `query Segments($after: String) {
  segments(first: 250, after: $after) { nodes { id name } pageInfo { hasNextPage endCursor } }
}`

// EnsureSegment returns the id of the shop's customer segment named name,
// creating it with query (ShopifyQL, e.g. "number_of_orders = 0") when the
// shop has none: segmentCreate, and on a taken name (an earlier create
// whose answer was lost, or a merchant's segment of that name) the
// existing one found by listing segments. Other userErrors come back as an
// EINVALID *app.Error wrapping a *MutationError.
func (c *Client) EnsureSegment(ctx context.Context, name, query string) (string, error) {
	var data struct {
		Create *struct {
			Segment *struct {
				ID string `json:"id"`
			} `json:"segment"`
			UserErrors []UserError `json:"userErrors"`
		} `json:"segmentCreate"`
	}
	if err := c.Do(ctx, segmentCreate, map[string]any{"name": name, "query": query}, &data); err != nil {
		return "", fmt.Errorf("shopify: create segment: %w", err)
	}
	if data.Create == nil {
		return "", fmt.Errorf("shopify: create segment: empty response")
	}
	if ue := data.Create.UserErrors; len(ue) > 0 {
		taken := false
		for _, e := range ue {
			taken = taken || (len(e.Field) > 0 && e.Field[len(e.Field)-1] == "name" && strings.Contains(strings.ToLower(e.Message), "taken"))
		}
		if taken {
			if id, err := c.findSegment(ctx, name); err != nil || id != "" {
				return id, err
			}
		}
		return "", UserErrorsErr("create segment", ue)
	}
	if data.Create.Segment == nil {
		return "", fmt.Errorf("shopify: create segment: no segment returned")
	}
	return data.Create.Segment.ID, nil
}

// findSegment returns the id of the segment named name, "" when none.
func (c *Client) findSegment(ctx context.Context, name string) (string, error) {
	var after any
	for range 20 {
		var data struct {
			Segments struct {
				Nodes []struct {
					ID   string `json:"id"`
					Name string `json:"name"`
				} `json:"nodes"`
				PageInfo struct {
					HasNextPage bool   `json:"hasNextPage"`
					EndCursor   string `json:"endCursor"`
				} `json:"pageInfo"`
			} `json:"segments"`
		}
		if err := c.Do(ctx, segmentsList, map[string]any{"after": after}, &data); err != nil {
			return "", fmt.Errorf("shopify: segments: %w", err)
		}
		for _, s := range data.Segments.Nodes {
			if strings.EqualFold(s.Name, name) {
				return s.ID, nil
			}
		}
		if !data.Segments.PageInfo.HasNextPage {
			break
		}
		after = data.Segments.PageInfo.EndCursor
	}
	return "", nil
}

// CreateSegmentDiscountCode creates a basic code discount, as
// CreateDiscountCode does (usageLimit 1, appliesOncePerCustomer), that only
// members of the customer segments may use: context.customerSegments
// instead of one customer or everyone. in.CustomerGID must be empty.
func (c *Client) CreateSegmentDiscountCode(ctx context.Context, in DiscountCodeInput, segmentGIDs []string) (*DiscountCodeNode, error) {
	if in.CustomerGID != "" || len(segmentGIDs) == 0 {
		return nil, app.FieldError("context", "Give customer segments, and no customer.")
	}
	for _, id := range segmentGIDs {
		if kind, _, err := ParseGID(id); err != nil || kind != "Segment" {
			return nil, app.FieldError("context", "Invalid customer segment id.")
		}
	}
	input, err := c.discountInput(in)
	if err != nil {
		return nil, err
	}
	input["context"] = map[string]any{"customerSegments": map[string]any{"add": segmentGIDs}}
	return c.createBasicDiscount(ctx, input, in)
}

// CustomerFacts is what referral checks read of a customer in Shopify.
type CustomerFacts struct {
	GID            string
	NumberOfOrders int64 // every order Shopify counts for the customer, before the app was installed too
	Email          string
	Phone          string
	DefaultAddress *Address
}

const customerFacts = `query CustomerFacts($id: ID!) {
  customer(id: $id) {
    id numberOfOrders
    defaultEmailAddress { emailAddress }
    defaultPhoneNumber { phoneNumber }
    defaultAddress { address1 address2 city zip countryCodeV2 phone }
  }
}`

// CustomerFacts fetches a customer's order count, email, phone and default
// address. A missing customer is an ENOTFOUND *app.Error.
func (c *Client) CustomerFacts(ctx context.Context, gid string) (*CustomerFacts, error) {
	if kind, _, err := ParseGID(gid); err != nil || kind != "Customer" {
		return nil, app.Errorf(app.EINVALID, "Invalid customer id.")
	}
	var data struct {
		Customer *struct {
			ID             string      `json:"id"`
			NumberOfOrders json.Number `json:"numberOfOrders"` // UnsignedInt64: a string
			Email          *struct {
				EmailAddress string `json:"emailAddress"`
			} `json:"defaultEmailAddress"`
			Phone *struct {
				PhoneNumber string `json:"phoneNumber"`
			} `json:"defaultPhoneNumber"`
			Address *mailingAddress `json:"defaultAddress"`
		} `json:"customer"`
	}
	if err := c.Do(ctx, customerFacts, map[string]any{"id": gid}, &data); err != nil {
		return nil, fmt.Errorf("shopify: customer facts: %w", err)
	}
	cu := data.Customer
	if cu == nil {
		return nil, app.Errorf(app.ENOTFOUND, "Customer not found.")
	}
	n, err := strconv.ParseInt(cu.NumberOfOrders.String(), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("shopify: customer facts: numberOfOrders %q: %w", cu.NumberOfOrders, err)
	}
	out := &CustomerFacts{GID: cu.ID, NumberOfOrders: n}
	if cu.Email != nil {
		out.Email = cu.Email.EmailAddress
	}
	if cu.Phone != nil {
		out.Phone = cu.Phone.PhoneNumber
	}
	out.DefaultAddress = cu.Address.address()
	return out, nil
}

// mailingAddress is a GraphQL MailingAddress as the referral checks read it.
type mailingAddress struct {
	Address1    string `json:"address1"`
	Address2    string `json:"address2"`
	City        string `json:"city"`
	Zip         string `json:"zip"`
	CountryCode string `json:"countryCodeV2"`
	Phone       string `json:"phone"`
}

// address returns a as an Address; nil for none.
func (a *mailingAddress) address() *Address {
	if a == nil {
		return nil
	}
	return &Address{Address1: a.Address1, Address2: a.Address2, City: a.City, Zip: a.Zip, CountryCode: a.CountryCode, Phone: a.Phone}
}

// OrderContact is what referral checks read of an order in Shopify: its
// contact email and phone and where it ships.
type OrderContact struct {
	Email           string
	Phone           string
	ShippingAddress *Address
}

const orderContact = `query OrderContact($id: ID!) {
  order(id: $id) {
    id email phone
    shippingAddress { address1 address2 city zip countryCodeV2 phone }
  }
}`

// OrderContact fetches an order's email, phone and shipping address. A
// missing order is an ENOTFOUND *app.Error.
func (c *Client) OrderContact(ctx context.Context, gid string) (*OrderContact, error) {
	if kind, _, err := ParseGID(gid); err != nil || kind != "Order" {
		return nil, app.Errorf(app.EINVALID, "Invalid order id.")
	}
	var data struct {
		Order *struct {
			Email   string          `json:"email"`
			Phone   string          `json:"phone"`
			Address *mailingAddress `json:"shippingAddress"`
		} `json:"order"`
	}
	if err := c.Do(ctx, orderContact, map[string]any{"id": gid}, &data); err != nil {
		return nil, fmt.Errorf("shopify: order contact: %w", err)
	}
	o := data.Order
	if o == nil {
		return nil, app.Errorf(app.ENOTFOUND, "Order not found.")
	}
	out := &OrderContact{Email: o.Email, Phone: o.Phone}
	out.ShippingAddress = o.Address.address()
	return out, nil
}
