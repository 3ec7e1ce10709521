package forward

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/clevertap"
	"github.com/perkbridge/perkbridge/app/identity"
	"github.com/perkbridge/perkbridge/app/store"
)

// Launch checklist item states.
const (
	CheckOK   = "ok"   // done
	CheckTodo = "todo" // to do before launch
	CheckWarn = "warn" // works, with a gap the merchant should know
	CheckInfo = "info" // a fact to confirm
)

// Launch checklist item keys; the admin maps each to the page that fixes it.
const (
	CheckCredentials = "credentials"
	CheckCoverage    = "common_property"
	CheckEvents      = "events"
	CheckFailures    = "failures"
	CheckLate        = "late"
	CheckTestOrders  = "test_orders"
)

// CheckItem is one item of an integration's launch checklist.
type CheckItem struct {
	Key    string `json:"key"`
	State  string `json:"state"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	// Events is the per-event state of the events item.
	Events []EventCheck `json:"events,omitempty"`
	// Missing lists members without the common property (coverage item).
	Missing []MissingMember `json:"missing,omitempty"`
	// Failures are the last failed deliveries (failures item).
	Failures []DeliveryView `json:"failures,omitempty"`
}

// EventCheck is one enabled event definition: accepted at least once?
type EventCheck struct {
	DefinitionID int64      `json:"definition_id"`
	Event        string     `json:"event"`
	Name         string     `json:"name"`
	Accepted     int64      `json:"accepted"`
	LastAccepted *time.Time `json:"last_accepted,omitempty"`
}

// MissingMember is a member lacking the common property's value.
type MissingMember struct {
	CustomerID string `json:"customer_id"`
	Name       string `json:"name"`
	HasPhone   bool   `json:"has_phone"`
}

// Checklist is an integration's launch checklist.
type Checklist struct {
	Kind  string      `json:"kind"`
	Ready bool        `json:"ready"` // no item to do
	Items []CheckItem `json:"items"`
}

// checklistWindow is how far back failures and late events are looked at.
const checklistWindow = 7 * 24 * time.Hour

// Checklist computes the launch checklist of the shop's integration of
// kind from real state: the credentials and region, the share of members
// with the common property (and who lacks it), each enabled event accepted
// at least once (tests count), the last failures with their reasons,
// events that reached CleverTap after its 2-hour live-campaign window, and
// whether test orders earn points.
func (s *Service) Checklist(ctx context.Context, shopID app.ShopID, kind string) (Checklist, error) {
	kind, err := parseKind(kind, "")
	if err != nil {
		return Checklist{}, err
	}
	out := Checklist{Kind: kind, Ready: true}
	add := func(it CheckItem) {
		if it.State == CheckTodo {
			out.Ready = false
		}
		out.Items = append(out.Items, it)
	}
	in, err := s.st.Integration(ctx, shopID, kind)
	if app.ErrorCode(err) == app.ENOTFOUND || (err == nil && in.Status == store.IntegrationNotConnected) {
		reason := "Enter the credentials and initialize."
		if in != nil && in.StatusReason != "" {
			reason = in.StatusReason
		}
		add(CheckItem{Key: CheckCredentials, State: CheckTodo, Title: "Connect " + KindLabel(kind), Detail: reason})
		return out, nil
	}
	if err != nil {
		return Checklist{}, err
	}
	now := s.now()

	// Credentials and region.
	cred := CheckItem{Key: CheckCredentials, Title: "Credentials accepted"}
	switch in.Status {
	case store.IntegrationActive:
		cred.State = CheckOK
		cred.Detail = KindLabel(kind) + " accepted them"
		if in.ValidatedAt != nil {
			cred.Detail += " on " + in.ValidatedAt.UTC().Format("2 Jan 2006 15:04 MST")
		}
		if kind == KindCleverTap {
			if r, ok := clevertap.LookupRegion(in.Region); ok {
				cred.Detail += ", in the " + r.Name + " region (" + r.Code + ")"
			}
		}
		cred.Detail += "."
	case store.IntegrationInitializing:
		cred.State, cred.Detail = CheckTodo, "Being checked; reload in a moment."
	default:
		cred.State, cred.Detail = CheckTodo, in.StatusReason
	}
	add(cred)

	// The common property among members.
	prop, err := identity.ParseProperty(in.CommonProperty)
	if err != nil {
		return Checklist{}, err
	}
	cov, err := s.st.CommonPropertyCoverage(ctx, shopID, string(prop.Kind), prop.MetafieldKey(), 20)
	if err != nil {
		return Checklist{}, err
	}
	ci := CheckItem{Key: CheckCoverage, Title: "Members have the common property (" + prop.String() + ")"}
	switch {
	case cov.Members == 0:
		ci.State, ci.Detail = CheckInfo, "No members yet: each new member is checked as they earn."
	case cov.Have == cov.Members:
		ci.State, ci.Detail = CheckOK, fmt.Sprintf("All %d members have it.", cov.Members)
	default:
		ci.State = CheckWarn
		ci.Detail = fmt.Sprintf("%d of %d members (%s) have it; %d do not.", cov.Have, cov.Members, percent(cov.Have, cov.Members), cov.Members-cov.Have)
		switch {
		case in.PhoneFallback && cov.HavePhone > 0:
			ci.Detail += fmt.Sprintf(" %d of those are reached by phone number (the phone fallback is on); the others are skipped.", cov.HavePhone)
		case cov.HavePhone > 0:
			ci.Detail += fmt.Sprintf(" Their events are skipped; %d of them have a phone number the phone fallback could use.", cov.HavePhone)
		default:
			ci.Detail += " Their events are skipped."
		}
		for _, m := range cov.Missing {
			ci.Missing = append(ci.Missing, MissingMember{CustomerID: strconv.FormatInt(m.ShopifyID, 10), Name: memberName(m), HasPhone: m.Phone != ""})
		}
	}
	add(ci)

	// Each enabled event accepted at least once.
	defs, err := s.st.EventDefinitions(ctx, shopID, in.ID)
	if err != nil {
		return Checklist{}, err
	}
	acc, err := s.st.AcceptedByEvent(ctx, shopID, in.ID)
	if err != nil {
		return Checklist{}, err
	}
	byEvent := map[string]store.EventDeliveryState{}
	for _, a := range acc {
		byEvent[a.Event] = a
	}
	ev := CheckItem{Key: CheckEvents, Title: "Every event reached " + KindLabel(kind) + " at least once"}
	waiting := 0
	for _, d := range defs {
		if !d.Enabled {
			continue
		}
		a := byEvent[d.Event]
		name := d.Name
		if name == "" {
			name = d.Event
		}
		ev.Events = append(ev.Events, EventCheck{DefinitionID: d.ID, Event: d.Event, Name: name, Accepted: a.Accepted, LastAccepted: a.LastAccepted})
		if a.Accepted == 0 {
			waiting++
		}
	}
	switch {
	case len(ev.Events) == 0:
		ev.State, ev.Detail = CheckTodo, "No event is sent yet: choose the events "+KindLabel(kind)+" receives."
	case waiting == 0 && len(ev.Events) == 1:
		ev.State, ev.Detail = CheckOK, "The event was accepted at least once."
	case waiting == 0:
		ev.State, ev.Detail = CheckOK, fmt.Sprintf("All %d events were accepted at least once.", len(ev.Events))
	default:
		ev.State = CheckTodo
		ev.Detail = fmt.Sprintf("%d of %d events were never accepted: send a test of each to see it in %s, on the right profile, and use it as a trigger.", waiting, len(ev.Events), KindLabel(kind))
	}
	add(ev)

	// The last failures, with their reasons.
	since := now.Add(-checklistWindow)
	failed, err := s.st.CountDeliveriesSince(ctx, shopID, in.ID, store.DeliveryFailed, since)
	if err != nil {
		return Checklist{}, err
	}
	fi := CheckItem{Key: CheckFailures, Title: "No failed events in the last 7 days"}
	if failed == 0 {
		fi.State, fi.Detail = CheckOK, "None failed."
	} else {
		fi.State = CheckWarn
		fi.Detail = fmt.Sprintf("%d failed; the latest, with %s's answer:", failed, KindLabel(kind))
		rows, err := s.st.Deliveries(ctx, shopID, store.DeliveryQuery{IntegrationID: in.ID, Status: store.DeliveryFailed, From: since, Limit: 5})
		if err != nil {
			return Checklist{}, err
		}
		for i := range rows {
			fi.Failures = append(fi.Failures, deliveryView(&rows[i]))
		}
	}
	add(fi)

	// Late events: CleverTap's live campaigns ignore events over 2 hours old.
	if kind == KindCleverTap {
		late, err := s.st.CountDeliveriesSince(ctx, shopID, in.ID, store.DeliveryLate, since)
		if err != nil {
			return Checklist{}, err
		}
		li := CheckItem{Key: CheckLate, Title: "Events arrive within CleverTap's 2-hour live-campaign window"}
		if late == 0 {
			li.State, li.Detail = CheckOK, "Every event of the last 7 days reached CleverTap in time."
		} else {
			li.State = CheckWarn
			li.Detail = fmt.Sprintf("%d events of the last 7 days reached CleverTap more than 2 hours after they happened (a pause, an outage or a backlog): CleverTap has them, but they do not trigger live journeys.", late)
		}
		add(li)
	}

	// Test orders.
	settings, _, err := s.st.ProgramSettings(ctx, shopID)
	if err != nil {
		return Checklist{}, err
	}
	to := CheckItem{Key: CheckTestOrders, Title: "Test orders"}
	if settings.CountTestOrders {
		to.State, to.Detail = CheckWarn, "Test orders earn points and send events: right while you try your flows; turn it off before launch."
	} else {
		to.State, to.Detail = CheckOK, "Test orders earn nothing and send nothing."
	}
	add(to)
	return out, nil
}

// KindLabel is an integration kind as merchants read it: "CleverTap",
// "Klaviyo" (the kind itself when unknown).
func KindLabel(kind string) string {
	switch kind {
	case KindCleverTap:
		return "CleverTap"
	case KindKlaviyo:
		return "Klaviyo"
	}
	return kind
}

func percent(n, of int64) string {
	if of == 0 {
		return "0%"
	}
	return strconv.FormatInt(n*100/of, 10) + "%"
}

func memberName(m store.MissingMember) string {
	name := m.FirstName
	if m.LastName != "" {
		name += " " + m.LastName
	}
	if name == "" {
		name = "Customer " + strconv.FormatInt(m.ShopifyID, 10)
	}
	return name
}
