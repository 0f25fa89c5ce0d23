//! SQL functions the typed queries call: PostgreSQL built-ins diesel does not declare, and the
//! service's own functions in its schema (see migrations/…_identity).

use diesel::sql_types::{Bool, Int4, Jsonb, Nullable, Text};

diesel::define_sql_function! {
    /// The identity key of a userName or an address: two values are the same person's when
    /// their keys are equal (any case, any normalisation form). Computed only in SQL, so that
    /// every comparison agrees with the indexes built on it.
    #[sql_name = "scim_sidecar.identity_key"]
    fn identity_key(value: Text) -> Text;
}

diesel::define_sql_function! {
    /// [`identity_key`] of a column that may be NULL.
    #[sql_name = "scim_sidecar.identity_key"]
    fn identity_key_or_null(value: Nullable<Text>) -> Nullable<Text>;
}

diesel::define_sql_function! {
    /// Length in bytes.
    fn octet_length(value: Text) -> Int4;
}

diesel::define_sql_function! {
    /// The spelling a new sign-in address is stored with in `"User"."email"`.
    #[sql_name = "scim_sidecar.sign_in_form"]
    fn sign_in_form(value: Text) -> Text;
}

diesel::define_sql_function! {
    /// Whether a stored `emails` list has an element matching every non-NULL condition.
    #[sql_name = "scim_sidecar.has_email"]
    fn has_email(
        attributes: Nullable<Jsonb>,
        kind: Nullable<Text>,
        key: Nullable<Text>,
        is_primary: Nullable<Bool>,
    ) -> Bool;
}

diesel::define_sql_function! {
    /// `coalesce` for the text of a left-joined row and a joined one.
    #[sql_name = "coalesce"]
    fn coalesce_text(first: Nullable<Text>, second: Nullable<Text>) -> Nullable<Text>;
}

diesel::define_sql_function! {
    /// `coalesce(condition, false)`: a comparison with a missing value is false, never NULL,
    /// so that `not` of it is true (RFC 7644: `not` includes members lacking the attribute).
    /// Typed nullable only so that it composes with the nullable conditions around it.
    #[sql_name = "coalesce"]
    fn known(condition: Nullable<Bool>, otherwise: Bool) -> Nullable<Bool>;
}

diesel::define_sql_function! {
    /// Returns `void`; declared as text only so that `IS NULL` can turn the call into a value
    /// a prepared, cached statement can select.
    fn pg_advisory_xact_lock(namespace: Int4, key: Int4) -> Nullable<Text>;
}
