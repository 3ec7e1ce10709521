package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/perkbridge/perkbridge/app/store"
)

// retentionBatch is how many rows one retention statement deletes; small
// enough that each is a short transaction beside live traffic.
const retentionBatch = 5000

// ExpiredLog is what ExpireDeliveryLog removed.
type ExpiredLog struct {
	Deliveries int64
	Events     int64
}

// ExpireDeliveryLog applies every shop's retention (program setting
// retention_days) to the delivery log: settled deliveries older than it
// are deleted with their counts kept for the statistics, then the loyalty
// events no delivery refers to any more. Pending work stays.
func ExpireDeliveryLog(ctx context.Context, st *store.Store, now time.Time) (ExpiredLog, error) {
	var out ExpiredLog
	ids, err := st.ShopIDs(ctx)
	if err != nil {
		return out, err
	}
	for _, id := range ids {
		settings, _, err := st.ProgramSettings(ctx, id)
		if err != nil {
			return out, fmt.Errorf("worker: retention of shop %d: %w", id, err)
		}
		if settings.RetentionDays <= 0 {
			continue
		}
		cutoff := now.AddDate(0, 0, -settings.RetentionDays)
		for {
			n, err := st.ExpireDeliveries(ctx, id, cutoff, retentionBatch)
			out.Deliveries += n
			if err != nil {
				return out, err
			}
			if n < retentionBatch {
				break
			}
		}
		for {
			n, err := st.ExpireEvents(ctx, id, cutoff, retentionBatch)
			out.Events += n
			if err != nil {
				return out, err
			}
			if n < retentionBatch {
				break
			}
		}
	}
	return out, nil
}
