package web

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/perkbridge/perkbridge/app"
)

// httpMetrics are the server's Prometheus metrics. Routes are labelled by
// their template (/api/v1/customers/:shopify_customer_id), never by the
// raw path, so the label set stays bounded.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) (*httpMetrics, error) {
	requests, err := registerOrReuse(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "perkbridge",
		Subsystem: "http",
		Name:      "requests_total",
		Help:      "HTTP requests answered, by method, route template and status.",
	}, []string{"method", "route", "status"}))
	if err != nil {
		return nil, err
	}
	duration, err := registerOrReuse(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "perkbridge",
		Subsystem: "http",
		Name:      "request_duration_seconds",
		Help:      "Time to answer HTTP requests, by method and route template.",
		Buckets:   []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{"method", "route"}))
	if err != nil {
		return nil, err
	}
	return &httpMetrics{requests: requests, duration: duration}, nil
}

// registerOrReuse registers c, or returns the identical collector already
// registered (a second server on the same registry, as in tests).
func registerOrReuse[C prometheus.Collector](reg *prometheus.Registry, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

func (m *httpMetrics) observe(method, route string, status int, d time.Duration) {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		method = "OTHER"
	}
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(d.Seconds())
}

// MetricsHandler serves the registry's metrics, for the internal listener
// (METRICS_ADDR) that serve runs beside the public server.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// handleMetrics is GET /metrics on the public port: served only to
// "Authorization: Bearer <METRICS_TOKEN>" when a token is configured, and
// not at all otherwise (the internal METRICS_ADDR listener serves it). The
// token is compared in constant time.
func (s *server) handleMetrics(c echo.Context) error {
	if s.cfg.MetricsToken == "" {
		return echo.ErrNotFound
	}
	got, ok := bearerToken(c.Request())
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.MetricsToken)) != 1 {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
		return app.Errorf(app.EUNAUTHORIZED, "A metrics token is required.")
	}
	MetricsHandler(s.registry).ServeHTTP(c.Response(), c.Request())
	return nil
}
