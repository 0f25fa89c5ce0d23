DROP TABLE IF EXISTS scim_sidecar.user_profile;
