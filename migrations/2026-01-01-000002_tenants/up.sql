-- Tenants. A database from the old system already has a `management.tenants` table (with, among
-- others, the `fly_deploy_token` column that 000014 drops). To migrate such a database without a
-- hand-written conversion, the table is created only if absent and then every column is added only if
-- absent: an old table keeps its rows and columns and gains ours. Constraints are attached to the
-- columns that introduce them, so they too are created once. Old rows keep their values; a NOT NULL
-- column the old table lacks and that has no default here makes this migration fail loudly on a
-- non-empty old table, which is wanted: names are not invented, an operator backfills them.

CREATE TABLE IF NOT EXISTS management.tenants (
    id uuid PRIMARY KEY
);

ALTER TABLE management.tenants
    ADD COLUMN IF NOT EXISTS customer_id       uuid        NOT NULL
        CONSTRAINT tenants_customer_id_fkey REFERENCES management.customers (id),
    ADD COLUMN IF NOT EXISTS name              text        NOT NULL
        CONSTRAINT tenants_name_check CHECK (length(name) BETWEEN 1 AND 200),
    ADD COLUMN IF NOT EXISTS plan_id           text        NOT NULL DEFAULT 'free'
        CONSTRAINT tenants_plan_id_fkey REFERENCES management.plans (id),
    ADD COLUMN IF NOT EXISTS region            text        NOT NULL DEFAULT 'iad',
    ADD COLUMN IF NOT EXISTS state             text        NOT NULL DEFAULT 'pending'
        CONSTRAINT tenants_state_check CHECK (state IN ('pending', 'provisioning', 'awaiting_deploy',
            'deploying', 'running', 'failed', 'deleting', 'deleted')),
    ADD COLUMN IF NOT EXISTS status_message    text,
    ADD COLUMN IF NOT EXISTS fly_app_name      text        NOT NULL,
    ADD COLUMN IF NOT EXISTS machine_id        text,
    ADD COLUMN IF NOT EXISTS volume_id         text,
    ADD COLUMN IF NOT EXISTS hostname          text        NOT NULL,
    ADD COLUMN IF NOT EXISTS internal_hostname text        NOT NULL,
    ADD COLUMN IF NOT EXISTS database_name     text        NOT NULL,
    ADD COLUMN IF NOT EXISTS database_role     text        NOT NULL,
    ADD COLUMN IF NOT EXISTS deployed_digest   text,
    ADD COLUMN IF NOT EXISTS row_version       bigint      NOT NULL DEFAULT 1,
    ADD COLUMN IF NOT EXISTS created_at        timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS updated_at        timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN IF NOT EXISTS deleted_at        timestamptz;

-- An old table may have had some of our columns without our constraints: tighten them (no-ops on a
-- table this migration created).
ALTER TABLE management.tenants
    ALTER COLUMN customer_id SET NOT NULL,
    ALTER COLUMN name SET NOT NULL,
    ALTER COLUMN fly_app_name SET NOT NULL,
    ALTER COLUMN hostname SET NOT NULL,
    ALTER COLUMN internal_hostname SET NOT NULL,
    ALTER COLUMN database_name SET NOT NULL,
    ALTER COLUMN database_role SET NOT NULL,
    ALTER COLUMN created_at SET NOT NULL,
    ALTER COLUMN created_at SET DEFAULT now();

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conname = 'tenants_customer_id_fkey'
                     AND conrelid = 'management.tenants'::regclass) THEN
        ALTER TABLE management.tenants ADD CONSTRAINT tenants_customer_id_fkey
            FOREIGN KEY (customer_id) REFERENCES management.customers (id);
    END IF;
END
$$;

-- Names that must be unique are unique here, not only in code. They derive from the tenant id, so
-- they stay reserved after deletion; the customer's own name for a tenant is free again once deleted.
CREATE UNIQUE INDEX IF NOT EXISTS tenants_fly_app_name_key ON management.tenants (fly_app_name);
CREATE UNIQUE INDEX IF NOT EXISTS tenants_hostname_key ON management.tenants (hostname);
CREATE UNIQUE INDEX IF NOT EXISTS tenants_database_name_key ON management.tenants (database_name);
CREATE UNIQUE INDEX IF NOT EXISTS tenants_database_role_key ON management.tenants (database_role);
CREATE UNIQUE INDEX IF NOT EXISTS tenants_customer_name_live_key
    ON management.tenants (customer_id, name) WHERE state <> 'deleted';
CREATE INDEX IF NOT EXISTS tenants_customer_created_idx ON management.tenants (customer_id, created_at);
