//! The SCIM User resource: how a membership row becomes a SCIM document and back.
//!
//! A User is one membership of the token's org. `userName` is the IdP's own name for the person,
//! kept as sent (a member the app created answers its address); `emails` is every address the
//! IdP sent, kept as sent; the app's `"User".email` is the *sign-in address* picked from them
//! ([`to_write`]). `active` is `"UserToOrg"."isActive"`, `externalId` is
//! `"UserToOrg"."scimExternalId"`; every other attribute is kept by the service, per org, as the
//! IdP sent it, with `displayName`/`name` defaulting to `"User".name`.
//!
//! Whether two addresses (or userNames) are the same person is decided in SQL only
//! (`scim_sidecar.identity_key`), never here: Rust's and PostgreSQL's case mappings differ.

use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
use super::{ScimError, ScimType};

/// The type shown for the address of a member the app created.
pub const DEFAULT_EMAIL_TYPE: &str = "work";

/// Longest accepted e-mail address (RFC 5321 path limit), in characters.
pub const MAX_EMAIL_LEN: usize = 254;

/// Longest accepted userName, in characters.
pub const MAX_USER_NAME_LEN: usize = 256;

/// A membership as read from the database.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: String,
    /// `"User".email`: the sign-in address.
    pub email: Option<String>,
    /// `"User".name`, shared by every org the user belongs to.
    pub name: Option<String>,
    pub user_updated_at: NaiveDateTime,
    pub joined_at: NaiveDateTime,
    pub active: bool,
    pub external_id: Option<String>,
    /// The IdP's userName; `None` for a membership the app created (never provisioned).
    pub user_name: Option<String>,
    /// The service's stored attributes for this membership, `emails` included (empty when it
    /// has none).
    pub attributes: Map<String, Value>,
    pub profile_updated_at: Option<NaiveDateTime>,
}

impl UserRecord {
    /// What this org's IdP has set: the columns the attributes are kept in, and the stored
    /// attributes, with nothing derived. PATCH applies to this, so that an update never turns
    /// a derived value (a name split from `"User".name`) into one the IdP seems to have sent.
    /// A member the app created shows its address as `userName` and as its one e-mail.
    pub fn stored_document(&self) -> Map<String, Value> {
        let mut doc = self.attributes.clone();
        self.add_columns(&mut doc);
        doc
    }

    fn add_columns(&self, doc: &mut Map<String, Value>) {
        match (&self.user_name, &self.email) {
            (Some(user_name), _) => {
                doc.insert("userName".into(), Value::String(user_name.clone()));
            }
            (None, Some(email)) => {
                doc.insert("userName".into(), Value::String(email.clone()));
                doc.insert(
                    "emails".into(),
                    json!([{"value": email, "type": DEFAULT_EMAIL_TYPE, "primary": true}]),
                );
            }
            (None, None) => {}
        }
        doc.insert("active".into(), Value::Bool(self.active));
        if let Some(external_id) = &self.external_id {
            doc.insert("externalId".into(), Value::String(external_id.clone()));
        }
    }

    /// The canonical document as answered: the stored one, with `displayName` and `name`
    /// derived from `"User".name` where the IdP set none. A member the app created without an
    /// address shows its id as `userName`.
    pub fn document(&self) -> Map<String, Value> {
        let mut doc = self.stored_document();
        self.add_derived(&mut doc);
        doc
    }

    fn add_derived(&self, doc: &mut Map<String, Value>) {
        doc.entry("userName")
            .or_insert_with(|| Value::String(self.id.clone()));
        if let Some(app_name) = self.name.as_deref().filter(|n| !n.trim().is_empty()) {
            doc.entry("displayName").or_insert_with(|| json!(app_name));
            let name = doc.entry("name").or_insert_with(|| json!({}));
            if let Some(name) = name.as_object_mut() {
                name.entry("formatted").or_insert_with(|| json!(app_name));
                let (given, family) = split_name(app_name);
                if !name.contains_key("givenName") && !name.contains_key("familyName") {
                    name.insert("givenName".into(), json!(given));
                    if let Some(family) = family {
                        name.insert("familyName".into(), json!(family));
                    }
                }
            }
        }
    }

    pub fn last_modified(&self) -> NaiveDateTime {
        self.profile_updated_at
            .map_or(self.user_updated_at, |p| p.max(self.user_updated_at))
    }

