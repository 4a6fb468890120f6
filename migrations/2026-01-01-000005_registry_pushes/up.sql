-- What the registry gateway saw each tenant push. A tenant may read back only digests it pushed or
-- referenced (`registry_tenant_digests`), so one tenant cannot pull another's layers by digest.
CREATE TABLE management.registry_pushes (
    id         bigserial   PRIMARY KEY,
    tenant_id  uuid        NOT NULL REFERENCES management.tenants (id),
    reference  text        NOT NULL,
    digest     text        NOT NULL
               CONSTRAINT registry_pushes_digest_check CHECK (digest ~ '^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$'),
    media_type text,
    pushed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX registry_pushes_tenant_id_idx ON management.registry_pushes (tenant_id, id DESC);

CREATE TABLE management.registry_tenant_digests (
    tenant_id     uuid        NOT NULL REFERENCES management.tenants (id),
    digest        text        NOT NULL
                  CONSTRAINT registry_tenant_digests_digest_check
                  CHECK (digest ~ '^[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$'),
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, digest)
);
