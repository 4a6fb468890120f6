-- What the registry gateway needs to hold tenants to their own uploads and to quotas, and to keep a
-- manifest push from racing a tenant's deletion.

-- Blob sizes, so bytes stored per tenant can be summed (NULL for digests known only as references and
-- for rows written before this migration).
ALTER TABLE management.registry_tenant_digests ADD COLUMN size bigint CHECK (size >= 0);

-- Upload sessions the gateway opened upstream: an upload started by one tenant can be continued only by
-- that tenant, and open sessions count toward the tenant's concurrency limit and storage quota.
CREATE TABLE management.registry_uploads (
    id             uuid        PRIMARY KEY,
    tenant_id      uuid        NOT NULL REFERENCES management.tenants (id),
    -- The upstream's upload UUID, once it answered the POST that opened the session.
    upload_id      text        UNIQUE,
    bytes          bigint      NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    started_at     timestamptz NOT NULL DEFAULT now(),
    last_active_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX registry_uploads_tenant_idx ON management.registry_uploads (tenant_id, last_active_at);

-- Manifest pushes on their way to the upstream. A row is written in the same statement that checks the
-- tenant may push (locking the tenant row), and tag cleanup waits until none is left.
CREATE TABLE management.registry_manifest_pushes (
    id         bigserial   PRIMARY KEY,
    tenant_id  uuid        NOT NULL REFERENCES management.tenants (id),
    started_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX registry_manifest_pushes_tenant_idx
    ON management.registry_manifest_pushes (tenant_id, started_at);
