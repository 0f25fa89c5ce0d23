DROP INDEX IF EXISTS scim_sidecar.user_profile_employee_number_idx;
