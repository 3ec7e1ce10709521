package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/perkbridge/perkbridge/app/clevertap"
	"github.com/perkbridge/perkbridge/app/identity"
	"github.com/perkbridge/perkbridge/app/store"
)

// leaseKey names a CleverTap account's concurrency slots. CleverTap counts
// in-flight uploads per account, whichever shop sends.
func leaseKey(in *store.DueIntegration) string {
	return "clevertap:" + in.Region + ":" + in.AccountID
}

func cleverTapStatus(err error) int {
	var ae *clevertap.APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

func cleverTapPauseReason(err error) string {
	var ae *clevertap.APIError
	errors.As(err, &ae)
	return fmt.Sprintf("CleverTap rejected the Account ID, passcode or region (%d %s). Sending is paused and events are kept; "+
		"save the integration with working credentials to send them.", ae.Status, orString(ae.Message, "Invalid Credentials"))
}

// uploadExcerpt summarizes an upload answer for the deliveries' response
// excerpt (the client keeps the parsed answer, not the body).
func uploadExcerpt(res *clevertap.UploadResult) string {
	return fmt.Sprintf(`{"status":%q,"processed":%d,"unprocessed":%d}`, res.Status, res.Processed, len(res.Unprocessed))
}

// withLease runs fn holding one of the account's in-flight slots, shared
// by every process. It reports false when every slot is taken. The slot is
// held for CleverTapSlotTTL and renewed while fn runs, so the slots of a
// process that dies come back within the TTL, not after the longest
// request it could have made.
func (r *Runner) withLease(ctx context.Context, in *store.DueIntegration, fn func()) (bool, error) {
	ttl := r.opts.CleverTapSlotTTL
	l, ok, err := r.st.AcquireLease(ctx, leaseKey(in), r.opts.CleverTapInFlight, r.holder(), ttl)
	if err != nil || !ok {
		return false, err
	}
	stop, renewed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				ok, err := r.st.RenewLease(context.WithoutCancel(ctx), l, ttl)
				if err != nil || !ok {
					// The upload goes on (cutting it off would make its
					// records possible duplicates); the slot may be
					// someone else's by now.
					r.log.Warn("renewing a CleverTap slot failed", "slot", l.Slot, "held", ok, "err", err)
				}
			}
		}
	}()
	defer func() {
		close(stop)
		<-renewed
		if err := r.st.ReleaseLease(context.WithoutCancel(ctx), l); err != nil {
			r.log.Warn("releasing CleverTap slot (it expires by itself)", "err", err)
		}
	}()
	fn()
	return true, nil
}

// linger decides whether a CleverTap task may claim now. A full batch
// goes at once. A partial one (fewer due events than CleverTapBatch) goes
// at once only when no upload of the account is in flight (in any process:
// the slots held) and no other task of this runner is sending a partial
// batch of the integration; otherwise it waits for more events, until its
// oldest has been due CleverTapLinger. wait > 0: look again then; none:
// nothing is due. done ends the task's partial turn; call it when the
// batch is sent.
func (r *Runner) linger(ctx context.Context, in *store.DueIntegration) (wait time.Duration, none bool, done func()) {
	done = func() {}
	if r.opts.CleverTapLinger < 0 {
		return 0, false, done
	}
	n, dueFor, err := r.st.DueDeliveries(ctx, in.ID, r.opts.CleverTapBatch)
	switch {
	case err != nil:
		return 0, false, done // the claim will tell
	case n == 0:
		return 0, true, done
	case n >= r.opts.CleverTapBatch:
		return 0, false, done
	}
	young := dueFor < r.opts.CleverTapLinger
	later := min(leaseBusy, r.opts.CleverTapLinger-dueFor)
	r.mu.Lock()
	if young && r.partial[in.ID] > 0 {
		r.mu.Unlock()
		return later, false, done
	}
	r.partial[in.ID]++
	r.mu.Unlock()
	done = func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.partial[in.ID]--; r.partial[in.ID] <= 0 {
			delete(r.partial, in.ID)
		}
	}
	if young {
		if held, err := r.st.LeasesHeld(ctx, leaseKey(in)); err == nil && held > 0 {
			done()
			return later, false, func() {}
		}
	}
	return 0, false, done
}

// leaseBusy is how long a task waits when every slot of the account is
// taken: about one fast upload.
const leaseBusy = 20 * time.Millisecond

