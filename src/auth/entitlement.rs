//! The per-request entitlement check: does this org hold `scim` right now?
//!
//! Sources, in order: the deployment's licence key (verified at start-up; it stops granting
//! exactly at `exp`), then the org's `"License"` row, re-read at most every
//! `license.org_refresh_secs` so that a row losing `scim` takes effect within that bound.
//! [`org_license_grant`] is the one place the row's rule is written; `check` counts with it
//! too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, TimeDelta};

use super::reads::read_retrying;
use crate::db::repo::licenses::{self, OrgLicenseRow};
use crate::db::DbPool;
use crate::error::ApiError;
use crate::license::{LicenseClaims, SCIM_ENTITLEMENT};

/// `"License"."status"` values that keep entitlements in force.
const LIVE_STATUSES: &[&str] = &["active", "trialing", "past_due"];

/// A synced licence row older than this no longer grants anything.
const MAX_SYNC_AGE: TimeDelta = TimeDelta::days(7);

/// Why the org may provision, and the seat cap that comes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    LicenseKey { seats: Option<u32> },
    OrgLicense { seats: Option<u32> },
}

/// A licence's seat count and what it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatCap {
    /// The org's own `"License"` row: active members of the org.
    Org(u32),
    /// The deployment's licence key: distinct active users across all orgs.
    Deployment(u32),
}

impl Grant {
    pub fn seat_cap(&self) -> Option<SeatCap> {
        match *self {
            Grant::LicenseKey { seats } => seats.map(SeatCap::Deployment),
            Grant::OrgLicense { seats } => seats.map(SeatCap::Org),
        }
    }
}

pub struct EntitlementGate {
    license_key: Option<LicenseClaims>,
    row_refresh: Duration,
    rows: Mutex<HashMap<i32, CachedRow>>,
}

struct CachedRow {
    read_at: Instant,
    grant: Option<Grant>,
}

impl EntitlementGate {
    pub fn new(license_key: Option<LicenseClaims>, row_refresh: Duration) -> Self {
        Self {
            license_key,
            row_refresh,
            rows: Mutex::new(HashMap::new()),
        }
    }

    pub fn license_key(&self) -> Option<&LicenseClaims> {
        self.license_key.as_ref()
    }

    /// The org's grant, or `None` when it is not entitled. Reads the database only when the
    /// licence key does not grant and the org's cached row is older than the refresh bound.
    pub async fn grant_for(
        &self,
        pool: &DbPool,
        org_id: i32,
        now_ms: i64,
    ) -> Result<Option<Grant>, ApiError> {
        if let Some(claims) = &self.license_key {
            if claims.grants_scim(now_ms) {
                return Ok(Some(Grant::LicenseKey {
                    seats: claims.seats,
                }));
            }
        }
        if let Some(grant) = self.cached(org_id) {
            return Ok(grant);
        }
        let row = read_retrying(pool, async |conn| {
            licenses::find_for_org(conn, org_id).await
        })
        .await?;
        let now = chrono::DateTime::from_timestamp_millis(now_ms)
            .map(|t| t.naive_utc())
            .unwrap_or_default();
        let grant = row.as_ref().and_then(|row| org_license_grant(row, now));
        self.lock().insert(
            org_id,
            CachedRow {
                read_at: Instant::now(),
                grant,
            },
        );
        Ok(grant)
    }

    fn cached(&self, org_id: i32) -> Option<Option<Grant>> {
        let rows = self.lock();
        let entry = rows.get(&org_id)?;
        (entry.read_at.elapsed() < self.row_refresh).then_some(entry.grant)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, CachedRow>> {
        // A poisoned lock only means another request panicked mid-insert; the map is still a
        // valid cache.
        self.rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Does this `"License"` row grant `scim` at `now`? Mirrors the app's rule: `scim` among the
/// entitlements, a live subscription status, and a sync no older than seven days.
pub fn org_license_grant(row: &OrgLicenseRow, now: NaiveDateTime) -> Option<Grant> {
    let entitled = row
        .entitlements
        .as_ref()
        .is_some_and(|list| list.iter().any(|e| e == SCIM_ENTITLEMENT));
    let live = row
        .status
        .as_deref()
        .is_some_and(|s| LIVE_STATUSES.contains(&s));
    let fresh = row
        .last_sync_at
        .is_some_and(|synced| now - synced <= MAX_SYNC_AGE);
    (entitled && live && fresh).then(|| Grant::OrgLicense {
        seats: row.seats.and_then(|s| u32::try_from(s).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(entitlements: &[&str], status: &str, synced_days_ago: i64) -> OrgLicenseRow {
        OrgLicenseRow {
            entitlements: Some(entitlements.iter().map(|s| s.to_string()).collect()),
            seats: Some(10),
            status: Some(status.to_string()),
            last_sync_at: Some(now() - TimeDelta::days(synced_days_ago)),
        }
    }

    fn now() -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc()
    }

    #[test]
    fn row_grants_only_with_scim_live_status_and_recent_sync() {
        for status in LIVE_STATUSES {
            assert_eq!(
                org_license_grant(&row(&["search", "scim"], status, 1), now()),
                Some(Grant::OrgLicense { seats: Some(10) }),
                "{status}"
            );
        }
        assert_eq!(
            org_license_grant(&row(&["search"], "active", 1), now()),
            None
        );
        assert_eq!(
            org_license_grant(&row(&["scim"], "canceled", 1), now()),
            None
        );
        assert_eq!(org_license_grant(&row(&["scim"], "active", 8), now()), None);
        let mut never_synced = row(&["scim"], "active", 0);
        never_synced.last_sync_at = None;
        assert_eq!(org_license_grant(&never_synced, now()), None);
    }
}
