-- Custom domains, subscriptions (Paddle) and the CLI's activity log.

-- One custom domain per tenant (the primary key), and one tenant per domain (the unique index): a
-- hostname can hold one Fly certificate, on one app. Domains are stored normalised (lowercase, no
-- trailing dot), so the index compares what DNS compares.
CREATE TABLE management.custom_domains (
    tenant_id   uuid        PRIMARY KEY
        CONSTRAINT custom_domains_tenant_id_fkey REFERENCES management.tenants (id) ON DELETE CASCADE,
    domain      text        NOT NULL
        CONSTRAINT custom_domains_domain_check CHECK (length(domain) BETWEEN 3 AND 253 AND domain = lower(domain)),
    -- The CNAME target Fly reported for the certificate, shown in the DNS instructions.
    dns_target  text        NOT NULL,
    -- Fly's word for the certificate's state when we last asked (e.g. `pending_validation`, `active`).
    status      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- The first time Fly reported the certificate issued; never cleared once set.
    verified_at timestamptz
);
CREATE UNIQUE INDEX custom_domains_domain_key ON management.custom_domains (domain);

-- Tenant rows are never deleted (an app name is never reused), so the cascade above does not free a
-- domain: a tenant that reaches `deleted` lets its domain go here, whoever made the change. Fly deletes
-- the certificate with the app.
CREATE FUNCTION management.custom_domains_release_on_tenant_deleted() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM management.custom_domains WHERE tenant_id = NEW.id;
    RETURN NEW;
END
$$;
CREATE TRIGGER tenants_release_custom_domain
    AFTER UPDATE OF state ON management.tenants
    FOR EACH ROW WHEN (NEW.state = 'deleted' AND OLD.state IS DISTINCT FROM 'deleted')
    EXECUTE FUNCTION management.custom_domains_release_on_tenant_deleted();

-- A tenant's Paddle subscription. The signup/checkout flow creates these; cancel records the scheduled
-- cancellation Paddle confirmed.
CREATE TABLE management.subscriptions (
    -- Paddle's subscription id (`sub_...`).
    id                  text        PRIMARY KEY
        CONSTRAINT subscriptions_id_check CHECK (length(id) BETWEEN 1 AND 100),
    tenant_id           uuid        NOT NULL
        CONSTRAINT subscriptions_tenant_id_fkey REFERENCES management.tenants (id) ON DELETE CASCADE,
    customer_id         uuid        NOT NULL
        CONSTRAINT subscriptions_customer_id_fkey REFERENCES management.customers (id),
    -- Paddle's customer id (`ctm_...`), when known.
    paddle_customer_id  text,
    -- The CLI's spellings (Paddle's own statuses are the same words).
    status              text        NOT NULL
        CONSTRAINT subscriptions_status_check CHECK (status IN ('active', 'trialing', 'past_due', 'paused', 'canceled')),
    -- When Paddle will cancel it (a scheduled change), once a cancel was confirmed.
    scheduled_cancel_at timestamptz,
    canceled_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX subscriptions_tenant_id_key ON management.subscriptions (tenant_id);
CREATE INDEX subscriptions_customer_id_idx ON management.subscriptions (customer_id);

-- What the CLI reports on login and logout (`POST /activity`), per customer.
CREATE TABLE management.activity_events (
    id               bigserial   PRIMARY KEY,
    customer_id      uuid        NOT NULL
        CONSTRAINT activity_events_customer_id_fkey REFERENCES management.customers (id),
    event            text        NOT NULL
        CONSTRAINT activity_events_event_check CHECK (event IN ('cloud_login', 'cloud_logout')),
    -- The CLI's clock (sent with nanoseconds; stored to the microsecond).
    client_timestamp timestamptz NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    -- As sent: the user id on login, the email on logout.
    user_id          text        NOT NULL
        CONSTRAINT activity_events_user_id_check CHECK (length(user_id) BETWEEN 1 AND 320)
);
CREATE INDEX activity_events_customer_received_idx ON management.activity_events (customer_id, received_at);
