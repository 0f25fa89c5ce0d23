-- Deliberately empty in effect: these objects belong to the app's schema and the app's own
-- SCIM release relies on them. Dropping them here could destroy memberships' SCIM state and
-- every minted token, so reverting this migration leaves them in place.
SELECT 1;
