package event

import (
	"strings"

	"github.com/perkbridge/perkbridge/app"
)

// Channel is the sales channel an order came through. An event definition
// may be limited to some channels.
type Channel string

// Sales channels, as the JSON admin API names them.
const (
	ChannelOnlineStore Channel = "online_store"
	ChannelPOS         Channel = "pos"
	ChannelDraftOrder  Channel = "draft_order"
	ChannelOther       Channel = "other"
)

// Channels returns every channel.
func Channels() []Channel {
	return []Channel{ChannelOnlineStore, ChannelPOS, ChannelDraftOrder, ChannelOther}
}

// Valid reports whether c is a known channel.
func (c Channel) Valid() bool {
	switch c {
	case ChannelOnlineStore, ChannelPOS, ChannelDraftOrder, ChannelOther:
		return true
	}
	return false
}

// ParseChannel returns the channel named s, or a field error on "channels"
// for API and form input.
func ParseChannel(s string) (Channel, error) {
	if c := Channel(s); c.Valid() {
		return c, nil
	}
	return "", app.FieldError("channels", "Unknown sales channel %q: use online_store, pos, draft_order or other.", s)
}

// ChannelFromSourceName maps an order's Shopify source_name to its channel:
// "web" → online_store, "pos" → pos, "shopify_draft_order" → draft_order,
// anything else (apps, marketplaces, an empty value) → other. Matching
// ignores case and surrounding space.
func ChannelFromSourceName(src string) Channel {
	switch strings.ToLower(strings.TrimSpace(src)) {
	case "web":
		return ChannelOnlineStore
	case "pos":
		return ChannelPOS
	case "shopify_draft_order":
		return ChannelDraftOrder
	}
	return ChannelOther
}

// Status is the state of one event's delivery to one integration.
type Status string

// Delivery statuses.
const (
	StatusPending Status = "pending" // queued or being retried
	StatusSent    Status = "sent"    // accepted by the sink
	StatusFailed  Status = "failed"  // gave up, or a permanent error; retryable from the UI
	StatusSkipped Status = "skipped" // not sent, with the reason (no identity value, channel filtered)
	StatusLate    Status = "late"    // sent, but too old to trigger live CleverTap campaigns (over 2 h)
	// StatusUnconfirmed: handed to the sink, which did not confirm this
	// event (a Klaviyo bulk job, a CleverTap answer that does not add up).
	StatusUnconfirmed Status = "unconfirmed"
)

// Statuses returns every delivery status.
func Statuses() []Status {
	return []Status{StatusPending, StatusSent, StatusFailed, StatusSkipped, StatusLate, StatusUnconfirmed}
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusSent, StatusFailed, StatusSkipped, StatusLate, StatusUnconfirmed:
		return true
	}
	return false
}

// Final reports whether a delivery in status s is done unless someone
// retries it by hand: everything but pending.
func (s Status) Final() bool { return s.Valid() && s != StatusPending }

// ParseStatus returns the status named s, or a field error on "status" for
// API filters.
func ParseStatus(s string) (Status, error) {
	if st := Status(s); st.Valid() {
		return st, nil
	}
	return "", app.FieldError("status", "Unknown delivery status %q: use pending, sent, failed, skipped or late.", s)
}
