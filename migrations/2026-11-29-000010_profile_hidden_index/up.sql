-- The members a list leaves out because SCIM DELETEd them: a list page walks "UserToOrg"'s
-- primary key in id order and skips these through this small index (an anti-join), instead of
-- reading every member's profile row to see that it is not hidden. CONCURRENTLY never blocks
-- the service's writes, and needs a migration of its own outside a transaction
-- (metadata.toml).
CREATE INDEX CONCURRENTLY IF NOT EXISTS user_profile_hidden_idx
    ON scim_sidecar.user_profile (org_id, user_id)
    WHERE hidden_at IS NOT NULL;
