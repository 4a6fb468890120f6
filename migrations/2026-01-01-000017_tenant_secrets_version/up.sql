-- The highest app-secrets version Fly answered to our own set/unset calls. Fly's list endpoint carries no
-- version, so this is where a rollout learns the `min_secrets_version` its machine must boot with (a machine
-- started before Fly's secret store caught up would otherwise come up with the old values). Only ever raised.
ALTER TABLE management.tenants
    ADD COLUMN secrets_version bigint
        CONSTRAINT tenants_secrets_version_check CHECK (secrets_version >= 0);
