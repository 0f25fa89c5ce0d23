//! The SCIM User resource: how a membership row becomes a SCIM document and back.
//!
//! A User is one membership of the token's org. `userName` is the e-mail the app signs the user
//! in with (`"User".email`, lower-cased); `active` is `"UserToOrg"."isActive"`; `externalId` is
//! `"UserToOrg"."scimExternalId"`; every other attribute is kept by the service, per org, as the
//! IdP sent it, with `displayName`/`name` defaulting to `"User".name`.

use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
use super::{ScimError, ScimType};

/// The type of the user's address when the IdP gave none.
pub const DEFAULT_EMAIL_TYPE: &str = "work";

/// Longest accepted e-mail address (RFC 5321 path limit).
const MAX_EMAIL_LEN: usize = 254;

/// A membership as read from the database.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: String,
    pub email: Option<String>,
    /// `"User".name`, shared by every org the user belongs to.
    pub name: Option<String>,
    pub user_updated_at: NaiveDateTime,
    pub joined_at: NaiveDateTime,
    pub active: bool,
    pub external_id: Option<String>,
    /// The service's stored attributes for this membership (empty when it has none).
    pub attributes: Map<String, Value>,
    pub profile_updated_at: Option<NaiveDateTime>,
}

impl UserRecord {
    /// What this org's IdP has set: the columns the attributes are kept in, and the stored
    /// attributes, with nothing derived. PATCH applies to this, so that an update never turns
    /// a derived value (a name split from `"User".name`) into one the IdP seems to have sent.
    pub fn stored_document(&self) -> Map<String, Value> {
        let mut doc = self.attributes.clone();
        if let Some(email) = &self.email {
            doc.insert("userName".into(), Value::String(email.clone()));
            let mut entry = doc
                .get("emails")
                .and_then(|e| e.get(0))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            entry.insert("value".into(), Value::String(email.clone()));
            // The type every reader assumes (filters, the answer); `to_write` drops it again.
            entry
                .entry("type")
                .or_insert_with(|| json!(DEFAULT_EMAIL_TYPE));
            doc.insert("emails".into(), Value::Array(vec![Value::Object(entry)]));
        }
        doc.insert("active".into(), Value::Bool(self.active));
        if let Some(external_id) = &self.external_id {
            doc.insert("externalId".into(), Value::String(external_id.clone()));
        }
        doc
    }

    /// The canonical document as answered: the stored one, with `displayName` and `name`
    /// derived from `"User".name` where the IdP set none, and the e-mail typed and primary.
    /// A user without an e-mail (created in the app) shows its id as `userName`.
    pub fn document(&self) -> Map<String, Value> {
        let mut doc = self.stored_document();
        doc.entry("userName")
            .or_insert_with(|| Value::String(self.id.clone()));
        if let Some(Value::Object(entry)) = doc.get_mut("emails").and_then(|e| e.get_mut(0)) {
            entry.insert("primary".into(), Value::Bool(true));
        }
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
        doc
    }

    pub fn last_modified(&self) -> NaiveDateTime {
        self.profile_updated_at
            .map_or(self.user_updated_at, |p| p.max(self.user_updated_at))
    }

