-- The billing sweep's durable state. Grace periods count from the moment a subscription entered its
-- current status (`status_since`, kept by a trigger so every writer keeps it right); the sweep records
-- that it stopped the tenant's machine (`machine_stopped_at`) so that it starts it again once paid,
-- and stops it only once.
ALTER TABLE management.subscriptions
    ADD COLUMN status_since timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN machine_stopped_at timestamptz;

CREATE FUNCTION management.subscriptions_status_since() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        NEW.status_since := now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER subscriptions_status_since
    BEFORE UPDATE ON management.subscriptions
    FOR EACH ROW EXECUTE FUNCTION management.subscriptions_status_since();

-- What the sweep reads each round: subscriptions not in good standing, or whose machine it stopped.
CREATE INDEX subscriptions_grace_idx ON management.subscriptions (status_since)
    WHERE status IN ('past_due', 'paused', 'canceled') OR machine_stopped_at IS NOT NULL;

-- Checkout sessions claimed but not completed (a crash between the claim and recording the tenant).
CREATE INDEX checkout_sessions_creating_idx ON management.checkout_sessions (updated_at)
    WHERE status = 'creating';
