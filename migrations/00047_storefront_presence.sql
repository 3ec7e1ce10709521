-- What the launch checklist knows about the storefront: whether the
-- published theme has the app embed (the rewards launcher) turned on, read
-- from its config/settings_data.json by the periodic work or on demand,
-- and when a shopper's browser first called the app proxy (the widget
-- loaded for real).

-- +goose Up
ALTER TABLE shops
	ADD COLUMN theme_embed text NOT NULL DEFAULT '' CHECK (theme_embed IN ('', 'enabled', 'disabled', 'missing', 'no_access')),
	ADD COLUMN theme_embed_theme text NOT NULL DEFAULT '',
	ADD COLUMN theme_embed_checked_at timestamptz,
	ADD COLUMN widget_seen_at timestamptz;

-- +goose Down
ALTER TABLE shops
	DROP COLUMN theme_embed,
	DROP COLUMN theme_embed_theme,
	DROP COLUMN theme_embed_checked_at,
	DROP COLUMN widget_seen_at;
