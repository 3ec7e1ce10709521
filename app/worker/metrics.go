package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
)

// Metrics exports job durations (from River's event stream) and queue
// depth and inbox backlog (read from the database in the background by
// Refresh, every RefreshEvery: a scrape only reads the last values, so a
// scraper hammering /metrics never queries the database).
type Metrics struct {
	pool      *pgxpool.Pool
	duration  *prometheus.HistogramVec
	depth     *prometheus.GaugeVec
	inbox     *prometheus.GaugeVec
	refreshed prometheus.Gauge
}

// NewMetrics registers the job metrics on reg.
func NewMetrics(reg prometheus.Registerer, pool *pgxpool.Pool) *Metrics {
	m := &Metrics{
		pool: pool,
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "perkbridge_job_duration_seconds",
			Help:    "Run time of background jobs by kind and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"kind", "outcome"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "perkbridge_queue_depth",
			Help: "Jobs not yet finished, by queue and state (refreshed in the background)."}, []string{"queue", "state"}),
		inbox: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "perkbridge_webhooks_inbox",
			Help: "Inbox rows waiting or failed, by status (refreshed in the background)."}, []string{"status"}),
		refreshed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "perkbridge_metrics_refreshed_timestamp_seconds",
			Help: "When the database gauges were last read."}),
	}
	reg.MustRegister(m.duration, m.depth, m.inbox, m.refreshed)
	return m
}

// RefreshEvery is how often RefreshLoop reads the database gauges.
const RefreshEvery = 15 * time.Second

// Refresh reads queue depth and the inbox backlog from the database into
// the gauges, the same truth for every process.
func (m *Metrics) Refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rows, err := m.pool.Query(ctx, `SELECT queue, state::text, count(*) FROM river_job
WHERE state IN ('available','pending','running','retryable','scheduled') GROUP BY 1, 2`)
	if err != nil {
		return err
	}
	depth := map[[2]string]float64{}
	for rows.Next() {
		var q, s string
		var n float64
		if err := rows.Scan(&q, &s, &n); err != nil {
			rows.Close()
			return err
		}
		depth[[2]string{q, s}] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var pending, failed float64
	if err := m.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'failed') FROM webhooks WHERE status IN ('pending','failed')`).Scan(&pending, &failed); err != nil {
		return err
	}
	m.depth.Reset()
	for k, n := range depth {
		m.depth.WithLabelValues(k[0], k[1]).Set(n)
	}
	m.inbox.WithLabelValues("pending").Set(pending)
	m.inbox.WithLabelValues("failed").Set(failed)
	m.refreshed.SetToCurrentTime()
	return nil
}

// RefreshLoop runs Refresh now and every interval until ctx is done.
func (m *Metrics) RefreshLoop(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := m.Refresh(ctx); err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "metrics: reading the database gauges failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Observe records job durations from rc's event stream until ctx is done.
func (m *Metrics) Observe(ctx context.Context, rc *river.Client[pgx.Tx], log *slog.Logger) {
	events, cancel := rc.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled, river.EventKindJobSnoozed)
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.Job == nil || ev.JobStats == nil {
				continue
			}
			m.duration.WithLabelValues(ev.Job.Kind, string(ev.Kind)).Observe(ev.JobStats.RunDuration.Seconds())
		}
	}
}
