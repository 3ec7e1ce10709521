package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/store"
)

func TestStore_EngagementDays(t *testing.T) {
	t.Parallel()
	st := store.New(pgtest.NewDB(t).Gorm)
	ctx := context.Background()
	a, b := mustShop(t, st, "engage-a.myshopify.com"), mustShop(t, st, "engage-b.myshopify.com")
	integration := func(sh *store.Shop) *store.Integration {
		in, err := st.SaveIntegration(ctx, sh.ID, store.IntegrationSettings{Kind: "klaviyo", Status: "active", CommonProperty: "email", AccountID: "acct"})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	inA, inB := integration(a), integration(b)
	day := func(n int) time.Time { return time.Date(2026, 11, 1+n, 0, 0, 0, 0, time.UTC) }
	at := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	if err := st.SaveEngagementDays(ctx, a.ID, []store.EngagementDay{
		{IntegrationID: inA.ID, Event: "wallet_points_rewarded", Day: day(0), Opened: 5, Clicked: 2, Final: true, RefreshedAt: at},
		{IntegrationID: inA.ID, Event: "wallet_points_rewarded", Day: day(1), Opened: 1, RefreshedAt: at},
		{IntegrationID: inA.ID, Event: "tier_upgraded", Day: day(1), Opened: 4, Clicked: 1, RefreshedAt: at},
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("FinalDayKept", func(t *testing.T) {
		later := at.Add(time.Hour)
		if err := st.SaveEngagementDays(ctx, a.ID, []store.EngagementDay{
			{IntegrationID: inA.ID, Event: "wallet_points_rewarded", Day: day(0), Opened: 99, Final: true, RefreshedAt: later},
			{IntegrationID: inA.ID, Event: "wallet_points_rewarded", Day: day(1), Opened: 3, Final: true, RefreshedAt: later},
		}); err != nil {
			t.Fatal(err)
		}
		days, err := st.EngagementDays(ctx, a.ID, inA.ID, day(0), day(1))
		if err != nil || len(days) != 3 {
			t.Fatalf("days %+v %v", days, err)
		}
		for _, d := range days {
			switch {
			case d.Event == "wallet_points_rewarded" && d.Day.Equal(day(0)) && (d.Opened != 5 || !d.RefreshedAt.Equal(at)):
				t.Errorf("final day rewritten: %+v", d)
			case d.Event == "wallet_points_rewarded" && d.Day.Equal(day(1)) && (d.Opened != 3 || !d.Final):
				t.Errorf("open day not updated: %+v", d)
			}
		}
	})

	t.Run("Counts", func(t *testing.T) {
		got, err := st.EngagementCounts(ctx, a.ID, 0, "", day(0), day(1))
		if err != nil || len(got) != 3 {
			t.Fatalf("counts %+v %v", got, err)
		}
		one, _ := st.EngagementCounts(ctx, a.ID, inA.ID, "tier_upgraded", day(0), day(5))
		if len(one) != 1 || one[0].Opened != 4 || one[0].Clicked != 1 || !one[0].Day.Equal(day(1)) {
			t.Fatalf("tier_upgraded %+v", one)
		}
	})

	t.Run("OtherShopInvisible", func(t *testing.T) {
		if got, _ := st.EngagementCounts(ctx, b.ID, 0, "", day(0), day(5)); len(got) != 0 {
			t.Fatalf("shop B sees %+v", got)
		}
		if got, _ := st.EngagementDays(ctx, b.ID, inA.ID, day(0), day(5)); len(got) != 0 {
			t.Fatalf("shop B reads shop A's integration: %+v", got)
		}
		// A row for shop B naming shop A's integration cannot exist.
		if err := st.SaveEngagementDays(ctx, b.ID, []store.EngagementDay{{IntegrationID: inA.ID, Event: "x", Day: day(0), RefreshedAt: at}}); err == nil {
			t.Fatal("shop B wrote under shop A's integration")
		}
		if err := st.RecordEngagementRefresh(ctx, b.ID, inB.ID, at, "", 2); err != nil {
			t.Fatal(err)
		}
		if _, err := st.EngagementRefreshOf(ctx, a.ID, inB.ID); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("shop A reads shop B's refresh: %v", err)
		}
	})

	t.Run("RefreshKeepsLastSuccess", func(t *testing.T) {
		if err := st.RecordEngagementRefresh(ctx, a.ID, inA.ID, at, "", 3); err != nil {
			t.Fatal(err)
		}
		if err := st.RecordEngagementRefresh(ctx, a.ID, inA.ID, at.Add(time.Hour), "Klaviyo is limiting", 0); err != nil {
			t.Fatal(err)
		}
		r, err := st.EngagementRefreshOf(ctx, a.ID, inA.ID)
		if err != nil || r.RefreshedAt == nil || !r.RefreshedAt.Equal(at) || r.LastError != "Klaviyo is limiting" || r.Flows != 3 || !r.AttemptedAt.Equal(at.Add(time.Hour)) {
			t.Fatalf("refresh %+v %v", r, err)
		}
	})
}
