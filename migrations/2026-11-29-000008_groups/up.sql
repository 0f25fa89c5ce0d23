-- SCIM Groups (pushed by Okta and Entra ID) live only in the service's own schema: the app has
-- no notion of groups. A group belongs to one org; its displayName is unique within the org
-- under the same identity rule as userName (case and Unicode form ignored).
CREATE TABLE IF NOT EXISTS scim_sidecar.groups (
    org_id INTEGER NOT NULL,
    id UUID NOT NULL,
    display_name TEXT NOT NULL,
    external_id TEXT,
    created_at TIMESTAMP(3) NOT NULL,
    updated_at TIMESTAMP(3) NOT NULL,
    -- Bumped by every change of the group or its membership: the ETag.
    version BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (org_id, id)
);

CREATE UNIQUE INDEX IF NOT EXISTS groups_display_name_key
    ON scim_sidecar.groups (org_id, scim_sidecar.identity_key(display_name));

CREATE INDEX IF NOT EXISTS groups_external_id_idx
    ON scim_sidecar.groups (org_id, external_id);

-- One row per (group, user). Member changes are set operations on this table, never a rewrite
-- of a list. No foreign key points into the app's schema (as for user_profile): the service
-- checks that a user is a member of the same org when it adds it, and removes the rows when
-- the membership is DELETEd.
CREATE TABLE IF NOT EXISTS scim_sidecar.group_member (
    org_id INTEGER NOT NULL,
    group_id UUID NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (org_id, group_id, user_id),
    FOREIGN KEY (org_id, group_id) REFERENCES scim_sidecar.groups (org_id, id) ON DELETE CASCADE
);

-- A user's groups (the User's `groups` attribute, `members.value eq` filters, user DELETE).
CREATE INDEX IF NOT EXISTS group_member_user_idx
    ON scim_sidecar.group_member (org_id, user_id);