    /// The full SCIM representation, with `meta`.
    pub fn render(&self, base_url: &str) -> Value {
        self.render_document(self.document(), base_url)
    }

    /// [`render`](Self::render), taking the stored attributes instead of copying them: a list
    /// page renders each record once.
    pub fn into_rendered(mut self, base_url: &str) -> Value {
        let mut doc = std::mem::take(&mut self.attributes);
        self.add_columns(&mut doc);
        self.add_derived(&mut doc);
        self.render_document(doc, base_url)
    }

    fn render_document(&self, doc: Map<String, Value>, base_url: &str) -> Value {
        let version = etag(&doc);
        let mut out = doc;
        let mut schemas = vec![json!(USER_SCHEMA)];
        if out.contains_key(ENTERPRISE_USER_SCHEMA) {
            schemas.push(json!(ENTERPRISE_USER_SCHEMA));
        }
        out.insert("schemas".into(), Value::Array(schemas));
        out.insert("id".into(), json!(self.id));
        out.insert(
            "meta".into(),
            json!({
                "resourceType": "User",
                "created": format_time(self.joined_at),
                "lastModified": format_time(self.last_modified()),
                "location": format!("{base_url}/Users/{}", self.id),
                "version": version,
            }),
        );
        Value::Object(out)
    }

    pub fn etag(&self) -> String {
        etag(&self.document())
    }
}

/// A weak ETag over the document: any change of any returned attribute changes it, whoever
/// made the change (the IdP through this service, or the app).
fn etag(doc: &Map<String, Value>) -> String {
    // serde_json's map is ordered, so equal documents serialise identically. The
    // serialisation streams into the digest instead of a buffer.
    struct Digesting(Sha256);
    impl std::io::Write for Digesting {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.update(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut digest = Digesting(Sha256::new());
    // Writing a map of JSON values into a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut digest, doc);
    let digest = digest.0.finalize();
    format!("W/\"{}\"", hex::encode(&digest[..12]))
}

/// Whether an `If-Match`/`If-None-Match` header names the current version: `*`, or one of its
/// comma-separated tags under weak comparison (RFC 9110 §8.8.3.2).
pub fn etag_matches(header: &str, current: &str) -> bool {
    let bare = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    header
        .split(',')
        .any(|tag| tag.trim() == "*" || bare(tag) == bare(current))
}

pub fn format_time(time: NaiveDateTime) -> String {
    time.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// "Jane Q. Doe" -> ("Jane", Some("Q. Doe")).
fn split_name(name: &str) -> (String, Option<String>) {
    let mut parts = name.trim().splitn(2, char::is_whitespace);
    let given = parts.next().unwrap_or_default().to_owned();
    let family = parts
        .next()
        .map(|rest| rest.trim().to_owned())
        .filter(|f| !f.is_empty());
    (given, family)
}

/// What a document asks the database to hold.
#[derive(Debug, Clone, PartialEq)]
pub struct UserWrite {
    /// `userName` as sent (trimmed).
    pub user_name: String,
    /// The sign-in address picked from the document. `None` only for a member the app created
    /// without an address, whose update names none.
    pub sign_in: Option<String>,
    /// The name for `"User".name`, when the document gives one.
    pub display_name: Option<String>,
    /// `None` when the document does not say.
    pub active: Option<bool>,
    pub external_id: Option<String>,
    /// Everything the service stores itself, `emails` included.
    pub attributes: Map<String, Value>,
}

/// Validates a canonical document and splits it into columns and stored attributes.
/// `current` is the membership being updated (`None` for a creation).
///
/// The sign-in address is, in this order: the `primary` e-mail, the `work` e-mail, the only
/// e-mail, or `userName` when it is an address. A document with none of them is refused,
/// except for the update of a member the app created without an address.
pub fn to_write(
    doc: &Map<String, Value>,
    current: Option<&UserRecord>,
) -> Result<UserWrite, ScimError> {
    let user_name = check_user_name(
        doc.get("userName")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("userName is required."))?,
    )?;

    let mut attributes = doc.clone();
    for column_backed in ["userName", "active", "externalId"] {
        attributes.remove(column_backed);
    }
    if let Some(Value::Array(entries)) = attributes.get_mut("emails") {
        for entry in entries.iter_mut() {
            let value = entry.get("value").and_then(Value::as_str).ok_or_else(|| {
                invalid("Every entry of emails needs a value (an e-mail address).")
            })?;
            let address = check_address(value)
                .map_err(|_| invalid("emails[].value must be an e-mail address (name@domain)."))?;
            if let Some(entry) = entry.as_object_mut() {
                entry.insert("value".into(), Value::String(address));
            }
        }
    }
    let emails: &[Value] = attributes
        .get("emails")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let sign_in = pick_sign_in(emails)
        .map(str::to_owned)
        .or_else(|| check_address(&user_name).ok());
    let keeps_no_address = current.is_some_and(|record| record.email.is_none());
    if sign_in.is_none() && !keeps_no_address {
        return Err(invalid(
            "An e-mail address is required: send emails with a primary or work address, or a userName that is an e-mail address.",
        ));
    }

    // `"User".name` is only replaced by a whole name: a lone given or family name would drop
    // the other half of the name the app knows.
    let name = doc.get("name");
    let part = |key: &str| name.and_then(|n| n.get(key)).and_then(Value::as_str);
    let display_name = doc
        .get("displayName")
        .and_then(Value::as_str)
        .or_else(|| part("formatted"))
        .map(str::to_owned)
        .or_else(|| match (part("givenName"), part("familyName")) {
            (Some(given), Some(family)) => Some(format!("{given} {family}")),
            _ => None,
        });

    Ok(UserWrite {
        user_name,
        sign_in,
        display_name,
        active: doc.get("active").and_then(Value::as_bool),
        external_id: doc
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_owned),
        attributes,
    })
}

/// The address the app signs the person in with: the primary e-mail, else the first work
/// e-mail, else the only e-mail.
fn pick_sign_in(emails: &[Value]) -> Option<&str> {
    fn value(entry: &Value) -> Option<&str> {
        entry.get("value").and_then(Value::as_str)
    }
    let typed_work = |entry: &&Value| {
        entry
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|kind| kind.eq_ignore_ascii_case("work"))
    };
    emails
        .iter()
        .find(|entry| entry.get("primary") == Some(&Value::Bool(true)))
        .or_else(|| emails.iter().find(typed_work))
        .or(match emails {
            [only] => Some(only),
            _ => None,
        })
        .and_then(value)
}

