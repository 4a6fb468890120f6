-- The old system stored a per-app Fly deploy token in the tenants table (the seed's
-- `00000014_remove_deploy_token`). No secret belongs in this database: drop it where it exists.
ALTER TABLE management.tenants DROP COLUMN IF EXISTS fly_deploy_token;
