ALTER TABLE management.tenants DROP COLUMN external_db_access;
DROP TABLE management.tenant_credentials;
