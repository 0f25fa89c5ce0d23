//! Start-up check that the app database has every table and column the service relies on,
//! with a compatible type. `serve`, `check` and `/readyz` use it.

use diesel::sql_types::{Array, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// A column the service reads or writes: (table, column, PostgreSQL `udt_name`).
type ExpectedColumn = (&'static str, &'static str, &'static str);

/// Every column named in `schema.rs`, plus those the migrations add. Types are
/// `information_schema.columns.udt_name` values.
const EXPECTED: &[ExpectedColumn] = &[
    ("Org", "id", "int4"),
    ("Org", "name", "text"),
    ("Org", "createdAt", "timestamp"),
    ("Org", "updatedAt", "timestamp"),
    ("User", "id", "text"),
    ("User", "name", "text"),
    ("User", "email", "text"),
    ("User", "sessionVersion", "int4"),
    ("User", "createdAt", "timestamp"),
    ("User", "updatedAt", "timestamp"),
    ("UserToOrg", "joinedAt", "timestamp"),
    ("UserToOrg", "orgId", "int4"),
    ("UserToOrg", "userId", "text"),
    ("UserToOrg", "role", "OrgRole"),
    ("UserToOrg", "isActive", "bool"),
    ("UserToOrg", "scimExternalId", "text"),
    ("ApiKey", "name", "text"),
    ("ApiKey", "hash", "text"),
    ("ApiKey", "orgId", "int4"),
    ("ApiKey", "createdById", "text"),
    ("OAuthToken", "hash", "text"),
    ("OAuthToken", "userId", "text"),
    ("OAuthRefreshToken", "hash", "text"),
    ("OAuthRefreshToken", "userId", "text"),
    ("OAuthAuthorizationCode", "codeHash", "text"),
    ("OAuthAuthorizationCode", "userId", "text"),
    ("Audit", "id", "text"),
    ("Audit", "timestamp", "timestamp"),
    ("Audit", "action", "text"),
    ("Audit", "actorId", "text"),
    ("Audit", "actorType", "text"),
    ("Audit", "targetId", "text"),
    ("Audit", "targetType", "text"),
    ("Audit", "sourcebotVersion", "text"),
    ("Audit", "metadata", "jsonb"),
    ("Audit", "orgId", "int4"),
    ("License", "id", "text"),
    ("License", "orgId", "int4"),
    ("License", "entitlements", "_text"),
    ("License", "seats", "int4"),
    ("License", "status", "text"),
    ("License", "lastSyncAt", "timestamp"),
    ("ScimToken", "name", "text"),
    ("ScimToken", "hash", "text"),
    ("ScimToken", "createdAt", "timestamp"),
    ("ScimToken", "lastUsedAt", "timestamp"),
    ("ScimToken", "orgId", "int4"),
];

/// Objects the service's own migrations create; when only these are missing, the fix is
/// `scim-sidecar migrate` rather than upgrading the app.
const ADDED_BY_MIGRATIONS: &[(&str, Option<&str>)] = &[
    ("ScimToken", None),
    ("UserToOrg", Some("isActive")),
    ("UserToOrg", Some("scimExternalId")),
];

const REQUIRED_ROLES: &[&str] = &["OWNER", "MEMBER"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaProblem {
    MissingTable(&'static str),
    MissingColumn {
        table: &'static str,
        column: &'static str,
    },
    WrongType {
        table: &'static str,
        column: &'static str,
        found: String,
        expected: &'static str,
    },
    MissingEnumValues(Vec<&'static str>),
}

impl SchemaProblem {
    fn fixed_by_migrations(&self) -> bool {
        match self {
            SchemaProblem::MissingTable(table) => ADDED_BY_MIGRATIONS.contains(&(table, None)),
            SchemaProblem::MissingColumn { table, column } => {
                ADDED_BY_MIGRATIONS.contains(&(table, Some(column)))
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchemaProblem::MissingTable(table) => write!(f, "table public.\"{table}\" is missing"),
            SchemaProblem::MissingColumn { table, column } => {
                write!(f, "column \"{table}\".\"{column}\" is missing")
            }
            SchemaProblem::WrongType {
                table,
                column,
                found,
                expected,
            } => write!(
                f,
                "column \"{table}\".\"{column}\" has type {found}, expected {expected}"
            ),
            SchemaProblem::MissingEnumValues(values) => {
                write!(f, "enum \"OrgRole\" lacks value(s) {}", values.join(", "))
            }
        }
    }
}

/// The outcome of a schema check: empty when the database is usable.
#[derive(Debug, Default)]
pub struct SchemaReport {
    pub problems: Vec<SchemaProblem>,
}

impl SchemaReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn missing_tables(&self) -> Vec<&'static str> {
        self.problems
            .iter()
            .filter_map(|p| match p {
                SchemaProblem::MissingTable(table) => Some(*table),
                _ => None,
            })
            .collect()
    }

    /// One line per problem, then what to do about them.
    pub fn describe(&self) -> String {
        let mut text: String = self
            .problems
            .iter()
            .map(|problem| format!("  - {problem}\n"))
            .collect();
        let (ours, app): (Vec<_>, Vec<_>) =
            self.problems.iter().partition(|p| p.fixed_by_migrations());
        if !app.is_empty() {
            text.push_str(
                "  The app's tables are missing or too old: point DATABASE_URL at the app's \
                 database and upgrade the app first.\n",
            );
        }
        // Migrations cannot run before the app's tables exist, so that hint comes alone.
        if app.is_empty() && !ours.is_empty() {
            text.push_str(
                "  The SCIM additions are missing: run `scim-sidecar migrate` (or set \
                 SCIM__DATABASE__MIGRATE_ON_START=true).\n",
            );
        }
        text
    }
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    udt_name: String,
}

#[derive(QueryableByName)]
struct EnumRow {
    #[diesel(sql_type = Text)]
    label: String,
}

/// Reads the catalogue (one query for columns, one for the role enum) and compares.
pub async fn check_schema(conn: &mut AsyncPgConnection) -> diesel::QueryResult<SchemaReport> {
    let mut tables: Vec<&str> = EXPECTED.iter().map(|(table, _, _)| *table).collect();
    tables.dedup();
    // Raw SQL here and below: catalogue reads at start-up, in `check` and `/readyz`, over
    // system views that `schema.rs` does not describe.
    let columns: Vec<ColumnRow> = diesel::sql_query(
        "SELECT table_name::text, column_name::text, udt_name::text \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name = ANY($1)",
    )
    .bind::<Array<Text>, _>(&tables)
    .load(conn)
    .await?;
    let labels: Vec<EnumRow> = diesel::sql_query(
        "SELECT e.enumlabel::text AS label FROM pg_enum e \
         JOIN pg_type t ON t.oid = e.enumtypid \
         JOIN pg_namespace n ON n.oid = t.typnamespace \
         WHERE n.nspname = 'public' AND t.typname = 'OrgRole'",
    )
    .load(conn)
    .await?;
    let found: Vec<(String, String, String)> = columns
        .into_iter()
        .map(|c| (c.table_name, c.column_name, c.udt_name))
        .collect();
    let labels: Vec<String> = labels.into_iter().map(|l| l.label).collect();
    Ok(compare(&found, &labels))
}

fn compare(found: &[(String, String, String)], role_labels: &[String]) -> SchemaReport {
    let mut problems = Vec::new();
    let mut reported_tables: Vec<&str> = Vec::new();
    for &(table, column, expected) in EXPECTED {
        if !found.iter().any(|(t, _, _)| t == table) {
            if !reported_tables.contains(&table) {
                reported_tables.push(table);
                problems.push(SchemaProblem::MissingTable(table));
            }
            continue;
        }
        match found.iter().find(|(t, c, _)| t == table && c == column) {
            None => problems.push(SchemaProblem::MissingColumn { table, column }),
            Some((_, _, udt)) if udt != expected => problems.push(SchemaProblem::WrongType {
                table,
                column,
                found: udt.clone(),
                expected,
            }),
            Some(_) => {}
        }
    }
    // The enum is only worth checking once its column exists.
    let role_column_ok = found
        .iter()
        .any(|(t, c, u)| t == "UserToOrg" && c == "role" && u == "OrgRole");
    if role_column_ok {
        let missing: Vec<&str> = REQUIRED_ROLES
            .iter()
            .copied()
            .filter(|r| !role_labels.iter().any(|l| l == r))
            .collect();
        if !missing.is_empty() {
            problems.push(SchemaProblem::MissingEnumValues(missing));
        }
    }
    SchemaReport { problems }
}

/// The index the service adds to `"User"` (see migrations/…_user_address_index).
pub const ADDRESS_INDEX: &str = "scim_user_email_identity_idx";

/// The state of the address lookup index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexState {
    Ready,
    /// A concurrent build was interrupted: PostgreSQL keeps an invalid index it never uses.
    Invalid,
    Missing,
}

/// How the service finds app accounts by address: its index, and how the database's
/// `lower()` folds letters (`LC_CTYPE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressLookup {
    pub index: IndexState,
    pub ctype: String,
}

impl AddressLookup {
    /// `lower()` folds only ASCII letters under the C/POSIX locale.
    pub fn folds_ascii_only(&self) -> bool {
        matches!(self.ctype.as_str(), "C" | "POSIX")
    }

    /// What an operator should do, if anything.
    pub fn advice(&self) -> Option<String> {
        let index = match self.index {
            IndexState::Ready => None,
            IndexState::Invalid => Some(format!(
                "index {ADDRESS_INDEX} is invalid (an interrupted concurrent build) and unused: \
                 rebuild it with `DROP INDEX CONCURRENTLY public.{ADDRESS_INDEX}; CREATE INDEX \
                 CONCURRENTLY {ADDRESS_INDEX} ON public.\"User\" (translate(lower(normalize(email, \
                 NFKC)), 'ς', 'σ'));`; until then address lookups scan \"User\""
            )),
            IndexState::Missing => Some(format!(
                "index {ADDRESS_INDEX} is missing: run `scim-sidecar migrate`; until then \
                 address lookups scan \"User\""
            )),
        };
        let ctype = self.folds_ascii_only().then(|| {
            format!(
                "the database's LC_CTYPE is {}: lower() folds only ASCII letters, so `Ünal@` \
                 and `ünal@` count as two addresses (a UTF-8 locale such as C.UTF-8 folds them)",
                self.ctype
            )
        });
        match (index, ctype) {
            (None, None) => None,
            (Some(one), None) | (None, Some(one)) => Some(one),
            (Some(index), Some(ctype)) => Some(format!("{index}; {ctype}")),
        }
    }
}

#[derive(QueryableByName)]
struct AddressLookupRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Bool>)]
    valid: Option<bool>,
    #[diesel(sql_type = Text)]
    ctype: String,
}

