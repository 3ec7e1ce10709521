package ledger_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/ledger"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func day(n int) time.Time   { return t0.AddDate(0, 0, n) }
func dayp(n int) *time.Time { t := day(n); return &t }

// lots used across tests, at t0:
//
//	1: 100 left, expires day 30, created day -300
//	2:  50 left, expires day 10, created day -200   (soonest to expire)
//	3:  70 left, never expires,   created day -400
//	4:  40 left, expires day 10, created day -100   (same expiry as 2, newer)
//	5:  80 left, expired day -1
//	6:  60 left, pending until day 5, expires day 60
//	7:   0 left, expires day 1
func fixtureLots() []ledger.Lot {
	return []ledger.Lot{
		{ID: 1, Points: 100, Remaining: 100, CreatedAt: day(-300), ExpiresAt: dayp(30), SourceKey: "earn:a"},
		{ID: 2, Points: 90, Remaining: 50, CreatedAt: day(-200), ExpiresAt: dayp(10), SourceKey: "earn:b"},
		{ID: 3, Points: 70, Remaining: 70, CreatedAt: day(-400), SourceKey: "signup:c"},
		{ID: 4, Points: 40, Remaining: 40, CreatedAt: day(-100), ExpiresAt: dayp(10), SourceKey: "earn:d"},
		{ID: 5, Points: 80, Remaining: 80, CreatedAt: day(-365), ExpiresAt: dayp(-1), SourceKey: "earn:e"},
		{ID: 6, Points: 60, Remaining: 60, CreatedAt: day(-2), AvailableAt: dayp(5), ExpiresAt: dayp(60), SourceKey: "earn:f"},
		{ID: 7, Points: 10, Remaining: 0, CreatedAt: day(-50), ExpiresAt: dayp(1), SourceKey: "earn:g"},
	}
}

func TestConsume(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		points  int64
		now     time.Time
		want    []ledger.Allocation
		wantErr string
	}{
		{"SoonestExpiringFirst", 30, t0, []ledger.Allocation{{LotID: 2, Points: 30}}, ""},
		{"SameExpiryOldestFirst", 60, t0, []ledger.Allocation{{LotID: 2, Points: 50}, {LotID: 4, Points: 10}}, ""},
		{"NeverExpiringLast", 260, t0, []ledger.Allocation{{LotID: 2, Points: 50}, {LotID: 4, Points: 40}, {LotID: 1, Points: 100}, {LotID: 3, Points: 70}}, ""},
		{"SkipsExpiredAndPending", 261, t0, nil, "Not enough points."},
		{"PendingBecomesSpendable", 270, day(5), []ledger.Allocation{{LotID: 2, Points: 50}, {LotID: 4, Points: 40}, {LotID: 1, Points: 100}, {LotID: 6, Points: 60}, {LotID: 3, Points: 20}}, ""},
		{"ExpiredAtExactInstant", 100, day(10), []ledger.Allocation{{LotID: 1, Points: 100}}, ""},
		{"ZeroPoints", 0, t0, nil, "Points must be positive."},
		{"NegativePoints", -5, t0, nil, "Points must be positive."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lots := fixtureLots()
			before := slices.Clone(lots)
			got, err := ledger.Consume(lots, tc.points, tc.now)
			if tc.wantErr != "" {
				if err == nil || app.ErrorMessage(err) != tc.wantErr || app.ErrorCode(err) != app.EINVALID {
					t.Fatalf("Consume err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Consume: %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Consume = %v, want %v", got, tc.want)
			}
			if !slices.Equal(lots, before) {
				t.Error("Consume modified its input")
			}
		})
	}
}

