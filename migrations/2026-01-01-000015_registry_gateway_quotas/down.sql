DROP TABLE management.registry_manifest_pushes;
DROP TABLE management.registry_uploads;
ALTER TABLE management.registry_tenant_digests DROP COLUMN size;
