//! SCIM filter and attribute-path grammar (RFC 7644 §3.4.2.2 and §3.5.2): parsing only.