func TestReverse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		points        int64
		source        string
		want          []ledger.Allocation
		wantShortfall int64
	}{
		{"OwnLotFirstEvenPending", 50, "earn:f", []ledger.Allocation{{LotID: 6, Points: 50}}, 0},
		{"ThenSoonestExpiring", 80, "earn:f", []ledger.Allocation{{LotID: 6, Points: 60}, {LotID: 2, Points: 20}}, 0},
		{"OwnLotSpentAlready", 30, "earn:g", []ledger.Allocation{{LotID: 2, Points: 30}}, 0},
		{"OtherPendingLast", 270, "", []ledger.Allocation{{LotID: 2, Points: 50}, {LotID: 4, Points: 40}, {LotID: 1, Points: 100}, {LotID: 3, Points: 70}, {LotID: 6, Points: 10}}, 0},
		{"ShortfallGoesNegative", 400, "earn:a", []ledger.Allocation{{LotID: 1, Points: 100}, {LotID: 2, Points: 50}, {LotID: 4, Points: 40}, {LotID: 3, Points: 70}, {LotID: 6, Points: 60}}, 80},
		{"ExpiredLotLeftToSweep", 10, "earn:e", []ledger.Allocation{{LotID: 2, Points: 10}}, 0},
		{"Zero", 0, "earn:a", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, short := ledger.Reverse(fixtureLots(), tc.points, tc.source, t0)
			if !slices.Equal(got, tc.want) || short != tc.wantShortfall {
				t.Errorf("Reverse = %v short %d, want %v short %d", got, short, tc.want, tc.wantShortfall)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	credit := ledger.Entry{Kind: ledger.KindEarn, Points: 100, IdempotencyKey: "earn:x", CreatedAt: t0, ExpiresAt: dayp(365), AvailableAt: dayp(7)}
	cases := []struct {
		name        string
		debt        int64
		wantSettled int64
		wantLot     int64
	}{
		{"NoDebt", 0, 0, 100},
		{"PartlySettles", 30, 30, 70},
		{"AllSettles", 100, 100, 0},
		{"DebtBiggerThanCredit", 250, 100, 0},
		{"NegativeDebtIgnored", -10, 0, 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, lot, err := ledger.Open(credit, tc.debt)
			if err != nil {
				t.Fatal(err)
			}
			if e.DebtSettled != tc.wantSettled || lot.Remaining != tc.wantLot || lot.Points != tc.wantLot {
				t.Errorf("Open = settled %d, lot %+v; want settled %d, lot %d", e.DebtSettled, lot, tc.wantSettled, tc.wantLot)
			}
			if lot.SourceKey != "earn:x" || !lot.ExpiresAt.Equal(day(365)) || !lot.AvailableAt.Equal(day(7)) || !lot.CreatedAt.Equal(t0) {
				t.Errorf("lot %+v does not carry the credit's key and times", lot)
			}
			if err := e.Validate(); err != nil {
				t.Errorf("opened entry invalid: %v", err)
			}
		})
	}
	t.Run("ErrNotACredit", func(t *testing.T) {
		t.Parallel()
		if _, _, err := ledger.Open(ledger.Entry{Kind: ledger.KindRedeem, Points: -5}, 0); app.ErrorCode(err) != app.EINVALID {
			t.Errorf("Open(debit) err = %v, want EINVALID", err)
		}
	})
}

func TestApplyAllocations(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		allocs  []ledger.Allocation
		wantErr bool
	}{
		{"OK", []ledger.Allocation{{LotID: 1, Points: 100}, {LotID: 2, Points: 1}}, false},
		{"ErrUnknownLot", []ledger.Allocation{{LotID: 99, Points: 1}}, true},
		{"ErrMoreThanLeft", []ledger.Allocation{{LotID: 2, Points: 51}}, true},
		{"ErrTwiceFromOneLot", []ledger.Allocation{{LotID: 2, Points: 30}, {LotID: 2, Points: 30}}, true},
		{"ErrNonPositive", []ledger.Allocation{{LotID: 2, Points: 0}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := fixtureLots()
			out, err := ledger.ApplyAllocations(in, tc.allocs)
			if tc.wantErr {
				if app.ErrorCode(err) != app.ECONFLICT {
					t.Fatalf("err = %v, want ECONFLICT", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out[0].Remaining != 0 || out[1].Remaining != 49 || in[0].Remaining != 100 {
				t.Errorf("ApplyAllocations = %+v (input %+v)", out[:2], in[:2])
			}
		})
	}
}

func TestExpire(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		now  time.Time
		want []ledger.Expiry
	}{
		{"OnlyThePast", t0, []ledger.Expiry{{LotID: 5, Points: 80, ExpiresAt: day(-1)}}},
		{"AtExactInstantAndEmptySkipped", day(10), []ledger.Expiry{{LotID: 5, Points: 80, ExpiresAt: day(-1)}, {LotID: 2, Points: 50, ExpiresAt: day(10)}, {LotID: 4, Points: 40, ExpiresAt: day(10)}}},
		{"OneNanosecondBefore", day(10).Add(-time.Nanosecond), []ledger.Expiry{{LotID: 5, Points: 80, ExpiresAt: day(-1)}}},
		{"NeverExpiringStays", day(10000), []ledger.Expiry{
			{LotID: 5, Points: 80, ExpiresAt: day(-1)}, {LotID: 2, Points: 50, ExpiresAt: day(10)}, {LotID: 4, Points: 40, ExpiresAt: day(10)},
			{LotID: 1, Points: 100, ExpiresAt: day(30)}, {LotID: 6, Points: 60, ExpiresAt: day(60)},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := ledger.Expire(fixtureLots(), tc.now)
			if len(got) != len(tc.want) {
				t.Fatalf("Expire = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i].LotID != tc.want[i].LotID || got[i].Points != tc.want[i].Points || !got[i].ExpiresAt.Equal(tc.want[i].ExpiresAt) {
					t.Errorf("Expire[%d] = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
	t.Run("EntryIsValidAndKeyed", func(t *testing.T) {
		t.Parallel()
		e := ledger.Expiry{LotID: 5, Points: 80, ExpiresAt: day(-1)}.Entry(t0)
		if err := e.Validate(); err != nil {
			t.Fatal(err)
		}
		if e.Points != -80 || e.IdempotencyKey != "expire:lot/5" || e.LotID != 5 || e.Kind != ledger.KindExpire {
			t.Errorf("Entry = %+v", e)
		}
	})
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	lots := fixtureLots()
	// Remaining: 100+50+70+40+80+60+0 = 400.
	cases := []struct {
		name string
		bal  int64
		now  time.Time
		want ledger.Summary
	}{
		{"Now", 400, t0, ledger.Summary{Balance: 400, Spendable: 260, Pending: 60, NextExpiryAt: dayp(10), NextExpiryPoints: 90}},
		{"PendingReleased", 400, day(6), ledger.Summary{Balance: 400, Spendable: 320, NextExpiryAt: dayp(10), NextExpiryPoints: 90}},
		{"WithDebt", 350, t0, ledger.Summary{Balance: 350, Spendable: 260, Pending: 60, Debt: 50, NextExpiryAt: dayp(10), NextExpiryPoints: 90}},
		{"AfterFirstExpiry", 400, day(11), ledger.Summary{Balance: 400, Spendable: 230, NextExpiryAt: dayp(30), NextExpiryPoints: 100}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := ledger.Summarize(tc.bal, lots, tc.now)
			if got.Balance != tc.want.Balance || got.Spendable != tc.want.Spendable || got.Pending != tc.want.Pending ||
				got.Debt != tc.want.Debt || !eqTime(got.NextExpiryAt, tc.want.NextExpiryAt) || got.NextExpiryPoints != tc.want.NextExpiryPoints {
				t.Errorf("Summarize = %+v (next %s), want %+v (next %s)", got, fmtp(got.NextExpiryAt), tc.want, fmtp(tc.want.NextExpiryAt))
			}
		})
	}
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	good := func() ([]ledger.Entry, []ledger.Lot) {
		entries := []ledger.Entry{
			{Kind: ledger.KindEarn, Points: 100, LotID: 1, IdempotencyKey: "a", CreatedAt: t0},
			{Kind: ledger.KindRedeem, Points: -60, Allocations: []ledger.Allocation{{LotID: 1, Points: 60}}, IdempotencyKey: "b", CreatedAt: t0},
			{Kind: ledger.KindReverse, Points: -100, Allocations: []ledger.Allocation{{LotID: 1, Points: 40}}, Shortfall: 60, IdempotencyKey: "c", CreatedAt: t0},
			{Kind: ledger.KindSignup, Points: 50, LotID: 2, DebtSettled: 50, IdempotencyKey: "d", CreatedAt: t0},
			{Kind: ledger.KindBirthday, Points: 30, LotID: 3, DebtSettled: 10, IdempotencyKey: "e", CreatedAt: t0},
		}
		lots := []ledger.Lot{
			{ID: 1, Points: 100, Remaining: 0},
			{ID: 2, Points: 0, Remaining: 0},
			{ID: 3, Points: 20, Remaining: 20},
		}
		return entries, lots
	}
	cases := []struct {
		name    string
		mutate  func(e []ledger.Entry, l []ledger.Lot) ([]ledger.Entry, []ledger.Lot)
		wantErr bool
	}{
		{"OK", func(e []ledger.Entry, l []ledger.Lot) ([]ledger.Entry, []ledger.Lot) { return e, l }, false},
		{"ErrLotDrifted", func(e []ledger.Entry, l []ledger.Lot) ([]ledger.Entry, []ledger.Lot) {
			l[2].Remaining = 19
			return e, l
		}, true},
		{"ErrLotMissing", func(e []ledger.Entry, l []ledger.Lot) ([]ledger.Entry, []ledger.Lot) { return e, l[:2] }, true},
		{"ErrShortfallUnrecorded", func(e []ledger.Entry, l []ledger.Lot) ([]ledger.Entry, []ledger.Lot) {
			e[2].Shortfall = 0
			return e, l
		}, true},
		{"ErrOverSettled", func(e []ledger.Entry, l []ledger.Lot) ([]ledger.Entry, []ledger.Lot) {
			e[4].DebtSettled = 30
			l[2].Points, l[2].Remaining = 0, 0
			return e, l
		}, true},
		{"ErrRemainingAbovePoints", func(e []ledger.Entry, l []ledger.Lot) ([]ledger.Entry, []ledger.Lot) { l[2].Points = 10; return e, l }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := ledger.Reconcile(tc.mutate(good()))
			if (err != nil) != tc.wantErr {
				t.Errorf("Reconcile = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
	entries, _ := good()
	if b, d := ledger.Balance(entries), ledger.Debt(entries); b != 20 || d != 0 {
		t.Errorf("Balance, Debt = %d, %d; want 20, 0", b, d)
	}
}

func BenchmarkConsume(b *testing.B) {
	for _, n := range []int{4, 64, 1024} {
		b.Run(fmt.Sprintf("Lots%d", n), func(b *testing.B) {
			lots := make([]ledger.Lot, n)
			for i := range lots {
				exp := t0.AddDate(0, 0, (i*7919)%365+1)
				lots[i] = ledger.Lot{ID: int64(i + 1), Points: 100, Remaining: 100, CreatedAt: t0.AddDate(0, 0, -i), ExpiresAt: &exp}
			}
			want := int64(n) * 50
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ledger.Consume(lots, want, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
