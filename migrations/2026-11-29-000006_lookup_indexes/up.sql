-- Attributes an IdP may be configured to match users on, beside userName, externalId and the
-- addresses: Entra ID's matching can use the employee id, which maps to the Enterprise
-- extension's employeeNumber. An `eq` filter on it reads this index instead of walking the org.
-- The expression is the one the filter compiler writes for the attribute.
CREATE INDEX IF NOT EXISTS user_profile_employee_number_idx
    ON scim_sidecar.user_profile (
        lower(attributes #>> '{urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,employeeNumber}'::text[])
    );
