package job

import "github.com/riverqueue/river"

// EngagementTick fans out one RefreshEngagement job per shop with an
// active Klaviyo integration. It runs periodically (hourly); each refresh
// asks Klaviyo only for the days that need it, so most ticks send nothing.
type EngagementTick struct{}

// Kind implements river.JobArgs.
func (EngagementTick) Kind() string { return "engagement_tick" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (EngagementTick) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 3}
}

// RefreshEngagement reads one shop's opens and clicks back from Klaviyo
// (app/engagement). Force re-reads today and yesterday now (the Stats
// page's "Refresh now").
type RefreshEngagement struct {
	ShopID int64 `json:"shop_id" river:"unique"`
	Force  bool  `json:"force" river:"unique"`
}

// Kind implements river.JobArgs.
func (RefreshEngagement) Kind() string { return "refresh_engagement" }

// InsertOpts implements river.JobArgsWithInsertOpts: unique per shop and
// kind of refresh while one is live, so a tick or a merchant pressing
// "Refresh now" twice never queues a second request to Klaviyo's low
// reporting limits.
func (RefreshEngagement) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue: QueueMaintenance, MaxAttempts: 5,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: liveStates},
	}
}
