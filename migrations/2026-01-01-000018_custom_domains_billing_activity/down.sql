DROP TABLE IF EXISTS management.activity_events;
DROP TABLE IF EXISTS management.subscriptions;
DROP TRIGGER IF EXISTS tenants_release_custom_domain ON management.tenants;
DROP FUNCTION IF EXISTS management.custom_domains_release_on_tenant_deleted();
DROP TABLE IF EXISTS management.custom_domains;
