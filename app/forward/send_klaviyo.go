package forward

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/identity"
	"github.com/perkbridge/perkbridge/app/klaviyo"
	"github.com/perkbridge/perkbridge/app/store"
)

// rateKey names one of a Klaviyo account's rate limits ("events", "bulk",
// "profiles"). Klaviyo counts per account, so two shops on one account
// share it.
func rateKey(in *store.DueIntegration, op string) string {
	acct := in.AccountID
	if acct == "" {
		acct = "integration-" + strconv.FormatInt(in.ID, 10)
	}
	return "klaviyo:" + acct + ":" + op
}

// windows are a Klaviyo rate's fixed windows: burst per second, steady
// per minute.
func windows(r klaviyo.Rate) []store.RateWindow {
	return []store.RateWindow{{Per: time.Second, Limit: r.Burst}, {Per: time.Minute, Limit: r.Steady}}
}

// verdict is what a sink answer means beyond its own delivery.
type verdict struct {
	pause    string        // the integration must be paused with this reason
	throttle time.Duration // the key is throttled for this long
}

// throttleWait is how long to wait after a 429 that named no wait: an
// exponential backoff over the key's consecutive 429s (sinks.md §3.5).
func (r *Runner) throttleWait(key string, named time.Duration) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.throttles == nil {
		r.throttles = map[string]int{}
	}
	r.throttles[key]++
	if named > 0 {
		return named
	}
	return min(r.opts.Backoff(r.throttles[key]), time.Minute)
}

func (r *Runner) unthrottled(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.throttles, key)
}

// klaviyoPauseReason is what the merchant sees on a paused Klaviyo
// integration.
func klaviyoPauseReason(ae *klaviyo.APIError) string {
	if ae.MissingScope() {
		return fmt.Sprintf("Klaviyo refused the key: it lacks a scope (403 %s: %s). Sending is paused and events are kept; "+
			"save the integration with a key that has events:write and profiles:write to send them.", ae.Code, ae.Detail)
	}
	return fmt.Sprintf("Klaviyo rejected the private API key (%d %s). Sending is paused and events are kept; "+
		"save the integration with a valid key to send them.", ae.Status, orString(ae.Code, "not_authenticated"))
}

// klaviyoOutcome classifies the answer to one event (sinks.md §3.5).
func (r *Runner) klaviyoOutcome(d *store.ClaimedDelivery, key string, err error) (store.DeliveryOutcome, verdict) {
	if err == nil {
		return sentOutcome(d, store.DeliverySent, http.StatusAccepted, "", false), verdict{}
	}
	now := time.Now()
	var ae *klaviyo.APIError
	var te *klaviyo.TransportError
	switch {
	case errors.As(err, &ae) && ae.AuthFailure():
		reason := klaviyoPauseReason(ae)
		return waitOutcome(d, now, ae.Status, reason, ae.Body), verdict{pause: reason}
	case errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests:
		wait := r.throttleWait(key, ae.RetryAfter)
		return waitOutcome(d, now.Add(wait), ae.Status, fmt.Sprintf("Klaviyo throttled the request (429); waiting %s.", wait.Round(time.Millisecond)), ae.Body),
			verdict{throttle: wait}
	case errors.As(err, &ae) && ae.Retryable():
		return r.retryOutcome(d, ae.Status, "Klaviyo answered "+ae.Error(), ae.Body), verdict{}
	case errors.As(err, &ae):
		return failedOutcome(d, ae.Status, "Klaviyo refused the event: "+ae.Error(), ae.Body), verdict{}
	case errors.As(err, &te):
		// Safe to resend: Klaviyo dedupes on unique_id.
		return r.retryOutcome(d, 0, "No answer from Klaviyo ("+summarize(err)+").", ""), verdict{}
	case errors.Is(err, context.Canceled):
		return releaseOutcome(d, now), verdict{}
	case app.ErrorCode(err) == app.EINVALID:
		return failedOutcome(d, 0, "The event cannot be sent to Klaviyo: "+app.ErrorMessage(err), ""), verdict{}
	}
	return r.retryOutcome(d, 0, err.Error(), ""), verdict{}
}

