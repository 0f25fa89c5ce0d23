//! Memberships as SCIM Users: reads (single and filtered lists) and the writes of the
//! provisioning lifecycle. Every function is scoped to one org.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Jsonb, Nullable, Text, Timestamp};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::{Map, Value};

use crate::db::schema::{
    api_keys, oauth_authorization_codes, oauth_refresh_tokens, oauth_tokens, user_profile,
    user_to_org, users,
};
use crate::scim::query::UserFilter;
use crate::scim::user::UserRecord;

/// Advisory lock namespace: (this, org id) serialises this service's writes to one org's
/// memberships, so that two SCIM requests never both pass a seat, externalId or duplicate
/// check. The app's own writers do not take it: rows they could change concurrently (other
/// owners, the user's other memberships) are locked explicitly where a rule reads them.
const ORG_MEMBERSHIP_LOCK: i32 = 0x5c1a_0002;

/// Advisory lock namespace of deployment-wide seat counting (key 0: one lock for all orgs).
const DEPLOYMENT_SEATS_LOCK: i32 = 0x5c1a_0003;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgRole {
    Owner,
    Member,
    Other,
}

/// A membership with what the lifecycle rules need beside the SCIM record.
#[derive(Debug, Clone)]
pub struct Member {
    pub record: UserRecord,
    pub role: OrgRole,
    /// DELETEd through SCIM: invisible until re-provisioned.
    pub hidden: bool,
}

#[derive(QueryableByName)]
struct MemberRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Nullable<Text>)]
    email: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = Timestamp)]
    user_updated_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    joined_at: NaiveDateTime,
    #[diesel(sql_type = Bool)]
    is_active: bool,
    #[diesel(sql_type = Nullable<Text>)]
    external_id: Option<String>,
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Nullable<Jsonb>)]
    attributes: Option<Value>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    hidden_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    profile_updated_at: Option<NaiveDateTime>,
}

