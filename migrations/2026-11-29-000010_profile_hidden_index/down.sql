DROP INDEX CONCURRENTLY IF EXISTS scim_sidecar.user_profile_hidden_idx;
