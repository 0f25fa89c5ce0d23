//! Which deprovisioning mode applies, and the conversion of deprovisioned members when it
//! changes.
//!
//! Only app versions that ship the app's own SCIM release read `"UserToOrg"."isActive"`: beside
//! an older one an inactive membership is still a membership, so the service removes the row
//! instead (`remove` mode) and keeps what it held. The app's migration history tells which.

use std::sync::atomic::{AtomicBool, Ordering};

use diesel::sql_types::Timestamp;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::DeprovisionMode;
use crate::config::DeprovisionModeSetting;
use crate::db::locks;
use crate::db::repo::app_release::{self, AppRelease};

/// The mode in force for this process. Set at start-up and on every readiness check, from the
/// configuration and the app's migration history; a change converts the deprovisioned
/// members before it takes effect.
pub struct ModeState {
    configured: Option<DeprovisionMode>,
    remove: AtomicBool,
}

impl ModeState {
    pub fn new(setting: DeprovisionModeSetting) -> Self {
        let configured = match setting {
            DeprovisionModeSetting::Auto => None,
            DeprovisionModeSetting::Deactivate => Some(DeprovisionMode::Deactivate),
            DeprovisionModeSetting::Remove => Some(DeprovisionMode::Remove),
        };
        Self {
            configured,
            // Until the first refresh: the mode that locks people out whatever the app reads.
            remove: AtomicBool::new(configured != Some(DeprovisionMode::Deactivate)),
        }
    }

    /// The configured mode; `None` for `auto`.
    pub fn configured(&self) -> Option<DeprovisionMode> {
        self.configured
    }

    pub fn current(&self) -> DeprovisionMode {
        if AtomicBool::load(&self.remove, Ordering::Acquire) {
            DeprovisionMode::Remove
        } else {
            DeprovisionMode::Deactivate
        }
    }

    /// Reads the app's history and decides the mode; when it differs from the current one, or
    /// `convert_always` (start-up: data may have been left by a run in the other mode), the
    /// deprovisioned members are converted first.
    pub async fn refresh(
        &self,
        conn: &mut AsyncPgConnection,
        convert_always: bool,
    ) -> diesel::QueryResult<ModeDecision> {
        let release = app_release::read(conn).await?;
        let decision = decide(self.configured, &release);
        if convert_always || decision.mode != self.current() {
            let converted = convert(conn, decision.mode, super::now()).await?;
            self.remove
                .store(decision.mode == DeprovisionMode::Remove, Ordering::Release);
            tracing::info!(
                deprovision.mode = mode_name(decision.mode),
                deprovision.converted = converted.memberships,
                reason = %decision.reason,
                "deprovisioning mode"
            );
            if let Some(warning) = &decision.warning {
                tracing::warn!("{warning}");
            }
        }
        Ok(decision)
    }
}

/// The mode in force and why, in words for the start-up log and `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeDecision {
    pub mode: DeprovisionMode,
    pub reason: String,
    /// A configured mode that contradicts what the app's history says.
    pub warning: Option<String>,
}

/// `configured`: `None` for `auto`.
pub fn decide(configured: Option<DeprovisionMode>, release: &AppRelease) -> ModeDecision {
    let (detected, why) = match release {
        AppRelease::WithScim(migration) => (
            DeprovisionMode::Deactivate,
            format!("the app's migration history has {migration}, so the app honours \"UserToOrg\".\"isActive\""),
        ),
        AppRelease::BeforeScim => (
            DeprovisionMode::Remove,
            format!("the app's migration history has no *{} migration, so this app version ignores \"UserToOrg\".\"isActive\"", app_release::SCIM_RELEASE_SUFFIX),
        ),
        AppRelease::NoHistory => (
            DeprovisionMode::Remove,
            "the database has no _prisma_migrations table, so the app's version is unknown and \"UserToOrg\".\"isActive\" may be ignored".to_owned(),
        ),
    };
    match configured {
        None => ModeDecision {
            mode: detected,
            reason: format!("auto: {why}"),
            warning: None,
        },
        Some(mode) => ModeDecision {
            mode,
            reason: "set by provisioning.deprovision_mode".to_owned(),
            warning: (mode == DeprovisionMode::Deactivate && detected == DeprovisionMode::Remove)
                .then(|| {
                    format!("deprovision_mode is deactivate, but {why}: deprovisioned people can still sign in; use auto or remove")
                }),
        },
    }
}

pub fn mode_name(mode: DeprovisionMode) -> &'static str {
    match mode {
        DeprovisionMode::Deactivate => "deactivate",
        DeprovisionMode::Remove => "remove",
    }
}

/// How many deprovisioned memberships a conversion moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Converted {
    pub memberships: usize,
}

