//! The app's `"OrgRole"` enum as a Rust type.

use std::io::Write;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};

use crate::db::schema::sql_types::OrgRole as OrgRoleType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = OrgRoleType)]
pub enum OrgRole {
    Owner,
    Member,
    /// A value this service does not write (an older app version's `GUEST`, or a role a newer
    /// one adds): read, kept, never counted as an owner.
    Other,
}

impl FromSql<OrgRoleType, Pg> for OrgRole {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        Ok(match bytes.as_bytes() {
            b"OWNER" => OrgRole::Owner,
            b"MEMBER" => OrgRole::Member,
            _ => OrgRole::Other,
        })
    }
}

impl ToSql<OrgRoleType, Pg> for OrgRole {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        let label: &[u8] = match self {
            OrgRole::Owner => b"OWNER",
            OrgRole::Member => b"MEMBER",
            OrgRole::Other => return Err("a role this service does not write".into()),
        };
        out.write_all(label)?;
        Ok(IsNull::No)
    }
}
