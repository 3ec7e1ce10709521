package forward

import (
	"context"
	"strconv"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/store"
)

// FieldIsTest marks the properties of a test event, so a flow or journey
// can leave tests out (or keep only them while the merchant tries it).
const FieldIsTest = "is_test"

// SendTest sends a sample of an event definition (the catalog's example
// properties, the customer's real balance, tier and identity) to its
// integration for one customer of the shop, through the real delivery
// path: resolved by the common property, built, sent, answered and logged
// like any delivery, and kept with its payload whatever the outcome. It
// reaches that integration only and counts in no statistics. The answer
// is the delivery, pending until the runner sends it (seconds).
func (s *Service) SendTest(ctx context.Context, shopID app.ShopID, kind string, definitionID int64, shopifyCustomerID int64) (DeliveryView, error) {
	integ, err := s.connected(ctx, shopID, kind)
	if err != nil {
		return DeliveryView{}, err
	}
	def, err := s.st.EventDefinition(ctx, shopID, integ.ID, definitionID)
	if err != nil {
		return DeliveryView{}, err
	}
	if shopifyCustomerID <= 0 {
		return DeliveryView{}, app.FieldError("customer_id", "Choose a customer to send the test to (their Shopify customer id).")
	}
	cust, err := s.st.CustomerByShopifyID(ctx, shopID, shopifyCustomerID)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return DeliveryView{}, app.FieldError("customer_id", "No customer %d in this shop.", shopifyCustomerID)
	}
	if err != nil {
		return DeliveryView{}, err
	}
	props := event.SampleProperties(event.Key(def.Event))
	if props == nil {
		props = map[string]any{}
	}
	props[FieldIsTest] = true
	id, err := s.st.CreateTestDelivery(ctx, shopID, store.TestEvent{
		IntegrationID: integ.ID, DefinitionID: def.ID, CustomerID: cust.ID, Key: def.Event, Properties: props, OccurredAt: s.now(),
	})
	if err != nil {
		return DeliveryView{}, err
	}
	d, err := s.st.DeliveryByID(ctx, shopID, id)
	if err != nil {
		return DeliveryView{}, err
	}
	s.log.InfoContext(ctx, "test event queued", "shop", shopID, "integration", kind, "event", def.Event,
		"customer", strconv.FormatInt(shopifyCustomerID, 10), "delivery", id)
	return deliveryView(d), nil
}