    /// The full SCIM representation, with `meta`.
    pub fn render(&self, base_url: &str) -> Value {
        let doc = self.document();
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
    // serde_json's map is ordered, so equal documents serialise identically.
    let digest = Sha256::digest(serde_json::to_vec(doc).unwrap_or_default());
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
    /// `userName`, lower-cased: the user's e-mail. `None` only for an app user who has no
    /// e-mail and whose update leaves `userName` (their id) alone.
    pub email: Option<String>,
    /// The name for `"User".name`, when the document gives one.
    pub display_name: Option<String>,
    /// `None` when the document does not say.
    pub active: Option<bool>,
    pub external_id: Option<String>,
    /// Everything the service stores itself.
    pub attributes: Map<String, Value>,
}

/// Validates a canonical document and splits it into columns and stored attributes.
/// `current` is the membership being updated (`None` for a creation).
pub fn to_write(
    doc: &Map<String, Value>,
    current: Option<&UserRecord>,
) -> Result<UserWrite, ScimError> {
    let user_name = doc.get("userName").and_then(Value::as_str);
    let keeps_missing_email = current.is_some_and(|record| {
        record.email.is_none() && user_name.is_none_or(|name| name == record.id)
    });
    let email = if keeps_missing_email {
        None
    } else {
        Some(normalize_email(
            user_name.ok_or_else(|| invalid("userName is required."))?,
        )?)
    };

    let mut attributes = doc.clone();
    for column_backed in ["userName", "active", "externalId"] {
        attributes.remove(column_backed);
    }
    if let Some(emails) = attributes.remove("emails") {
        let entries = emails.as_array().cloned().unwrap_or_default();
        if entries.len() > 1 {
            return Err(invalid(
                "emails holds more than one address; the service keeps one, equal to userName.",
            ));
        }
        if let Some(Value::Object(entry)) = entries.into_iter().next() {
            if let Some(value) = entry.get("value").and_then(Value::as_str) {
                if !email
                    .as_deref()
                    .is_some_and(|email| value.trim().eq_ignore_ascii_case(email))
                {
                    return Err(invalid(
                        "emails[].value must be the same address as userName: the app signs a user in with one e-mail (in Entra ID, map userName to the user's mail).",
                    ));
                }
            }
            // The address itself comes from userName; only its display and a type other than
            // the default are kept.
            let kept: Map<String, Value> = entry
                .into_iter()
                .filter(|(key, value)| match key.as_str() {
                    "display" => true,
                    "type" => value
                        .as_str()
                        .is_some_and(|t| !t.eq_ignore_ascii_case(DEFAULT_EMAIL_TYPE)),
                    _ => false,
                })
                .collect();
            if !kept.is_empty() {
                attributes.insert("emails".into(), Value::Array(vec![Value::Object(kept)]));
            }
        }
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
        email,
        display_name,
        active: doc.get("active").and_then(Value::as_bool),
        external_id: doc
            .get("externalId")
            .and_then(Value::as_str)
            .map(str::to_owned),
        attributes,
    })
}

/// The service keeps one address, which both `userName` and `emails[].value` show. When an
/// update changes only one of them (Entra may PATCH just the work e-mail, or just userName),
/// the other follows it.
pub fn follow_changed_address(doc: &mut Map<String, Value>, current: Option<&str>) {
    let Some(current) = current else { return };
    let user_name = doc
        .get("userName")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(entry) = doc
        .get_mut("emails")
        .and_then(|e| e.get_mut(0))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let email = entry
        .get("value")
        .and_then(Value::as_str)
        .map(str::to_owned);
    match (user_name, email) {
        (Some(user_name), Some(email)) if !user_name.eq_ignore_ascii_case(&email) => {
            if email.eq_ignore_ascii_case(current) {
                entry.insert("value".into(), Value::String(user_name));
            } else if user_name.eq_ignore_ascii_case(current) {
                doc.insert("userName".into(), Value::String(email));
            }
        }
        _ => {}
    }
}

