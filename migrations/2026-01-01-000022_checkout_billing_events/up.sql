-- Signup and billing as the CLI does it: the Paddle price of each plan, checkout sessions, every Paddle
-- webhook event as received, and what the subscriptions need to follow Paddle's event order.

-- The Paddle price a plan is sold at. A plan without a row is not offered at checkout. `requires_payment`
-- false: the plan is free, its checkout is our own page and needs no subscription (its price id is still
-- required by the CLI's `Plan` type, so free plans carry a placeholder such as `pri_free`).
CREATE TABLE management.plan_prices (
    plan_id          text    PRIMARY KEY
        CONSTRAINT plan_prices_plan_id_fkey REFERENCES management.plans (id),
    paddle_price_id  text    NOT NULL
        CONSTRAINT plan_prices_paddle_price_id_check CHECK (paddle_price_id ~ '^pri_[a-z0-9_]{1,96}$'),
    requires_payment boolean NOT NULL
);
CREATE UNIQUE INDEX plan_prices_paddle_price_id_key ON management.plan_prices (paddle_price_id);

INSERT INTO management.plan_prices (plan_id, paddle_price_id, requires_payment) VALUES
    ('free',  'pri_free',  false),
    ('basic', 'pri_basic', true)
ON CONFLICT (plan_id) DO NOTHING;

-- One `POST /checkout`: who, which plan and region, where the browser goes back to, and how far it got.
-- The id is the unguessable secret of the free plan's page (single use: `open` → `creating` once).
CREATE TABLE management.checkout_sessions (
    id                    text        PRIMARY KEY
        CONSTRAINT checkout_sessions_id_check CHECK (id ~ '^cs_[a-z0-9]{32}$'),
    customer_id           uuid        NOT NULL
        CONSTRAINT checkout_sessions_customer_id_fkey REFERENCES management.customers (id),
    plan_id               text        NOT NULL
        CONSTRAINT checkout_sessions_plan_id_fkey REFERENCES management.plans (id),
    paddle_price_id       text        NOT NULL,
    region                text        NOT NULL
        CONSTRAINT checkout_sessions_region_check CHECK (region ~ '^[a-z]{3}$'),
    redirect_uri          text        NOT NULL
        CONSTRAINT checkout_sessions_redirect_uri_check CHECK (length(redirect_uri) BETWEEN 1 AND 2048),
    tenant_name           text        NOT NULL
        CONSTRAINT checkout_sessions_tenant_name_check CHECK (length(tenant_name) BETWEEN 1 AND 100),
    -- open: waiting for the browser (free) or the payment (paid); creating: paid or confirmed, the tenant
    -- is being made (the claim that makes creation happen once); completed: the tenant exists; failed.
    status                text        NOT NULL DEFAULT 'open'
        CONSTRAINT checkout_sessions_status_check CHECK (status IN ('open', 'creating', 'completed', 'failed')),
    paddle_transaction_id text,
    paddle_subscription_id text,
    paddle_customer_id    text,
    tenant_id             uuid
        CONSTRAINT checkout_sessions_tenant_id_fkey REFERENCES management.tenants (id),
    failure               text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    expires_at            timestamptz NOT NULL
);
CREATE UNIQUE INDEX checkout_sessions_paddle_transaction_id_key
    ON management.checkout_sessions (paddle_transaction_id);
CREATE INDEX checkout_sessions_customer_id_idx ON management.checkout_sessions (customer_id);

-- Every Paddle webhook event whose signature verified, stored by Paddle's event id before it is acted
-- on: a redelivery finds its row and does nothing; an operator lists and replays them.
CREATE TABLE management.billing_events (
    id           text        PRIMARY KEY
        CONSTRAINT billing_events_id_check CHECK (id ~ '^evt_[a-z0-9]{1,96}$'),
    event_type   text        NOT NULL
        CONSTRAINT billing_events_event_type_check CHECK (length(event_type) BETWEEN 1 AND 100),
    occurred_at  timestamptz NOT NULL,
    payload      jsonb       NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    -- When it was last acted on, and what came of it (`applied`, `ignored: why`, `failed: why`).
    processed_at timestamptz,
    outcome      text,
    attempts     integer     NOT NULL DEFAULT 0
);
CREATE INDEX billing_events_received_at_idx ON management.billing_events (received_at);

-- A subscription's plan, and the `occurred_at` of the newest event applied to it: an older event never
-- overwrites what a newer one set (Paddle does not guarantee delivery order).
ALTER TABLE management.subscriptions
    ADD COLUMN plan_id text CONSTRAINT subscriptions_plan_id_fkey REFERENCES management.plans (id),
    ADD COLUMN last_event_at timestamptz;
