-- Every deploy attempt, kept so the history (and a rollback target) is known. `seq` orders attempts
-- exactly (two requests may share a timestamp).
CREATE TABLE management.deployments (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    seq          bigint      GENERATED ALWAYS AS IDENTITY,
    tenant_id    uuid        NOT NULL REFERENCES management.tenants (id),
    image        text        NOT NULL,
    digest       text,
    status       text        NOT NULL DEFAULT 'pending'
                             CONSTRAINT deployments_status_check CHECK (status IN ('pending', 'in_progress',
                                 'succeeded', 'failed', 'superseded')),
    error        text,
    requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at   timestamptz,
    finished_at  timestamptz,
    CONSTRAINT deployments_seq_key UNIQUE (seq)
);
CREATE INDEX deployments_tenant_seq_idx ON management.deployments (tenant_id, seq DESC);

-- The ordered event log of a tenant. `id` is the order; inserts of one tenant's events are serialized
-- (an advisory lock, see the events repository) so ids commit in order and a reader that remembers the
-- last id it saw never skips one.
CREATE TABLE management.tenant_events (
    id          bigserial   PRIMARY KEY,
    tenant_id   uuid        NOT NULL REFERENCES management.tenants (id),
    event_type  text        NOT NULL
                            CONSTRAINT tenant_events_event_type_check CHECK (event_type IN (
                                'subscription_created', 'tenant_created', 'database_created', 'secrets_stored',
                                'vm_provisioning_started', 'vm_provisioning_progress', 'vm_provisioned',
                                'secrets_configured', 'infrastructure_ready', 'tenant_ready',
                                'provisioning_failed', 'deployment_requested', 'deployment_started',
                                'deployment_succeeded', 'deployment_failed', 'machine_restarted',
                                'secrets_updated', 'cleanup_started', 'cleanup_step_done',
                                'cleanup_step_failed', 'tenant_deleted')),
    status      text        NOT NULL,
    message     text,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX tenant_events_tenant_id_idx ON management.tenant_events (tenant_id, id);
