-- Revocation of the tokens we issue (and of any bearer, by its subject): checked on every request.

-- One row per revoked token id (`jti`). `expires_at` is the token's own expiry: after it the token is
-- refused anyway, so the row can be purged (revoking again purges the expired ones).
CREATE TABLE management.revoked_tokens (
    jti        text        PRIMARY KEY
        CONSTRAINT revoked_tokens_jti_check CHECK (length(jti) BETWEEN 1 AND 200),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_expires_at_idx ON management.revoked_tokens (expires_at);

-- Per user: every token of this subject issued at or before `revoked_before` is refused (a later
-- revocation only moves the instant forward).
CREATE TABLE management.revoked_subjects (
    subject        text        PRIMARY KEY
        CONSTRAINT revoked_subjects_subject_check CHECK (length(subject) BETWEEN 1 AND 255),
    revoked_before timestamptz NOT NULL
);
