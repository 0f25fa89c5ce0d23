-- GET /Users/{id}: one statement (the token and the licence are cached).
-- Captured from the service (commit 0739b17) with log_statement=all (see docs/benchmarks.md, "Reading the SQL");
-- parameters become pgbench variables: :org, :n (members), :i (the person this transaction uses).
\set i random(1, :n)
SELECT "User"."id", "User"."email", "User"."name", "User"."updatedAt", "scim_sidecar"."member"."joined_at", "scim_sidecar"."member"."is_active", "scim_sidecar"."member"."external_id", "scim_sidecar"."member"."role", "scim_sidecar"."member"."removed", "scim_sidecar"."member"."user_name", "scim_sidecar"."member"."attributes", "scim_sidecar"."member"."hidden_at", "scim_sidecar"."member"."profile_updated_at" FROM ("scim_sidecar"."member" INNER JOIN "User" ON ("scim_sidecar"."member"."user_id" = "User"."id")) WHERE (("scim_sidecar"."member"."org_id" = :org) AND ("scim_sidecar"."member"."user_id" = 'm' || :i::text));
