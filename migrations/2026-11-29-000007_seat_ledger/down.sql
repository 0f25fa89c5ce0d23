DROP TABLE IF EXISTS scim_sidecar.seat_ledger;
