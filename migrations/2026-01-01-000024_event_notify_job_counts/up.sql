-- Event fan-out (issue 19). Every write a tenant's events stream must see NOTIFYs the tenant id on channel
-- `mgmt_tenant_changes` from the writing transaction itself: PostgreSQL delivers a notification only when
-- that transaction commits (never for a rolled-back one), and folds identical ones of one transaction into
-- one. Each API process LISTENs once and wakes only the streams of that tenant. Triggers, not repository
-- code, so that no writer (the provisioner's state changes included) can forget it.
CREATE FUNCTION management.notify_tenant_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mgmt_tenant_changes', NEW.tenant_id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER tenant_events_notify
    AFTER INSERT ON management.tenant_events
    FOR EACH ROW EXECUTE FUNCTION management.notify_tenant_event();

CREATE FUNCTION management.notify_tenant_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mgmt_tenant_changes', OLD.id::text);
    RETURN NULL;
END
$$;

-- Only a real change wakes streams (an UPDATE that rewrites the same values does not).
CREATE TRIGGER tenants_notify_update
    AFTER UPDATE ON management.tenants
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION management.notify_tenant_change();

CREATE TRIGGER tenants_notify_delete
    AFTER DELETE ON management.tenants
    FOR EACH ROW EXECUTE FUNCTION management.notify_tenant_change();

-- Job counts for `/metrics`, maintained by a trigger so that a scrape sums a few rows instead of counting
-- the whole jobs table. Rows are spread over 8 shards by backend so that concurrent job updates rarely
-- wait on the same counter row; the figure of a (state, retrying) pair is the sum over its shards.
CREATE TABLE management.job_counts (
    state    text     NOT NULL,
    -- attempts > 0: a queued job with this flag is a retry.
    retrying boolean  NOT NULL,
    shard    smallint NOT NULL,
    n        bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (state, retrying, shard)
);

CREATE FUNCTION management.count_jobs() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    s smallint := pg_backend_pid() % 8;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.state = NEW.state AND (OLD.attempts > 0) = (NEW.attempts > 0) THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO management.job_counts AS c (state, retrying, shard, n)
            VALUES (OLD.state, OLD.attempts > 0, s, -1)
            ON CONFLICT (state, retrying, shard) DO UPDATE SET n = c.n - 1;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO management.job_counts AS c (state, retrying, shard, n)
            VALUES (NEW.state, NEW.attempts > 0, s, 1)
            ON CONFLICT (state, retrying, shard) DO UPDATE SET n = c.n + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_count
    AFTER INSERT OR UPDATE OR DELETE ON management.jobs
    FOR EACH ROW EXECUTE FUNCTION management.count_jobs();

CREATE FUNCTION management.reset_job_counts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM management.job_counts;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_count_truncate
    AFTER TRUNCATE ON management.jobs
    FOR EACH STATEMENT EXECUTE FUNCTION management.reset_job_counts();

-- The jobs already there (the table is locked by this migration's transaction while it counts).
LOCK TABLE management.jobs IN SHARE MODE;
INSERT INTO management.job_counts (state, retrying, shard, n)
    SELECT state, attempts > 0, 0, count(*) FROM management.jobs GROUP BY 1, 2;