impl From<MemberRow> for Member {
    fn from(row: MemberRow) -> Self {
        let attributes = match row.attributes {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        Member {
            role: match row.role.as_str() {
                "OWNER" => OrgRole::Owner,
                "MEMBER" => OrgRole::Member,
                _ => OrgRole::Other,
            },
            hidden: row.hidden_at.is_some(),
            record: UserRecord {
                id: row.id,
                email: row.email,
                name: row.name,
                user_updated_at: row.user_updated_at,
                joined_at: row.joined_at,
                active: row.is_active,
                external_id: row.external_id,
                attributes,
                profile_updated_at: row.profile_updated_at,
            },
        }
    }
}

const MEMBER_FROM: &str = "\
    FROM \"UserToOrg\" m \
    JOIN \"User\" u ON u.id = m.\"userId\" \
    LEFT JOIN scim_sidecar.user_profile p ON p.org_id = m.\"orgId\" AND p.user_id = m.\"userId\" \
    WHERE m.\"orgId\" = $1";

const MEMBER_COLUMNS: &str = "\
    SELECT u.id, u.email, u.name, u.\"updatedAt\" AS user_updated_at, \
           m.\"joinedAt\" AS joined_at, m.\"isActive\" AS is_active, \
           m.\"scimExternalId\" AS external_id, m.role::text AS role, \
           p.attributes, p.hidden_at, p.updated_at AS profile_updated_at ";

/// The org's membership of `user_id`, hidden or not.
pub async fn find(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
) -> QueryResult<Option<Member>> {
    diesel::sql_query(format!(
        "{MEMBER_COLUMNS}{MEMBER_FROM} AND m.\"userId\" = $2"
    ))
    .bind::<Integer, _>(org_id)
    .bind::<Text, _>(user_id)
    .get_result::<MemberRow>(conn)
    .await
    .optional()
    .map(|row| row.map(Member::from))
}

/// Locks every membership of the user, in every org and in org order, until the transaction
/// ends, and returns those orgs. Every writer locks a person's memberships this one way (one
/// statement, one order), so two orgs provisioning the same person queue instead of
/// deadlocking.
pub async fn lock_memberships(
    conn: &mut AsyncPgConnection,
    user_id: &str,
) -> QueryResult<Vec<i32>> {
    user_to_org::table
        .filter(user_to_org::user_id.eq(user_id))
        .order(user_to_org::org_id.asc())
        .select(user_to_org::org_id)
        .for_no_key_update()
        .load(conn)
        .await
}

/// A page of the org's visible members matching `filter`, ordered by id, and the total,
/// read in one statement so that both describe the same snapshot.
pub async fn list(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    filter: Option<&UserFilter>,
    offset: i64,
    limit: i64,
) -> QueryResult<(i64, Vec<Member>)> {
    #[derive(QueryableByName)]
    struct PageRow {
        #[diesel(embed)]
        member: MemberRow,
        #[diesel(sql_type = BigInt)]
        total: i64,
    }
    let (condition, binds) = list_condition(filter);
    if limit > 0 {
        let placeholder = binds.len() + 2;
        let page = diesel::sql_query(format!(
            "{MEMBER_COLUMNS}, count(*) OVER () AS total {MEMBER_FROM}{condition} \
             ORDER BY u.id LIMIT ${placeholder} OFFSET ${}",
            placeholder + 1
        ))
        .into_boxed()
        .bind::<Integer, _>(org_id);
        let rows = bind_all(page, &binds)
            .bind::<BigInt, _>(limit)
            .bind::<BigInt, _>(offset)
            .load::<PageRow>(conn)
            .await?;
        if let Some(total) = <[PageRow]>::first(&rows).map(|row| row.total) {
            return Ok((
                total,
                rows.into_iter()
                    .map(|row| Member::from(row.member))
                    .collect(),
            ));
        }
    }
    // `count=0`, or a page past the end: only the total is wanted.
    let count = diesel::sql_query(format!("SELECT count(*) AS total {MEMBER_FROM}{condition}"))
        .into_boxed()
        .bind::<Integer, _>(org_id);
    let total = bind_all(count, &binds)
        .get_result::<CountRow>(conn)
        .await?
        .total;
    Ok((total, Vec::new()))
}

/// PostgreSQL's plan for a list query, one line per row of `EXPLAIN`: lets tests prove that
/// every filter is answered by an index.
pub async fn explain_list(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    filter: Option<&UserFilter>,
) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct PlanLine {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let (condition, binds) = list_condition(filter);
    let explain = diesel::sql_query(format!(
        "EXPLAIN {MEMBER_COLUMNS}{MEMBER_FROM}{condition} ORDER BY u.id LIMIT 200"
    ))
    .into_boxed()
    .bind::<Integer, _>(org_id);
    let lines = bind_all(explain, &binds).load::<PlanLine>(conn).await?;
    Ok(lines.into_iter().map(|l| l.line).collect())
}

/// The WHERE clause after the org scope: visible members, then the filter.
fn list_condition(filter: Option<&UserFilter>) -> (String, Vec<BindValue>) {
    let mut binds = Vec::new();
    let mut condition = " AND p.hidden_at IS NULL".to_owned();
    if let Some(filter) = filter {
        condition.push_str(&format!(" AND ({})", filter_sql(filter, &mut binds)));
    }
    (condition, binds)
}

type BoxedQuery<'a> =
    diesel::query_builder::BoxedSqlQuery<'a, diesel::pg::Pg, diesel::query_builder::SqlQuery>;

fn bind_all<'a>(mut query: BoxedQuery<'a>, binds: &[BindValue]) -> BoxedQuery<'a> {
    for bind in binds {
        query = match bind {
            BindValue::Text(text) => query.bind::<Text, _>(text.clone()),
            BindValue::TextArray(texts) => query.bind::<Array<Text>, _>(texts.clone()),
            BindValue::Bool(flag) => query.bind::<Bool, _>(*flag),
        };
    }
    query
}

enum BindValue {
    Text(String),
    TextArray(Vec<String>),
    Bool(bool),
}

