-- The management API's state of record lives in its own schema, so it can share a database with
-- nothing else getting in its way. Every statement is idempotent (IF NOT EXISTS / ON CONFLICT) because a
-- database from the old system may already have the schema and some of these tables: see 000002.

CREATE SCHEMA IF NOT EXISTS management;

-- A customer is found by the identity provider's subject (the JWT `sub`).
CREATE TABLE IF NOT EXISTS management.customers (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    subject     text        NOT NULL,
    email       text        NOT NULL,
    name        text,
    status      text        NOT NULL DEFAULT 'active'
                            CONSTRAINT customers_status_check CHECK (status IN ('active', 'suspended')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customers_subject_key UNIQUE (subject)
);

-- Plans size each tenant's machine and volume and cap how many tenants a customer may have.
CREATE TABLE IF NOT EXISTS management.plans (
    id          text    PRIMARY KEY CONSTRAINT plans_id_check CHECK (id ~ '^[a-z0-9_-]+$'),
    name        text    NOT NULL,
    memory_mb   integer NOT NULL CONSTRAINT plans_memory_mb_check CHECK (memory_mb > 0),
    cpus        integer NOT NULL CONSTRAINT plans_cpus_check CHECK (cpus > 0),
    volume_gb   integer NOT NULL CONSTRAINT plans_volume_gb_check CHECK (volume_gb > 0),
    max_tenants integer NOT NULL CONSTRAINT plans_max_tenants_check CHECK (max_tenants >= 0)
);

-- The original system's two plans; operators add more with plain INSERTs.
INSERT INTO management.plans (id, name, memory_mb, cpus, volume_gb, max_tenants) VALUES
    ('free',  'Free',  256,  1, 1,  1),
    ('basic', 'Basic', 1024, 1, 10, 5)
ON CONFLICT (id) DO NOTHING;
