-- PATCH /Users/{id} with active false, revoking an API key, an OAuth token and a refresh token:
-- the whole transaction, 11 statements.
-- Captured from the service (commit 163f763) with log_statement=all (see docs/benchmarks.md, "Reading the SQL");
-- bound parameters become pgbench variables (:org, and the person this transaction uses),
-- generated ids gen_random_uuid(), timestamps LOCALTIMESTAMP(3).
-- Each client walks its own slice of the pool run.sh seeded (-D from, count, clients, k=0), as
-- wrk threads do, so no two transactions of a run touch the same person.
\set i :from + (:client_id + :k * :clients) % :count
\set k :k + 1
BEGIN;
SELECT "UserToOrg"."orgId", "UserToOrg"."isActive" FROM "UserToOrg" WHERE (("UserToOrg"."orgId" = ANY(SELECT "Org"."id" FROM "Org")) AND ("UserToOrg"."userId" = 'd' || :i::text)) ORDER BY "UserToOrg"."orgId" ASC FOR NO KEY UPDATE;
SELECT "User"."id", "User"."email", "User"."name", "User"."updatedAt", "scim_sidecar"."member"."joined_at", "scim_sidecar"."member"."is_active", "scim_sidecar"."member"."external_id", "scim_sidecar"."member"."role", "scim_sidecar"."member"."removed", "scim_sidecar"."member"."user_name", "scim_sidecar"."member"."attributes", "scim_sidecar"."member"."hidden_at", "scim_sidecar"."member"."profile_updated_at", EXISTS (SELECT "scim_sidecar"."user_profile"."org_id" FROM "scim_sidecar"."user_profile" WHERE ((("scim_sidecar"."user_profile"."user_id" = 'd' || :i::text) AND ("scim_sidecar"."user_profile"."removed_at" IS NOT NULL)) AND ("scim_sidecar"."user_profile"."org_id" != :org))) FROM ("scim_sidecar"."member" INNER JOIN "User" ON ("scim_sidecar"."member"."user_id" = "User"."id")) WHERE (("scim_sidecar"."member"."org_id" = :org) AND ("scim_sidecar"."member"."user_id" = 'd' || :i::text));
UPDATE "User" SET "sessionVersion" = ("User"."sessionVersion" + :org), "updatedAt" = LOCALTIMESTAMP(3) WHERE ("User"."id" = 'd' || :i::text);
DELETE FROM "ApiKey" WHERE (("ApiKey"."orgId" = :org) AND ("ApiKey"."createdById" = 'd' || :i::text));
DELETE FROM "OAuthToken" WHERE ("OAuthToken"."userId" = 'd' || :i::text);
DELETE FROM "OAuthRefreshToken" WHERE ("OAuthRefreshToken"."userId" = 'd' || :i::text);
DELETE FROM "OAuthAuthorizationCode" WHERE ("OAuthAuthorizationCode"."userId" = 'd' || :i::text);
INSERT INTO "Audit" ("id", "timestamp", "action", "actorId", "actorType", "targetId", "targetType", "sourcebotVersion", "metadata", "orgId") VALUES (gen_random_uuid()::text, LOCALTIMESTAMP(3), 'org.member_deactivated', 'scim', 'scim_token', 'd' || :i::text, 'user', 'scim-sidecar 0.1.0', ('{"source": "scim", "revoked": {"apiKeys": 1, "oauthTokens": 1, "oauthRefreshTokens": 1, "oauthAuthorizationCodes": 0}, "tokenName": "demo"}')::jsonb, :org);
UPDATE "UserToOrg" SET "isActive" = false, "scimExternalId" = 'ext-' || 'd' || :i::text WHERE (("UserToOrg"."orgId" = :org) AND ("UserToOrg"."userId" = 'd' || :i::text));
INSERT INTO "scim_sidecar"."user_profile" ("org_id", "user_id", "user_name", "attributes", "hidden_at", "created_at", "updated_at") VALUES (:org, 'd' || :i::text, 'd' || :i::text || '@bench.example', ('{"name": {"givenName": "Bench", "familyName": "Person ' || :i::text || '"}, "emails": [{"type": "work", "value": "' || 'd' || :i::text || '@bench.example' || '", "primary": true}]}')::jsonb, NULL, LOCALTIMESTAMP(3), LOCALTIMESTAMP(3)) ON CONFLICT ("org_id", "user_id") DO UPDATE SET "user_name" = 'd' || :i::text || '@bench.example', "attributes" = ('{"name": {"givenName": "Bench", "familyName": "Person ' || :i::text || '"}, "emails": [{"type": "work", "value": "' || 'd' || :i::text || '@bench.example' || '", "primary": true}]}')::jsonb, "hidden_at" = NULL, "updated_at" = LOCALTIMESTAMP(3);
SELECT "User"."id", "User"."email", "User"."name", "User"."updatedAt", "scim_sidecar"."member"."joined_at", "scim_sidecar"."member"."is_active", "scim_sidecar"."member"."external_id", "scim_sidecar"."member"."role", "scim_sidecar"."member"."removed", "scim_sidecar"."member"."user_name", "scim_sidecar"."member"."attributes", "scim_sidecar"."member"."hidden_at", "scim_sidecar"."member"."profile_updated_at" FROM ("scim_sidecar"."member" INNER JOIN "User" ON ("scim_sidecar"."member"."user_id" = "User"."id")) WHERE (("scim_sidecar"."member"."org_id" = :org) AND ("scim_sidecar"."member"."user_id" = 'd' || :i::text));
COMMIT;