// cleverTapEvents uploads one batch (up to 1000 records) of an
// integration's due events, holding an account slot.
//
// CleverTap has no idempotency key, so a batch it accepted is never sent
// again: its records are marked sent (or late, when older than LateAfter)
// or failed with their code. Only records refused with 555 are retried. A
// batch whose answer was lost (a timeout, a 504, a runner that died
// mid-send and whose lease expired) may have been ingested: it is retried
// once with possibly_duplicated recorded, and failed if the retry is lost
// too.
func (r *Runner) cleverTapEvents(ctx context.Context, in *store.DueIntegration) taskResult {
	client, prop, ok := r.prepare(ctx, in)
	if !ok {
		return taskResult{notBefore: time.Now().Add(time.Second)}
	}
	wait, none, done := r.linger(ctx, in)
	defer done()
	switch {
	case none:
		return taskResult{}
	case wait > 0:
		return taskResult{notBefore: time.Now().Add(wait)}
	}
	var res taskResult
	held, err := r.withLease(ctx, in, func() {
		ds, err := r.st.ClaimDeliveries(ctx, in.ID, r.opts.CleverTapBatch, r.opts.Lease)
		if err != nil {
			r.log.Warn("claiming deliveries", "integration", in.ID, "err", err)
			res.notBefore = time.Now().Add(time.Second)
			return
		}
		if len(ds) == 0 {
			return
		}
		res.worked = true
		outs := make([]store.DeliveryOutcome, len(ds))
		records, idx, dup := r.prepareCleverTap(ctx, in, prop, ds, outs)
		// prepareCleverTap marks the fallbacks on outs; the outcomes
		// overwrite outs, so keep them aside.
		fallbacks := make([]bool, len(outs))
		for i := range outs {
			fallbacks[i] = outs[i].IdentityFallback
		}
		if len(records) > 0 {
			up, err := client.clevertap.Upload(ctx, records)
			if v := r.cleverTapOutcomes(ds, idx, dup, up, err, outs, leaseKey(in)); v.pause != "" {
				r.pause(ctx, in, v.pause)
			}
			for j, i := range idx {
				outs[i].IdentityFallback = records[j].Identity != "" && fallbacks[i]
				if keepPayload(outs[i]) || ds[i].Test {
					if body, err := json.Marshal(records[j]); err == nil {
						outs[i].Payload = body
					}
				}
			}
		}
		r.record(ctx, outs)
	})
	switch {
	case err != nil:
		r.log.Warn("taking a CleverTap slot", "integration", in.ID, "err", err)
		return taskResult{notBefore: time.Now().Add(time.Second)}
	case !held:
		return taskResult{notBefore: time.Now().Add(leaseBusy)}
	}
	return res
}

// prepareCleverTap resolves identities and builds the records of a batch,
// returning the records, the batch index of each, and which are possible
// duplicates (their previous holder may have sent them).
func (r *Runner) prepareCleverTap(ctx context.Context, in *store.DueIntegration, prop identity.Property, ds []store.ClaimedDelivery, outs []store.DeliveryOutcome) ([]clevertap.Record, []int, []bool) {
	infos := r.customers(ctx, in, prop, refsOf(ds))
	records := make([]clevertap.Record, 0, len(ds))
	idx := make([]int, 0, len(ds))
	dup := make([]bool, len(ds))
	for i := range ds {
		d := &ds[i]
		if d.PrevLease != nil {
			// The previous holder's lease ran out without an outcome: it may
			// have uploaded the record. One resend is allowed.
			if d.PossiblyDuplicated {
				outs[i] = failedOutcome(d, 0, "The outcome of two uploads of this event is unknown (no answer, or the sender stopped); "+
					"it may already be in CleverTap, so it is not sent again. Retry it by hand if it is missing.", "")
				outs[i].PossiblyDuplicated = true
				continue
			}
			dup[i] = true
		}
		info := infos[d.CustomerID]
		if o, done := r.unresolved(d, info); done {
			outs[i] = o
			continue
		}
		v, ok, reason, fallback := identity.CleverTap(prop, info.cust, identityOptions(in))
		if !ok {
			outs[i] = skippedOutcome(d, reason)
			continue
		}
		outs[i].IdentityFallback = fallback
		props, err := eventProperties(d, in.ShopDomain)
		if err != nil {
			outs[i] = failedOutcome(d, 0, "The stored event is malformed: "+err.Error(), "")
			continue
		}
		records = append(records, cleverTapRecord(d, v, props))
		idx = append(idx, i)
	}
	return records, idx, dup
}

