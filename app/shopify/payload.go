package shopify

import (
	"encoding/json"
	"fmt"
	"time"
)

// Webhook payloads are REST-shaped JSON. Ids decode into int64, never
// float64: Shopify ids exceed 2^53. Nullable numbers and strings decode to
// their zero value; amounts are Money.

// Order is the body of the orders/create, orders/paid, orders/cancelled,
// orders/updated and orders/fulfilled webhooks.
type Order struct {
	ID                int64      `json:"id"`
	AdminGraphQLAPIID string     `json:"admin_graphql_api_id"`
	Name              string     `json:"name"` // "#1001"
	OrderNumber       int64      `json:"order_number"`
	Number            int64      `json:"number"`
	Email             string     `json:"email"`
	Phone             string     `json:"phone"`
	ContactEmail      string     `json:"contact_email"`
	CustomerLocale    string     `json:"customer_locale"`
	CreatedAt         time.Time  `json:"created_at"`
	ProcessedAt       time.Time  `json:"processed_at"`
	UpdatedAt         time.Time  `json:"updated_at"`
	CancelledAt       *time.Time `json:"cancelled_at"`
	ClosedAt          *time.Time `json:"closed_at"`
	CancelReason      string     `json:"cancel_reason"` // customer, fraud, inventory, declined, other, staff
	// Currency is the shop currency; PresentmentCurrency the customer's.
	Currency            string `json:"currency"`
	PresentmentCurrency string `json:"presentment_currency"`
	// FinancialStatus is pending, authorized, partially_paid, paid,
	// partially_refunded, refunded, voided or expired.
	FinancialStatus   string `json:"financial_status"`
	FulfillmentStatus string `json:"fulfillment_status"`
	SourceName        string `json:"source_name"` // the sales channel, see Channel
	Test              bool   `json:"test"`
	Tags              string `json:"tags"` // comma separated
	Note              string `json:"note"`
	TaxesIncluded     bool   `json:"taxes_included"`
	Confirmed         bool   `json:"confirmed"`

	// SubtotalPrice is the line items after discounts, before shipping and
	// tax, at order time; the Current* amounts reflect edits and refunds.
	SubtotalPrice            Money                 `json:"subtotal_price"`
	SubtotalPriceSet         MoneySet              `json:"subtotal_price_set"`
	CurrentSubtotalPrice     Money                 `json:"current_subtotal_price"`
	CurrentSubtotalPriceSet  MoneySet              `json:"current_subtotal_price_set"`
	TotalDiscounts           Money                 `json:"total_discounts"`
	TotalDiscountsSet        MoneySet              `json:"total_discounts_set"`
	CurrentTotalDiscounts    Money                 `json:"current_total_discounts"`
	CurrentTotalDiscountsSet MoneySet              `json:"current_total_discounts_set"`
	TotalLineItemsPrice      Money                 `json:"total_line_items_price"`
	TotalLineItemsPriceSet   MoneySet              `json:"total_line_items_price_set"`
	TotalPrice               Money                 `json:"total_price"`
	TotalPriceSet            MoneySet              `json:"total_price_set"`
	CurrentTotalPrice        Money                 `json:"current_total_price"`
	CurrentTotalPriceSet     MoneySet              `json:"current_total_price_set"`
	TotalTax                 Money                 `json:"total_tax"`
	TotalTaxSet              MoneySet              `json:"total_tax_set"`
	CurrentTotalTax          Money                 `json:"current_total_tax"`
	CurrentTotalTaxSet       MoneySet              `json:"current_total_tax_set"`
	TotalShippingPriceSet    MoneySet              `json:"total_shipping_price_set"`
	CurrentShippingPriceSet  MoneySet              `json:"current_shipping_price_set"`
	TotalOutstanding         Money                 `json:"total_outstanding"`
	TotalTipReceived         Money                 `json:"total_tip_received"`
	DiscountCodes            []DiscountCode        `json:"discount_codes"`
	DiscountApplications     []DiscountApplication `json:"discount_applications"`
	NoteAttributes           []NoteAttribute       `json:"note_attributes"`
	Refunds                  []Refund              `json:"refunds"`
	Customer                 *CustomerRef          `json:"customer"` // nil for guest and some draft orders
	LineItems                []LineItem            `json:"line_items"`
	Fulfillments             []Fulfillment         `json:"fulfillments"`
	ShippingLines            []ShippingLine        `json:"shipping_lines"`
	BillingAddress           *Address              `json:"billing_address"`
	ShippingAddress          *Address              `json:"shipping_address"`
	PaymentGatewayNames      []string              `json:"payment_gateway_names"`
	BuyerAcceptsMarketing    bool                  `json:"buyer_accepts_marketing"`
	AppID                    int64                 `json:"app_id"`
	UserID                   int64                 `json:"user_id"`
	LocationID               int64                 `json:"location_id"`
	OrderStatusURL           string                `json:"order_status_url"`
	ConfirmationNumber       string                `json:"confirmation_number"`
}

