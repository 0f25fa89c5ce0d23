//! The app's `"User"` rows (accounts), shared by every org a person belongs to. Addresses are
//! compared by identity key, through the service's index on `"User"`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::functions::{identity_key, identity_key_or_null, octet_length, sign_in_form};
use crate::db::schema::users;

/// An app account: its id and stored address.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Account {
    pub id: String,
    pub email: String,
}

/// The app account with this address in any case or normalisation form. Should the app hold
/// several spellings of one address (its e-mail key is case-sensitive), the one spelled exactly
/// so wins, then the oldest.
pub async fn find_by_address(
    conn: &mut AsyncPgConnection,
    address: &str,
) -> QueryResult<Option<Account>> {
    users::table
        .filter(identity_key_or_null(users::email).eq(identity_key(address.to_owned()).nullable()))
        .order((
            users::email.eq(address).desc(),
            users::created_at.asc(),
            users::id.asc(),
        ))
        .select((users::id, users::email.assume_not_null()))
        .limit(1)
        .get_result(conn)
        .await
        .optional()
}

/// Inserts an account unless its address is taken (by a concurrent request of another org);
/// returns whether it was inserted.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    id: &str,
    address: &str,
    name: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::insert_into(users::table)
        .values((
            users::id.eq(id),
            users::email.eq(sign_in_form(address.to_owned()).nullable()),
            users::name.eq(name),
            users::created_at.eq(now),
            users::updated_at.eq(now),
        ))
        .on_conflict(users::email)
        .do_nothing()
        .execute(conn)
        .await
        .map(|inserted| inserted == 1)
}

/// Moves the account to a new sign-in address.
pub async fn set_address(
    conn: &mut AsyncPgConnection,
    id: &str,
    address: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::email.eq(sign_in_form(address.to_owned()).nullable()),
            users::updated_at.eq(now),
        ))
        .execute(conn)
        .await
        .map(drop)
}

pub async fn set_name(
    conn: &mut AsyncPgConnection,
    id: &str,
    name: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((users::name.eq(name), users::updated_at.eq(now)))
        .execute(conn)
        .await
        .map(drop)
}

/// Does an account other than `except` have this address, in any case or form?
pub async fn address_taken(
    conn: &mut AsyncPgConnection,
    address: &str,
    except: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        users::table
            .filter(
                identity_key_or_null(users::email).eq(identity_key(address.to_owned()).nullable()),
            )
            .filter(users::id.ne(except)),
    ))
    .get_result(conn)
    .await
}

/// Whether two addresses (or userNames) are the same identity.
pub async fn same_identity(
    conn: &mut AsyncPgConnection,
    first: &str,
    second: &str,
) -> QueryResult<bool> {
    diesel::select(identity_key(first.to_owned()).eq(identity_key(second.to_owned())))
        .get_result(conn)
        .await
}

/// The size in bytes of a value's identity key, which indexes hold (compatibility
/// normalisation can make it many times longer than the value).
pub async fn identity_key_size(conn: &mut AsyncPgConnection, value: &str) -> QueryResult<i32> {
    diesel::select(octet_length(identity_key(value.to_owned())))
        .get_result(conn)
        .await
}
