package web

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/templates"
)

// webhookListLimit is how many deliveries the page and the API list.
const webhookListLimit = 100

// webhookFilter reads and validates the status and topic filters.
func webhookFilter(c echo.Context) (store.WebhookFilter, error) {
	f := store.WebhookFilter{Status: c.QueryParam("status"), Topic: c.QueryParam("topic"), Limit: webhookListLimit}
	if f.Status != "" && !slices.Contains(webhookStatuses, f.Status) {
		return f, app.FieldError("status", "Status must be one of pending, processed, failed or ignored.")
	}
	if len(f.Topic) > 100 {
		return f, app.FieldError("topic", "Topic is too long.")
	}
	return f, nil
}

// handleWebhooksPage lists the shop's recent deliveries.
func (s *server) handleWebhooksPage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	f, err := webhookFilter(c)
	if err != nil {
		return err
	}
	list, err := s.st.ListWebhooks(c.Request().Context(), shop.ID, f)
	if err != nil {
		return err
	}
	v := templates.WebhooksView{
		Shell:        s.shell(c, "Webhooks", routeAppWebhooks),
		FilterAction: s.e.Reverse(routeAppWebhooks),
		Statuses:     webhookStatuses,
		Status:       f.Status,
		Topic:        f.Topic,
		Rows:         make([]templates.WebhookRow, 0, len(list)),
	}
	for k, vs := range s.carry(c) {
		v.Hidden = append(v.Hidden, templates.Param{Name: k, Value: vs[0]})
	}
	slices.SortFunc(v.Hidden, func(a, b templates.Param) int { return cmp.Compare(a.Name, b.Name) })
	for _, w := range list {
		row := templates.WebhookRow{
			ID: w.ID, Topic: w.Topic, Status: w.Status, Attempts: w.Attempts,
			LastError: w.LastError, ReceivedAt: w.ReceivedAt,
		}
		if w.Status == store.WebhookFailed {
			row.ReprocessURL = s.appLink(c, s.e.Reverse(routeAppWebhookReprocess, strconv.FormatInt(w.ID, 10)), nil)
		}
		v.Rows = append(v.Rows, row)
	}
	return render(c, http.StatusOK, templates.WebhooksPage(v))
}

// handleWebhookReprocessPage is the reprocess form: a redirect back to the
// list for a plain form post, JSON for the fetch that App Bridge pages use.
func (s *server) handleWebhookReprocessPage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("id"), "id")
	if err != nil {
		return err
	}
	w, err := s.reprocessWebhook(c.Request().Context(), shop.ID, id)
	if err != nil {
		return err
	}
	if wantsJSON(c) {
		return c.JSON(http.StatusAccepted, toWebhookJSON(w))
	}
	return c.Redirect(http.StatusSeeOther, s.appLink(c, s.e.Reverse(routeAppWebhooks), nil))
}

// webhookJSON is a delivery in the API, without its body or headers.
type webhookJSON struct {
	ID          int64      `json:"id"`
	WebhookID   string     `json:"webhook_id"`
	EventID     string     `json:"event_id"`
	Topic       string     `json:"topic"`
	APIVersion  string     `json:"api_version"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"last_error"`
	TriggeredAt *time.Time `json:"triggered_at"`
	ReceivedAt  time.Time  `json:"received_at"`
	ProcessedAt *time.Time `json:"processed_at"`
	Redacted    bool       `json:"redacted"`
}

func toWebhookJSON(w *store.Webhook) webhookJSON {
	return webhookJSON{
		ID: w.ID, WebhookID: w.WebhookID, EventID: w.EventID, Topic: w.Topic, APIVersion: w.APIVersion,
		Status: w.Status, Attempts: w.Attempts, LastError: w.LastError,
		TriggeredAt: w.TriggeredAt, ReceivedAt: w.ReceivedAt, ProcessedAt: w.ProcessedAt,
		Redacted: w.RedactedAt != nil,
	}
}

// handleWebhooksList is GET /api/v1/webhooks?status=&topic=.
func (s *server) handleWebhooksList(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	f, err := webhookFilter(c)
	if err != nil {
		return err
	}
	list, err := s.st.ListWebhooks(c.Request().Context(), shop.ID, f)
	if err != nil {
		return err
	}
	out := make([]webhookJSON, 0, len(list))
	for i := range list {
		out = append(out, toWebhookJSON(&list[i]))
	}
	return c.JSON(http.StatusOK, out)
}

// handleWebhookReprocess is POST /api/v1/webhooks/{id}/reprocess.
func (s *server) handleWebhookReprocess(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	id, err := parseID(c.Param("id"), "id")
	if err != nil {
		return err
	}
	w, err := s.reprocessWebhook(c.Request().Context(), shop.ID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, toWebhookJSON(w))
}

// reprocessWebhook puts one of the shop's failed deliveries back to
// pending, then wakes the claimers. The reset is the durable part: if the
// wake-up fails, the claimers' poll finds the row, so the request has
// still succeeded.
func (s *server) reprocessWebhook(ctx context.Context, shopID app.ShopID, id int64) (*store.Webhook, error) {
	if err := s.st.ResetWebhook(ctx, shopID, id); err != nil {
		return nil, err
	}
	if err := s.reprocess(ctx, id); err != nil {
		s.log.WarnContext(ctx, "reprocess wake-up failed; the claimers' poll will find it",
			"webhook", id, "err", err, "request_id", app.RequestIDFrom(ctx))
	}
	return s.st.Webhook(ctx, shopID, id)
}
