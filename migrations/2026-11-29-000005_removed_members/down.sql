DROP VIEW IF EXISTS scim_sidecar.member;
DROP INDEX IF EXISTS scim_sidecar.user_profile_kept_external_id_idx;
DROP INDEX IF EXISTS scim_sidecar.user_profile_removed_user_idx;
ALTER TABLE scim_sidecar.user_profile
    DROP COLUMN IF EXISTS kept_external_id,
    DROP COLUMN IF EXISTS kept_joined_at,
    DROP COLUMN IF EXISTS kept_role,
    DROP COLUMN IF EXISTS removed_at;
