package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/program"
)

// ProgramSettings returns the shop's loyalty program, or program.Defaults()
// when the merchant never saved one. found reports whether a row exists.
func (s *Store) ProgramSettings(ctx context.Context, shopID app.ShopID) (settings program.Settings, found bool, err error) {
	row, err := s.programSettingsRow(ctx, shopID)
	if err != nil {
		return program.Settings{}, false, fmt.Errorf("store: program: %w", formatError(err))
	}
	if !row.found {
		return program.Defaults(), false, nil
	}
	settings, err = decodeSettings(row.settings)
	if err != nil {
		return program.Settings{}, true, fmt.Errorf("store: program: decode settings: %w", err)
	}
	return settings, true, nil
}

// decodeSettings reads saved settings; a top-level setting the saved
// program predates takes its default (a program saved before
// guest_points_days existed gets the default 30, not 0). Only whole
// top-level keys are filled: a saved list or group is kept as saved.
func decodeSettings(raw []byte) (program.Settings, error) {
	var saved map[string]json.RawMessage
	if err := json.Unmarshal(raw, &saved); err != nil {
		return program.Settings{}, err
	}
	defRaw, err := json.Marshal(program.Defaults())
	if err != nil {
		return program.Settings{}, err
	}
	var defaults map[string]json.RawMessage
	if err := json.Unmarshal(defRaw, &defaults); err != nil {
		return program.Settings{}, err
	}
	for k, v := range defaults {
		if _, ok := saved[k]; !ok {
			saved[k] = v
		}
	}
	merged, err := json.Marshal(saved)
	if err != nil {
		return program.Settings{}, err
	}
	var s program.Settings
	err = json.Unmarshal(merged, &s)
	return s, err
}

// SaveProgramSettings stores the shop's program, replacing the previous
// one. The caller validates it first.
func (s *Store) SaveProgramSettings(ctx context.Context, shopID app.ShopID, settings program.Settings) error {
	s.ForgetBatchReads() // a write to a shop or a program
	b, err := json.Marshal(settings)
	if err != nil {
		return fmt.Errorf("store: save program: %w", err)
	}
	err = s.db.WithContext(ctx).Exec(`INSERT INTO programs (shop_id, settings) VALUES (?, ?)
ON CONFLICT (shop_id) DO UPDATE SET settings = EXCLUDED.settings, updated_at = now()`, shopID, string(b)).Error
	if err != nil {
		return fmt.Errorf("store: save program: %w", formatError(err))
	}
	return nil
}

// CountGuestOrder adds one to the shop's count of orders that earned nothing
// because they had no customer.
func (s *Store) CountGuestOrder(ctx context.Context, shopID app.ShopID) error {
	err := s.db.WithContext(ctx).Exec(`INSERT INTO loyalty_shop_stats (shop_id, guest_orders) VALUES (?, 1)
ON CONFLICT (shop_id) DO UPDATE SET guest_orders = loyalty_shop_stats.guest_orders + 1, updated_at = now()`, shopID).Error
	if err != nil {
		return fmt.Errorf("store: count guest order: %w", formatError(err))
	}
	return nil
}

// GuestOrders returns the shop's count of guest orders.
func (s *Store) GuestOrders(ctx context.Context, shopID app.ShopID) (int64, error) {
	var n []int64
	if err := s.db.WithContext(ctx).Raw("SELECT guest_orders FROM loyalty_shop_stats WHERE shop_id = ?", shopID).Scan(&n).Error; err != nil {
		return 0, fmt.Errorf("store: guest orders: %w", formatError(err))
	}
	if len(n) == 0 {
		return 0, nil
	}
	return n[0], nil
}

// ActiveShopIDs lists the installed shops, for periodic jobs that fan out
// one job per shop. It acts for the system, not for a shop.
func (s *Store) ActiveShopIDs(ctx context.Context) ([]app.ShopID, error) {
	var ids []app.ShopID
	if err := s.db.WithContext(ctx).Model(&Shop{}).Where("state = ?", ShopActive).Order("id").Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("store: active shops: %w", formatError(err))
	}
	return ids, nil
}

// ShopsDueForMaintenance returns the active shops whose periodic loyalty
// work has not completed since before (never run included), oldest first.
func (s *Store) ShopsDueForMaintenance(ctx context.Context, before time.Time) ([]app.ShopID, error) {
	var ids []app.ShopID
	err := s.db.WithContext(ctx).Model(&Shop{}).
		Where("state = ? AND (maintenance_completed_at IS NULL OR maintenance_completed_at < ?)", ShopActive, before).
		Order("maintenance_completed_at NULLS FIRST, id").Pluck("id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("store: shops due for maintenance: %w", formatError(err))
	}
	return ids, nil
}

// MarkMaintenanceCompleted records that the shop's periodic loyalty work
// ran to completion at.
func (s *Store) MarkMaintenanceCompleted(ctx context.Context, shopID app.ShopID, at time.Time) error {
	s.ForgetBatchReads() // a write to a shop or a program
	err := s.db.WithContext(ctx).Exec(`UPDATE shops SET maintenance_completed_at = GREATEST(coalesce(maintenance_completed_at, ?), ?) WHERE id = ?`, at, at, shopID).Error
	if err != nil {
		return fmt.Errorf("store: mark maintenance completed: %w", formatError(err))
	}
	return nil
}