// klItem is a delivery ready to send to Klaviyo.
type klItem struct {
	i  int // index into the claimed batch and its outcomes
	ev klaviyo.Event
	// fallback: sent by phone number, the customer lacking the common
	// property's value (identity.Options.PhoneFallback).
	fallback bool
	// keyOnly is ev with the key identifier alone (the common property's,
	// or the phone for a fallback), when ev carries others too; sent when
	// Klaviyo refuses one of those others (see refusedOtherIdentifier).
	keyOnly *klaviyo.Event
}

// klaviyoEvents sends one batch of an integration's due events: as single
// events while the account's events budget lasts, in one bulk job when its
// steady (per-minute) window is spent and the bulk budget allows
// (RunnerOptions.DisableBulk). What is not sent is given back, due when a
// budget frees.
func (r *Runner) klaviyoEvents(ctx context.Context, in *store.DueIntegration) taskResult {
	client, prop, ok := r.prepare(ctx, in)
	if !ok {
		return taskResult{notBefore: time.Now().Add(time.Second)}
	}
	bulk := !r.opts.DisableBulk && r.steadySpent(in.ID)
	limit := r.opts.KlaviyoBatch
	if bulk {
		// The job is taken before the claim: rows claimed and given back
		// for want of a job are two writes of up to a thousand rows.
		g, wait, err := r.takeBulk(ctx, in)
		if err != nil {
			r.log.Warn("taking Klaviyo bulk rate", "integration", in.ID, "err", err)
			return taskResult{notBefore: time.Now().Add(time.Second)}
		}
		if g == 0 {
			return taskResult{notBefore: time.Now().Add(wait)}
		}
		limit = r.opts.KlaviyoBulkSize
	}
	ds, err := r.st.ClaimDeliveries(ctx, in.ID, limit, r.opts.Lease)
	if err != nil {
		r.log.Warn("claiming deliveries", "integration", in.ID, "err", err)
		return taskResult{notBefore: time.Now().Add(time.Second)}
	}
	if len(ds) == 0 {
		return taskResult{}
	}
	outs := make([]store.DeliveryOutcome, len(ds))
	items := r.prepareKlaviyo(ctx, in, prop, ds, outs)
	res := taskResult{worked: true}
	if bulk {
		res.notBefore = r.bulk(ctx, in, client.klaviyo, ds, items, outs)
	} else {
		rest, wait, spent := r.sendSingles(ctx, in, client.klaviyo, ds, items, outs)
		switch {
		case len(rest) > 0 && spent && !r.opts.DisableBulk:
			// Above the steady limit: the rest goes in bulk jobs until
			// the window turns.
			r.mu.Lock()
			r.overSteady[in.ID] = time.Now().Add(wait)
			r.mu.Unlock()
			res.notBefore = r.bulkOrRelease(ctx, in, client.klaviyo, ds, rest, outs)
		case len(rest) > 0:
			at := time.Now().Add(wait)
			for _, it := range rest {
				outs[it.i] = releaseOutcome(&ds[it.i], at)
			}
			if wait > 0 {
				res.notBefore = at
			}
		}
	}
	klaviyoPayloads(ds, items, outs)
	r.record(ctx, outs)
	return res
}

// steadySpent reports whether integration's events budget was found spent
// for the current minute.
func (r *Runner) steadySpent(integration int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	until, ok := r.overSteady[integration]
	if ok && !time.Now().Before(until) {
		delete(r.overSteady, integration)
		return false
	}
	return ok
}

// bulkPace is the pacing window of bulk jobs: one job per slot of
// 1/steady of a minute, so the minute's jobs spread over it.
func bulkPace(rate klaviyo.Rate) store.RateWindow {
	return store.RateWindow{Per: time.Minute / time.Duration(max(rate.Steady, 1)), Limit: 1}
}

// takeBulk takes one bulk job from the account's bulk budget: a pacing
// slot (counted without the guard: it is ours, not Klaviyo's), then the
// published windows. It returns 0 and the wait when either is spent.
func (r *Runner) takeBulk(ctx context.Context, in *store.DueIntegration) (int, time.Duration, error) {
	g, wait, err := r.st.TakeRate(ctx, rateKey(in, "bulk-pace"), 1, []store.RateWindow{bulkPace(r.opts.BulkRate)}, 0)
	if err != nil || g == 0 {
		return g, wait, err
	}
	return r.st.TakeRate(ctx, rateKey(in, "bulk"), 1, windows(r.opts.BulkRate), r.opts.RateGuard)
}

