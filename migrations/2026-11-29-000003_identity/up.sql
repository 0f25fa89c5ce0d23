-- The identity model: `userName` is the IdP's own name for the person, kept per membership as
-- sent, and `emails` is every address the IdP sent; the app's "User"."email" holds only the
-- sign-in address picked from them.

-- One definition of "the same address" (and of the same userName): equal after compatibility
-- normalisation (NFKC: composed and decomposed forms, full-width letters), PostgreSQL's own
-- lower(), and with the final sigma (ς) read as σ, since lower() maps Σ to σ wherever it
-- stands. The service compares identities only through this function, in SQL, so Rust's and
-- PostgreSQL's case mappings can never disagree (they do on İ and final Σ). A plain SQL
-- function is inlined by the planner, so an index on the expression serves calls to it.
CREATE OR REPLACE FUNCTION scim_sidecar.identity_key(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT translate(lower(normalize($1, NFKC)), 'ς', 'σ') $$;

-- How a new sign-in address is written to "User"."email": lower-cased like every address the
-- service has written before, in composed form (NFC) as browsers and directories send it.
CREATE OR REPLACE FUNCTION scim_sidecar.sign_in_form(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT lower(normalize($1, NFC)) $$;

-- The identity keys of every address in a stored `emails` list.
CREATE OR REPLACE FUNCTION scim_sidecar.email_keys(jsonb) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT coalesce(array_agg(scim_sidecar.identity_key(e ->> 'value')), '{}')
        FROM jsonb_array_elements(CASE jsonb_typeof($1) WHEN 'array' THEN $1 ELSE '[]' END) AS e
        WHERE jsonb_typeof(e -> 'value') = 'string'
    $$;

-- Whether some element of the stored `emails` list matches every condition given (NULL: any):
-- the identity key of its value, its type (compared without regard to case, as RFC 7643 `type`
-- values are) and its `primary` flag.
CREATE OR REPLACE FUNCTION scim_sidecar.has_email(
    attributes jsonb, kind text, key text, is_primary boolean
) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT EXISTS (
            SELECT 1
            FROM jsonb_array_elements(
                CASE jsonb_typeof(attributes -> 'emails')
                    WHEN 'array' THEN attributes -> 'emails' ELSE '[]'
                END
            ) AS e
            WHERE (key IS NULL OR scim_sidecar.identity_key(e ->> 'value') = key)
              AND (kind IS NULL OR lower(e ->> 'type') = lower(kind))
              AND (is_primary IS NULL
                   OR coalesce(e -> 'primary' = 'true'::jsonb, false) = is_primary)
        )
    $$;

-- `userName` as the IdP sent it. NULL only for a profile written before this migration
-- without an address (none exist: every provisioned member had one).
ALTER TABLE scim_sidecar.user_profile ADD COLUMN IF NOT EXISTS user_name TEXT;

-- Memberships provisioned before: userName was the sign-in address and `emails` one entry equal
-- to it, typed `work` unless the IdP sent another type, and primary. Written out explicitly so
-- that every answer stays what it was.
UPDATE scim_sidecar.user_profile AS p
SET user_name = u.email,
    attributes = jsonb_set(
        p.attributes,
        '{emails}',
        jsonb_build_array(
            coalesce(
                CASE jsonb_typeof(p.attributes -> 'emails' -> 0)
                    WHEN 'object' THEN p.attributes -> 'emails' -> 0
                END,
                '{}'::jsonb
            )
            || jsonb_build_object(
                'value', u.email,
                'type', coalesce(p.attributes -> 'emails' -> 0 ->> 'type', 'work'),
                'primary', true
            )
        )
    )
FROM public."User" AS u
WHERE u.id = p.user_id AND u.email IS NOT NULL AND p.user_name IS NULL;

-- Identity keys of the stored addresses, kept by PostgreSQL itself.
ALTER TABLE scim_sidecar.user_profile
    ADD COLUMN IF NOT EXISTS email_keys TEXT[]
    GENERATED ALWAYS AS (scim_sidecar.email_keys(attributes -> 'emails')) STORED;

-- userName is unique per org, ignoring case, among the memberships SCIM shows.
CREATE UNIQUE INDEX IF NOT EXISTS user_profile_user_name_key
    ON scim_sidecar.user_profile (org_id, scim_sidecar.identity_key(user_name))
    WHERE hidden_at IS NULL;

-- `emails.value eq` finds any stored address.
CREATE INDEX IF NOT EXISTS user_profile_email_keys_idx
    ON scim_sidecar.user_profile USING gin (email_keys);
