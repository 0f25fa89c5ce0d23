//! The app's `"OrgRole"` enum as a Rust type.

use std::io::Write;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;

use crate::db::schema::sql_types::OrgRole as OrgRoleType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = OrgRoleType)]
#[diesel(sql_type = Text)]
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

/// A role read as text (the `member` view, a kept role).
impl FromSql<Text, Pg> for OrgRole {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        <OrgRole as FromSql<OrgRoleType, Pg>>::from_sql(bytes)
    }
}

impl OrgRole {
    /// The enum label, as stored.
    pub fn label(self) -> Option<&'static str> {
        match self {
            OrgRole::Owner => Some("OWNER"),
            OrgRole::Member => Some("MEMBER"),
            OrgRole::Other => None,
        }
    }
}

impl ToSql<OrgRoleType, Pg> for OrgRole {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        let label = self.label().ok_or("a role this service does not write")?;
        out.write_all(label.as_bytes())?;
        Ok(IsNull::No)
    }
}