// bulkOrRelease sends items in one bulk job if the bulk budget allows,
// else gives them back until it does. It returns when the task may run
// again (zero: at once).
func (r *Runner) bulkOrRelease(ctx context.Context, in *store.DueIntegration, c *klaviyo.Client, ds []store.ClaimedDelivery, items []klItem, outs []store.DeliveryOutcome) time.Time {
	if len(items) == 0 {
		return time.Time{}
	}
	g, wait, err := r.takeBulk(ctx, in)
	if err != nil {
		r.log.Warn("taking Klaviyo bulk rate", "integration", in.ID, "err", err)
		wait = time.Second
	}
	if g == 0 {
		at := time.Now().Add(wait)
		for _, it := range items {
			outs[it.i] = releaseOutcome(&ds[it.i], at)
		}
		return at
	}
	return r.bulk(ctx, in, c, ds, items, outs)
}

// bulk sends items in one bulk job (the caller took it) and returns when
// the task may run again.
func (r *Runner) bulk(ctx context.Context, in *store.DueIntegration, c *klaviyo.Client, ds []store.ClaimedDelivery, items []klItem, outs []store.DeliveryOutcome) time.Time {
	if len(items) == 0 {
		return time.Time{}
	}
	v := r.sendBulk(ctx, in, c, ds, items, outs)
	if v.pause != "" {
		r.pause(ctx, in, v.pause)
	}
	if v.throttle > 0 {
		return time.Now().Add(v.throttle)
	}
	return time.Time{}
}

// keyIdentifier is the identifier an event is keyed by: the common
// property's (email, phone_number, or external_id for customer_id and
// metafields), or the phone for a fallback.
func keyIdentifier(prop identity.Property, fallback bool, ids identity.KlaviyoIdentifiers) identity.KlaviyoIdentifiers {
	switch {
	case fallback || prop.Kind == identity.Phone:
		return identity.KlaviyoIdentifiers{PhoneNumber: ids.PhoneNumber}
	case prop.Kind == identity.Email:
		return identity.KlaviyoIdentifiers{Email: ids.Email}
	}
	return identity.KlaviyoIdentifiers{ExternalID: ids.ExternalID}
}

// refusedOtherIdentifier reports whether Klaviyo refused an event because
// of an identifier other than its key: a 409 (identifiers of two
// profiles), or a 400 whose pointer names a profile identifier the
// key-only event does not carry.
func refusedOtherIdentifier(err error, sent klaviyo.Profile, keyOnly klaviyo.Event) bool {
	var ae *klaviyo.APIError
	if !errors.As(err, &ae) {
		return false
	}
	if ae.Status == http.StatusConflict {
		return true
	}
	if ae.Status != http.StatusBadRequest || !strings.Contains(ae.Pointer, "/profile/") {
		return false
	}
	for field, v := range map[string]string{"phone_number": sent.PhoneNumber, "email": sent.Email, "external_id": sent.ExternalID} {
		key := map[string]string{"phone_number": keyOnly.Profile.PhoneNumber, "email": keyOnly.Profile.Email, "external_id": keyOnly.Profile.ExternalID}[field]
		if v != "" && key == "" && strings.HasSuffix(ae.Pointer, "/"+field) {
			return true
		}
	}
	return false
}

// klaviyoPayloads keeps the event document built for each delivery that
// did not end confirmed, and for every test, for the delivery log (what
// was sent, and what a retry sends again).
func klaviyoPayloads(ds []store.ClaimedDelivery, items []klItem, outs []store.DeliveryOutcome) {
	for _, it := range items {
		outs[it.i].IdentityFallback = it.fallback
		if keepPayload(outs[it.i]) || ds[it.i].Test {
			if body, err := klaviyo.EventBody(it.ev); err == nil {
				outs[it.i].Payload = body
			}
		}
	}
}

