//! The attributes the service implements (RFC 7643 §4.1 core User, §4.3 Enterprise User
//! extension), as data: `/Schemas` is rendered from it, and request bodies, PATCH paths and
//! filters are resolved against it. An attribute appears here only if the service stores it
//! and returns it.

use serde_json::{json, Map, Value};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Boolean,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
}

#[derive(Debug)]
pub struct AttributeDef {
    pub name: &'static str,
    pub kind: Kind,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    /// `server` uniqueness (RFC 7643 §2.2).
    pub unique: bool,
    pub description: &'static str,
    pub canonical_values: &'static [&'static str],
    pub sub_attributes: &'static [AttributeDef],
    /// A JSON number is taken as its text (Entra sends employee numbers and ids as numbers).
    pub number_as_text: bool,
    /// Longest accepted string value, in characters.
    pub max_len: usize,
}

/// Longest string the service stores for an attribute without a stricter limit.
pub const MAX_STRING_LEN: usize = 1024;

impl AttributeDef {
    pub fn sub(&self, name: &str) -> Option<&'static AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn is_read_only(&self) -> bool {
        self.mutability == Mutability::ReadOnly
    }
}

const fn string(name: &'static str, description: &'static str) -> AttributeDef {
    AttributeDef {
        name,
        kind: Kind::String,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        unique: false,
        description,
        canonical_values: &[],
        sub_attributes: &[],
        number_as_text: false,
        max_len: MAX_STRING_LEN,
    }
}

const fn boolean(name: &'static str, description: &'static str) -> AttributeDef {
    AttributeDef {
        kind: Kind::Boolean,
        ..string(name, description)
    }
}

const fn complex(
    name: &'static str,
    description: &'static str,
    sub_attributes: &'static [AttributeDef],
) -> AttributeDef {
    AttributeDef {
        kind: Kind::Complex,
        sub_attributes,
        ..string(name, description)
    }
}

const fn multi(def: AttributeDef) -> AttributeDef {
    AttributeDef {
        multi_valued: true,
        ..def
    }
}

const fn typed(def: AttributeDef, canonical_values: &'static [&'static str]) -> AttributeDef {
    AttributeDef {
        canonical_values,
        ..def
    }
}

const NAME_SUB: &[AttributeDef] = &[
    string("formatted", "The full name, formatted for display."),
    string("familyName", "The family name."),
    string("givenName", "The given name."),
    string("middleName", "The middle name(s)."),
    string("honorificPrefix", "Honorific prefix, e.g. 'Ms.'."),
    string("honorificSuffix", "Honorific suffix, e.g. 'III'."),
];

const EMAIL_SUB: &[AttributeDef] = &[
    string("value", "The e-mail address, as sent."),
    string("display", "A human-readable name for the address."),
    typed(
        string("type", "The kind of address."),
        &["work", "home", "other"],
    ),
    boolean(
        "primary",
        "The primary address, which the app signs the user in with.",
    ),
];

const PHONE_SUB: &[AttributeDef] = &[
    AttributeDef {
        number_as_text: true,
        ..string("value", "The phone number.")
    },
    string("display", "A human-readable form of the number."),
    typed(
        string("type", "The kind of number."),
        &["work", "home", "mobile", "fax", "pager", "other"],
    ),
    boolean("primary", "The primary number."),
];

const ADDRESS_SUB: &[AttributeDef] = &[
    string("formatted", "The full address, formatted for display."),
    string("streetAddress", "Street address."),
    string("locality", "City or locality."),
    string("region", "State or region."),
    string("postalCode", "Postal code."),
    string("country", "Country (ISO 3166-1 alpha-2)."),
    typed(
        string("type", "The kind of address."),
        &["work", "home", "other"],
    ),
    boolean("primary", "The primary address."),
];

pub static USER_ATTRIBUTES: &[AttributeDef] = &[
    AttributeDef {
        case_exact: true,
        mutability: Mutability::ReadOnly,
        unique: true,
        ..string("id", "The user's id in the app; stable across deactivation and re-provisioning.")
    },
    AttributeDef {
        case_exact: true,
        unique: true,
        // Indexed: a btree entry must stay under PostgreSQL's row limit (2,704 bytes).
        max_len: 512,
        ..string("externalId", "The IdP's identifier for this user; unique within the organization.")
    },
    AttributeDef {
        required: true,
        unique: true,
        ..string("userName", "The identity provider's unique name for the user (an e-mail address, a UPN or a login name), kept as sent; unique within the organization, compared without regard to case or Unicode normalisation form.")
    },
    complex("name", "The user's name. givenName and familyName are kept as sent.", NAME_SUB),
    string("displayName", "The name shown in the app."),
    string("nickName", "A casual name."),
    string("title", "Job title."),
    string("userType", "Relationship to the organization, e.g. 'Employee'."),
    string("preferredLanguage", "Preferred language, e.g. 'en-US'."),
    string("locale", "Locale for formatting, e.g. 'en-US'."),
    string("timezone", "Time zone, e.g. 'Europe/Berlin'."),
    boolean("active", "Whether the user is an active member of the organization; false revokes access."),
    multi(complex("emails", "Every e-mail address of the user, as sent. The app signs the user in with the primary one, else the work one, else the only one, else userName when it is an address; one of them is required.", EMAIL_SUB)),
    multi(complex("phoneNumbers", "Phone numbers.", PHONE_SUB)),
    multi(complex("addresses", "Postal addresses.", ADDRESS_SUB)),
];