/// Characters that render as nothing or reorder text: an identity holding them can look like
/// another one, so they are refused in addresses and userNames.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// A userName: trimmed, not empty, without control or invisible characters, at most
/// [`MAX_USER_NAME_LEN`] characters.
pub fn check_user_name(user_name: &str) -> Result<String, ScimError> {
    let trimmed = user_name.trim();
    if trimmed.is_empty() {
        return Err(invalid("userName is required."));
    }
    if trimmed.chars().count() > MAX_USER_NAME_LEN {
        return Err(invalid(&format!(
            "userName is longer than {MAX_USER_NAME_LEN} characters."
        )));
    }
    if trimmed.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Err(invalid(
            "userName contains control, invisible or bidirectional formatting characters.",
        ));
    }
    Ok(trimmed.to_owned())
}

/// An e-mail address, trimmed and otherwise as sent: `local@domain`, at most
/// [`MAX_EMAIL_LEN`] characters, without white space, control or invisible characters.
pub fn check_address(address: &str) -> Result<String, ScimError> {
    let trimmed = address.trim();
    let shaped = trimmed.chars().count() <= MAX_EMAIL_LEN
        && !trimmed
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
        && trimmed.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if shaped {
        Ok(trimmed.to_owned())
    } else {
        Err(invalid("The value is not an e-mail address."))
    }
}

