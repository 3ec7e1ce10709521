package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/perkbridge/perkbridge/app"
)

// batchReads remembers, inside one inbox batch's transaction, the rows
// every webhook of the batch reads and none of them normally changes: the
// shop and its program (one read per batch instead of two per webhook). A
// batch is one READ COMMITTED transaction, so remembering is as if the
// batch's later webhooks ran a moment earlier. Any write to a shop or a
// program through the Store forgets everything, and so does the claimer
// after it rolls a webhook back (what that webhook read may have been its
// own undone write).
//
// It also collects the loyalty events the batch's webhooks route (see
// RouteEvents), so the batch routes them in one statement at its end.
type batchReads struct {
	shops    map[app.ShopID]Shop
	programs map[app.ShopID]programRow
	routes   map[app.ShopID][]uuid.UUID
}

type programRow struct {
	settings []byte
	found    bool
}

// WithBatchReads returns s with a fresh memo of shop and program reads.
// Use it only inside one transaction (the claimer's batch): outside one,
// every statement is its own snapshot and nothing should be remembered.
func (s *Store) WithBatchReads() *Store {
	return &Store{db: s.db, reads: &batchReads{shops: map[app.ShopID]Shop{}, programs: map[app.ShopID]programRow{}, routes: map[app.ShopID][]uuid.UUID{}}}
}

// ForgetBatchReads drops whatever the batch memo holds (no-op without one).
func (s *Store) ForgetBatchReads() {
	if s.reads != nil {
		clear(s.reads.shops)
		clear(s.reads.programs)
	}
}

// Shop returns the shop with id.
func (s *Store) Shop(ctx context.Context, id app.ShopID) (*Shop, error) {
	if s.reads != nil {
		if sh, ok := s.reads.shops[id]; ok {
			return &sh, nil // a copy: callers may change theirs
		}
	}
	var sh Shop
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&sh).Error; err != nil {
		return nil, fmt.Errorf("store: shop: %w", formatError(err))
	}
	if s.reads != nil {
		s.reads.shops[id] = sh
	}
	return &sh, nil
}

// programSettingsRow reads the shop's saved settings (found false: none).
func (s *Store) programSettingsRow(ctx context.Context, shopID app.ShopID) (programRow, error) {
	if s.reads != nil {
		if r, ok := s.reads.programs[shopID]; ok {
			return r, nil
		}
	}
	var rows []struct{ Settings []byte }
	if err := s.db.WithContext(ctx).Raw("SELECT settings FROM programs WHERE shop_id = ?", shopID).Scan(&rows).Error; err != nil {
		return programRow{}, err
	}
	var r programRow
	if len(rows) > 0 {
		r = programRow{settings: rows[0].Settings, found: true}
	}
	if s.reads != nil {
		s.reads.programs[shopID] = r
	}
	return r, nil
}

// RouteBatchEvents routes the loyalty events RouteEvents collected in the
// batch, one statement per shop, and forgets them. Events whose webhook was
// rolled back no longer exist and route nothing. It returns the number of
// deliveries created.
func (s *Store) RouteBatchEvents(ctx context.Context) (int64, error) {
	if s.reads == nil || len(s.reads.routes) == 0 {
		return 0, nil
	}
	shops := make([]app.ShopID, 0, len(s.reads.routes))
	for id := range s.reads.routes {
		shops = append(shops, id)
	}
	slices.Sort(shops)
	var n int64
	for _, id := range shops {
		m, err := s.routeEvents(ctx, id, s.reads.routes[id])
		if err != nil {
			return n, err
		}
		n += m
	}
	clear(s.reads.routes)
	return n, nil
}