/// Brings every deprovisioned membership into the form `mode` keeps it in, in one transaction:
/// to `remove`, inactive `"UserToOrg"` rows move into the service's profile; to `deactivate`,
/// removed memberships get their row back, inactive. Idempotent; concurrent runs (several
/// replicas starting) queue on an advisory lock. Every SCIM answer stays the same.
pub async fn convert(
    conn: &mut AsyncPgConnection,
    mode: DeprovisionMode,
    now: chrono::NaiveDateTime,
) -> diesel::QueryResult<Converted> {
    conn.transaction(async |conn| {
        locks::lock_mode_conversion(conn).await?;
        // Set operations over every org, run once per mode switch: one statement each, which
        // diesel's builder cannot write (a data-modifying CTE feeding an upsert).
        let sql = match mode {
            DeprovisionMode::Remove => TO_REMOVE,
            DeprovisionMode::Deactivate => TO_DEACTIVATE,
        };
        let memberships = diesel::sql_query(sql)
            .bind::<Timestamp, _>(now)
            .execute(conn)
            .await?;
        Ok(Converted { memberships })
    })
    .await
}

/// Inactive rows move into the profile. A member the app created gets the profile it answered
/// with (its address as userName and one work e-mail); `updatedAt` of its account becomes the
/// profile's, so `meta.lastModified` stays the same.
const TO_REMOVE: &str = r#"
WITH inactive AS (
    DELETE FROM public."UserToOrg" AS m
    WHERE NOT m."isActive"
    RETURNING m."orgId", m."userId", m."joinedAt", m.role::text AS role, m."scimExternalId"
)
INSERT INTO scim_sidecar.user_profile AS p (
    org_id, user_id, user_name, attributes, created_at, updated_at,
    removed_at, kept_role, kept_joined_at, kept_external_id
)
SELECT i."orgId", i."userId", u.email,
       CASE WHEN u.email IS NULL THEN '{}'::jsonb
            ELSE jsonb_build_object('emails', jsonb_build_array(
                jsonb_build_object('value', u.email, 'type', 'work', 'primary', true)))
       END,
       $1, u."updatedAt", $1, i.role, i."joinedAt", i."scimExternalId"
FROM inactive AS i
JOIN public."User" AS u ON u.id = i."userId"
ON CONFLICT (org_id, user_id) DO UPDATE
SET removed_at = EXCLUDED.removed_at,
    kept_role = EXCLUDED.kept_role,
    kept_joined_at = EXCLUDED.kept_joined_at,
    kept_external_id = EXCLUDED.kept_external_id
"#;

/// Removed memberships get their row back, inactive, unless the app has added the person
/// again meanwhile (its row wins) or deleted the org or the account.
const TO_DEACTIVATE: &str = r#"
WITH kept AS (
    UPDATE scim_sidecar.user_profile AS p
    SET removed_at = NULL, kept_role = NULL, kept_joined_at = NULL, kept_external_id = NULL
    FROM (
        SELECT org_id, user_id, kept_role, kept_joined_at, kept_external_id
        FROM scim_sidecar.user_profile
        WHERE removed_at IS NOT NULL
        FOR UPDATE
    ) AS old
    WHERE p.org_id = old.org_id AND p.user_id = old.user_id
    RETURNING old.org_id, old.user_id, old.kept_role, old.kept_joined_at, old.kept_external_id
)
INSERT INTO public."UserToOrg" ("orgId", "userId", "joinedAt", role, "isActive", "scimExternalId")
SELECT k.org_id, k.user_id, coalesce(k.kept_joined_at, $1),
       CASE k.kept_role WHEN 'OWNER' THEN 'OWNER'::public."OrgRole" ELSE 'MEMBER'::public."OrgRole" END,
       false, k.kept_external_id
FROM kept AS k
JOIN public."Org" AS o ON o.id = k.org_id
JOIN public."User" AS u ON u.id = k.user_id
ON CONFLICT ("orgId", "userId") DO NOTHING
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_follows_the_app_history_and_a_contradicting_setting_is_warned_about() {
        let with = AppRelease::WithScim("20250801000000_add_scim_users_support".into());
        assert_eq!(decide(None, &with).mode, DeprovisionMode::Deactivate);
        assert_eq!(
            decide(None, &AppRelease::BeforeScim).mode,
            DeprovisionMode::Remove
        );
        assert_eq!(
            decide(None, &AppRelease::NoHistory).mode,
            DeprovisionMode::Remove
        );
        assert!(decide(None, &with)
            .reason
            .contains("add_scim_users_support"));
        let forced = decide(Some(DeprovisionMode::Deactivate), &AppRelease::BeforeScim);
        assert_eq!(forced.mode, DeprovisionMode::Deactivate);
        assert!(forced.warning.unwrap().contains("can still sign in"));
        let removing = decide(Some(DeprovisionMode::Remove), &with);
        assert_eq!(
            (removing.mode, removing.warning),
            (DeprovisionMode::Remove, None)
        );
    }
}
