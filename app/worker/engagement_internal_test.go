package worker

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/perkbridge/perkbridge/app/engagement"
	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/forward"
	"github.com/perkbridge/perkbridge/app/job"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/vault"
)

// TestRefreshEngagementWorker_SnoozesOnThrottle: Klaviyo's 429 snoozes the
// job for the Retry-After it named (it is not an error, so no attempt is
// lost); the next run reads the numbers.
func TestRefreshEngagementWorker_SnoozesOnThrottle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const key = "pk_worker_engagement_0123456789"
	kl := fake.NewKlaviyo(fake.KlaviyoOptions{Keys: []fake.KlaviyoKey{{Key: key}}})
	srv := httptest.NewServer(kl)
	t.Cleanup(srv.Close)
	db := pgtest.NewDB(t)
	st := store.New(db.Gorm)
	v, err := vault.New([]byte("worker-engagement-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	fwd := forward.New(st, v, nil, nil, forward.Options{KlaviyoOrigin: srv.URL})
	sh, err := st.SaveInstall(ctx, "worker-engagement.myshopify.com", store.Tokens{Scope: "read_customers", AccessToken: "sealed"})
	if err != nil {
		t.Fatal(err)
	}
	if in, err := fwd.ConnectKlaviyo(ctx, sh.ID, forward.KlaviyoInput{CommonProperty: "email", PrivateAPIKey: key}); err != nil || in.Status != "active" {
		t.Fatalf("connect %+v %v", in, err)
	}
	if _, err := fwd.CreateDefinition(ctx, sh.ID, forward.KindKlaviyo, forward.DefinitionInput{Event: "wallet_points_rewarded"}); err != nil {
		t.Fatal(err)
	}
	flow := kl.AddFlow(fake.KlaviyoFlow{Name: "Points", TriggerMetric: "wallet_points_rewarded"})
	kl.RecordEngagement(fake.KlaviyoOpenedEmail, flow, time.Now().Add(-time.Hour), 3)
	eng := engagement.New(st, fwd, nil, engagement.Options{})

	w := &RefreshEngagementWorker{svc: eng}
	j := &river.Job[job.RefreshEngagement]{JobRow: &rivertype.JobRow{ID: 1, Attempt: 1, MaxAttempts: 5}, Args: job.RefreshEngagement{ShopID: int64(sh.ID)}}

	kl.ThrottleNext(1, true)
	err = w.Work(ctx, j)
	var snooze *rivertype.JobSnoozeError
	if !errors.As(err, &snooze) || snooze.Duration != time.Second {
		t.Fatalf("after a 429: %v, want a snooze of the Retry-After (1s)", err)
	}
	// The snoozed job's next run waits out the account's pause, then reads.
	if err := w.Work(ctx, j); err != nil {
		t.Fatalf("second run: %v", err)
	}
	s, err := eng.Stats(ctx, sh.ID, engagement.Filter{From: time.Now().Add(-48 * time.Hour), To: time.Now().Add(time.Hour)})
	if err != nil || !s.Known || s.Totals.Opened != 3 {
		t.Fatalf("stats after the snoozed job ran: %+v %v", s, err)
	}
}
