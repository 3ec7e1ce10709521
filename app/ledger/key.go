package ledger

import (
	"strconv"
	"strings"
	"time"
)

// Idempotency keys. Each effect of the engine has a natural key, unique per
// shop (the store's constraint is on shop_id + key), so that a webhook
// delivered twice, a job retried after a crash, or two workers racing on the
// same order insert the effect once: the second insert hits the constraint
// and does nothing. Keys are built from Shopify GIDs; a numeric id is turned
// into its GID first, so the REST webhook id and the GraphQL id of the same
// order give the same key. An empty id gives an empty key, which
// Entry.Validate rejects, so a missing id can never collide with another.
// Key formats are stored; never change one once shipped.

// RuleOrder is the earning rule of purchase points. Other per-order rules
// (a product bonus, a campaign) get their own name so that each credits once.
const RuleOrder = "order"

// KeyEarn keys the points an order earns under one rule: each order earns
// once per rule, however often orders/paid or orders/fulfilled arrive.
func KeyEarn(orderGID, rule string) string {
	return join("earn", gid("Order", orderGID), rule)
}

// KeyCatchUp keys the reversal an earn makes at once for refunds that
// arrived before it (see OrderState.Earn).
func KeyCatchUp(orderGID, rule string) string {
	return join("catch-up", gid("Order", orderGID), rule)
}

// KeyRefund keys the reversal of one refund: a refund takes points back
// once, whatever happened before or after it.
func KeyRefund(refundGID string) string {
	return join("refund", gid("Refund", refundGID))
}

// KeyEdit keys the points change of one order edit (orders/edited): an
// edit counts once, however often it is delivered.
func KeyEdit(orderGID, editGID string) string {
	return join("edit", gid("Order", orderGID), gid("OrderEdit", editGID))
}

// KeyLines keys the points change of an order's lines as of one order
// payload (its updated_at, UTC to the second): lines added or removed
// without an orders/edited of their own, such as an exchange's new item.
func KeyLines(orderGID string, asOf time.Time) string {
	return join("lines", gid("Order", orderGID), asOf.UTC().Format(time.RFC3339Nano))
}

// KeyCancel keys the reversal of an order's cancellation.
func KeyCancel(orderGID string) string {
	return join("cancel", gid("Order", orderGID))
}

// KeyExpire keys the expiry of a lot: a lot expires once.
func KeyExpire(lotID int64) string {
	if lotID == 0 {
		return ""
	}
	return "expire:lot/" + strconv.FormatInt(lotID, 10)
}

// KeyReminder keys the expiry reminder of a lot at one offset, so that a
// daily sweep reminds once per offset.
func KeyReminder(lotID int64, offsetDays int) string {
	if lotID == 0 {
		return ""
	}
	return "reminder:lot/" + strconv.FormatInt(lotID, 10) + ":" + strconv.Itoa(offsetDays)
}

// KeyBirthday keys a customer's birthday gift for one year: once a year,
// even if the birthday is edited afterwards.
func KeyBirthday(customerGID string, year int) string {
	return join("birthday", gid("Customer", customerGID), strconv.Itoa(year))
}

// KeySignup keys a customer's signup points: once per customer, even if
// customers/create is delivered twice.
func KeySignup(customerGID string) string {
	return join("signup", gid("Customer", customerGID))
}

// KeyReview keys the points for a customer's review of a product: a
// customer is credited once per product, however often the form is sent.
func KeyReview(customerGID, productGID string) string {
	return join("review", gid("Customer", customerGID), gid("Product", productGID))
}

// KeyReviewRequest keys the review request of an order: one per order.
func KeyReviewRequest(orderGID string) string {
	return join("review-request", gid("Order", orderGID))
}

// KeyReferral keys the referrer's reward for one referred friend: a friend
// completes a referral once, whatever orders follow.
func KeyReferral(friendCustomerGID string) string {
	return join("referral", gid("Customer", friendCustomerGID))
}

// KeyRedeem keys a redemption by the client's request id (the storefront
// sends one per click), so a double click buys one coupon.
func KeyRedeem(requestID string) string {
	return join("redeem", requestID)
}

// KeyAdjust keys a manual adjustment by the client's request id, so a
// retried API call adjusts once.
func KeyAdjust(requestID string) string {
	return join("adjust", requestID)
}

// KeyNudge keys the unused-points nudge of a customer on one calendar day in
// the shop's time zone.
func KeyNudge(customerGID string, day time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return join("nudge", gid("Customer", customerGID), day.In(loc).Format(time.DateOnly))
}

// join builds a key, or "" when any part is empty.
func join(parts ...string) string {
	for _, p := range parts {
		if p == "" {
			return ""
		}
	}
	return strings.Join(parts, ":")
}

// gid returns the Shopify GID of a resource: id itself when it already is
// one, "gid://shopify/<typ>/<id>" when id is numeric, and id unchanged
// otherwise.
func gid(typ, id string) string {
	id = strings.TrimSpace(id)
	if id == "" || strings.HasPrefix(id, "gid://") {
		return id
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return id
		}
	}
	return "gid://shopify/" + typ + "/" + id
}

// GID returns the Shopify GID of a resource of type typ ("Order",
// "Customer", "Refund") given its GID or numeric id.
func GID(typ, id string) string { return gid(typ, id) }
