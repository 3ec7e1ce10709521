-- Sink limits shared by every process (DESIGN.md §1: "sink rate limits hold
-- across all of them"). They are keyed by the sink account, not by shop:
-- Klaviyo and CleverTap count per account, whichever shop sends.
--
-- sink_rate_windows: fixed-window request counters (Klaviyo: burst per
-- second and steady per minute, per operation). Windows are aligned to the
-- Unix epoch on the database's clock, shared by every process. A request
-- granted at t may reach the sink a little later, in the next window, so a
-- grant counts in the window of t and in the window of t + guard when they
-- differ: any request that arrives within the guard of its grant is counted
-- in the window the sink counts it in. sink_rate_take grants at most what
-- every window still has.
--
-- sink_pauses: a key refused with 429 waits out its Retry-After in every
-- process, since "immediate retries will always receive a 429".
--
-- sink_leases: concurrency slots (CleverTap: at most N requests in flight
-- per account). A slot is held until released or until expires_at, so a
-- crashed process gives its slots back by itself.

-- +goose Up
CREATE TABLE sink_rate_windows (
    key          text NOT NULL,
    per_ms       integer NOT NULL,
    window_start timestamptz NOT NULL,
    count        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (key, per_ms, window_start)
);

CREATE TABLE sink_pauses (
    key   text PRIMARY KEY,
    until timestamptz NOT NULL
);

CREATE TABLE sink_leases (
    account_key text NOT NULL,
    slot        integer NOT NULL,
    holder      text NOT NULL DEFAULT '',
    expires_at  timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (account_key, slot)
);

-- sink_rate_take grants up to p_want requests of key p_key under every
-- window (p_per_ms[i] long, at most p_limits[i] requests), or 0 and how
-- many milliseconds to wait. One call is one short transaction; rows are
-- locked in (per_ms, window_start) order, so concurrent callers queue
-- without deadlocks.
-- +goose StatementBegin
CREATE FUNCTION sink_rate_take(p_key text, p_want integer, p_per_ms integer[], p_limits integer[], p_guard_ms integer)
RETURNS TABLE (granted integer, wait_ms integer)
LANGUAGE plpgsql AS $$
DECLARE
    t       timestamptz := clock_timestamp();
    t_guard timestamptz := clock_timestamp() + make_interval(secs => p_guard_ms / 1000.0);
    paused  timestamptz;
    g       integer := p_want;
    w       double precision := 0;
    pers    integer[] := '{}';
    starts  timestamptz[] := '{}';
    lims    integer[] := '{}';
    per     interval;
    i       integer;
    r       record;
BEGIN
    IF p_want <= 0 THEN
        RETURN QUERY SELECT 0, 0;
        RETURN;
    END IF;
    SELECT p.until INTO paused FROM sink_pauses p WHERE p.key = p_key;
    IF paused IS NOT NULL AND paused > t THEN
        RETURN QUERY SELECT 0, ceil(extract(epoch FROM paused - t) * 1000)::integer;
        RETURN;
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_per_ms, 1), 0) LOOP
        per := make_interval(secs => p_per_ms[i] / 1000.0);
        pers := pers || p_per_ms[i] || p_per_ms[i];
        starts := starts || date_bin(per, t, 'epoch'::timestamptz) || date_bin(per, t_guard, 'epoch'::timestamptz);
        lims := lims || p_limits[i] || p_limits[i];
    END LOOP;
    INSERT INTO sink_rate_windows (key, per_ms, window_start)
    SELECT DISTINCT p_key, x.per_ms, x.ws FROM unnest(pers, starts) AS x(per_ms, ws)
    ON CONFLICT DO NOTHING;
    FOR r IN
        SELECT sw.per_ms, sw.window_start, sw.count, x.lim
        FROM sink_rate_windows sw
        JOIN (SELECT DISTINCT * FROM unnest(pers, starts, lims) AS u(per_ms, ws, lim)) x
          ON x.per_ms = sw.per_ms AND x.ws = sw.window_start
        WHERE sw.key = p_key
        ORDER BY sw.per_ms, sw.window_start
        FOR UPDATE OF sw
    LOOP
        IF r.count >= r.lim THEN
            g := 0;
            w := greatest(w, extract(epoch FROM r.window_start + make_interval(secs => r.per_ms / 1000.0) - t));
        ELSE
            g := least(g, r.lim - r.count);
        END IF;
    END LOOP;
    IF g <= 0 THEN
        RETURN QUERY SELECT 0, greatest(1, ceil(w * 1000))::integer;
        RETURN;
    END IF;
    UPDATE sink_rate_windows sw SET count = sw.count + g
    FROM (SELECT DISTINCT * FROM unnest(pers, starts) AS u(per_ms, ws)) x
    WHERE sw.key = p_key AND sw.per_ms = x.per_ms AND sw.window_start = x.ws;
    RETURN QUERY SELECT g, 0;
END
$$;
-- +goose StatementEnd

-- sink_lease_take takes a free slot of p_key among p_slots for p_ttl_ms on
-- behalf of p_holder, returning the slot or null when all are taken.
-- +goose StatementBegin
CREATE FUNCTION sink_lease_take(p_key text, p_slots integer, p_holder text, p_ttl_ms integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    s integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM sink_leases WHERE account_key = p_key AND slot = p_slots - 1) THEN
        INSERT INTO sink_leases (account_key, slot)
        SELECT p_key, n FROM generate_series(0, p_slots - 1) AS n
        ON CONFLICT DO NOTHING;
    END IF;
    UPDATE sink_leases l SET holder = p_holder, expires_at = clock_timestamp() + make_interval(secs => p_ttl_ms / 1000.0)
    WHERE (l.account_key, l.slot) = (
        SELECT f.account_key, f.slot FROM sink_leases f
        WHERE f.account_key = p_key AND f.slot < p_slots AND f.expires_at < clock_timestamp()
        ORDER BY f.slot LIMIT 1
        FOR UPDATE SKIP LOCKED)
    RETURNING l.slot INTO s;
    RETURN s;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION sink_lease_take(text, integer, text, integer);
DROP FUNCTION sink_rate_take(text, integer, integer[], integer[], integer);
DROP TABLE sink_leases;
DROP TABLE sink_pauses;
DROP TABLE sink_rate_windows;