// Channels returned by Order.Channel.
const (
	ChannelOnlineStore = "online_store"
	ChannelPOS         = "pos"
	ChannelDraftOrder  = "draft_order"
	ChannelOther       = "other"
)

// Channel maps source_name to the sales channels loyalty rules filter on:
// "web" is online_store, "pos" is pos, "shopify_draft_order" is draft_order
// and anything else (apps, iphone, android) is other.
func (o *Order) Channel() string {
	switch o.SourceName {
	case "web":
		return ChannelOnlineStore
	case "pos":
		return ChannelPOS
	case "shopify_draft_order":
		return ChannelDraftOrder
	}
	return ChannelOther
}

// Fulfillment is one shipment of an order, as order payloads embed it.
type Fulfillment struct {
	ID                int64     `json:"id"`
	AdminGraphQLAPIID string    `json:"admin_graphql_api_id"`
	Status            string    `json:"status"` // pending, open, success, cancelled, error, failure
	CreatedAt         time.Time `json:"created_at"`
}

// LineItem is one line of an order.
type LineItem struct {
	ID                int64  `json:"id"`
	AdminGraphQLAPIID string `json:"admin_graphql_api_id"`
	ProductID         int64  `json:"product_id"`
	VariantID         int64  `json:"variant_id"`
	Title             string `json:"title"`
	Name              string `json:"name"`
	VariantTitle      string `json:"variant_title"`
	SKU               string `json:"sku"`
	Vendor            string `json:"vendor"`
	Quantity          int    `json:"quantity"`
	// CurrentQuantity is Quantity less the units refunded and the units an
	// order edit removed; nil when the payload does not say.
	CurrentQuantity     *int                 `json:"current_quantity"`
	FulfillableQuantity int                  `json:"fulfillable_quantity"`
	FulfillmentStatus   string               `json:"fulfillment_status"`
	Price               Money                `json:"price"` // unit price
	PriceSet            MoneySet             `json:"price_set"`
	TotalDiscount       Money                `json:"total_discount"`
	TotalDiscountSet    MoneySet             `json:"total_discount_set"`
	GiftCard            bool                 `json:"gift_card"`
	Taxable             bool                 `json:"taxable"`
	RequiresShipping    bool                 `json:"requires_shipping"`
	ProductExists       bool                 `json:"product_exists"`
	Grams               int64                `json:"grams"`
	Properties          []NoteAttribute      `json:"properties"`
	DiscountAllocations []DiscountAllocation `json:"discount_allocations"`
	// TaxLines is the tax charged on the line (included in Price when the
	// order's TaxesIncluded).
	TaxLines []TaxLine `json:"tax_lines"`
}

// TaxLine is one tax charged on a line item or a shipping line.
type TaxLine struct {
	Title    string   `json:"title"`
	Price    Money    `json:"price"`
	PriceSet MoneySet `json:"price_set"`
}

// DiscountAllocation is the share of one discount application on a line.
type DiscountAllocation struct {
	Amount                   Money    `json:"amount"`
	AmountSet                MoneySet `json:"amount_set"`
	DiscountApplicationIndex int      `json:"discount_application_index"`
}

// DiscountCode is a code applied to an order.
type DiscountCode struct {
	Code   string `json:"code"`
	Amount Money  `json:"amount"`
	Type   string `json:"type"` // fixed_amount, percentage or shipping
}

// DiscountApplication is one discount of an order; line items point at it
// through DiscountAllocation.DiscountApplicationIndex.
type DiscountApplication struct {
	TargetType       string `json:"target_type"` // line_item or shipping_line
	Type             string `json:"type"`        // discount_code, manual, automatic or script
	Value            Money  `json:"value"`       // a percentage when ValueType is percentage
	ValueType        string `json:"value_type"`  // percentage or fixed_amount
	AllocationMethod string `json:"allocation_method"`
	TargetSelection  string `json:"target_selection"`
	Code             string `json:"code"`
	Title            string `json:"title"`
	Description      string `json:"description"`
}

