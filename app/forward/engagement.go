package forward

import (
	"context"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/klaviyo"
	"github.com/perkbridge/perkbridge/app/store"
)

// KlaviyoReporting returns the shop's active Klaviyo integration and a
// client with its key, for reading engagement back (app/engagement). The
// key stays sealed everywhere else. ENOTFOUND when the shop has no Klaviyo
// integration sending: a paused one's key was refused, and asking again
// would only fail the same way.
func (s *Service) KlaviyoReporting(ctx context.Context, shopID app.ShopID) (*store.Integration, *klaviyo.Client, error) {
	in, err := s.st.Integration(ctx, shopID, KindKlaviyo)
	if err != nil {
		return nil, nil, err
	}
	if in.Status != store.IntegrationActive {
		return nil, nil, app.Errorf(app.ENOTFOUND, "Klaviyo is not connected and sending.")
	}
	c, err := s.client(in)
	if err != nil {
		return nil, nil, err
	}
	return in, c.klaviyo, nil
}
