-- The one index the service adds to the app's "User" table (see README, "Database"): finds an
-- app account by its address in any case or normalisation form without scanning "User". It is
-- written with the built-in functions rather than scim_sidecar.identity_key, so the app's
-- schema never depends on the service's; the planner inlines identity_key into the same
-- expression, so lookups through the function use this index. CONCURRENTLY never blocks the
-- app's writes, and needs a migration of its own outside a transaction (metadata.toml).
CREATE INDEX CONCURRENTLY IF NOT EXISTS scim_user_email_identity_idx
    ON public."User" (translate(lower(normalize(email, NFKC)), 'ς', 'σ'));