// cleverTapOutcomes classifies an upload's answer for every record.
func (r *Runner) cleverTapOutcomes(ds []store.ClaimedDelivery, idx []int, dup []bool, up *clevertap.UploadResult, err error, outs []store.DeliveryOutcome, key string) verdict {
	now := time.Now()
	if err == nil {
		r.unthrottled(key)
		excerpt := uploadExcerpt(up)
		refused := make(map[int]clevertap.Unprocessed, len(up.Unprocessed))
		unknown := 0
		for _, u := range up.Unprocessed {
			if u.Index >= 0 && u.Index < len(idx) {
				refused[u.Index] = u
			} else {
				unknown++
			}
		}
		// An answer that does not account for every record (refusals
		// naming no record, or counts that do not add up) confirms none of
		// the records it does not refuse: they may or may not be in
		// CleverTap. Never counted as sent.
		doubt := ""
		if unknown > 0 || up.Processed+len(up.Unprocessed) != len(idx) {
			doubt = fmt.Sprintf("CleverTap took the upload, but its answer does not say whether this event was ingested "+
				"(%d of %d records processed, %d refused, %d of the refusals name no record).", up.Processed, len(idx), len(up.Unprocessed), unknown)
			r.log.Warn("CleverTap's upload answer does not account for every record; those not refused are marked unconfirmed",
				"records", len(idx), "processed", up.Processed, "refused", len(up.Unprocessed), "unidentified", unknown)
		}
		for j, i := range idx {
			d := &ds[i]
			u, bad := refused[j]
			switch {
			case !bad && doubt != "":
				outs[i] = sentOutcome(d, store.DeliveryUnconfirmed, http.StatusOK, excerpt, dup[i])
				outs[i].Error = doubt
			case bad && u.Retryable:
				outs[i] = r.retryOutcome(d, u.Code, "CleverTap could not process the record: "+u.Error, excerpt)
				outs[i].PossiblyDuplicated = dup[i]
			case bad && u.Code == 528:
				// Code 528: CleverTap discarded the event (for example an
				// event name the account discards). Final: retrying changes
				// nothing until the merchant changes the account.
				outs[i] = failedOutcome(d, u.Code, "CleverTap discarded the event (code 528): "+u.Error, excerpt)
				outs[i].PossiblyDuplicated = dup[i]
			case bad:
				outs[i] = failedOutcome(d, u.Code, "CleverTap refused the record: "+u.Error, excerpt)
				outs[i].PossiblyDuplicated = dup[i]
			default:
				status := store.DeliverySent
				if now.Sub(d.OccurredAt) > r.opts.LateAfter {
					// Sent, but too old to trigger live campaigns.
					status = store.DeliveryLate
				}
				outs[i] = sentOutcome(d, status, http.StatusOK, excerpt, dup[i])
			}
		}
		return verdict{}
	}
	var ae *clevertap.APIError
	excerpt := ""
	if errors.As(err, &ae) {
		excerpt = ae.Body
	}
	code := cleverTapStatus(err)
	var v verdict
	for _, i := range idx {
		d := &ds[i]
		switch {
		case clevertap.IsAuthFailure(err):
			v.pause = cleverTapPauseReason(err)
			outs[i] = waitOutcome(d, now, code, v.pause, excerpt)
		case clevertap.PossiblyDelivered(err):
			msg := "No answer from CleverTap (" + summarize(err) + "); the upload may have been ingested."
			if d.PossiblyDuplicated || dup[i] {
				outs[i] = failedOutcome(d, code, msg+" It was already retried once, so it is not sent again; retry it by hand if it is missing.", excerpt)
			} else {
				outs[i] = r.retryOutcome(d, code, msg+" Retrying once.", excerpt)
			}
			outs[i].PossiblyDuplicated = true
		case code == http.StatusTooManyRequests:
			// Too many uploads in flight for the account (another client of
			// it, or slots set too high): wait, without spending an attempt.
			wait := r.throttleWait(key, 0)
			outs[i] = waitOutcome(d, now.Add(wait), code, "CleverTap refused the upload: too many concurrent requests (429).", excerpt)
		case clevertap.IsRetryable(err):
			outs[i] = r.retryOutcome(d, code, "CleverTap upload failed: "+summarize(err), excerpt)
			outs[i].PossiblyDuplicated = dup[i]
		case errors.Is(err, context.Canceled):
			outs[i] = releaseOutcome(d, now)
		default:
			outs[i] = failedOutcome(d, code, "CleverTap refused the upload: "+summarize(err), excerpt)
			outs[i].PossiblyDuplicated = dup[i]
		}
		// A resend after a lost outcome that waits (429, paused) or is
		// given back keeps its flag: the next claim no longer sees the
		// dead holder's lease, and the first upload may be in CleverTap.
		outs[i].PossiblyDuplicated = outs[i].PossiblyDuplicated || dup[i]
	}
	return v
}

