-- DELETE /Users/{id}: the whole transaction, 12 statements (access revoked, membership
-- deactivated and hidden).
-- Captured from the service (commit 163f763) with log_statement=all (see docs/benchmarks.md, "Reading the SQL");
-- bound parameters become pgbench variables (:org, and the person this transaction uses),
-- generated ids gen_random_uuid(), timestamps LOCALTIMESTAMP(3).
-- Each client walks its own slice of the pool run.sh seeded (-D from, count, clients, k=0), as
-- wrk threads do, so no two transactions of a run touch the same person.
\set i :from + (:client_id + :k * :clients) % :count
\set k :k + 1
BEGIN;
SELECT (pg_advisory_xact_lock(1545207810, :org) IS NULL);
SELECT "UserToOrg"."orgId", "UserToOrg"."isActive" FROM "UserToOrg" WHERE (("UserToOrg"."orgId" = ANY(SELECT "Org"."id" FROM "Org")) AND ("UserToOrg"."userId" = 'x' || :i::text)) ORDER BY "UserToOrg"."orgId" ASC FOR NO KEY UPDATE;
SELECT "User"."id", "User"."email", "User"."name", "User"."updatedAt", "scim_sidecar"."member"."joined_at", "scim_sidecar"."member"."is_active", "scim_sidecar"."member"."external_id", "scim_sidecar"."member"."role", "scim_sidecar"."member"."removed", "scim_sidecar"."member"."user_name", "scim_sidecar"."member"."attributes", "scim_sidecar"."member"."hidden_at", "scim_sidecar"."member"."profile_updated_at", EXISTS (SELECT "scim_sidecar"."user_profile"."org_id" FROM "scim_sidecar"."user_profile" WHERE ((("scim_sidecar"."user_profile"."user_id" = 'x' || :i::text) AND ("scim_sidecar"."user_profile"."removed_at" IS NOT NULL)) AND ("scim_sidecar"."user_profile"."org_id" != :org))) FROM ("scim_sidecar"."member" INNER JOIN "User" ON ("scim_sidecar"."member"."user_id" = "User"."id")) WHERE (("scim_sidecar"."member"."org_id" = :org) AND ("scim_sidecar"."member"."user_id" = 'x' || :i::text));
UPDATE "User" SET "sessionVersion" = ("User"."sessionVersion" + :org), "updatedAt" = LOCALTIMESTAMP(3) WHERE ("User"."id" = 'x' || :i::text);
DELETE FROM "ApiKey" WHERE (("ApiKey"."orgId" = :org) AND ("ApiKey"."createdById" = 'x' || :i::text));
DELETE FROM "OAuthToken" WHERE ("OAuthToken"."userId" = 'x' || :i::text);
DELETE FROM "OAuthRefreshToken" WHERE ("OAuthRefreshToken"."userId" = 'x' || :i::text);
DELETE FROM "OAuthAuthorizationCode" WHERE ("OAuthAuthorizationCode"."userId" = 'x' || :i::text);
INSERT INTO "Audit" ("id", "timestamp", "action", "actorId", "actorType", "targetId", "targetType", "sourcebotVersion", "metadata", "orgId") VALUES (gen_random_uuid()::text, LOCALTIMESTAMP(3), 'org.member_removed', 'scim', 'scim_token', 'x' || :i::text, 'user', 'scim-sidecar 0.1.0', ('{"source": "scim", "revoked": {"apiKeys": 0, "oauthTokens": 0, "oauthRefreshTokens": 0, "oauthAuthorizationCodes": 0}, "tokenName": "demo"}')::jsonb, :org);
UPDATE "UserToOrg" SET "isActive" = false, "scimExternalId" = 'ext-' || 'x' || :i::text WHERE (("UserToOrg"."orgId" = :org) AND ("UserToOrg"."userId" = 'x' || :i::text));
DELETE FROM "scim_sidecar"."group_member" WHERE (("scim_sidecar"."group_member"."org_id" = :org) AND ("scim_sidecar"."group_member"."user_id" = 'x' || :i::text)) RETURNING "scim_sidecar"."group_member"."group_id";
INSERT INTO "scim_sidecar"."user_profile" ("org_id", "user_id", "user_name", "attributes", "hidden_at", "created_at", "updated_at") VALUES (:org, 'x' || :i::text, 'x' || :i::text || '@bench.example', ('{"name": {"givenName": "Bench", "familyName": "Person ' || :i::text || '"}, "emails": [{"type": "work", "value": "' || 'x' || :i::text || '@bench.example' || '", "primary": true}]}')::jsonb, LOCALTIMESTAMP(3), LOCALTIMESTAMP(3), LOCALTIMESTAMP(3)) ON CONFLICT ("org_id", "user_id") DO UPDATE SET "user_name" = 'x' || :i::text || '@bench.example', "attributes" = ('{"name": {"givenName": "Bench", "familyName": "Person ' || :i::text || '"}, "emails": [{"type": "work", "value": "' || 'x' || :i::text || '@bench.example' || '", "primary": true}]}')::jsonb, "hidden_at" = LOCALTIMESTAMP(3), "updated_at" = LOCALTIMESTAMP(3);
COMMIT;
