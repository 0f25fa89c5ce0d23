-- GET /Users?startIndex=N-99&count=100: one statement (page and total together).
-- Captured from the service with log_statement=all (see docs/benchmarks.md, "Reading the SQL");
-- parameters become pgbench variables: :org, :n (members), :i (the person this transaction uses).
\set off greatest(0, :n - 100)
SELECT "User"."id", "User"."email", "User"."name", "User"."updatedAt", "scim_sidecar"."member"."joined_at", "scim_sidecar"."member"."is_active", "scim_sidecar"."member"."external_id", "scim_sidecar"."member"."role", "scim_sidecar"."member"."removed", "scim_sidecar"."member"."user_name", "scim_sidecar"."member"."attributes", "scim_sidecar"."member"."hidden_at", "scim_sidecar"."member"."profile_updated_at", COUNT(*) OVER () FROM ("scim_sidecar"."member" INNER JOIN "User" ON ("scim_sidecar"."member"."user_id" = "User"."id")) WHERE (("scim_sidecar"."member"."org_id" = :org) AND ("scim_sidecar"."member"."hidden_at" IS NULL)) ORDER BY "User"."id" ASC LIMIT 100 OFFSET :off;
