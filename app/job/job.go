// Package job holds River job arguments (typed structs with stable Kind
// strings that never change once shipped) and the outcome errors workers
// understand. It is a leaf package, so any package can enqueue work
// without import cycles.
package job

import (
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Queues.
const (
	QueueWebhooks    = "webhooks"    // inbox processing: latency matters
	QueueMaintenance = "maintenance" // sweeps and periodic jobs
)

// ProcessWebhook processes one stored webhook (an inbox row). It is inserted
// in the same transaction as the row, so it exists if and only if the row
// does.
type ProcessWebhook struct {
	WebhookID int64 `json:"webhook_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (ProcessWebhook) Kind() string { return "process_webhook" }

// MaxWebhookAttempts bounds retries of one webhook; after the last one the
// row is marked failed with its reason and waits for a reprocess.
const MaxWebhookAttempts = 8

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ProcessWebhook) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhooks, MaxAttempts: MaxWebhookAttempts}
}

// KickOpts are the insert options for re-kicking a webhook after commit
// (reprocess, sweep): unique while a job for the row is still live, so a
// kick never doubles an existing one, but allowed again once that job
// completed or was discarded.
func KickOpts() *river.InsertOpts {
	return &river.InsertOpts{
		Queue:       QueueWebhooks,
		MaxAttempts: MaxWebhookAttempts,
		UniqueOpts: river.UniqueOpts{
			ByArgs: true,
			ByState: []rivertype.JobState{
				rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
				rivertype.JobStateRetryable, rivertype.JobStateScheduled,
			},
		},
	}
}

// SweepWebhooks re-kicks inbox rows left pending (a lost job, a kick that
// failed after commit). It runs periodically.
type SweepWebhooks struct{}

// Kind implements river.JobArgs.
func (SweepWebhooks) Kind() string { return "sweep_webhooks" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (SweepWebhooks) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 3}
}

// Retention blanks stored webhook bodies older than the retention (a
// privacy sweep). It runs periodically.
type Retention struct{}

// Kind implements river.JobArgs.
func (Retention) Kind() string { return "retention" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (Retention) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 3}
}

// Backoff is the bounded retry schedule shared by our workers: 2^attempt
// seconds, capped at 10 minutes, so 8 attempts span about half an hour
// rather than River's default of weeks.
func Backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := time.Second << min(attempt, 10)
	return min(d, 10*time.Minute)
}

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that the worker fails the work at once, with err
// as the visible reason, instead of retrying.
func Permanent(err error) error { return permanentError{err} }

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// IgnoredError says the work needs no effect, with the reason recorded.
type IgnoredError struct{ Reason string }

func (e *IgnoredError) Error() string { return "ignored: " + e.Reason }

// Ignore returns an *IgnoredError.
func Ignore(reason string) error { return &IgnoredError{Reason: reason} }
