DROP TABLE IF EXISTS scim_sidecar.group_member;
DROP TABLE IF EXISTS scim_sidecar.groups;
