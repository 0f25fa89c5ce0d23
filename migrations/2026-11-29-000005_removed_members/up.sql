-- Deprovisioning in `remove` mode (beside an app that predates its own SCIM release and so
-- ignores "UserToOrg"."isActive") deletes the "UserToOrg" row. What the row held is kept here,
-- so the IdP still sees the member, inactive, with the same answers, and reactivation gives
-- back the same role and joinedAt.
ALTER TABLE scim_sidecar.user_profile
    ADD COLUMN IF NOT EXISTS removed_at TIMESTAMP(3),
    ADD COLUMN IF NOT EXISTS kept_role TEXT,
    ADD COLUMN IF NOT EXISTS kept_joined_at TIMESTAMP(3),
    ADD COLUMN IF NOT EXISTS kept_external_id TEXT;

CREATE INDEX IF NOT EXISTS user_profile_kept_external_id_idx
    ON scim_sidecar.user_profile (org_id, kept_external_id)
    WHERE removed_at IS NOT NULL;

-- A person's removed memberships in other orgs still share their account.
CREATE INDEX IF NOT EXISTS user_profile_removed_user_idx
    ON scim_sidecar.user_profile (user_id)
    WHERE removed_at IS NOT NULL;

-- Every membership SCIM answers for: the app's rows, and the removed ones the service keeps
-- (unless the app has added the person back, in which case its row wins). Every member query
-- reads this view, so both modes answer alike; PostgreSQL pushes each condition into both
-- branches, where the tables' own indexes answer it.
CREATE OR REPLACE VIEW scim_sidecar.member AS
SELECT m."orgId" AS org_id,
       m."userId" AS user_id,
       m."joinedAt" AS joined_at,
       m."isActive" AS is_active,
       m."scimExternalId" AS external_id,
       m.role::text AS role,
       false AS removed,
       p.user_name,
       p.attributes,
       p.email_keys,
       p.hidden_at,
       p.updated_at AS profile_updated_at
FROM public."UserToOrg" AS m
LEFT JOIN scim_sidecar.user_profile AS p
       ON p.org_id = m."orgId" AND p.user_id = m."userId"
UNION ALL
SELECT p.org_id,
       p.user_id,
       p.kept_joined_at,
       false,
       p.kept_external_id,
       p.kept_role,
       true,
       p.user_name,
       p.attributes,
       p.email_keys,
       p.hidden_at,
       p.updated_at
FROM scim_sidecar.user_profile AS p
WHERE p.removed_at IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM public."UserToOrg" AS m
      WHERE m."orgId" = p.org_id AND m."userId" = p.user_id
  );
