package web

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/store"
)

// readyTimeout bounds the readiness check, so a hung database answers 503
// quickly instead of stalling the orchestrator's probe.
const readyTimeout = 2 * time.Second

// handleHealthz answers while the process is up.
func (s *server) handleHealthz(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.String(http.StatusOK, "ok")
}

// readiness is the body of /readyz: ready or not, nothing about the
// insides (the reason goes to the log, for the operator).
type readiness struct {
	Status string `json:"status"` // "ok" or "unavailable"
}

// handleReadyz answers 200 when the database answers within 2 s and its
// schema is at the latest embedded migration, 503 otherwise; the reason is
// logged, never answered.
func (s *server) handleReadyz(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	notReady := func(reason string, err error) error {
		s.log.WarnContext(ctx, "not ready", "reason", reason, "err", err, "request_id", app.RequestIDFrom(ctx))
		return c.JSON(http.StatusServiceUnavailable, readiness{Status: "unavailable"})
	}
	if err := s.db.Pool.Ping(ctx); err != nil {
		return notReady("database unreachable", err)
	}
	current, latest, pending, err := store.MigrationStatus(ctx, s.db.SQL)
	if err != nil {
		return notReady("migration status unknown", err)
	}
	if pending || current != latest {
		return notReady(fmt.Sprintf("migrations pending: database at %d, latest %d", current, latest), nil)
	}
	return c.JSON(http.StatusOK, readiness{Status: "ok"})
}

// handleStatic serves web/static. A URL with the current content version
// (?v=, see assetVersion) is immutable and cached for a year; any other is
// revalidated after five minutes.
func (s *server) handleStatic(c echo.Context) error {
	name := path.Clean(c.Param("*"))
	if !fs.ValidPath(name) || name == "." {
		return echo.ErrNotFound
	}
	if st, err := fs.Stat(s.static, name); err != nil || st.IsDir() {
		return echo.ErrNotFound
	}
	if c.QueryParam("v") == s.assetVersion {
		c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=300")
	}
	http.ServeFileFS(c.Response(), c.Request(), s.static, name)
	return nil
}
