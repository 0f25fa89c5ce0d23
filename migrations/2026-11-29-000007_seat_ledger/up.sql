-- How many seats are in use, kept by the service so that a create or a reactivation does not
-- count every membership of the deployment (a second at a million members). One row per scope
-- a licence counts seats in: 0 for the deployment (a licence key: distinct active people across
-- every org), an org's id for that org (its "License" row: the org's active members).
--
-- `in_use` is exact when `counted_at` is written (a full count under this row's lock) and then
-- grows by one with every activation this service makes; deactivations leave it as it is, so it
-- can only over-count this service's own changes. People the app itself activates are seen at
-- the next full count. See README, "Seat cap", for when the service counts again.
CREATE TABLE IF NOT EXISTS scim_sidecar.seat_ledger (
    scope INTEGER PRIMARY KEY,
    in_use BIGINT NOT NULL,
    counted_at TIMESTAMP(3) NOT NULL
);