const MANAGER_SUB: &[AttributeDef] = &[
    AttributeDef {
        case_exact: true,
        number_as_text: true,
        ..string("value", "The manager's id.")
    },
    AttributeDef {
        kind: Kind::Reference,
        case_exact: true,
        ..string("$ref", "The manager's URI.")
    },
    string("displayName", "The manager's name."),
];

pub static ENTERPRISE_USER_ATTRIBUTES: &[AttributeDef] = &[
    AttributeDef {
        number_as_text: true,
        ..string("employeeNumber", "Employee number.")
    },
    AttributeDef {
        number_as_text: true,
        ..string("costCenter", "Cost center.")
    },
    string("organization", "Organization."),
    string("division", "Division."),
    string("department", "Department."),
    complex(
        "manager",
        "The user's manager (a bare id string is accepted too).",
        MANAGER_SUB,
    ),
];

/// The attributes of a schema URN (case-insensitive), or `None` for an unknown schema.
pub fn attributes_of(schema: &str) -> Option<&'static [AttributeDef]> {
    if schema.eq_ignore_ascii_case(USER_SCHEMA) {
        Some(USER_ATTRIBUTES)
    } else if schema.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) {
        Some(ENTERPRISE_USER_ATTRIBUTES)
    } else {
        None
    }
}

/// Where an attribute lives: its schema and definition. Unqualified names resolve against the
/// core schema.
pub fn resolve(urn: Option<&str>, name: &str) -> Option<(&'static str, &'static AttributeDef)> {
    let schema = match urn {
        None => USER_SCHEMA,
        Some(urn) if urn.eq_ignore_ascii_case(USER_SCHEMA) => USER_SCHEMA,
        Some(urn) if urn.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) => ENTERPRISE_USER_SCHEMA,
        Some(_) => return None,
    };
    attributes_of(schema)?
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .map(|def| (schema, def))
}

pub(crate) fn attribute_json(def: &AttributeDef) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(def.name));
    out.insert(
        "type".into(),
        json!(match def.kind {
            Kind::String => "string",
            Kind::Boolean => "boolean",
            Kind::Reference => "reference",
            Kind::Complex => "complex",
        }),
    );
    out.insert("multiValued".into(), json!(def.multi_valued));
    out.insert("description".into(), json!(def.description));
    out.insert("required".into(), json!(def.required));
    if matches!(def.kind, Kind::String | Kind::Reference) {
        out.insert("caseExact".into(), json!(def.case_exact));
    }
    if !def.canonical_values.is_empty() {
        out.insert("canonicalValues".into(), json!(def.canonical_values));
    }
    if def.kind == Kind::Reference {
        out.insert("referenceTypes".into(), json!(["User", "external"]));
    }
    out.insert(
        "mutability".into(),
        json!(match def.mutability {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
        }),
    );
    out.insert(
        "returned".into(),
        json!(if def.name == "id" {
            "always"
        } else {
            "default"
        }),
    );
    out.insert(
        "uniqueness".into(),
        json!(if def.unique { "server" } else { "none" }),
    );
    if !def.sub_attributes.is_empty() {
        out.insert(
            "subAttributes".into(),
            Value::Array(def.sub_attributes.iter().map(attribute_json).collect()),
        );
    }
    Value::Object(out)
}

/// A `/Schemas` entry (RFC 7643 §7).
pub fn schema_document(id: &str, location: &str) -> Option<Value> {
    let (name, description) = if id.eq_ignore_ascii_case(USER_SCHEMA) {
        ("User", "An organization member")
    } else if id.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) {
        (
            "EnterpriseUser",
            "Enterprise attributes of an organization member",
        )
    } else {
        return None;
    };
    let attributes = attributes_of(id)?;
    let canonical_id = if name == "User" {
        USER_SCHEMA
    } else {
        ENTERPRISE_USER_SCHEMA
    };
    Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": canonical_id,
        "name": name,
        "description": description,
        "attributes": attributes.iter().map(attribute_json).collect::<Vec<_>>(),
        "meta": { "resourceType": "Schema", "location": location }
    }))
}

pub const SCHEMA_IDS: &[&str] = &[USER_SCHEMA, ENTERPRISE_USER_SCHEMA];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_core_and_enterprise_attributes_case_insensitively() {
        assert_eq!(resolve(None, "USERNAME").unwrap().1.name, "userName");
        let (schema, def) = resolve(Some(ENTERPRISE_USER_SCHEMA), "employeenumber").unwrap();
        assert_eq!(
            (schema, def.name),
            (ENTERPRISE_USER_SCHEMA, "employeeNumber")
        );
        assert_eq!(
            resolve(Some(&USER_SCHEMA.to_uppercase()), "name")
                .unwrap()
                .1
                .sub("GIVENNAME")
                .unwrap()
                .name,
            "givenName"
        );
        assert!(resolve(None, "password").is_none());
        assert!(resolve(Some("urn:example:custom"), "x").is_none());
    }

    #[test]
    fn schema_documents_list_every_attribute_with_its_characteristics() {
        let doc = schema_document(USER_SCHEMA, "https://x/Schemas/u").unwrap();
        let names: Vec<&str> = doc["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"userName")
                && names.contains(&"emails")
                && !names.contains(&"password")
        );
        let user_name = doc["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "userName")
            .unwrap();
        assert_eq!(user_name["caseExact"], false);
        assert_eq!(user_name["uniqueness"], "server");
        assert!(schema_document("urn:nope", "x").is_none());
    }
}
