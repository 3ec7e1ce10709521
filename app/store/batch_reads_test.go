package store_test

import (
	"context"
	"testing"

	"github.com/perkbridge/perkbridge/app/pgtest"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/app/store"
)

// TestBatchReads: inside a batch the shop and program are read once (a
// change made behind the Store's back is not seen), a write through the
// Store and a rollback to a savepoint forget them, and a caller changing
// its copy of the shop does not change the remembered one.
func TestBatchReads(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	st := store.New(db.Gorm)
	ctx := context.Background()
	sh, err := st.SaveInstall(ctx, "batch-reads.myshopify.com", store.Tokens{AccessToken: "sealed"})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Tx(ctx, func(tx *store.Store) error {
		tx = tx.WithBatchReads()
		first, err := tx.Shop(ctx, sh.ID)
		if err != nil {
			return err
		}
		first.Name = "changed by the caller"
		if _, found, err := tx.ProgramSettings(ctx, sh.ID); err != nil || found {
			t.Fatalf("program found=%v err=%v, want none saved", found, err)
		}
		// Behind the memo's back: still the remembered rows.
		if err := tx.Gorm().Exec(`UPDATE shops SET name = 'behind' WHERE id = ?`, sh.ID).Error; err != nil {
			return err
		}
		if err := tx.Gorm().Exec(`INSERT INTO programs (shop_id, settings) VALUES (?, '{"signup_points": 7}')`, sh.ID).Error; err != nil {
			return err
		}
		again, err := tx.Shop(ctx, sh.ID)
		if err != nil {
			return err
		}
		if again.Name == "behind" || again.Name == "changed by the caller" {
			t.Errorf("remembered shop name = %q, want the first read's", again.Name)
		}
		if _, found, _ := tx.ProgramSettings(ctx, sh.ID); found {
			t.Error("program read again inside the batch")
		}
		// A write through the Store forgets.
		if err := tx.UpdateShopInfo(ctx, sh.ID, "info", "a@example.com", "EUR", "UTC"); err != nil {
			return err
		}
		if got, _ := tx.Shop(ctx, sh.ID); got.Name != "info" || got.Currency != "EUR" {
			t.Errorf("after UpdateShopInfo: %q %q", got.Name, got.Currency)
		}
		if s, found, _ := tx.ProgramSettings(ctx, sh.ID); !found || s.SignupPoints != 7 {
			t.Errorf("after a write the program is read again: found=%v signup=%d", found, s.SignupPoints)
		}
		// A rollback to a savepoint forgets what was read since.
		if err := tx.Savepoint(ctx, "sp"); err != nil {
			return err
		}
		if err := tx.SaveProgramSettings(ctx, sh.ID, program.Settings{SignupPoints: 99}); err != nil {
			return err
		}
		if s, _, _ := tx.ProgramSettings(ctx, sh.ID); s.SignupPoints != 99 {
			t.Errorf("own write not read: %d", s.SignupPoints)
		}
		if err := tx.RollbackTo(ctx, "sp"); err != nil {
			return err
		}
		if s, _, _ := tx.ProgramSettings(ctx, sh.ID); s.SignupPoints != 7 {
			t.Errorf("after the rollback signup_points = %d, want 7 (the undone write forgotten)", s.SignupPoints)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Outside a batch nothing is remembered.
	if err := db.Gorm.Exec(`UPDATE shops SET name = 'later' WHERE id = ?`, sh.ID).Error; err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Shop(ctx, sh.ID); got.Name != "later" {
		t.Errorf("outside a batch: %q", got.Name)
	}
}
