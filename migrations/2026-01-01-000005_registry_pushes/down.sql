DROP TABLE IF EXISTS management.registry_tenant_digests;
DROP TABLE IF EXISTS management.registry_pushes;
