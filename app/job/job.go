// Package job holds River job arguments (typed structs with stable Kind
// strings that never change once shipped) and the outcome errors workers
// understand. It is a leaf package, so any package can enqueue work
// without import cycles.
package job

import (
	"errors"
	"time"

	"github.com/riverqueue/river"
)

// QueueMaintenance is the queue of sweeps and periodic jobs. (Webhooks are
// not River jobs: the inbox Claimer takes their rows directly.)
const QueueMaintenance = "maintenance"

// MaxWebhookAttempts bounds retries of one webhook; after the last one the
// row is marked failed with its reason and waits for a reprocess.
const MaxWebhookAttempts = 8

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
