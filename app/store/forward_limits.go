package store

import (
	"context"
	"fmt"
	"time"
)

// Sink limits shared by every process: fixed-window rate counters, 429
// pauses and concurrency leases (migration 00032). They are keyed by the
// sink account ("klaviyo:<account>:events", "clevertap:<account>"), not by
// shop, because the sinks count per account.

// RateWindow is one fixed window of a rate limit: at most Limit requests
// per Per.
type RateWindow struct {
	Per   time.Duration
	Limit int
}

// TakeRate grants up to want requests of key under every window, counting
// each grant in the window of now and in the window of now + guard (a
// request reaching the sink within guard lands in a window that counted
// it). It returns the number granted, or 0 and how long until a grant is
// possible (a full window ending, or a 429 pause). The clock is the
// database's, one for every process.
func (s *Store) TakeRate(ctx context.Context, key string, want int, windows []RateWindow, guard time.Duration) (int, time.Duration, error) {
	pers := make([]string, len(windows))
	limits := make([]string, len(windows))
	for i, w := range windows {
		pers[i] = fmt.Sprint(w.Per.Milliseconds())
		limits[i] = fmt.Sprint(w.Limit)
	}
	var row struct {
		Granted int
		WaitMs  int
	}
	err := s.db.WithContext(ctx).Raw("SELECT granted, wait_ms FROM sink_rate_take(?, ?, ?::integer[], ?::integer[], ?)",
		key, want, StringArray(pers), StringArray(limits), guard.Milliseconds()).Scan(&row).Error
	if err != nil {
		return 0, 0, fmt.Errorf("store: take rate: %w", formatError(err))
	}
	return row.Granted, time.Duration(row.WaitMs) * time.Millisecond, nil
}

// PauseRate refuses every grant of key for d from now (a 429's
// Retry-After), in every process. A longer pause already set is kept.
func (s *Store) PauseRate(ctx context.Context, key string, d time.Duration) error {
	err := s.db.WithContext(ctx).Exec(`INSERT INTO sink_pauses (key, until) VALUES (?, clock_timestamp() + make_interval(secs => ?))
ON CONFLICT (key) DO UPDATE SET until = greatest(sink_pauses.until, EXCLUDED.until)`, key, d.Seconds()).Error
	if err != nil {
		return fmt.Errorf("store: pause rate: %w", formatError(err))
	}
	return nil
}

// Lease is a held concurrency slot.
type Lease struct {
	Key    string
	Slot   int
	Holder string
}

// AcquireLease takes one of slots concurrency slots of key for at most ttl
// on behalf of holder (unique per acquisition). ok is false when every
// slot is taken; retry later. A slot not released by ttl is free again, so
// ttl must exceed the longest request made under it.
func (s *Store) AcquireLease(ctx context.Context, key string, slots int, holder string, ttl time.Duration) (Lease, bool, error) {
	var slot *int
	err := s.db.WithContext(ctx).Raw("SELECT sink_lease_take(?, ?, ?, ?)", key, slots, holder, ttl.Milliseconds()).Scan(&slot).Error
	if err != nil {
		return Lease{}, false, fmt.Errorf("store: acquire lease: %w", formatError(err))
	}
	if slot == nil {
		return Lease{}, false, nil
	}
	return Lease{Key: key, Slot: *slot, Holder: holder}, true, nil
}

// RenewLease extends a held slot to ttl from now. It reports false when
// l no longer holds the slot (it expired and another holder took it).
func (s *Store) RenewLease(ctx context.Context, l Lease, ttl time.Duration) (bool, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE sink_leases SET expires_at = clock_timestamp() + make_interval(secs => ?)
WHERE account_key = ? AND slot = ? AND holder = ?`, ttl.Seconds(), l.Key, l.Slot, l.Holder)
	if res.Error != nil {
		return false, fmt.Errorf("store: renew lease: %w", formatError(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// LeasesHeld counts the slots of key held now (not released, not
// expired), the caller's own included.
func (s *Store) LeasesHeld(ctx context.Context, key string) (int, error) {
	var n int
	err := s.db.WithContext(ctx).Raw(`SELECT count(*) FROM sink_leases WHERE account_key = ? AND expires_at > clock_timestamp()`, key).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("store: leases held: %w", formatError(err))
	}
	return n, nil
}

// ReleaseLease frees a slot, if l still holds it.
func (s *Store) ReleaseLease(ctx context.Context, l Lease) error {
	err := s.db.WithContext(ctx).Exec(`UPDATE sink_leases SET holder = '', expires_at = '-infinity'
WHERE account_key = ? AND slot = ? AND holder = ?`, l.Key, l.Slot, l.Holder).Error
	if err != nil {
		return fmt.Errorf("store: release lease: %w", formatError(err))
	}
	return nil
}

// PruneSinkLimits deletes rate windows and pauses that ended before
// before.
func (s *Store) PruneSinkLimits(ctx context.Context, before time.Time) error {
	if err := s.db.WithContext(ctx).Exec("DELETE FROM sink_rate_windows WHERE window_start < ?", before).Error; err != nil {
		return fmt.Errorf("store: prune rate windows: %w", formatError(err))
	}
	if err := s.db.WithContext(ctx).Exec("DELETE FROM sink_pauses WHERE until < ?", before).Error; err != nil {
		return fmt.Errorf("store: prune pauses: %w", formatError(err))
	}
	return nil
}

// TryAdvisoryXactLock takes the transaction-level advisory lock key if it
// is free, for work one process at a time should do (sweeps). Call it
// inside Tx; the lock ends with the transaction.
func (s *Store) TryAdvisoryXactLock(ctx context.Context, key int64) (bool, error) {
	var ok bool
	if err := s.db.WithContext(ctx).Raw("SELECT pg_try_advisory_xact_lock(?)", key).Scan(&ok).Error; err != nil {
		return false, fmt.Errorf("store: advisory lock: %w", formatError(err))
	}
	return ok, nil
}