// prepareKlaviyo resolves identities and builds the events of a batch.
// Deliveries that cannot be sent get their outcome now: skipped (no value
// for the common property, with the reason) or retried (Shopify lookup
// failed for now).
func (r *Runner) prepareKlaviyo(ctx context.Context, in *store.DueIntegration, prop identity.Property, ds []store.ClaimedDelivery, outs []store.DeliveryOutcome) []klItem {
	infos := r.customers(ctx, in, prop, refsOf(ds))
	items := make([]klItem, 0, len(ds))
	for i := range ds {
		d := &ds[i]
		info := infos[d.CustomerID]
		if o, done := r.unresolved(d, info); done {
			outs[i] = o
			continue
		}
		ids, ok, reason, fallback := identity.Klaviyo(prop, info.cust, identityOptions(in))
		if !ok {
			outs[i] = skippedOutcome(d, reason)
			continue
		}
		props, err := eventProperties(d, in.ShopDomain)
		if err != nil {
			outs[i] = failedOutcome(d, 0, "The stored event is malformed: "+err.Error(), "")
			continue
		}
		backfill := time.Since(d.OccurredAt) > r.opts.BackfillAfter
		it := klItem{i: i, ev: klaviyoEvent(d, ids, props, backfill), fallback: fallback}
		if k := keyIdentifier(prop, fallback, ids); k != ids {
			ev := it.ev
			ev.Profile.Email, ev.Profile.PhoneNumber, ev.Profile.ExternalID = k.Email, k.PhoneNumber, k.ExternalID
			it.keyOnly = &ev
		}
		items = append(items, it)
	}
	return items
}

func refsOf(ds []store.ClaimedDelivery) []customerRef {
	refs := make([]customerRef, len(ds))
	for i, d := range ds {
		refs[i] = customerRef{ID: d.CustomerID, ShopifyID: d.ShopifyCustomerID, GID: d.CustomerGID, Email: d.Email, Phone: d.Phone, Metafields: d.Metafields}
	}
	return refs
}

// unresolved returns the outcome of a delivery whose customer could not be
// resolved: gone from Shopify (skipped) or not looked up for now (retry).
func (r *Runner) unresolved(d *store.ClaimedDelivery, info customerInfo) (store.DeliveryOutcome, bool) {
	switch {
	case info.gone:
		return skippedOutcome(d, "customer not found in Shopify"), true
	case info.err != nil:
		return r.retryOutcome(d, 0, "Could not look the customer up in Shopify: "+app.ErrorMessage(info.err), ""), true
	}
	return store.DeliveryOutcome{}, false
}

// sendSingles sends items one event per request, taking KlaviyoChunk
// grants at a time from the account's events budget and sending each chunk
// at once, so a grant reaches Klaviyo well within the rate guard. It
// returns the items it did not send (budget spent, throttled, paused, the
// task's share used up), with their outcomes left for the caller, how long
// until they may go, and spent: the budget ran out for longer than its
// burst window and the guard (the steady window is full, or a 429 pause
// holds it).
func (r *Runner) sendSingles(ctx context.Context, in *store.DueIntegration, c *klaviyo.Client, ds []store.ClaimedDelivery, items []klItem, outs []store.DeliveryOutcome) (rest []klItem, wait time.Duration, spent bool) {
	key := rateKey(in, "events")
	sent := 0
	for len(items) > 0 {
		if sent >= r.opts.KlaviyoBatch || ctx.Err() != nil {
			return items, 0, false
		}
		g, wait, err := r.st.TakeRate(ctx, key, min(len(items), r.opts.KlaviyoChunk), windows(r.opts.EventsRate), r.opts.RateGuard)
		if err != nil {
			r.log.Warn("taking Klaviyo rate", "integration", in.ID, "err", err)
			return items, time.Second, false
		}
		if g == 0 {
			// A full burst window frees within a second, or a second and
			// the guard when the grant was counted in the next window too;
			// a longer wait is the steady window (or a 429 pause).
			return items, wait, wait > time.Second+r.opts.RateGuard
		}
		chunk := items[:g]
		items = items[g:]
		sent += g
		var wg sync.WaitGroup
		verdicts := make([]verdict, len(chunk))
		for j, it := range chunk {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := c.CreateEvent(ctx, it.ev)
				if it.keyOnly != nil && refusedOtherIdentifier(err, it.ev.Profile, *it.keyOnly) {
					// A 400/409 about an identifier that only rode along
					// (a phone Klaviyo finds invalid, or that belongs to
					// another profile): the event goes by its key alone.
					err = c.CreateEvent(ctx, *it.keyOnly)
					chunk[j].ev = *it.keyOnly
				}
				outs[it.i], verdicts[j] = r.klaviyoOutcome(&ds[it.i], key, err)
			}()
		}
		wg.Wait()
		var v verdict
		for _, x := range verdicts {
			v.pause = orString(v.pause, x.pause)
			v.throttle = max(v.throttle, x.throttle)
		}
		switch {
		case v.pause != "":
			r.pause(ctx, in, v.pause)
			return items, 0, false
		case v.throttle > 0:
			// Every process waits it out: immediate retries always get 429.
			if err := r.st.PauseRate(context.WithoutCancel(ctx), key, v.throttle); err != nil {
				r.log.Warn("pausing Klaviyo rate", "err", err)
			}
			return items, v.throttle, false
		}
		r.unthrottled(key)
	}
	return nil, 0, false
}