/// Reads the catalogue for [`AddressLookup`].
pub async fn address_lookup(conn: &mut AsyncPgConnection) -> diesel::QueryResult<AddressLookup> {
    // Raw SQL: a catalogue read (`pg_index`, a setting) for `check`, not on a request path.
    let row: AddressLookupRow = diesel::sql_query(
        "SELECT (SELECT i.indisvalid FROM pg_index i \
                 WHERE i.indexrelid = to_regclass('public.' || quote_ident($1))) AS valid, \
                current_setting('lc_ctype') AS ctype",
    )
    .bind::<Text, _>(ADDRESS_INDEX)
    .get_result(conn)
    .await?;
    Ok(AddressLookup {
        index: match row.valid {
            Some(true) => IndexState::Ready,
            Some(false) => IndexState::Invalid,
            None => IndexState::Missing,
        },
        ctype: row.ctype,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete() -> Vec<(String, String, String)> {
        EXPECTED
            .iter()
            .map(|(t, c, u)| (t.to_string(), c.to_string(), u.to_string()))
            .collect()
    }

    fn roles() -> Vec<String> {
        vec!["OWNER".into(), "MEMBER".into(), "GUEST".into()]
    }

    #[test]
    fn address_lookup_advice_names_each_problem() {
        let lookup = |index, ctype: &str| AddressLookup {
            index,
            ctype: ctype.into(),
        };
        assert_eq!(lookup(IndexState::Ready, "C.UTF-8").advice(), None);
        assert_eq!(lookup(IndexState::Ready, "en_US.utf8").advice(), None);
        let missing = lookup(IndexState::Missing, "C.UTF-8").advice().unwrap();
        assert!(missing.contains("scim-sidecar migrate"), "{missing}");
        let invalid = lookup(IndexState::Invalid, "C").advice().unwrap();
        assert!(invalid.contains("DROP INDEX CONCURRENTLY"), "{invalid}");
        assert!(invalid.contains("LC_CTYPE is C"), "{invalid}");
    }

    #[test]
    fn complete_schema_has_no_problems() {
        assert!(compare(&complete(), &roles()).is_ok());
    }

    #[test]
    fn missing_tables_are_listed_once_each() {
        let found: Vec<_> = complete()
            .into_iter()
            .filter(|(t, _, _)| t != "Audit" && t != "License")
            .collect();
        let report = compare(&found, &roles());
        assert_eq!(report.missing_tables(), vec!["Audit", "License"]);
        assert_eq!(report.problems.len(), 2);
    }

    #[test]
    fn missing_scim_additions_point_at_migrate() {
        let found: Vec<_> = complete()
            .into_iter()
            .filter(|(t, c, _)| t != "ScimToken" && c != "isActive" && c != "scimExternalId")
            .collect();
        let report = compare(&found, &roles());
        assert_eq!(report.problems.len(), 3);
        let text = report.describe();
        assert!(text.contains("scim-sidecar migrate"), "{text}");
        assert!(!text.contains("upgrade the app"), "{text}");
    }

    #[test]
    fn wrong_types_and_enum_values_are_reported() {
        let mut found = complete();
        for row in &mut found {
            if row.0 == "User" && row.1 == "sessionVersion" {
                row.2 = "text".into();
            }
        }
        let report = compare(&found, &["OWNER".to_string()]);
        let text = report.describe();
        assert!(
            text.contains("\"User\".\"sessionVersion\" has type text, expected int4"),
            "{text}"
        );
        assert!(text.contains("lacks value(s) MEMBER"), "{text}");
        assert!(text.contains("upgrade the app"), "{text}");
    }
}
