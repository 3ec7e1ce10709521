package shopify_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/perkbridge/perkbridge/app/fake"
	"github.com/perkbridge/perkbridge/app/shopify"
)

func TestAppEmbedState(t *testing.T) {
	dawn, err := os.ReadFile("testdata/settings_data_dawn.json")
	if err != nil {
		t.Fatal(err)
	}
	off := strings.Replace(string(dawn), `"disabled": false,
        "settings": {"launcher_position"`, `"disabled": true,
        "settings": {"launcher_position"`, 1)
	if off == string(dawn) {
		t.Fatal("fixture edit did not apply")
	}
	cases := []struct {
		name, data, handle string
		want               shopify.EmbedState
		wantErr            bool
	}{
		{name: "enabled in a commented file", data: string(dawn), handle: "loyalty-embed", want: shopify.EmbedEnabled},
		{name: "turned off", data: off, handle: "loyalty-embed", want: shopify.EmbedDisabled},
		{name: "another app's embed only", data: string(dawn), handle: "points-embed", want: shopify.EmbedMissing},
		{name: "no blocks", data: `{"current":{"sections":{}}}`, handle: "loyalty-embed", want: shopify.EmbedMissing},
		{name: "current names a preset", handle: "loyalty-embed", want: shopify.EmbedEnabled,
			data: `{"current":"Bold","presets":{"Bold":{"blocks":{"1":{"type":"shopify://apps/x/blocks/loyalty-embed/u","disabled":false}}}}}`},
		{name: "a block of the theme, not an app", handle: "loyalty-embed", want: shopify.EmbedMissing,
			data: `{"current":{"blocks":{"1":{"type":"loyalty-embed","disabled":false}}}}`},
		{name: "one of two copies on", handle: "loyalty-embed", want: shopify.EmbedEnabled,
			data: `{"current":{"blocks":{"1":{"type":"shopify://apps/x/blocks/loyalty-embed/u","disabled":true},"2":{"type":"shopify://apps/x/blocks/loyalty-embed/u"}}}}`},
		{name: "malformed", data: `{"current": {`, handle: "loyalty-embed", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := shopify.AppEmbedState([]byte(tc.data), tc.handle)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Errorf("state = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFake_MainThemeSettings(t *testing.T) {
	b := setupFake(t, fake.ShopifyOptions{})
	c, _ := b.client(t, false)
	ctx := context.Background()

	// No theme published yet: nothing, no error.
	got, err := c.MainThemeSettings(ctx)
	if err != nil || got != nil {
		t.Fatalf("no theme: got %+v, %v", got, err)
	}

	dawn, _ := os.ReadFile("testdata/settings_data_dawn.json")
	b.fake.SetTheme(fakeShop, fake.ShopifyTheme{ID: 7, Name: "Dawn", Role: "MAIN",
		Files: map[string]string{"config/settings_data.json": string(dawn), "layout/theme.liquid": "<html></html>"}})
	b.fake.SetTheme(fakeShop, fake.ShopifyTheme{ID: 8, Name: "Draft", Role: "UNPUBLISHED",
		Files: map[string]string{"config/settings_data.json": `{"current":{}}`}})
	got, err = c.MainThemeSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.ThemeName != "Dawn" || got.ThemeID != "gid://shopify/OnlineStoreTheme/7" || string(got.SettingsData) != string(dawn) {
		t.Fatalf("got %q %q (%d bytes)", got.ThemeName, got.ThemeID, len(got.SettingsData))
	}
	if st, err := shopify.AppEmbedState(got.SettingsData, "loyalty-embed"); err != nil || st != shopify.EmbedEnabled {
		t.Fatalf("state %v, %v", st, err)
	}

	// Publishing the draft moves MAIN.
	b.fake.SetTheme(fakeShop, fake.ShopifyTheme{ID: 8, Name: "Draft", Role: "MAIN",
		Files: map[string]string{"config/settings_data.json": `{"current":{}}`}})
	if got, err = c.MainThemeSettings(ctx); err != nil || got.ThemeName != "Draft" {
		t.Fatalf("after publishing: %+v, %v", got, err)
	}

	// Without read_themes: a typed error, not a generic failure.
	b.fake.DenyThemeAccess(fakeShop, true)
	if _, err = c.MainThemeSettings(ctx); !errors.Is(err, shopify.ErrNoThemeAccess) {
		t.Fatalf("no access: %v", err)
	}
}
