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

// Metrics exports job durations (from River's event stream) and queue depth
// (read from the database at scrape time, so every process reports the same
// truth).
type Metrics struct {
	pool     *pgxpool.Pool
	duration *prometheus.HistogramVec
	depth    *prometheus.Desc
	inbox    *prometheus.Desc
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
		depth: prometheus.NewDesc("perkbridge_queue_depth", "Jobs not yet finished, by queue and state.", []string{"queue", "state"}, nil),
		inbox: prometheus.NewDesc("perkbridge_webhooks_inbox", "Inbox rows waiting or failed, by status.", []string{"status"}, nil),
	}
	reg.MustRegister(m.duration, m)
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.depth
	ch <- m.inbox
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := m.pool.Query(ctx, `SELECT queue, state::text, count(*) FROM river_job
WHERE state IN ('available','pending','running','retryable','scheduled') GROUP BY 1, 2`)
	if err == nil {
		for rows.Next() {
			var q, s string
			var n float64
			if rows.Scan(&q, &s, &n) == nil {
				ch <- prometheus.MustNewConstMetric(m.depth, prometheus.GaugeValue, n, q, s)
			}
		}
		rows.Close()
	}
	var pending, failed float64
	if err := m.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'failed') FROM webhooks WHERE status IN ('pending','failed')`).Scan(&pending, &failed); err == nil {
		ch <- prometheus.MustNewConstMetric(m.inbox, prometheus.GaugeValue, pending, "pending")
		ch <- prometheus.MustNewConstMetric(m.inbox, prometheus.GaugeValue, failed, "failed")
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
