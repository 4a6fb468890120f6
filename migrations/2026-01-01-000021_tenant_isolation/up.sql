-- Per-plan isolation of tenants: where the tenant volume is mounted (NULL: the operator's default
-- TENANT_VOLUME_MOUNT_PATH) and the limits of the tenant's database role on the shared cluster.
ALTER TABLE management.plans
    ADD COLUMN IF NOT EXISTS volume_mount_path text
        -- The same rule as mgmt_domain::check_volume_mount_path: absolute, normalised, and never at,
        -- above or inside what the tenant image populates (cli-contract §8.3), except the paths the image
        -- only creates empty.
        CONSTRAINT plans_volume_mount_path_check CHECK (
            volume_mount_path ~ '^(/[A-Za-z0-9_.-]+)+$'
            AND volume_mount_path !~ '(^|/)\.\.?(/|$)'
            AND volume_mount_path NOT IN ('/app', '/app/storage/files', '/app/storage/files/images')
            AND (
                volume_mount_path !~ '^/app/(bin|services|storage|web)(/|$)'
                OR volume_mount_path ~ '^/app/storage/files/(uploads|images/generated)(/|$)'
            )
        ),
    ADD COLUMN IF NOT EXISTS db_connection_limit integer NOT NULL DEFAULT 10
        CONSTRAINT plans_db_connection_limit_check CHECK (db_connection_limit BETWEEN 1 AND 10000),
    ADD COLUMN IF NOT EXISTS db_statement_timeout_ms integer NOT NULL DEFAULT 30000
        CONSTRAINT plans_db_statement_timeout_ms_check CHECK (db_statement_timeout_ms > 0),
    ADD COLUMN IF NOT EXISTS db_idle_in_transaction_timeout_ms integer NOT NULL DEFAULT 60000
        CONSTRAINT plans_db_idle_in_transaction_timeout_ms_check
            CHECK (db_idle_in_transaction_timeout_ms > 0);

-- The seeded plans: the free plan gets fewer connections.
UPDATE management.plans SET db_connection_limit = 5 WHERE id = 'free';
UPDATE management.plans SET db_connection_limit = 20 WHERE id = 'basic';
