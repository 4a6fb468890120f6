DROP INDEX management.checkout_sessions_creating_idx;
DROP INDEX management.subscriptions_grace_idx;
DROP TRIGGER subscriptions_status_since ON management.subscriptions;
DROP FUNCTION management.subscriptions_status_since();
ALTER TABLE management.subscriptions DROP COLUMN machine_stopped_at, DROP COLUMN status_since;
