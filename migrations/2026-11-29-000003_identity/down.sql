DROP INDEX IF EXISTS scim_sidecar.user_profile_email_keys_idx;
DROP INDEX IF EXISTS scim_sidecar.user_profile_user_name_key;
ALTER TABLE scim_sidecar.user_profile DROP COLUMN IF EXISTS email_keys;
ALTER TABLE scim_sidecar.user_profile DROP COLUMN IF EXISTS user_name;
DROP FUNCTION IF EXISTS scim_sidecar.has_email(jsonb, text, text, boolean);
DROP FUNCTION IF EXISTS scim_sidecar.email_keys(jsonb);
DROP FUNCTION IF EXISTS scim_sidecar.sign_in_form(text);
DROP FUNCTION IF EXISTS scim_sidecar.identity_key(text);