// cleverTapProfiles pushes changed loyalty profiles as "profile" records,
// up to 1000 per upload, holding an account slot.
func (r *Runner) cleverTapProfiles(ctx context.Context, in *store.DueIntegration) taskResult {
	client, prop, ok := r.prepare(ctx, in)
	if !ok {
		return taskResult{notBefore: time.Now().Add(time.Second)}
	}
	var res taskResult
	held, err := r.withLease(ctx, in, func() {
		ps, err := r.st.ClaimProfileSyncs(ctx, in.ID, r.opts.CleverTapBatch, r.opts.Lease, r.opts.ExpiringWithin)
		if err != nil {
			r.log.Warn("claiming profile syncs", "integration", in.ID, "err", err)
			res.notBefore = time.Now().Add(time.Second)
			return
		}
		if len(ps) == 0 {
			return
		}
		res.worked = true
		outs, send := r.prepareProfiles(ctx, in, prop, ps, KindCleverTap)
		if len(send) > 0 {
			ts := time.Now().Unix()
			records := make([]clevertap.Record, len(send))
			for j, it := range send {
				records[j] = clevertap.Record{Type: clevertap.TypeProfile, Identity: it.identity, TS: ts, ProfileData: clevertap.Flatten(it.propsFlat)}
			}
			up, err := client.clevertap.Upload(ctx, records)
			key := leaseKey(in)
			for j, it := range send {
				p := &ps[it.i]
				switch {
				case err == nil:
					o := store.ProfileOutcome{IntegrationID: p.IntegrationID, CustomerID: p.CustomerID, Version: p.Version, Done: true, Hash: it.hash, StatusCode: http.StatusOK}
					for _, u := range up.Unprocessed {
						if u.Index == j && u.Retryable {
							o = r.profileRetry(p, u.Code, "CleverTap could not process the profile: "+u.Error)
						} else if u.Index == j {
							o.Hash, o.StatusCode, o.Error = p.SyncedHash, u.Code, "CleverTap refused the profile: "+u.Error
						}
					}
					outs[it.i] = o
				case clevertap.IsAuthFailure(err):
					reason := cleverTapPauseReason(err)
					outs[it.i] = profileWait(p, time.Now(), cleverTapStatus(err), reason)
					r.pause(ctx, in, reason)
				case cleverTapStatus(err) == http.StatusTooManyRequests:
					outs[it.i] = profileWait(p, time.Now().Add(r.throttleWait(key, 0)), http.StatusTooManyRequests, "CleverTap: too many concurrent requests (429).")
				case clevertap.IsRetryable(err):
					// A profile update repeated is harmless: it sets the
					// same values again.
					outs[it.i] = r.profileRetry(p, cleverTapStatus(err), "CleverTap profile upload failed: "+summarize(err))
				default:
					outs[it.i] = store.ProfileOutcome{IntegrationID: p.IntegrationID, CustomerID: p.CustomerID, Version: p.Version,
						Done: true, Hash: p.SyncedHash, StatusCode: cleverTapStatus(err), Error: "CleverTap refused the profiles: " + summarize(err)}
				}
			}
		}
		r.recordProfiles(ctx, outs)
	})
	switch {
	case err != nil:
		r.log.Warn("taking a CleverTap slot", "integration", in.ID, "err", err)
		return taskResult{notBefore: time.Now().Add(time.Second)}
	case !held:
		return taskResult{notBefore: time.Now().Add(leaseBusy)}
	}
	return res
}
