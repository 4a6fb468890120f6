DELETE FROM management.tenant_events WHERE event_type = 'drift_repaired';
ALTER TABLE management.tenant_events DROP CONSTRAINT tenant_events_event_type_check;
ALTER TABLE management.tenant_events ADD CONSTRAINT tenant_events_event_type_check CHECK (event_type IN (
    'subscription_created', 'tenant_created', 'database_created', 'secrets_stored',
    'vm_provisioning_started', 'vm_provisioning_progress', 'vm_provisioned',
    'secrets_configured', 'infrastructure_ready', 'tenant_ready',
    'provisioning_failed', 'deployment_requested', 'deployment_started',
    'deployment_succeeded', 'deployment_failed', 'machine_restarted',
    'secrets_updated', 'cleanup_started', 'cleanup_step_done',
    'cleanup_step_failed', 'tenant_deleted'));
DROP TABLE management.reconcile_findings;
