DROP TABLE IF EXISTS management.tenant_events;
DROP TABLE IF EXISTS management.deployments;
