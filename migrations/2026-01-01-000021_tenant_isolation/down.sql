ALTER TABLE management.plans
    DROP COLUMN IF EXISTS db_idle_in_transaction_timeout_ms,
    DROP COLUMN IF EXISTS db_statement_timeout_ms,
    DROP COLUMN IF EXISTS db_connection_limit,
    DROP COLUMN IF EXISTS volume_mount_path;
