-- Seeds members of one org as the service itself stores them (an app account in "User", the
-- membership in "UserToOrg", the SCIM profile in scim_sidecar.user_profile with userName and a
-- work e-mail), so the benchmark starts from N members in seconds instead of N POSTs.
--   psql -v org=ORG -v prefix=m -v from=1 -v to=N -v access=0 -f seed.sql
-- Person i gets id <prefix><i> and address <prefix><i>@bench.example; run.sh's wrk script
-- builds the same ids. prefix a: app accounts only (no membership), for POSTs that adopt one.
-- access=1 also gives each person an API key of the org, an OAuth token and a refresh token,
-- which a deactivating PATCH must revoke.
\set ON_ERROR_STOP on
SET synchronous_commit = off;  -- seeding only; the runs themselves use the server's settings

INSERT INTO public."User" (id, name, email, "updatedAt")
SELECT :'prefix' || i, 'Bench Person ' || i, :'prefix' || i || '@bench.example', now()
FROM generate_series(:from::int, :to::int) AS i;

-- The membership and profile of everyone but app-only accounts.
INSERT INTO public."UserToOrg" ("orgId", "userId", "joinedAt", role, "isActive", "scimExternalId")
SELECT :org, :'prefix' || i, now(), 'MEMBER', true, 'ext-' || :'prefix' || i
FROM generate_series(:from::int, :to::int) AS i
WHERE :'prefix' <> 'a';

INSERT INTO scim_sidecar.user_profile (org_id, user_id, user_name, attributes, created_at, updated_at)
SELECT :org, :'prefix' || i, :'prefix' || i || '@bench.example',
       jsonb_build_object(
           'name', jsonb_build_object('givenName', 'Bench', 'familyName', 'Person ' || i),
           'emails', jsonb_build_array(jsonb_build_object(
               'value', :'prefix' || i || '@bench.example', 'type', 'work', 'primary', true))),
       now(), now()
FROM generate_series(:from::int, :to::int) AS i
WHERE :'prefix' <> 'a';

INSERT INTO public."ApiKey" (name, hash, "orgId", "createdById")
SELECT 'bench', 'key-' || :'prefix' || i, :org, :'prefix' || i
FROM generate_series(:from::int, :to::int) AS i
WHERE :access = 1;

INSERT INTO public."OAuthToken" (hash, "clientId", "userId", "expiresAt")
SELECT 'oat-' || :'prefix' || i, 'bench-client', :'prefix' || i, now() + interval '1 day'
FROM generate_series(:from::int, :to::int) AS i
WHERE :access = 1;

INSERT INTO public."OAuthRefreshToken" (hash, "clientId", "userId", "expiresAt")
SELECT 'ort-' || :'prefix' || i, 'bench-client', :'prefix' || i, now() + interval '30 days'
FROM generate_series(:from::int, :to::int) AS i
WHERE :access = 1;
