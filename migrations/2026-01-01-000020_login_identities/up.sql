-- CLI login through GitHub and Google (issue 15).
--
-- login_identities: who a provider account is for us. A customer is found by (provider, provider's user
-- id), never by email alone: the same address at another provider is another identity, and linking two
-- identities to one customer is an explicit operator act (an UPDATE of customer_id), not a side effect
-- of a login.
CREATE TABLE management.login_identities (
    provider         text        NOT NULL
                                 CONSTRAINT login_identities_provider_check CHECK (provider IN ('github', 'google')),
    provider_user_id text        NOT NULL
                                 CONSTRAINT login_identities_provider_user_id_check CHECK (length(provider_user_id) BETWEEN 1 AND 255),
    customer_id      uuid        NOT NULL
                                 CONSTRAINT login_identities_customer_id_fkey REFERENCES management.customers (id),
    -- The verified address the provider reported at the last login (informational).
    email            text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_login_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT login_identities_pkey PRIMARY KEY (provider, provider_user_id)
);

CREATE INDEX login_identities_customer_id_idx ON management.login_identities (customer_id);

-- login_states: one row per login in flight, between `GET /auth/oauth/{provider}` and its callback.
-- The key is the SHA-256 of the `state` sent to the provider, so the table never holds a usable state;
-- the row is deleted by the callback that consumes it (single use) and is useless after expires_at.
CREATE TABLE management.login_states (
    state_hash    text        PRIMARY KEY
                              CONSTRAINT login_states_state_hash_check CHECK (state_hash ~ '^[0-9a-f]{64}$'),
    provider      text        NOT NULL
                              CONSTRAINT login_states_provider_check CHECK (provider IN ('github', 'google')),
    -- Where the CLI waits for the outcome (already checked against the allowed redirect URIs).
    redirect_uri  text        NOT NULL,
    -- The PKCE verifier for the code exchange with the provider, and the OpenID nonce (Google).
    pkce_verifier text        NOT NULL,
    nonce         text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);

CREATE INDEX login_states_expires_at_idx ON management.login_states (expires_at);
