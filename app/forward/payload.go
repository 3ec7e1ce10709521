package forward

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/perkbridge/perkbridge/app/clevertap"
	"github.com/perkbridge/perkbridge/app/event"
	"github.com/perkbridge/perkbridge/app/identity"
	"github.com/perkbridge/perkbridge/app/klaviyo"
	"github.com/perkbridge/perkbridge/app/referral"
	"github.com/perkbridge/perkbridge/app/store"
)

// eventProperties returns the properties of a stored event: its own fields
// (numbers kept exact) plus the fields every event carries (DESIGN.md §3).
// Times are time.Time; each sink formats them.
func eventProperties(d *store.ClaimedDelivery, shopDomain string) (map[string]any, error) {
	props := map[string]any{}
	if len(d.Properties) > 0 {
		dec := json.NewDecoder(bytes.NewReader(d.Properties))
		dec.UseNumber()
		if err := dec.Decode(&props); err != nil {
			return nil, fmt.Errorf("forward: event %s properties: %w", d.EventID, err)
		}
	}
	if def, ok := event.Lookup(event.Key(d.Event)); ok {
		for name, v := range props {
			if f, ok := def.Field(name); ok && f.Type == event.TypeTime {
				if s, ok := v.(string); ok {
					if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
						props[name] = t.UTC()
					}
				}
			}
		}
	}
	props[event.FieldEventID] = d.EventID.String()
	props[event.FieldOccurredAt] = d.OccurredAt.UTC()
	props[event.FieldShop] = shopDomain
	props[event.FieldCustomerID] = strconv.FormatInt(d.ShopifyCustomerID, 10)
	props[event.FieldPointsBalance] = d.PointsBalance
	props[event.FieldTier] = d.Tier
	props[event.FieldCurrency] = d.Currency
	if d.Channel != "" {
		props[event.FieldChannel] = d.Channel
	}
	return props, nil
}

// klaviyoTime is ISO 8601 with a numeric offset, as Klaviyo's examples.
const klaviyoTime = "2006-01-02T15:04:05-07:00"

// decimalRe is a money amount Klaviyo's value accepts.
var decimalRe = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// klaviyoEvent builds the Create Event of a delivery: metric = the
// definition's name, unique_id = the event id (retries never double it),
// time = when it happened, the profile identified by the common property
// with the other known identifiers along, and value/value_currency for
// events worth money (a fixed-amount coupon, the redeemable value of an
// unused balance).
func klaviyoEvent(d *store.ClaimedDelivery, ids identity.KlaviyoIdentifiers, props map[string]any, backfill bool) klaviyo.Event {
	kp := make(map[string]any, len(props))
	for k, v := range props {
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(klaviyoTime)
		}
		kp[k] = v
	}
	ev := klaviyo.Event{
		Metric:     d.Name,
		Profile:    klaviyo.Profile{Email: ids.Email, PhoneNumber: ids.PhoneNumber, ExternalID: ids.ExternalID},
		Properties: kp,
		Time:       d.OccurredAt,
		UniqueID:   d.EventID.String(),
		Backfill:   backfill,
	}
	// The loyalty profile properties ride on the event, so the flow it
	// triggers renders {{ person.loyalty_points_balance }} with the new
	// balance without waiting for the profile sync. Only while they are
	// still the customer's: an older event sent late must not set a stale
	// balance that the sync, seeing nothing changed, would not repair.
	if d.CurrentState && !backfill && !d.Test {
		ev.Profile.Properties = map[string]any{ProfilePointsBalance: d.PointsBalance, ProfileTier: d.Tier}
	}
	if v, ok := moneyValue(event.Key(d.Event), props); ok {
		ev.Value, ev.ValueCurrency = &v, d.Currency
	}
	return ev
}

// moneyValue returns the monetary value of an event, when it has one.
func moneyValue(key event.Key, props map[string]any) (string, bool) {
	var v any
	switch key {
	case event.WalletPointsUnused:
		v = props["redeemable_value"]
	case event.CouponCreated:
		if props["discount_type"] == "fixed_amount" {
			v = props["discount_value"]
		}
	case event.StoreCreditIssued:
		v = props["amount"]
	}
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
	default:
		return "", false
	}
	return s, decimalRe.MatchString(s)
}

// cleverTapRecord builds the upload record of a delivery: identity = the
// common property's value, ts = when it happened (epoch seconds), evtName =
// the definition's name, evtData flat with dates as $D_<epoch seconds>.
func cleverTapRecord(d *store.ClaimedDelivery, identityValue string, props map[string]any) clevertap.Record {
	return clevertap.Record{
		Type:     clevertap.TypeEvent,
		Identity: identityValue,
		TS:       d.OccurredAt.Unix(),
		EvtName:  d.Name,
		EvtData:  clevertap.Flatten(props), // time.Time → $D_…
	}
}

// Profile properties pushed to the sinks (DESIGN.md §3).
const (
	ProfilePointsBalance  = "loyalty_points_balance"
	ProfileTier           = "loyalty_tier"
	ProfileReferralURL    = "loyalty_referral_url"
	ProfilePointsExpiring = "loyalty_points_expiring"
	ProfileNextExpiryAt   = "loyalty_next_expiry_at"
)

// profileProperties returns a customer's loyalty profile properties.
// Klaviyo gets ISO times and a null next expiry when none is left (null
// clears the property); CleverTap gets $D_ dates and no key instead.
// loyalty_referral_url is the member's refer-a-friend link (prepareProfiles
// gives members without a code one first).
func profileProperties(p *store.ClaimedProfile, kind string) map[string]any {
	m := map[string]any{
		ProfilePointsBalance:  p.PointsBalance,
		ProfileTier:           p.Tier,
		ProfilePointsExpiring: p.PointsExpiring,
	}
	if u := referral.URL(p.ShopDomain, p.ReferralCode); u != "" {
		m[ProfileReferralURL] = u
	}
	switch {
	case p.NextExpiryAt != nil && kind == KindKlaviyo:
		m[ProfileNextExpiryAt] = p.NextExpiryAt.UTC().Format(klaviyoTime)
	case p.NextExpiryAt != nil:
		m[ProfileNextExpiryAt] = clevertap.Date(*p.NextExpiryAt)
	case kind == KindKlaviyo:
		m[ProfileNextExpiryAt] = nil
	}
	return m
}
