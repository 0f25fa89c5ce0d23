//! Seeding an org with members for `demo`, as the service itself stores them: an app account
//! in `"User"`, the membership in `"UserToOrg"` and the SCIM profile (userName, name, a work
//! e-mail) in `scim_sidecar.user_profile`, so that SCIM lists, filters and PATCHes them like
//! members it provisioned. Batched `INSERT … SELECT generate_series` (as the benchmark's
//! `tests/bench/seed.sql`), so a hundred thousand members take seconds, not as many POSTs.

use std::io::IsTerminal;
use std::time::Duration;

use diesel::sql_types::{Integer, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Members written by one statement: large enough to be fast, small enough for the progress
/// bar to move.
const BATCH: u32 = 10_000;

/// Seeded members' ids and addresses: member `i` (from 1) is `demo-user-<i>`,
/// `user<i>@demo.example`.
pub const ID_PREFIX: &str = "demo-user-";

pub fn member_id(i: u32) -> String {
    format!("{ID_PREFIX}{i}")
}

pub fn member_user_name(i: u32) -> String {
    format!("user{i}@demo.example")
}

/// Seeds members 1..=`count` (at most `i32::MAX`: the ids are numbered in SQL) into `org_id`,
/// in one transaction (all or none), drawing a progress bar on stderr when it is a terminal
/// and there is more than one batch.
pub async fn seed_members(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    count: u32,
) -> anyhow::Result<()> {
    let bar = if count > BATCH && std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(count.into()), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "seeding members {bar:30} {human_pos}/{human_len} [{elapsed}, {eta} left]",
            )
            .expect("a valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    } else {
        ProgressBar::hidden()
    };
    let seeded = conn
        .transaction(async |conn| {
            for from in (1..=count).step_by(BATCH as usize) {
                let to = count.min(from + (BATCH - 1));
                insert_batch(conn, org_id, from, to).await?;
                bar.inc(u64::from(to - from + 1));
            }
            Ok::<_, diesel::result::Error>(())
        })
        .await;
    bar.finish_and_clear();
    Ok(seeded?)
}

/// Members `from..=to`: three statements, each over the same series.
async fn insert_batch(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    from: u32,
    to: u32,
) -> diesel::QueryResult<()> {
    let (Ok(from), Ok(to)) = (i32::try_from(from), i32::try_from(to)) else {
        return Err(diesel::result::Error::QueryBuilderError(
            "member numbers past i32::MAX".into(),
        ));
    };
    // Raw SQL: set-based seeding of development data, never on a request path.
    diesel::sql_query(
        "INSERT INTO public.\"User\" (id, name, email, \"updatedAt\") \
         SELECT $1 || i, 'Demo Person ' || i, 'user' || i || '@demo.example', now() \
         FROM generate_series($2, $3) AS i",
    )
    .bind::<Text, _>(ID_PREFIX)
    .bind::<Integer, _>(from)
    .bind::<Integer, _>(to)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "INSERT INTO public.\"UserToOrg\" (\"orgId\", \"userId\", \"joinedAt\", role, \"isActive\", \"scimExternalId\") \
         SELECT $1, $2 || i, now(), 'MEMBER', true, 'ext-' || i \
         FROM generate_series($3, $4) AS i",
    )
    .bind::<Integer, _>(org_id)
    .bind::<Text, _>(ID_PREFIX)
    .bind::<Integer, _>(from)
    .bind::<Integer, _>(to)
    .execute(conn)
    .await?;
    diesel::sql_query(
        "INSERT INTO scim_sidecar.user_profile (org_id, user_id, user_name, attributes, created_at, updated_at) \
         SELECT $1, $2 || i, 'user' || i || '@demo.example', \
                jsonb_build_object( \
                    'name', jsonb_build_object('givenName', 'Demo', 'familyName', 'Person ' || i), \
                    'emails', jsonb_build_array(jsonb_build_object( \
                        'value', 'user' || i || '@demo.example', 'type', 'work', 'primary', true))), \
                now(), now() \
         FROM generate_series($3, $4) AS i",
    )
    .bind::<Integer, _>(org_id)
    .bind::<Text, _>(ID_PREFIX)
    .bind::<Integer, _>(from)
    .bind::<Integer, _>(to)
    .execute(conn)
    .await?;
    Ok(())
}
