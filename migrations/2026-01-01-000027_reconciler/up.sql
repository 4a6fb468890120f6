-- The reconciler's memory: drift it found (first and last seen, so a grace period survives a change of
-- leader) and whether it repaired it. One row per drifting resource.
CREATE TABLE management.reconcile_findings (
    kind          text        NOT NULL
        CONSTRAINT reconcile_findings_kind_check CHECK (kind IN ('orphan_app', 'orphan_machine',
            'orphan_volume', 'stranded_tenant', 'leftover_tag', 'leftover_database')),
    resource      text        NOT NULL
        CONSTRAINT reconcile_findings_resource_check CHECK (length(resource) BETWEEN 1 AND 512),
    tenant_id     uuid        REFERENCES management.tenants (id),
    detail        text        NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    repaired_at   timestamptz,
    times_seen    bigint      NOT NULL DEFAULT 1,
    PRIMARY KEY (kind, resource)
);
CREATE INDEX reconcile_findings_tenant_idx ON management.reconcile_findings (tenant_id);

-- The reconciler's repairs are events of the tenant they concern.
ALTER TABLE management.tenant_events DROP CONSTRAINT tenant_events_event_type_check;
ALTER TABLE management.tenant_events ADD CONSTRAINT tenant_events_event_type_check CHECK (event_type IN (
    'subscription_created', 'tenant_created', 'database_created', 'secrets_stored',
    'vm_provisioning_started', 'vm_provisioning_progress', 'vm_provisioned',
    'secrets_configured', 'infrastructure_ready', 'tenant_ready',
    'provisioning_failed', 'deployment_requested', 'deployment_started',
    'deployment_succeeded', 'deployment_failed', 'machine_restarted',
    'secrets_updated', 'cleanup_started', 'cleanup_step_done',
    'cleanup_step_failed', 'tenant_deleted', 'drift_repaired'));
