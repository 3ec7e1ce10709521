package loyalty

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/shopify"
	"github.com/perkbridge/perkbridge/app/store"
)

// ThemeEmbedHandle is the app embed's handle: the name of its Liquid file
// in extensions/loyalty-theme/blocks. Shopify names the block after it in
// the theme's settings and in the editor's activation link.
const ThemeEmbedHandle = "loyalty-embed"

// themeRecheckEnabled is how long a found embed is trusted before the
// periodic work reads the theme again; a missing one is read every run, so
// the checklist ticks within minutes of the merchant turning it on.
const themeRecheckEnabled = 6 * time.Hour

// CheckThemeEmbed reads the shop's published theme and records whether the
// rewards launcher (the app embed) is turned on in it. It answers the
// state recorded.
func (s *Service) CheckThemeEmbed(ctx context.Context, shopID app.ShopID, now time.Time) (string, error) {
	if s.clients == nil {
		return "", nil
	}
	shop, err := s.st.Shop(ctx, shopID)
	if err != nil {
		return "", err
	}
	state, theme := store.ThemeEmbedMissing, ""
	ts, err := s.clients.Client(shop).MainThemeSettings(ctx)
	switch {
	case errors.Is(err, shopify.ErrNoThemeAccess):
		state = store.ThemeEmbedNoAccess
	case err != nil:
		return "", fmt.Errorf("loyalty: check theme embed: %w", err)
	case ts != nil:
		theme = ts.ThemeName
		es, perr := shopify.AppEmbedState(ts.SettingsData, ThemeEmbedHandle)
		if perr != nil {
			// A theme whose settings cannot be read is reported as
			// not having the embed: the storefront would not show it
			// either, and the widget item still tells the truth.
			s.log.WarnContext(ctx, "the published theme's settings_data.json could not be read", "shop", shopID, "theme", theme, "err", perr)
		}
		switch es {
		case shopify.EmbedEnabled:
			state = store.ThemeEmbedEnabled
		case shopify.EmbedDisabled:
			state = store.ThemeEmbedDisabled
		}
	}
	if err := s.st.SetThemeEmbed(ctx, shopID, state, theme, now); err != nil {
		return "", err
	}
	return state, nil
}

// themeEmbedDue reports whether the periodic work should read the theme.
func themeEmbedDue(sh *store.Shop, now time.Time) bool {
	if sh.ThemeEmbedCheckedAt == nil || sh.ThemeEmbed != store.ThemeEmbedEnabled {
		return true
	}
	return now.Sub(*sh.ThemeEmbedCheckedAt) >= themeRecheckEnabled
}
