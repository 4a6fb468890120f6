ALTER TABLE management.subscriptions DROP COLUMN IF EXISTS last_event_at, DROP COLUMN IF EXISTS plan_id;
DROP TABLE IF EXISTS management.billing_events;
DROP TABLE IF EXISTS management.checkout_sessions;
DROP TABLE IF EXISTS management.plan_prices;