/// SQL for a filter; values go to `binds` (placeholders start at $2, after the org id).
/// Every leaf is answered by an index: the org's membership key, `"User"`'s primary key or
/// e-mail key, or the `(orgId, scimExternalId)` index.
fn filter_sql(filter: &UserFilter, binds: &mut Vec<BindValue>) -> String {
    let mut placeholder = |value: BindValue| {
        binds.push(value);
        format!("${}", binds.len() + 1)
    };
    match filter {
        UserFilter::Id(id) => format!("u.id = {}", placeholder(BindValue::Text(id.clone()))),
        UserFilter::Email(spellings) => format!(
            "u.email = ANY({})",
            placeholder(BindValue::TextArray(spellings.clone()))
        ),
        UserFilter::EmailType(kind) => format!(
            "lower(coalesce(p.attributes #>> '{{emails,0,type}}', 'work')) = {}",
            placeholder(BindValue::Text(kind.clone()))
        ),
        UserFilter::ExternalId(id) => {
            format!(
                "m.\"scimExternalId\" = {}",
                placeholder(BindValue::Text(id.clone()))
            )
        }
        UserFilter::Active(active) => {
            format!("m.\"isActive\" = {}", placeholder(BindValue::Bool(*active)))
        }
        UserFilter::Constant(true) => "TRUE".to_owned(),
        UserFilter::Constant(false) => "FALSE".to_owned(),
        UserFilter::And(a, b) => {
            format!("({}) AND ({})", filter_sql(a, binds), filter_sql(b, binds))
        }
        UserFilter::Or(a, b) => format!("({}) OR ({})", filter_sql(a, binds), filter_sql(b, binds)),
        // NULL columns (no externalId) must not vanish from both a filter and its negation.
        UserFilter::Not(inner) => format!("NOT coalesce(({}), false)", filter_sql(inner, binds)),
    }
}

/// Serialises this service's membership changes in the org until the transaction ends.
pub async fn lock_org_memberships(conn: &mut AsyncPgConnection, org_id: i32) -> QueryResult<()> {
    crate::db::advisory_xact_lock(conn, ORG_MEMBERSHIP_LOCK, org_id).await
}

/// Serialises seat counting across all orgs (a deployment-wide licence) until the
/// transaction ends. Always taken after the org's lock.
pub async fn lock_deployment_seats(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    crate::db::advisory_xact_lock(conn, DEPLOYMENT_SEATS_LOCK, 0).await
}

/// An app user by e-mail: exact match first (the `"User_email_key"` index); then ignoring
/// case, for users who signed up before SCIM with capitals in their address (the app's
/// schema has no index on lower(email), so this fallback scans).
pub async fn find_user_by_email(
    conn: &mut AsyncPgConnection,
    email: &str,
) -> QueryResult<Option<(String, String)>> {
    let exact = users::table
        .filter(users::email.eq(email))
        .select((users::id, users::email.assume_not_null()))
        .first::<(String, String)>(conn)
        .await
        .optional()?;
    if exact.is_some() {
        return Ok(exact);
    }
    users::table
        .filter(diesel::dsl::sql::<Bool>("lower(email) = ").bind::<Text, _>(email))
        .select((users::id, users::email.assume_not_null()))
        .order(users::created_at.asc())
        .first::<(String, String)>(conn)
        .await
        .optional()
}

