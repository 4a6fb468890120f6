-- A durable work queue claimed with FOR UPDATE SKIP LOCKED. A `running` job holds a lease; when the
-- lease expires (its worker died) the job is claimable again. `seq` gives FIFO order among jobs due
-- at the same time.
CREATE TABLE management.jobs (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    seq              bigint      GENERATED ALWAYS AS IDENTITY,
    kind             text        NOT NULL
                                 CONSTRAINT jobs_kind_check CHECK (kind IN ('provision', 'deploy', 'cleanup')),
    tenant_id        uuid        REFERENCES management.tenants (id),
    payload          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    state            text        NOT NULL DEFAULT 'queued'
                                 CONSTRAINT jobs_state_check CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts         integer     NOT NULL DEFAULT 0 CONSTRAINT jobs_attempts_check CHECK (attempts >= 0),
    -- NULL: retried until done (cleanup must never give up).
    max_attempts     integer     CONSTRAINT jobs_max_attempts_check CHECK (max_attempts > 0),
    run_after        timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    lease_owner      text,
    lease_expires_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT jobs_seq_key UNIQUE (seq),
    CONSTRAINT jobs_running_has_lease_check
        CHECK (state <> 'running' OR (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
);

-- At most one queued job per kind and tenant: a double delete enqueues one cleanup.
CREATE UNIQUE INDEX jobs_one_queued_per_kind_tenant_key
    ON management.jobs (kind, tenant_id) WHERE state = 'queued';
CREATE INDEX jobs_claimable_idx ON management.jobs (run_after, seq) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_tenant_running_idx ON management.jobs (tenant_id) WHERE state = 'running';
CREATE INDEX jobs_tenant_seq_idx ON management.jobs (tenant_id, seq DESC);
