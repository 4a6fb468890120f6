ALTER TABLE management.tenants DROP COLUMN secrets_version;