// bulkUnconfirmed explains a delivery sent in a Klaviyo bulk job.
const bulkUnconfirmed = "Accepted by Klaviyo in a bulk job (202). Klaviyo processes bulk jobs later and does not confirm each event; " +
	"bulk is used only while events come faster than Klaviyo's per-minute limit for single events."

// sendBulk sends items in one bulk request (the caller took a bulk grant).
// Klaviyo accepts or rejects a bulk request as a whole: a 400 naming items
// fails those items and gives the others back to be sent again.
func (r *Runner) sendBulk(ctx context.Context, in *store.DueIntegration, c *klaviyo.Client, ds []store.ClaimedDelivery, items []klItem, outs []store.DeliveryOutcome) verdict {
	key := rateKey(in, "bulk")
	evs := make([]klaviyo.Event, len(items))
	for j, it := range items {
		evs[j] = it.ev
	}
	err := c.BulkCreateEvents(ctx, evs)
	var be *klaviyo.BulkError
	if errors.As(err, &be) {
		now := time.Now()
		for j, it := range items {
			d := &ds[it.i]
			if errs, bad := be.Items[j]; bad {
				msg := "Klaviyo refused the event: " + errs[0].Detail
				if errs[0].Pointer != "" {
					msg += " (" + errs[0].Pointer + ")"
				}
				outs[it.i] = failedOutcome(d, be.Err.Status, msg, be.Err.Body)
			} else {
				outs[it.i] = releaseOutcome(d, now) // innocent: sent again
			}
		}
		return verdict{}
	}
	var v verdict
	for _, it := range items {
		var x verdict
		outs[it.i], x = r.klaviyoOutcome(&ds[it.i], key, err)
		if outs[it.i].Status == store.DeliverySent {
			// A bulk job is accepted as a whole (202) and processed later;
			// Klaviyo never confirms its events one by one.
			outs[it.i].Status = store.DeliveryUnconfirmed
			outs[it.i].Error = bulkUnconfirmed
		}
		v.pause = orString(v.pause, x.pause)
		v.throttle = max(v.throttle, x.throttle)
	}
	if v.throttle > 0 {
		if err := r.st.PauseRate(context.WithoutCancel(ctx), key, v.throttle); err != nil {
			r.log.Warn("pausing Klaviyo bulk rate", "err", err)
		}
	} else if err == nil {
		r.unthrottled(key)
	}
	return v
}

