-- Webhook bodies are 2-50 KB of JSON, always TOASTed. lz4 compresses them
-- several times faster than the default pglz, which is most of the CPU an
-- intake commit costs (measured with BenchmarkIntake). A server built without
-- lz4 keeps pglz.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    ALTER TABLE webhooks ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 not available: webhook bodies stay pglz-compressed';
END
$$;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE webhooks ALTER COLUMN body SET COMPRESSION default;
