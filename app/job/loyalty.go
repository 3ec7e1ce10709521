package job

import (
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// liveStates are the job states in which a unique job counts as already
// queued: a kick never doubles a live job, but may run again once the
// previous one finished.
var liveStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// LoyaltyTick fans out one LoyaltyMaintenance job per active shop. It runs
// periodically (hourly).
type LoyaltyTick struct{}

// Kind implements river.JobArgs.
func (LoyaltyTick) Kind() string { return "loyalty_tick" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (LoyaltyTick) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 3}
}

// LoyaltyMaintenance runs one shop's periodic loyalty work at the time it
// runs, in the shop's time zone: points expiry, expiry reminders, birthday
// rewards, unused-points nudges and rolling tier re-evaluation. Every part
// is idempotent on its natural key, so a run repeated or overlapping another
// changes nothing twice.
type LoyaltyMaintenance struct {
	ShopID int64 `json:"shop_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (LoyaltyMaintenance) Kind() string { return "loyalty_maintenance" }

// InsertOpts implements river.JobArgsWithInsertOpts: unique per shop while
// one is live, so a slow shop never piles up runs.
func (LoyaltyMaintenance) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 5,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: liveStates}}
}

// CreateCoupon creates a redeemed coupon's discount code in Shopify, outside
// the redemption's transaction. It is kicked after that transaction commits
// and re-kicked by SweepCoupons if the kick was lost.
type CreateCoupon struct {
	ShopID   int64 `json:"shop_id" river:"unique"`
	CouponID int64 `json:"coupon_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (CreateCoupon) Kind() string { return "create_coupon" }

// MaxCouponAttempts bounds the tries to create one coupon in Shopify; after
// the last one the coupon is marked failed and its points given back.
const MaxCouponAttempts = 8

// InsertOpts implements river.JobArgsWithInsertOpts: unique while live.
func (CreateCoupon) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: river.QueueDefault, MaxAttempts: MaxCouponAttempts,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: liveStates}}
}

// SweepCoupons re-kicks coupons left pending (a kick lost after commit).
type SweepCoupons struct{}

// Kind implements river.JobArgs.
func (SweepCoupons) Kind() string { return "sweep_coupons" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (SweepCoupons) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 3}
}

// CreateReferralCoupon creates a referred friend's discount code in Shopify,
// outside the transaction that stored the referral. Like CreateCoupon it is
// kicked after commit and re-kicked by SweepCoupons if the kick was lost.
type CreateReferralCoupon struct {
	ShopID     int64 `json:"shop_id" river:"unique"`
	ReferralID int64 `json:"referral_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (CreateReferralCoupon) Kind() string { return "create_referral_coupon" }

// InsertOpts implements river.JobArgsWithInsertOpts: unique while live.
func (CreateReferralCoupon) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: river.QueueDefault, MaxAttempts: MaxCouponAttempts,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: liveStates}}
}

// VerifyReferral checks a referral whose friend paid a first order with
// Shopify (the friend's order count, both customers' email, phone and
// address) and completes or blocks it. Kicked when the order is processed
// and re-kicked by SweepCoupons while the referral is still verifying.
type VerifyReferral struct {
	ShopID     int64 `json:"shop_id" river:"unique"`
	ReferralID int64 `json:"referral_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (VerifyReferral) Kind() string { return "verify_referral" }

// InsertOpts implements river.JobArgsWithInsertOpts: unique while live.
func (VerifyReferral) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: river.QueueDefault, MaxAttempts: MaxCouponAttempts,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: liveStates}}
}