// klaviyoProfiles pushes the loyalty profile properties of customers whose
// state may have changed (ImportProfile), once per customer however many
// events came meanwhile, and not at all when what would be sent equals what
// was last sent.
func (r *Runner) klaviyoProfiles(ctx context.Context, in *store.DueIntegration) taskResult {
	client, prop, ok := r.prepare(ctx, in)
	if !ok {
		return taskResult{notBefore: time.Now().Add(time.Second)}
	}
	ps, err := r.st.ClaimProfileSyncs(ctx, in.ID, r.opts.ProfileBatch, r.opts.Lease, r.opts.ExpiringWithin)
	if err != nil {
		r.log.Warn("claiming profile syncs", "integration", in.ID, "err", err)
		return taskResult{notBefore: time.Now().Add(time.Second)}
	}
	if len(ps) == 0 {
		return taskResult{}
	}
	outs, send := r.prepareProfiles(ctx, in, prop, ps, KindKlaviyo)
	res := taskResult{worked: true}
	key := rateKey(in, "profiles")
	g := 0
	if len(send) > 0 {
		var wait time.Duration
		g, wait, err = r.st.TakeRate(ctx, key, len(send), windows(r.opts.ProfilesRate), r.opts.RateGuard)
		if err != nil {
			wait = time.Second
		}
		for _, it := range send[g:] {
			outs[it.i] = profileWait(&ps[it.i], time.Now().Add(wait), 0, outs[it.i].Error)
		}
		if g < len(send) {
			res.notBefore = time.Now().Add(wait)
		}
	}
	var wg sync.WaitGroup
	verdicts := make([]verdict, g)
	for j, it := range send[:g] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &ps[it.i]
			err := client.klaviyo.ImportProfile(ctx, it.klaviyo)
			var ae *klaviyo.APIError
			if errors.As(err, &ae) && ae.Status == http.StatusConflict {
				// The email and the phone belong to two Klaviyo profiles:
				// update the one the common property names.
				err = client.klaviyo.ImportProfile(ctx, primaryOnly(prop, it.klaviyo))
			}
			outs[it.i], verdicts[j] = r.profileOutcome(p, key, it.hash, err)
		}()
	}
	wg.Wait()
	for _, v := range verdicts {
		if v.pause != "" {
			r.pause(ctx, in, v.pause)
			break
		}
	}
	r.recordProfiles(ctx, outs)
	return res
}

// primaryOnly keeps only the identifier the common property maps to.
func primaryOnly(prop identity.Property, p klaviyo.Profile) klaviyo.Profile {
	switch prop.Kind {
	case identity.Email:
		p.PhoneNumber, p.ExternalID = "", ""
	case identity.Phone:
		p.Email, p.ExternalID = "", ""
	default:
		p.Email, p.PhoneNumber = "", ""
	}
	return p
}

// profileItem is a profile ready to send.
type profileItem struct {
	i         int
	hash      string
	klaviyo   klaviyo.Profile
	identity  string         // CleverTap
	propsFlat map[string]any // CleverTap
}

// prepareProfiles resolves identities and decides, per claimed sync,
// whether there is anything to send.
func (r *Runner) prepareProfiles(ctx context.Context, in *store.DueIntegration, prop identity.Property, ps []store.ClaimedProfile, kind string) ([]store.ProfileOutcome, []profileItem) {
	refs := make([]customerRef, len(ps))
	for i, p := range ps {
		refs[i] = customerRef{ID: p.CustomerID, ShopifyID: p.ShopifyCustomerID, GID: p.CustomerGID, Email: p.Email, Phone: p.Phone, Metafields: p.Metafields}
	}
	infos := r.customers(ctx, in, prop, refs)
	r.ensureReferralCodes(ctx, in.ShopID, ps)
	outs := make([]store.ProfileOutcome, len(ps))
	var send []profileItem
	for i := range ps {
		p := &ps[i]
		info := infos[p.CustomerID]
		done := func(hash, reason string) store.ProfileOutcome {
			return store.ProfileOutcome{IntegrationID: p.IntegrationID, CustomerID: p.CustomerID, Version: p.Version, Done: true, Hash: hash, Error: reason}
		}
		if info.gone {
			outs[i] = done(p.SyncedHash, "customer not found in Shopify")
			continue
		}
		if info.err != nil {
			outs[i] = r.profileRetry(p, 0, "Could not look the customer up in Shopify: "+app.ErrorMessage(info.err))
			continue
		}
		props := profileProperties(p, kind)
		it := profileItem{i: i}
		var idDoc any
		if kind == KindKlaviyo {
			ids, ok, reason, _ := identity.Klaviyo(prop, info.cust, identityOptions(in))
			if !ok {
				outs[i] = done(p.SyncedHash, "profile not synced: "+reason)
				continue
			}
			it.klaviyo = klaviyo.Profile{Email: ids.Email, PhoneNumber: ids.PhoneNumber, ExternalID: ids.ExternalID, Properties: props}
			idDoc = ids
		} else {
			v, ok, reason, _ := identity.CleverTap(prop, info.cust, identityOptions(in))
			if !ok {
				outs[i] = done(p.SyncedHash, "profile not synced: "+reason)
				continue
			}
			// The profiles the app creates carry the customer's email
			// and phone when known (valid), so CleverTap can reach them.
			props = maps.Clone(props)
			if e, ok := identity.NormalizeEmail(info.cust.Email); ok {
				props["Email"] = e
			}
			if ph, err := identity.NormalizePhone(info.cust.Phone); err == nil {
				props["Phone"] = ph
			}
			it.identity, it.propsFlat, idDoc = v, props, v
		}
		b, _ := json.Marshal([]any{idDoc, props})
		sum := sha256.Sum256(b)
		it.hash = hex.EncodeToString(sum[:16])
		if it.hash == p.SyncedHash {
			outs[i] = done(it.hash, "")
			continue
		}
		send = append(send, it)
	}
	return outs, send
}