fn invalid(detail: &str) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    /// A member the app created: no userName or attributes of the IdP's.
    fn app_member() -> UserRecord {
        UserRecord {
            id: "u1".into(),
            email: Some("jane@example.com".into()),
            name: Some("Jane Q. Doe".into()),
            user_updated_at: time("2026-01-02 03:04:05"),
            joined_at: time("2026-01-01 00:00:00"),
            active: true,
            external_id: Some("00u1".into()),
            user_name: None,
            attributes: Map::new(),
            profile_updated_at: None,
        }
    }

    fn write(doc: Value) -> Result<UserWrite, ScimError> {
        to_write(doc.as_object().unwrap(), None)
    }

    #[test]
    fn a_list_renders_each_record_as_a_single_get_does() {
        let provisioned = UserRecord {
            user_name: Some("jdoe".into()),
            attributes: json!({
                "title": "Engineer",
                "name": { "familyName": "Doe" },
                "emails": [{ "value": "jane@example.com", "type": "work" }],
                ENTERPRISE_USER_SCHEMA: { "employeeNumber": "7" }
            })
            .as_object()
            .unwrap()
            .clone(),
            profile_updated_at: Some(time("2026-03-01 00:00:00")),
            ..app_member()
        };
        let nameless = UserRecord {
            email: None,
            name: None,
            ..app_member()
        };
        for record in [app_member(), provisioned, nameless] {
            let base = "https://sb.example.com/scim/v2";
            let rendered = record.render(base);
            assert_eq!(rendered["meta"]["version"], record.etag());
            assert_eq!(record.into_rendered(base), rendered);
        }
    }

    #[test]
    fn renders_an_rfc_shaped_user_from_app_columns() {
        let rendered = app_member().render("https://sb.example.com/scim/v2");
        assert_eq!(rendered["schemas"], json!([USER_SCHEMA]));
        assert_eq!(rendered["id"], "u1");
        assert_eq!(rendered["userName"], "jane@example.com");
        assert_eq!(rendered["externalId"], "00u1");
        assert_eq!(rendered["active"], true);
        assert_eq!(rendered["displayName"], "Jane Q. Doe");
        assert_eq!(
            rendered["name"],
            json!({"formatted": "Jane Q. Doe", "givenName": "Jane", "familyName": "Q. Doe"})
        );
        assert_eq!(
            rendered["emails"],
            json!([{"value": "jane@example.com", "type": "work", "primary": true}])
        );
        assert_eq!(
            rendered["meta"]["location"],
            "https://sb.example.com/scim/v2/Users/u1"
        );
        assert_eq!(rendered["meta"]["created"], "2026-01-01T00:00:00.000Z");
        assert!(rendered["meta"]["version"]
            .as_str()
            .unwrap()
            .starts_with("W/\""));
    }

    #[test]
    fn a_provisioned_member_answers_its_user_name_and_emails_as_sent() {
        let mut record = app_member();
        record.user_name = Some("Adele.Vance@contoso.onmicrosoft.com".into());
        record.attributes = json!({
            "emails": [{"value": "Adele@Contoso.com", "type": "work"}, {"value": "a@home.example", "type": "home"}],
            "name": {"givenName": "Adele", "familyName": "Vance"},
            ENTERPRISE_USER_SCHEMA: {"employeeNumber": "42"}
        })
        .as_object()
        .unwrap()
        .clone();
        let rendered = record.render("x");
        assert_eq!(rendered["userName"], "Adele.Vance@contoso.onmicrosoft.com");
        assert_eq!(rendered["emails"], record.attributes["emails"]);
        assert_eq!(rendered["name"]["givenName"], "Adele");
        assert_eq!(rendered["name"]["formatted"], "Jane Q. Doe");
        assert_eq!(
            rendered["schemas"],
            json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA])
        );
        assert_ne!(record.etag(), app_member().etag());
        assert_eq!(app_member().etag(), app_member().etag());
    }

    #[test]
    fn the_sign_in_address_is_primary_then_work_then_the_only_one_then_user_name() {
        let cases = [
            (
                json!({"userName": "upn@tenant.example", "emails": [{"value": "home@x.example", "type": "home"}, {"value": "p@x.example", "primary": true}, {"value": "w@x.example", "type": "work"}]}),
                Some("p@x.example"),
            ),
            (
                json!({"userName": "upn@tenant.example", "emails": [{"value": "home@x.example", "type": "home"}, {"value": "w@x.example", "type": "Work"}]}),
                Some("w@x.example"),
            ),
            (
                json!({"userName": "bjensen", "emails": [{"value": " only@x.example "}]}),
                Some("only@x.example"),
            ),
            (
                json!({"userName": "Jane@Example.com", "emails": [{"value": "a@x.example", "type": "home"}, {"value": "b@x.example", "type": "other"}]}),
                Some("Jane@Example.com"),
            ),
            (
                json!({"userName": "Ünal@example.com"}),
                Some("Ünal@example.com"),
            ),
        ];
        for (doc, expected) in cases {
            assert_eq!(
                write(doc.clone()).unwrap().sign_in.as_deref(),
                expected,
                "{doc}"
            );
        }
    }

    #[test]
    fn to_write_keeps_user_name_and_every_address_as_sent() {
        let written = write(json!({
            "userName": " Adele.Vance@contoso.onmicrosoft.com ",
            "active": false,
            "externalId": "00u1",
            "name": {"givenName": "Adele", "familyName": "Vance"},
            "emails": [{"value": "adele@contoso.com", "type": "work"}, {"value": "adele@home.example", "type": "home"}],
            "title": "Engineer"
        }))
        .unwrap();
        assert_eq!(written.user_name, "Adele.Vance@contoso.onmicrosoft.com");
        assert_eq!(written.sign_in.as_deref(), Some("adele@contoso.com"));
        assert_eq!(written.active, Some(false));
        assert_eq!(written.external_id.as_deref(), Some("00u1"));
        assert_eq!(written.display_name.as_deref(), Some("Adele Vance"));
        assert_eq!(
            Value::Object(written.attributes),
            json!({
                "name": {"givenName": "Adele", "familyName": "Vance"},
                "emails": [{"value": "adele@contoso.com", "type": "work"}, {"value": "adele@home.example", "type": "home"}],
                "title": "Engineer"
            })
        );
    }

    #[test]
    fn a_user_without_e_mail_can_be_updated_without_inventing_one() {
        let mut record = app_member();
        record.email = None;
        let mut doc = record.document();
        assert_eq!(doc["userName"], "u1");
        doc.insert("active".into(), json!(false));
        let written = to_write(&doc, Some(&record)).unwrap();
        assert_eq!((written.sign_in, written.active), (None, Some(false)));
        assert!(to_write(&doc, None).is_err(), "a creation needs an e-mail");
    }

    #[test]
    fn patching_starts_from_what_the_idp_set_not_from_derived_names() {
        let stored = app_member().stored_document();
        assert!(stored.get("displayName").is_none() && stored.get("name").is_none());
        let written = to_write(&stored, Some(&app_member())).unwrap();
        assert_eq!(written.display_name, None);
        assert_eq!(written.sign_in.as_deref(), Some("jane@example.com"));
    }

    #[test]
    fn etags_match_weakly_and_by_list() {
        assert!(etag_matches("W/\"abc\"", "W/\"abc\""));
        assert!(etag_matches("\"abc\"", "W/\"abc\""));
        assert!(etag_matches("W/\"x\", W/\"abc\"", "W/\"abc\""));
        assert!(etag_matches("*", "W/\"abc\""));
        assert!(!etag_matches("W/\"abd\"", "W/\"abc\""));
    }

    #[test]
    fn only_a_whole_name_renames_the_account() {
        let cases = [
            (json!({"name": {"familyName": "Smith"}}), None),
            (
                json!({"name": {"givenName": "Jo", "familyName": "Smith"}}),
                Some("Jo Smith"),
            ),
            (
                json!({"name": {"formatted": "Dr. Jo Smith", "givenName": "Jo"}}),
                Some("Dr. Jo Smith"),
            ),
            (
                json!({"displayName": "Jo", "name": {"familyName": "Smith"}}),
                Some("Jo"),
            ),
        ];
        for (mut doc, expected) in cases {
            doc["userName"] = json!("jo@example.com");
            let written = write(doc.clone()).unwrap();
            assert_eq!(written.display_name.as_deref(), expected, "{doc}");
        }
    }

    #[test]
    fn to_write_refuses_what_has_no_usable_address_or_hides_characters() {
        for doc in [
            json!({"userName": "jane"}),
            json!({"userName": "bjensen", "emails": [{"value": "a@x.example", "type": "home"}, {"value": "b@x.example", "type": "other"}]}),
            json!({"userName": "jane@example.com", "emails": [{"value": "not an address"}]}),
            json!({"userName": "jane@example.com", "emails": [{"type": "work"}]}),
            json!({"userName": "ja\u{200B}ne@example.com"}),
            json!({"userName": "jane@example.com", "emails": [{"value": "ja\u{202E}ne@example.com"}]}),
            json!({"userName": "jane\u{0000}@example.com"}),
            json!({"userName": "\u{FEFF}"}),
            json!({"userName": "   "}),
            json!({"userName": "x".repeat(MAX_USER_NAME_LEN + 1)}),
            json!({"userName": "bjensen", "emails": [{"value": format!("{}@example.com", "a".repeat(MAX_EMAIL_LEN))}]}),
            json!({"displayName": "No user name"}),
        ] {
            let error = write(doc.clone()).unwrap_err();
            assert_eq!(
                (error.status, error.scim_type),
                (400, Some(ScimType::InvalidValue)),
                "{doc}"
            );
        }
    }
}
