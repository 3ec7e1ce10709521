package shopify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The launch checklist asks whether the shop's published theme has the
// app embed (the rewards launcher) turned on. Shopify answers that only
// through the theme's config/settings_data.json: the embed is a block of
// type "shopify://apps/<app>/blocks/<handle>/<uuid>" under current.blocks,
// with "disabled": true when the merchant turned it off. Reading it needs
// the read_themes scope.

const mainThemeSettings = `query MainThemeSettings {
  themes(first: 1, roles: [MAIN]) {
    nodes {
      id
      name
      files(filenames: ["config/settings_data.json"], first: 1) {
        nodes {
          filename
          body { ... on OnlineStoreThemeFileBodyText { content } }
        }
      }
    }
  }
}`

// ThemeSettings is the published theme and its settings_data.json.
type ThemeSettings struct {
	ThemeID      string
	ThemeName    string
	SettingsData []byte // nil when the theme has no settings file
}

// ErrNoThemeAccess means the app lacks the read_themes scope.
var ErrNoThemeAccess = errors.New("shopify: the app may not read themes (read_themes scope)")

// MainThemeSettings reads the published theme's config/settings_data.json.
// A shop without a published theme answers (nil, nil).
func (c *Client) MainThemeSettings(ctx context.Context) (*ThemeSettings, error) {
	var data struct {
		Themes struct {
			Nodes []struct {
				ID    string `json:"id"`
				Name  string `json:"name"`
				Files struct {
					Nodes []struct {
						Filename string `json:"filename"`
						Body     struct {
							Content *string `json:"content"`
						} `json:"body"`
					} `json:"nodes"`
				} `json:"files"`
			} `json:"nodes"`
		} `json:"themes"`
	}
	if err := c.Do(ctx, mainThemeSettings, nil, &data); err != nil {
		var ge *GraphQLError
		if errors.As(err, &ge) && ge.HasCode("ACCESS_DENIED") {
			return nil, ErrNoThemeAccess
		}
		return nil, fmt.Errorf("shopify: main theme settings: %w", err)
	}
	if len(data.Themes.Nodes) == 0 {
		return nil, nil
	}
	t := data.Themes.Nodes[0]
	out := &ThemeSettings{ThemeID: t.ID, ThemeName: t.Name}
	for _, f := range t.Files.Nodes {
		if f.Filename == "config/settings_data.json" && f.Body.Content != nil {
			out.SettingsData = []byte(*f.Body.Content)
		}
	}
	return out, nil
}

// EmbedState is what a theme's settings say of an app embed.
type EmbedState int

// The states of an app embed in a theme.
const (
	EmbedMissing  EmbedState = iota // never added (never turned on)
	EmbedDisabled                   // added once, turned off
	EmbedEnabled                    // turned on
)

// AppEmbedState finds the app embed block named handle (the Liquid file's
// name in the extension's blocks/ folder, such as "loyalty-embed") in a
// theme's settings_data.json. Themes write that file with a leading /* */
// comment, and "current" may name a preset instead of holding the
// settings; both are handled. Malformed JSON is an error.
func AppEmbedState(settingsData []byte, handle string) (EmbedState, error) {
	var doc struct {
		Current json.RawMessage            `json:"current"`
		Presets map[string]json.RawMessage `json:"presets"`
	}
	if err := json.Unmarshal(stripJSONComments(settingsData), &doc); err != nil {
		return EmbedMissing, fmt.Errorf("shopify: settings_data.json: %w", err)
	}
	current := doc.Current
	var preset string
	if json.Unmarshal(current, &preset) == nil {
		current = doc.Presets[preset]
	}
	var settings struct {
		Blocks map[string]struct {
			Type     string `json:"type"`
			Disabled bool   `json:"disabled"`
		} `json:"blocks"`
	}
	if len(current) > 0 {
		if err := json.Unmarshal(current, &settings); err != nil {
			return EmbedMissing, fmt.Errorf("shopify: settings_data.json current: %w", err)
		}
	}
	state := EmbedMissing
	for _, b := range settings.Blocks {
		if !strings.HasPrefix(b.Type, "shopify://apps/") || !strings.Contains(b.Type, "/blocks/"+handle+"/") {
			continue
		}
		if !b.Disabled {
			return EmbedEnabled, nil
		}
		state = EmbedDisabled
	}
	return state, nil
}

// stripJSONComments removes /* */ and // comments outside strings, as
// Shopify's theme files allow.
func stripJSONComments(b []byte) []byte {
	if !bytes.Contains(b, []byte("/*")) && !bytes.Contains(b, []byte("//")) {
		return b
	}
	out := make([]byte, 0, len(b))
	inString, escaped := false, false
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if inString {
			out = append(out, ch)
			switch {
			case escaped:
				escaped = false
			case ch == '\\':
				escaped = true
			case ch == '"':
				inString = false
			}
			continue
		}
		if ch == '"' {
			inString = true
			out = append(out, ch)
			continue
		}
		if ch == '/' && i+1 < len(b) && b[i+1] == '*' {
			end := bytes.Index(b[i+2:], []byte("*/"))
			if end < 0 {
				return out
			}
			i += end + 3
			continue
		}
		if ch == '/' && i+1 < len(b) && b[i+1] == '/' {
			end := bytes.IndexByte(b[i:], '\n')
			if end < 0 {
				return out
			}
			i += end - 1
			continue
		}
		out = append(out, ch)
	}
	return out
}

// ThemeEditorEmbedURL is the theme editor deep link that opens the App
// embeds panel with the embed handle selected for activation (Shopify's
// "activateAppId={client id}/{handle}" link).
func ThemeEditorEmbedURL(shopDomain, apiKey, handle string) string {
	return "https://" + shopDomain + "/admin/themes/current/editor?context=apps&activateAppId=" + apiKey + "/" + handle
}