/// Inserts a user unless the e-mail is taken (by a concurrent request of another org);
/// returns whether it was inserted.
pub async fn insert_user(
    conn: &mut AsyncPgConnection,
    id: &str,
    email: &str,
    name: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::insert_into(users::table)
        .values((
            users::id.eq(id),
            users::email.eq(email),
            users::name.eq(name),
            users::created_at.eq(now),
            users::updated_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await
        .map(|inserted| inserted == 1)
}

/// Changes of a `"User"` row; `None` fields are left as they are.
#[derive(AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges<'a> {
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub updated_at: NaiveDateTime,
}

pub async fn update_user(
    conn: &mut AsyncPgConnection,
    id: &str,
    changes: UserChanges<'_>,
) -> QueryResult<()> {
    if changes.email.is_none() && changes.name.is_none() {
        return Ok(());
    }
    diesel::update(users::table.find(id))
        .set(changes)
        .execute(conn)
        .await
        .map(drop)
}

/// Does another user (than `except`) have this e-mail, ignoring case?
pub async fn email_taken(
    conn: &mut AsyncPgConnection,
    email: &str,
    except: &str,
) -> QueryResult<bool> {
    Ok(find_user_by_email(conn, email)
        .await?
        .is_some_and(|(id, _)| id != except))
}

pub async fn insert_membership(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
    active: bool,
    external_id: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(user_to_org::table)
        .values((
            user_to_org::org_id.eq(org_id),
            user_to_org::user_id.eq(user_id),
            user_to_org::joined_at.eq(now),
            user_to_org::is_active.eq(active),
            user_to_org::scim_external_id.eq(external_id),
        ))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn update_membership(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
    active: bool,
    external_id: Option<&str>,
) -> QueryResult<()> {
    diesel::update(user_to_org::table.find((org_id, user_id)))
        .set((
            user_to_org::is_active.eq(active),
            user_to_org::scim_external_id.eq(external_id),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// Writes the service's record of a membership (replacing any stale one).
pub async fn save_profile(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
    attributes: &Map<String, Value>,
    hidden_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let attributes = Value::Object(attributes.clone());
    diesel::insert_into(user_profile::table)
        .values((
            user_profile::org_id.eq(org_id),
            user_profile::user_id.eq(user_id),
            user_profile::attributes.eq(&attributes),
            user_profile::hidden_at.eq(hidden_at),
            user_profile::created_at.eq(now),
            user_profile::updated_at.eq(now),
        ))
        .on_conflict((user_profile::org_id, user_profile::user_id))
        .do_update()
        .set((
            user_profile::attributes.eq(&attributes),
            user_profile::hidden_at.eq(hidden_at),
            user_profile::updated_at.eq(now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

/// The org's active members other than `user_id`.
pub async fn count_other_active(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
) -> QueryResult<i64> {
    user_to_org::table
        .filter(user_to_org::org_id.eq(org_id))
        .filter(user_to_org::is_active.eq(true))
        .filter(user_to_org::user_id.ne(user_id))
        .count()
        .get_result(conn)
        .await
}

/// Counts the org's other active owners, key-share-locking them so that the app cannot remove
/// them while a deprovision relies on them. A key-share lock does not conflict with the
/// membership locks other writers hold, so it cannot close a deadlock cycle.
pub async fn lock_other_active_owners(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
) -> QueryResult<usize> {
    user_to_org::table
        .filter(user_to_org::org_id.eq(org_id))
        .filter(user_to_org::user_id.ne(user_id))
        .filter(user_to_org::is_active.eq(true))
        .filter(diesel::dsl::sql::<Bool>("role = 'OWNER'"))
        .select(user_to_org::user_id)
        .for_key_share()
        .load::<String>(conn)
        .await
        .map(|owners| owners.len())
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    total: i64,
}

/// Whether the user is an active member of any org other than `org_id`.
pub async fn is_active_elsewhere(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        user_to_org::table
            .filter(user_to_org::user_id.eq(user_id))
            .filter(user_to_org::org_id.ne(org_id))
            .filter(user_to_org::is_active.eq(true)),
    ))
    .get_result(conn)
    .await
}

/// Distinct active users of the whole deployment other than `user_id`.
pub async fn count_other_active_users(
    conn: &mut AsyncPgConnection,
    user_id: &str,
) -> QueryResult<i64> {
    diesel::sql_query(
        "SELECT count(DISTINCT \"userId\") AS total FROM \"UserToOrg\" \
         WHERE \"isActive\" AND \"userId\" <> $1",
    )
    .bind::<Text, _>(user_id)
    .get_result::<CountRow>(conn)
    .await
    .map(|row| row.total)
}

/// Another membership of the org already carries this externalId.
pub async fn external_id_taken(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    external_id: &str,
    except_user: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        user_to_org::table
            .filter(user_to_org::org_id.eq(org_id))
            .filter(user_to_org::scim_external_id.eq(external_id))
            .filter(user_to_org::user_id.ne(except_user)),
    ))
    .get_result(conn)
    .await
}

/// What deprovisioning removed.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Revoked {
    pub api_keys: usize,
    pub oauth_tokens: usize,
    pub oauth_refresh_tokens: usize,
    pub oauth_authorization_codes: usize,
}

/// Ends every session of the user (`sessionVersion` + 1) and deletes their API keys of this
/// org and all their OAuth tokens, refresh tokens and authorization codes.
pub async fn revoke_access(
    conn: &mut AsyncPgConnection,
    org_id: i32,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Revoked> {
    diesel::update(users::table.find(user_id))
        .set((
            users::session_version.eq(users::session_version + 1),
            users::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(Revoked {
        api_keys: diesel::delete(
            api_keys::table
                .filter(api_keys::org_id.eq(org_id))
                .filter(api_keys::created_by_id.eq(user_id)),
        )
        .execute(conn)
        .await?,
        oauth_tokens: diesel::delete(oauth_tokens::table.filter(oauth_tokens::user_id.eq(user_id)))
            .execute(conn)
            .await?,
        oauth_refresh_tokens: diesel::delete(
            oauth_refresh_tokens::table.filter(oauth_refresh_tokens::user_id.eq(user_id)),
        )
        .execute(conn)
        .await?,
        oauth_authorization_codes: diesel::delete(
            oauth_authorization_codes::table.filter(oauth_authorization_codes::user_id.eq(user_id)),
        )
        .execute(conn)
        .await?,
    })
}
