DROP TABLE IF EXISTS management.tenants;
