-- Tenant credentials the server hands to the tenant's owner (database password, platform JWT_SECRET),
-- sealed by the provisioner's vault (XChaCha20-Poly1305): only ciphertext is stored. The tenant id and
-- the name are the value's associated data, so a ciphertext copied to another row does not open.
CREATE TABLE management.tenant_credentials (
    -- Tenant rows are kept after deletion (names are never reused), so the cleanup job removes these
    -- rows itself; the cascade covers a tenant row removed by hand.
    tenant_id  uuid        NOT NULL REFERENCES management.tenants (id) ON DELETE CASCADE,
    name       text        NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    -- The key that sealed the value (keys rotate; every configured key opens what it sealed).
    key_id     text        NOT NULL CHECK (key_id ~ '^[A-Za-z0-9_-]{1,32}$'),
    nonce      bytea       NOT NULL CHECK (octet_length(nonce) = 24),
    -- Ciphertext and the 16-byte authentication tag.
    ciphertext bytea       NOT NULL CHECK (octet_length(ciphertext) >= 16),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

-- Whether the tenant's owner asked for its database to be reachable from outside Fly.
ALTER TABLE management.tenants ADD COLUMN external_db_access boolean NOT NULL DEFAULT false;
