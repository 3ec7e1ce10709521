package store_test

import (
	"context"
	"testing"

	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
)

// TestProgramSettings_NewSettingsTakeTheirDefault: a program saved before
// a setting existed reads that setting's default, while everything saved
// stays as saved (a saved list is not merged with the default one).
func TestProgramSettings_NewSettingsTakeTheirDefault(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	st := store.New(db.Gorm)
	ctx := context.Background()
	sh, err := st.SaveInstall(ctx, "old-program.myshopify.com", store.Tokens{AccessToken: "sealed"})
	if err != nil {
		t.Fatal(err)
	}
	// Saved by an older version: no guest_points_days, one reward, no expiry.
	old := `{"points_per_currency_unit":"2","earn_on":"paid","signup_points":50,"expiry_months":0,
"rewards":[{"id":"only","name":"Only","points_cost":100,"discount_type":"fixed_amount","value":"1"}]}`
	if err := db.Gorm.Exec(`INSERT INTO programs (shop_id, settings) VALUES (?, ?)`, sh.ID, old).Error; err != nil {
		t.Fatal(err)
	}
	got, found, err := st.ProgramSettings(ctx, sh.ID)
	if err != nil || !found {
		t.Fatalf("%v %v", found, err)
	}
	def := program.Defaults()
	if got.GuestPointsDays != def.GuestPointsDays || got.BirthdayPoints != def.BirthdayPoints {
		t.Errorf("missing settings: guest_points_days %d, birthday_points %d; want the defaults %d, %d",
			got.GuestPointsDays, got.BirthdayPoints, def.GuestPointsDays, def.BirthdayPoints)
	}
	if got.SignupPoints != 50 || got.ExpiryMonths != 0 || got.PointsPerCurrencyUnit.String() != "2" {
		t.Errorf("saved settings changed: %+v", got)
	}
	if len(got.Rewards) != 1 || got.Rewards[0].ID != "only" || got.Rewards[0].ExpiresAfterDays != 0 {
		t.Errorf("saved rewards = %+v", got.Rewards)
	}
}