// profileOutcome classifies the answer to one profile push.
func (r *Runner) profileOutcome(p *store.ClaimedProfile, key, hash string, err error) (store.ProfileOutcome, verdict) {
	base := store.ProfileOutcome{IntegrationID: p.IntegrationID, CustomerID: p.CustomerID, Version: p.Version}
	if err == nil {
		base.Done, base.Hash, base.StatusCode = true, hash, http.StatusOK
		return base, verdict{}
	}
	var ae *klaviyo.APIError
	switch {
	case errors.As(err, &ae) && ae.AuthFailure():
		reason := klaviyoPauseReason(ae)
		return profileWait(p, time.Now(), ae.Status, reason), verdict{pause: reason}
	case errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests:
		wait := r.throttleWait(key, ae.RetryAfter)
		_ = r.st.PauseRate(context.Background(), key, wait)
		return profileWait(p, time.Now().Add(wait), ae.Status, "Klaviyo throttled the profile update (429)."), verdict{throttle: wait}
	case errors.As(err, &ae) && ae.Permanent():
		base.Done, base.Hash, base.StatusCode = true, p.SyncedHash, ae.Status
		base.Error = "Klaviyo refused the profile update: " + ae.Error()
		return base, verdict{}
	case app.ErrorCode(err) == app.EINVALID:
		base.Done, base.Hash, base.Error = true, p.SyncedHash, "The profile cannot be sent: "+app.ErrorMessage(err)
		return base, verdict{}
	}
	return r.profileRetry(p, errorCode(err), "Profile update failed: "+summarize(err)), verdict{}
}

// profileRetry schedules another push after the backoff, or gives up on
// this version once the retry budget is spent (the next change tries
// again).
func (r *Runner) profileRetry(p *store.ClaimedProfile, code int, msg string) store.ProfileOutcome {
	o := store.ProfileOutcome{IntegrationID: p.IntegrationID, CustomerID: p.CustomerID, Version: p.Version, StatusCode: code, Error: msg}
	if p.Attempts >= r.opts.MaxAttempts {
		o.Done, o.Hash = true, p.SyncedHash
		o.Error = fmt.Sprintf("%s (gave up after %d attempts)", msg, p.Attempts)
		return o
	}
	o.NextAttemptAt = time.Now().Add(r.opts.Backoff(p.Attempts))
	return o
}

// profileWait keeps a sync due at next without spending an attempt.
func profileWait(p *store.ClaimedProfile, next time.Time, code int, msg string) store.ProfileOutcome {
	return store.ProfileOutcome{IntegrationID: p.IntegrationID, CustomerID: p.CustomerID, Version: p.Version,
		Uncount: true, NextAttemptAt: next, StatusCode: code, Error: msg}
}

// ensureReferralCodes gives the claimed members without a referral code
// one, so that loyalty_referral_url is pushed with the rest. A failure is
// logged and the profiles go without the URL this time; they go again with
// the next change.
func (r *Runner) ensureReferralCodes(ctx context.Context, shopID app.ShopID, ps []store.ClaimedProfile) {
	var missing []int64
	for _, p := range ps {
		if p.ReferralCode == "" {
			missing = append(missing, p.CustomerID)
		}
	}
	if len(missing) == 0 {
		return
	}
	codes, err := r.st.EnsureReferralCodes(ctx, shopID, missing)
	if err != nil {
		r.log.WarnContext(ctx, "profile sync: referral codes", "shop", shopID, "err", err)
		return
	}
	for i := range ps {
		if ps[i].ReferralCode == "" {
			ps[i].ReferralCode = codes[ps[i].CustomerID]
		}
	}
}