/// `userName` must be an e-mail address; it is stored lower-cased.
pub fn normalize_email(user_name: &str) -> Result<String, ScimError> {
    let email = user_name.trim().to_lowercase();
    let shaped = email.len() <= MAX_EMAIL_LEN
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if shaped {
        Ok(email)
    } else {
        Err(invalid("userName must be the user's e-mail address."))
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

    fn record() -> UserRecord {
        UserRecord {
            id: "u1".into(),
            email: Some("jane@example.com".into()),
            name: Some("Jane Q. Doe".into()),
            user_updated_at: time("2026-01-02 03:04:05"),
            joined_at: time("2026-01-01 00:00:00"),
            active: true,
            external_id: Some("00u1".into()),
            attributes: Map::new(),
            profile_updated_at: None,
        }
    }

    #[test]
    fn renders_an_rfc_shaped_user_from_app_columns() {
        let rendered = record().render("https://sb.example.com/scim/v2");
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
    fn stored_attributes_win_over_derived_ones_and_change_the_etag() {
        let plain = record();
        let mut sent = record();
        sent.attributes = json!({
            "name": {"givenName": "Janet", "familyName": "Doe"},
            "emails": [{"type": "home"}],
            ENTERPRISE_USER_SCHEMA: {"employeeNumber": "42"}
        })
        .as_object()
        .unwrap()
        .clone();
        let rendered = sent.render("x");
        assert_eq!(rendered["name"]["givenName"], "Janet");
        assert_eq!(rendered["name"]["formatted"], "Jane Q. Doe");
        assert_eq!(rendered["emails"][0]["type"], "home");
        assert_eq!(
            rendered["schemas"],
            json!([USER_SCHEMA, ENTERPRISE_USER_SCHEMA])
        );
        assert_ne!(plain.etag(), sent.etag());
        assert_eq!(plain.etag(), record().etag());
    }

    #[test]
    fn to_write_splits_columns_from_stored_attributes() {
        let doc = json!({
            "userName": "Jane@Example.COM",
            "active": false,
            "externalId": "00u1",
            "name": {"givenName": "Jane", "familyName": "Doe"},
            "emails": [{"value": "jane@example.com", "type": "work", "primary": true}],
            "title": "Engineer"
        });
        let write = to_write(doc.as_object().unwrap(), None).unwrap();
        assert_eq!(write.email.as_deref(), Some("jane@example.com"));
        assert_eq!(write.active, Some(false));
        assert_eq!(write.external_id.as_deref(), Some("00u1"));
        assert_eq!(write.display_name.as_deref(), Some("Jane Doe"));
        assert_eq!(
            Value::Object(write.attributes),
            json!({"name": {"givenName": "Jane", "familyName": "Doe"}, "title": "Engineer"})
        );
    }

    #[test]
    fn a_user_without_e_mail_can_be_updated_without_inventing_one() {
        let mut record = record();
        record.email = None;
        let mut doc = record.document();
        assert_eq!(doc["userName"], "u1");
        doc.insert("active".into(), json!(false));
        let write = to_write(&doc, Some(&record)).unwrap();
        assert_eq!((write.email, write.active), (None, Some(false)));
        assert!(to_write(&doc, None).is_err(), "a creation needs an e-mail");
    }

    #[test]
    fn patching_starts_from_what_the_idp_set_not_from_derived_names() {
        let stored = record().stored_document();
        assert!(stored.get("displayName").is_none() && stored.get("name").is_none());
        assert_eq!(
            stored["emails"],
            json!([{"value": "jane@example.com", "type": "work"}])
        );
        let write = to_write(&stored, Some(&record())).unwrap();
        assert_eq!(write.attributes, record().attributes);
        assert_eq!(write.display_name, None);
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
    fn the_address_not_changed_follows_the_one_that_changed() {
        let mut doc =
            json!({"userName": "new@example.com", "emails": [{"value": "old@example.com"}]});
        follow_changed_address(doc.as_object_mut().unwrap(), Some("old@example.com"));
        assert_eq!(doc["emails"][0]["value"], "new@example.com");
        let mut doc =
            json!({"userName": "old@example.com", "emails": [{"value": "new@example.com"}]});
        follow_changed_address(doc.as_object_mut().unwrap(), Some("OLD@example.com"));
        assert_eq!(doc["userName"], "new@example.com");
        let mut both = json!({"userName": "a@example.com", "emails": [{"value": "b@example.com"}]});
        follow_changed_address(both.as_object_mut().unwrap(), Some("old@example.com"));
        assert_eq!(both["userName"], "a@example.com");
        assert_eq!(both["emails"][0]["value"], "b@example.com");
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
            let write = to_write(doc.as_object().unwrap(), None).unwrap();
            assert_eq!(write.display_name.as_deref(), expected, "{doc}");
        }
    }

    #[test]
    fn the_default_email_type_is_not_stored_but_others_are() {
        let doc =
            |kind: &str| json!({"userName": "a@b.c", "emails": [{"value": "a@b.c", "type": kind}]});
        let work = to_write(doc("Work").as_object().unwrap(), None).unwrap();
        assert!(!work.attributes.contains_key("emails"));
        let home = to_write(doc("home").as_object().unwrap(), None).unwrap();
        assert_eq!(home.attributes["emails"], json!([{"type": "home"}]));
    }

    #[test]
    fn to_write_refuses_a_second_address_or_a_non_email_user_name() {
        for doc in [
            json!({"userName": "jane"}),
            json!({"userName": "jane@example.com", "emails": [{"value": "other@example.com"}]}),
            json!({"userName": "jane@example.com", "emails": [{"value": "jane@example.com"}, {"value": "j@x.y"}]}),
            json!({"displayName": "No user name"}),
        ] {
            let error = to_write(doc.as_object().unwrap(), None).unwrap_err();
            assert_eq!(
                (error.status, error.scim_type),
                (400, Some(ScimType::InvalidValue)),
                "{doc}"
            );
        }
    }
}
