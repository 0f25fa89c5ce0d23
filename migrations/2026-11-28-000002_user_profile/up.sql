-- What the service keeps about a membership that the app's tables have no column for. It lives
-- in the service's own schema (created by the migration runner), keyed like "UserToOrg". No
-- foreign key points into the app's schema, so the app's migrations stay free to alter its
-- tables; rows whose membership is gone are ignored by every query (they join through
-- "UserToOrg") and overwritten when the membership is created again.
CREATE TABLE IF NOT EXISTS scim_sidecar.user_profile (
    org_id INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    -- SCIM attributes as this org's IdP last sent them (name parts, title, phone numbers,
    -- enterprise extension...), in canonical form; never userName, active, externalId or id.
    attributes JSONB NOT NULL DEFAULT '{}'::jsonb,
    -- Set by DELETE: the membership is deprovisioned and hidden from SCIM until a POST of the
    -- same user reactivates it.
    hidden_at TIMESTAMP(3),
    created_at TIMESTAMP(3) NOT NULL,
    updated_at TIMESTAMP(3) NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