// NoteAttribute is a name/value pair: an order's cart attribute (a good
// carrier for referral codes) or a line item property.
type NoteAttribute struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// UnmarshalJSON accepts a value of any JSON type, keeping non-strings as
// their JSON text, because themes and apps put numbers and booleans there
// and one such attribute must not make an order undecodable.
func (n *NoteAttribute) UnmarshalJSON(b []byte) error {
	var raw struct {
		Name  string          `json:"name"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("shopify: note attribute: %w", err)
	}
	n.Name, n.Value = raw.Name, ""
	switch {
	case len(raw.Value) == 0 || string(raw.Value) == "null":
	case raw.Value[0] == '"':
		if err := json.Unmarshal(raw.Value, &n.Value); err != nil {
			return fmt.Errorf("shopify: note attribute: %w", err)
		}
	default:
		n.Value = string(raw.Value)
	}
	return nil
}

// ShippingLine is a shipping method of an order.
type ShippingLine struct {
	ID                 int64    `json:"id"`
	Title              string   `json:"title"`
	Code               string   `json:"code"`
	Source             string   `json:"source"`
	Price              Money    `json:"price"`
	PriceSet           MoneySet `json:"price_set"`
	DiscountedPrice    Money    `json:"discounted_price"`
	DiscountedPriceSet MoneySet `json:"discounted_price_set"`
	IsRemoved          bool     `json:"is_removed"`
	// TaxLines is the tax on this shipping line, part of the order's
	// total_tax (and of the price when the order's TaxesIncluded).
	TaxLines []TaxLine `json:"tax_lines"`
}

// Address is a billing, shipping or customer address.
type Address struct {
	ID           int64    `json:"id"`
	CustomerID   int64    `json:"customer_id"`
	FirstName    string   `json:"first_name"`
	LastName     string   `json:"last_name"`
	Name         string   `json:"name"`
	Company      string   `json:"company"`
	Address1     string   `json:"address1"`
	Address2     string   `json:"address2"`
	City         string   `json:"city"`
	Province     string   `json:"province"`
	ProvinceCode string   `json:"province_code"`
	Country      string   `json:"country"`
	CountryCode  string   `json:"country_code"`
	CountryName  string   `json:"country_name"`
	Zip          string   `json:"zip"`
	Phone        string   `json:"phone"`
	Latitude     *float64 `json:"latitude"`
	Longitude    *float64 `json:"longitude"`
	Default      bool     `json:"default"`
}

// CustomerRef is the customer inside an order payload. Since API 2025-01 it
// carries no tags, order count, total spent or marketing consent; without
// protected customer data access its email, phone and names are empty.
type CustomerRef struct {
	ID                int64     `json:"id"`
	AdminGraphQLAPIID string    `json:"admin_graphql_api_id"`
	Email             string    `json:"email"`
	Phone             string    `json:"phone"`
	FirstName         string    `json:"first_name"`
	LastName          string    `json:"last_name"`
	State             string    `json:"state"`
	VerifiedEmail     bool      `json:"verified_email"`
	Currency          string    `json:"currency"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	DefaultAddress    *Address  `json:"default_address"`
}

// Refund is the body of refunds/create and an element of Order.Refunds.
// Dedupe on ID. A refund may have no line items (shipping or adjustments only).
type Refund struct {
	ID                  int64                `json:"id"`
	AdminGraphQLAPIID   string               `json:"admin_graphql_api_id"`
	OrderID             int64                `json:"order_id"`
	CreatedAt           time.Time            `json:"created_at"`
	ProcessedAt         time.Time            `json:"processed_at"`
	Note                string               `json:"note"`
	Restock             bool                 `json:"restock"`
	UserID              int64                `json:"user_id"`
	RefundLineItems     []RefundLineItem     `json:"refund_line_items"`
	Transactions        []Transaction        `json:"transactions"`
	OrderAdjustments    []OrderAdjustment    `json:"order_adjustments"`
	RefundShippingLines []RefundShippingLine `json:"refund_shipping_lines"`
	TotalDutiesSet      MoneySet             `json:"total_duties_set"`
}

// RefundLineItem is a refunded quantity of one line item. Subtotal and
// TotalTax are JSON numbers in Shopify's payload; prefer SubtotalSet.
type RefundLineItem struct {
	ID          int64    `json:"id"`
	LineItemID  int64    `json:"line_item_id"`
	Quantity    int      `json:"quantity"`
	RestockType string   `json:"restock_type"` // no_restock, cancel, return, legacy_restock
	LocationID  int64    `json:"location_id"`
	Subtotal    Money    `json:"subtotal"`
	SubtotalSet MoneySet `json:"subtotal_set"`
	TotalTax    Money    `json:"total_tax"`
	TotalTaxSet MoneySet `json:"total_tax_set"`
	LineItem    LineItem `json:"line_item"`
}

// Transaction is a money movement of a refund (Kind "refund").
type Transaction struct {
	ID                int64      `json:"id"`
	AdminGraphQLAPIID string     `json:"admin_graphql_api_id"`
	OrderID           int64      `json:"order_id"`
	ParentID          int64      `json:"parent_id"`
	Kind              string     `json:"kind"`
	Gateway           string     `json:"gateway"`
	Status            string     `json:"status"`
	Message           string     `json:"message"`
	Amount            Money      `json:"amount"`
	Currency          string     `json:"currency"`
	SourceName        string     `json:"source_name"`
	Test              bool       `json:"test"`
	CreatedAt         time.Time  `json:"created_at"`
	ProcessedAt       *time.Time `json:"processed_at"`
}

// OrderAdjustment is a refund amount not tied to a line item, such as a
// shipping refund or a refund discrepancy.
type OrderAdjustment struct {
	ID           int64    `json:"id"`
	OrderID      int64    `json:"order_id"`
	RefundID     int64    `json:"refund_id"`
	Kind         string   `json:"kind"` // shipping_refund or refund_discrepancy
	Reason       string   `json:"reason"`
	Amount       Money    `json:"amount"`
	AmountSet    MoneySet `json:"amount_set"`
	TaxAmount    Money    `json:"tax_amount"`
	TaxAmountSet MoneySet `json:"tax_amount_set"`
}

// RefundShippingLine is a refunded shipping line.
type RefundShippingLine struct {
	ID                int64         `json:"id"`
	ShippingLineID    int64         `json:"shipping_line_id"`
	FullRefund        bool          `json:"full_refund"`
	SubtotalAmountSet MoneySet      `json:"subtotal_amount_set"`
	TaxAmountSet      MoneySet      `json:"tax_amount_set"`
	ShippingLine      *ShippingLine `json:"shipping_line"`
}

// Customer states (Customer.State). Only "enabled" means the customer has
// an account they can log in to; the others are records: "disabled" (a
// checkout, POS or imported customer who never created an account),
// "invited" (an account invitation was sent, not yet accepted) and
// "declined" (the invitation was declined).
const (
	CustomerStateDisabled = "disabled"
	CustomerStateInvited  = "invited"
	CustomerStateEnabled  = "enabled"
	CustomerStateDeclined = "declined"
)

// OrderEdited is the body of orders/edited: {"order_edit": {…}}, not an
// order.
type OrderEdited struct {
	OrderEdit OrderEdit `json:"order_edit"`
}

// OrderEdit is one committed edit of an order. Its lines carry ids and
// quantities only, no prices: a line's price is in the order's line items,
// which the orders/updated Shopify sends after the edit lists (added lines
// included, removed ones with a lower current_quantity). The payload has no
// GraphQL id; its numeric ids are exact in live deliveries.
type OrderEdit struct {
	ID             int64              `json:"id"`
	AppID          int64              `json:"app_id"`
	OrderID        int64              `json:"order_id"`
	UserID         int64              `json:"user_id"`
	StaffNote      string             `json:"staff_note"`
	NotifyCustomer bool               `json:"notify_customer"`
	CreatedAt      time.Time          `json:"created_at"`
	CommittedAt    time.Time          `json:"committed_at"`
	LineItems      OrderEditLineItems `json:"line_items"`
	// Discounts and ShippingLines are kept raw: their changes reach the
	// engine through the order's own amounts.
	Discounts     json.RawMessage `json:"discounts"`
	ShippingLines json.RawMessage `json:"shipping_lines"`
}

// OrderEditLineItems lists the lines an edit added and removed.
type OrderEditLineItems struct {
	Additions []OrderEditLine `json:"additions"`
	Removals  []OrderEditLine `json:"removals"`
}

// OrderEditLine is a change of Delta units to the line item ID: a new line
// (or more units of an existing one) among additions, fewer units among
// removals.
type OrderEditLine struct {
	ID    int64 `json:"id"`
	Delta int   `json:"delta"`
}

// Customer is a customer: the body of customers/create, customers/update
// and customers/delete, and the result of Client.Customer, which also fills
// Metafields. Since API 2025-01 webhook customers carry no tags, order
// count, total spent or marketing consent.
type Customer struct {
	ID                  int64     `json:"id"`
	AdminGraphQLAPIID   string    `json:"admin_graphql_api_id"`
	Email               string    `json:"email"`
	Phone               string    `json:"phone"`
	FirstName           string    `json:"first_name"`
	LastName            string    `json:"last_name"`
	State               string    `json:"state"`
	Note                string    `json:"note"`
	VerifiedEmail       bool      `json:"verified_email"`
	MultipassIdentifier string    `json:"multipass_identifier"`
	TaxExempt           bool      `json:"tax_exempt"`
	Currency            string    `json:"currency"`
	CreatedAt           time.Time `json:"created_at"`
	UpdatedAt           time.Time `json:"updated_at"`
	Addresses           []Address `json:"addresses"`
	DefaultAddress      *Address  `json:"default_address"`
	// Metafields holds the values Client.Customer asked for, keyed
	// "namespace.key"; absent metafields are missing from the map.
	Metafields map[string]string `json:"-"`
}

// ShopPayload is the body of app/uninstalled: the REST Shop object.
type ShopPayload struct {
	ID              int64     `json:"id"`
	Name            string    `json:"name"`
	Email           string    `json:"email"`
	CustomerEmail   string    `json:"customer_email"`
	Domain          string    `json:"domain"`
	MyshopifyDomain string    `json:"myshopify_domain"`
	ShopOwner       string    `json:"shop_owner"`
	PlanName        string    `json:"plan_name"`
	PlanDisplayName string    `json:"plan_display_name"`
	Currency        string    `json:"currency"`
	Timezone        string    `json:"timezone"`
	IanaTimezone    string    `json:"iana_timezone"`
	CountryCode     string    `json:"country_code"`
	PrimaryLocale   string    `json:"primary_locale"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// ComplianceCustomer identifies the customer of a compliance webhook; it
// may carry only an email.
type ComplianceCustomer struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
	Phone string `json:"phone"`
}

// CustomersRedact is the body of the customers/redact compliance webhook.
type CustomersRedact struct {
	ShopID         int64              `json:"shop_id"`
	ShopDomain     string             `json:"shop_domain"`
	Customer       ComplianceCustomer `json:"customer"`
	OrdersToRedact []int64            `json:"orders_to_redact"`
}

// CustomersDataRequest is the body of the customers/data_request compliance
// webhook.
type CustomersDataRequest struct {
	ShopID          int64              `json:"shop_id"`
	ShopDomain      string             `json:"shop_domain"`
	Customer        ComplianceCustomer `json:"customer"`
	OrdersRequested []int64            `json:"orders_requested"`
	DataRequest     struct {
		ID int64 `json:"id"`
	} `json:"data_request"`
}

// ShopRedact is the body of the shop/redact compliance webhook, sent 48 h
// after uninstall.
type ShopRedact struct {
	ShopID     int64  `json:"shop_id"`
	ShopDomain string `json:"shop_domain"`
}

// CustomersMerge is the body of customers/merge. Merge loyalty balances
// only when the merge succeeded.
type CustomersMerge struct {
	AdminGraphQLAPICustomerKeptID    string       `json:"admin_graphql_api_customer_kept_id"`
	AdminGraphQLAPICustomerDeletedID string       `json:"admin_graphql_api_customer_deleted_id"`
	AdminGraphQLAPIJobID             string       `json:"admin_graphql_api_job_id"`
	Status                           string       `json:"status"`
	Errors                           []MergeError `json:"errors"`
}

// MergeError explains why a customer merge failed.
type MergeError struct {
	CustomerIDs []int64 `json:"customer_ids"`
	Field       string  `json:"field"`
	Message     string  `json:"message"`
}
