//! The identity model: userName as the IdP sends it, every address kept, the sign-in address
//! picked from them, people matched on POST by externalId then address, and one notion of "the
//! same address" in any case or Unicode form. Every test reads the rows back.

use serde_json::{json, Value};

use crate::helpers::{assert_scim_error, in_both_modes, in_mode, Options, TestApp, TestDb};

const UPN: &str = "Adele.Vance@contoso.onmicrosoft.com";
const MAIL: &str = "adele@contoso.com";
const OBJECT_ID: &str = "5b0f4c2e-entra-object-id";

/// Entra ID's default attribute mapping: userName = UPN, the work e-mail = mail.
fn entra_user(upn: &str, mail: &str) -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": OBJECT_ID,
        "userName": upn,
        "active": true,
        "displayName": "Adele Vance",
        "emails": [{"primary": true, "type": "work", "value": mail}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Adele Vance", "familyName": "Vance", "givenName": "Adele"}
    })
}

impl TestApp {
    async fn user_email(&self, id: &str) -> Option<String> {
        self.db
            .text(&format!("SELECT email FROM \"User\" WHERE id = '{id}'"))
            .await
    }

    async fn stored_user_name(&self, id: &str) -> Option<String> {
        self.db
            .text(&format!(
                "SELECT user_name FROM scim_sidecar.user_profile WHERE org_id = {} AND user_id = '{id}'",
                self.org_id
            ))
            .await
    }

    /// The ids a filter finds.
    async fn found(&self, filter: &str) -> Vec<String> {
        let page = self.list(filter).await;
        page["Resources"]
            .as_array()
            .unwrap_or_else(|| panic!("{filter}: {page}"))
            .iter()
            .map(|user| user["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Rows of every table a create writes, to prove a refused request wrote nothing.
    async fn row_counts(&self) -> [i64; 4] {
        [
            self.db.count("SELECT count(*) FROM \"User\"").await,
            self.db.count("SELECT count(*) FROM \"UserToOrg\"").await,
            self.db
                .count("SELECT count(*) FROM scim_sidecar.user_profile")
                .await,
            self.db.count("SELECT count(*) FROM \"Audit\"").await,
        ]
    }
}

in_both_modes! {
    async fn entra_default_mapping_with_upn_other_than_mail_works_end_to_end(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::default())).await;

        // Connection test and the matching queries before the create find nobody.
        let probe = app
            .list("userName eq \"0b9a8f4e-5a7c-4c37-9f0c-3f8f2a7d1e55\"")
            .await;
        assert_eq!(
            (&probe["totalResults"], &probe["Resources"]),
            (&json!(0), &json!([]))
        );
        for filter in [
            format!("userName eq \"{UPN}\""),
            format!("externalId eq \"{OBJECT_ID}\""),
            format!("emails[type eq \"work\"].value eq \"{MAIL}\""),
        ] {
            assert!(app.found(&filter).await.is_empty(), "{filter}");
        }

        // Create: both values come back as sent; the app signs Adele in with the mail address.
        let created = app.post_user(&entra_user(UPN, MAIL)).await;
        assert_eq!(created.status().as_u16(), 201);
        let user: Value = created.json().await.unwrap();
        let id = user["id"].as_str().unwrap().to_owned();
        assert_eq!(user["userName"], UPN);
        assert_eq!(
            user["emails"],
            json!([{"primary": true, "type": "work", "value": MAIL}])
        );
        assert_eq!(app.user_email(&id).await.as_deref(), Some(MAIL));
        assert_eq!(app.stored_user_name(&id).await.as_deref(), Some(UPN));
        let fetched = app.get_json(&format!("/Users/{id}")).await;
        assert_eq!(
            (&fetched["userName"], &fetched["emails"]),
            (&user["userName"], &user["emails"])
        );

        // The three ways Entra matches each find exactly Adele; the mail is not her userName.
        for filter in [
            "userName eq \"adele.vance@CONTOSO.onmicrosoft.com\"".to_owned(),
            format!("externalId eq \"{OBJECT_ID}\""),
            "emails[type eq \"work\"].value eq \"Adele@Contoso.com\"".to_owned(),
            format!("emails.value eq \"{MAIL}\""),
        ] {
            assert_eq!(app.found(&filter).await, vec![id.clone()], "{filter}");
        }
        assert!(app
            .found(&format!("userName eq \"{MAIL}\""))
            .await
            .is_empty());

        // A new work address moves the sign-in address; userName stays.
        let moved = app
            .patch_user(
                &id,
                json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "adele.vance@contoso.com"}]),
            )
            .await;
        assert_eq!(moved.status().as_u16(), 200);
        assert_eq!(moved.json::<Value>().await.unwrap()["userName"], UPN);
        assert_eq!(
            app.user_email(&id).await.as_deref(),
            Some("adele.vance@contoso.com")
        );
        assert!(app
            .found(&format!("emails[type eq \"work\"].value eq \"{MAIL}\""))
            .await
            .is_empty());
        assert_eq!(
            app.found("emails[type eq \"work\"].value eq \"adele.vance@contoso.com\"")
                .await,
            vec![id.clone()]
        );

        // Disable and enable, as Entra sends them.
        let sessions = app.session_version(&id).await;
        let disabled = app
            .patch_user(
                &id,
                json!([{"op": "Replace", "path": "active", "value": "False"}]),
            )
            .await;
        assert_eq!(disabled.status().as_u16(), 200);
        assert!(!app.is_active(&id).await);
        assert_eq!(app.session_version(&id).await, sessions + 1);
        let enabled = app
            .patch_user(
                &id,
                json!([{"op": "Replace", "path": "active", "value": "True"}]),
            )
            .await;
        assert_eq!(enabled.status().as_u16(), 200);
        assert!(app.is_active(&id).await);

        // DELETE hides Adele; the membership row stays with its externalId.
        let deleted = app.delete_user(&id).await;
        assert_eq!(deleted.status().as_u16(), 204);
        assert_eq!(app.status(&format!("/Users/{id}")).await, 404);
        assert!(app
            .found(&format!("externalId eq \"{OBJECT_ID}\""))
            .await
            .is_empty());

        // Re-provisioned with yet another address: the same id, one account.
        let back = app.post_user(&entra_user(UPN, "adele.v@contoso.com")).await;
        assert_eq!(back.status().as_u16(), 201);
        let back: Value = back.json().await.unwrap();
        assert_eq!(back["id"], id.as_str());
        assert_eq!(back["emails"][0]["value"], "adele.v@contoso.com");
        assert_eq!(
            app.user_email(&id).await.as_deref(),
            Some("adele.v@contoso.com")
        );
        assert!(app.is_active(&id).await);
        assert_eq!(app.db.count("SELECT count(*) FROM \"User\"").await, 1);
        assert_eq!(app.audit_count("org.member_reactivated", &id).await, 2);
    }
}

in_both_modes! {
    async fn a_deleted_member_who_returns_with_a_new_address_keeps_their_id(mode) {
        let app = TestApp::spawn_with(in_mode(mode, Options::default())).await;
        let user = app.create_user("first@example.com", "jdoe").await;
        let id = user["id"].as_str().unwrap();
        let deleted = app.delete_user(id).await;
        assert_eq!(deleted.status().as_u16(), 204);
        assert_eq!(
            app.db
                .count("SELECT count(*) FROM scim_sidecar.member WHERE external_id = 'jdoe' AND NOT is_active AND hidden_at IS NOT NULL")
                .await,
            1
        );
        let back = app
            .post_user(&crate::helpers::okta_user(
                "renamed@example.com",
                "jdoe",
                "J",
                "Doe",
            ))
            .await;
        assert_eq!(back.status().as_u16(), 201);
        assert_eq!(back.json::<Value>().await.unwrap()["id"], id);
        assert_eq!(app.db.count("SELECT count(*) FROM \"User\"").await, 1);
        assert_eq!(
            app.user_email(id).await.as_deref(),
            Some("renamed@example.com")
        );
        assert_eq!(
            app.stored_user_name(id).await.as_deref(),
            Some("renamed@example.com")
        );
    }
}

#[tokio::test]
async fn a_generic_client_with_a_login_name_needs_one_address() {
    let app = TestApp::spawn().await;
    let created = app
        .post_user(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "bjensen",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "bjensen@example.com"}]
        }))
        .await;
    assert_eq!(created.status().as_u16(), 201);
    let user: Value = created.json().await.unwrap();
    let id = user["id"].as_str().unwrap();
    assert_eq!(user["userName"], "bjensen");
    assert_eq!(user["emails"], json!([{"value": "bjensen@example.com"}]));
    assert_eq!(
        app.user_email(id).await.as_deref(),
        Some("bjensen@example.com")
    );
    assert_eq!(
        app.found("userName eq \"BJensen\"").await,
        vec![id.to_owned()]
    );
    assert_eq!(
        app.found("emails.value eq \"bjensen@example.com\"").await,
        vec![id.to_owned()]
    );

    // No address at all: refused, and nothing is written.
    let before = app.row_counts().await;
    let refused = app
        .post_user(
            &json!({"userName": "ajones", "name": {"givenName": "A", "familyName": "Jones"}}),
        )
        .await;
    let error = assert_scim_error(refused, 400).await;
    assert_eq!(error["scimType"], "invalidValue");
    assert!(error["detail"]
        .as_str()
        .unwrap()
        .contains("e-mail address is required"));
    assert_eq!(app.row_counts().await, before);
}

#[tokio::test]
async fn user_names_are_unique_per_org_ignoring_case_and_form() {
    let app = TestApp::spawn().await;
    app.db
        .run_sql(&format!(
            "INSERT INTO \"User\" (id, email, \"updatedAt\") VALUES ('app-1', 'carol@example.com', now()); \
             INSERT INTO \"UserToOrg\" (\"orgId\", \"userId\") VALUES ({}, 'app-1');",
            app.org_id
        ))
        .await;
    let first = app
        .post_user(&json!({"userName": "Bjensen", "emails": [{"value": "a@example.com"}]}))
        .await;
    assert_eq!(first.status().as_u16(), 201);
    let before = app.row_counts().await;
    for (user_name, address) in [
        ("BJENSEN", "b@example.com"),
        ("ｂｊｅｎｓｅｎ", "c@example.com"),
        // A member the app created answers its address as userName.
        ("Carol@Example.com", "d@example.com"),
    ] {
        let duplicate = app
            .post_user(&json!({"userName": user_name, "emails": [{"value": address}]}))
            .await;
        assert_eq!(
            assert_scim_error(duplicate, 409).await["scimType"],
            "uniqueness",
            "{user_name}"
        );
    }
    assert_eq!(app.row_counts().await, before);
}

#[tokio::test]
async fn two_addresses_are_kept_and_each_patch_moves_the_sign_in_address_by_the_rule() {
    let app = TestApp::spawn().await;
    let created = app
        .post_user(&json!({
            "userName": "kim",
            "emails": [
                {"value": "kim@work.example", "type": "work"},
                {"value": "kim@home.example", "type": "home"}
            ]
        }))
        .await;
    assert_eq!(created.status().as_u16(), 201);
    let user: Value = created.json().await.unwrap();
    let id = user["id"].as_str().unwrap().to_owned();
    assert_eq!(user["emails"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.user_email(&id).await.as_deref(),
        Some("kim@work.example")
    );
    assert_eq!(
        app.found("emails.value eq \"KIM@home.example\"").await,
        vec![id.clone()]
    );
    assert_eq!(
        app.found("emails[type eq \"home\"].value eq \"kim@home.example\"")
            .await,
        vec![id.clone()]
    );
    assert!(app
        .found("emails[type eq \"work\"].value eq \"kim@home.example\"")
        .await
        .is_empty());

    // (operations, the emails afterwards, the sign-in address afterwards)
    let steps = [
        (
            json!([{"op": "add", "path": "emails", "value": [{"value": "kim@other.example", "type": "other"}]}]),
            json!([
                {"value": "kim@work.example", "type": "work"},
                {"value": "kim@home.example", "type": "home"},
                {"value": "kim@other.example", "type": "other"}
            ]),
            "kim@work.example",
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "kim@newjob.example"}]),
            json!([
                {"value": "kim@newjob.example", "type": "work"},
                {"value": "kim@home.example", "type": "home"},
                {"value": "kim@other.example", "type": "other"}
            ]),
            "kim@newjob.example",
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
            json!([
                {"value": "kim@newjob.example", "type": "work"},
                {"value": "kim@home.example", "type": "home", "primary": true},
                {"value": "kim@other.example", "type": "other"}
            ]),
            "kim@home.example",
        ),
        (
            json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
            json!([
                {"value": "kim@newjob.example", "type": "work"},
                {"value": "kim@other.example", "type": "other"}
            ]),
            "kim@newjob.example",
        ),
    ];
    for (operations, emails, sign_in) in steps {
        let patched = app.patch_user(&id, operations.clone()).await;
        assert_eq!(patched.status().as_u16(), 200, "{operations}");
        assert_eq!(
            patched.json::<Value>().await.unwrap()["emails"],
            emails,
            "{operations}"
        );
        assert_eq!(
            app.user_email(&id).await.as_deref(),
            Some(sign_in),
            "{operations}"
        );
    }
    assert_eq!(app.stored_user_name(&id).await.as_deref(), Some("kim"));

    // Removing every address leaves none to sign in with.
    let stripped = app
        .patch_user(&id, json!([{"op": "remove", "path": "emails"}]))
        .await;
    assert_eq!(
        assert_scim_error(stripped, 400).await["scimType"],
        "invalidValue"
    );
    assert_eq!(
        app.user_email(&id).await.as_deref(),
        Some("kim@newjob.example")
    );

    // An address another account signs in with cannot become Kim's.
    app.db
        .run_sql("INSERT INTO \"User\" (id, email, \"updatedAt\") VALUES ('other', 'taken@example.com', now())")
        .await;
    let taken = app
        .patch_user(
            &id,
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "TAKEN@example.com"}]),
        )
        .await;
    assert_eq!(
        assert_scim_error(taken, 409).await["scimType"],
        "uniqueness"
    );
    assert_eq!(
        app.user_email(&id).await.as_deref(),
        Some("kim@newjob.example")
    );
}

#[tokio::test]
async fn unicode_spellings_of_an_address_the_app_has_are_the_same_person() {
    // (the app's spelling, the IdP's spelling, same person?)
    let cases: &[(&str, &str, bool)] = &[
        ("ÖZLEM.İNCE@example.com", "ÖZLEM.İNCE@example.com", true),
        ("ÖZLEM.İNCE@example.com", "özlem.ince@example.com", true),
        ("özlem.ince@example.com", "özlem.ınce@example.com", false),
        ("ΟΔΥΣΣΕΑΣ@example.gr", "οδυσσεας@example.gr", true),
        ("ΟΔΥΣΣΕΑΣ@example.gr", "Οδυσσεασ@EXAMPLE.gr", true),
        ("rené@example.com", "rene\u{301}@example.com", true),
        ("RENE\u{301}@example.com", "rené@example.com", true),
        ("jane@example.com", "ｊａｎｅ@example.com", true),
        ("straße@example.de", "STRASSE@example.de", false),
        ("Ünal@example.com", "ünal@EXAMPLE.COM", true),
    ];
    for (app_spelling, idp_spelling, same) in cases {
        let app = TestApp::spawn().await;
        app.db
            .run_sql(&format!(
                "INSERT INTO \"User\" (id, email, \"updatedAt\") VALUES ('app-user', '{app_spelling}', now())"
            ))
            .await;
        let created = app
            .post_user(&json!({"userName": idp_spelling, "emails": [{"value": idp_spelling, "type": "work"}]}))
            .await;
        assert_eq!(
            created.status().as_u16(),
            201,
            "{app_spelling} / {idp_spelling}"
        );
        let id = created.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let accounts = app.db.count("SELECT count(*) FROM \"User\"").await;
        if *same {
            assert_eq!(
                (id.as_str(), accounts),
                ("app-user", 1),
                "{app_spelling} / {idp_spelling}"
            );
            // The app keeps its own spelling of the address.
            assert_eq!(app.user_email(&id).await.as_deref(), Some(*app_spelling));
            assert_eq!(
                app.found(&format!("userName eq \"{app_spelling}\"")).await,
                vec![id.clone()]
            );
        } else {
            assert_ne!(id, "app-user", "{app_spelling} / {idp_spelling}");
            assert_eq!(accounts, 2, "{app_spelling} / {idp_spelling}");
        }
    }
}

#[tokio::test]
async fn an_address_with_a_capital_outside_ascii_is_accepted_and_stored_lower_case() {
    let app = TestApp::spawn().await;
    let created = app
        .post_user(&json!({"userName": "Ünal@example.com", "emails": [{"value": "Ünal@example.com", "type": "work"}]}))
        .await;
    assert_eq!(created.status().as_u16(), 201);
    let user: Value = created.json().await.unwrap();
    assert_eq!(user["userName"], "Ünal@example.com");
    let id = user["id"].as_str().unwrap();
    assert_eq!(
        app.user_email(id).await.as_deref(),
        Some("ünal@example.com")
    );
}

#[tokio::test]
async fn invisible_and_bidirectional_characters_are_refused_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let before = app.row_counts().await;
    for bad in [
        "ja\u{200B}ne@example.com",
        "jane\u{200F}@example.com",
        "\u{202E}moc.elpmaxe@enaj",
        "jane@exa\u{2066}mple.com",
        "\u{FEFF}jane@example.com",
    ] {
        for body in [
            json!({"userName": bad, "emails": [{"value": "ok@example.com"}]}),
            json!({"userName": "ok", "emails": [{"value": bad}]}),
        ] {
            let refused = app.post_user(&body).await;
            assert_eq!(
                assert_scim_error(refused, 400).await["scimType"],
                "invalidValue",
                "{body}"
            );
        }
    }
    assert_eq!(app.row_counts().await, before);
}

#[tokio::test]
async fn the_identity_migration_keeps_every_answer_of_existing_members() {
    use scim_sidecar::db::{migrations, ConnectOptions};
    let db = TestDb::with_app_schema().await;
    // The schema as the previous release left it: its two migrations, a provisioned member
    // whose e-mail was stored with a type and display, and one with none.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    let mut previous =
        String::from("CREATE SCHEMA scim_sidecar; SET search_path TO scim_sidecar, public;");
    for name in [
        "2026-11-28-000001_scim_app_additions",
        "2026-11-28-000002_user_profile",
    ] {
        previous.push_str(&std::fs::read_to_string(format!("{dir}/{name}/up.sql")).unwrap());
    }
    db.run_sql(&previous).await;
    let org_id = db.create_org("Acme").await;
    db.run_sql(&format!(
        "INSERT INTO \"User\" (id, email, name, \"updatedAt\") VALUES \
           ('typed', 'jane@example.com', 'Jane Doe', '2026-01-01 00:00:00'), \
           ('plain', 'sam@example.com', NULL, '2026-01-01 00:00:00'); \
         INSERT INTO \"UserToOrg\" (\"orgId\", \"userId\", \"joinedAt\", \"scimExternalId\") VALUES \
           ({org_id}, 'typed', '2026-01-01 00:00:00', 'x-typed'), \
           ({org_id}, 'plain', '2026-01-01 00:00:00', 'x-plain'); \
         INSERT INTO scim_sidecar.user_profile (org_id, user_id, attributes, created_at, updated_at) VALUES \
           ({org_id}, 'typed', '{{\"emails\": [{{\"type\": \"home\", \"display\": \"Jane\"}}], \"title\": \"Eng\"}}', '2026-01-01', '2026-01-01'), \
           ({org_id}, 'plain', '{{}}', '2026-01-01', '2026-01-01');"
    ))
    .await;
    let target = ConnectOptions::from_url(&db.url, None).unwrap();
    migrations::run_pending(&target).await.unwrap();
    let app = TestApp::spawn_on(db, org_id, Options::default()).await;

    // What the previous release answered for these two members (its ETags included).
    let expected = [
        (
            "typed",
            json!({"userName": "jane@example.com", "emails": [{"value": "jane@example.com", "type": "home", "display": "Jane", "primary": true}], "title": "Eng"}),
            "W/\"79aa20d50f57260f6531974b\"",
        ),
        (
            "plain",
            json!({"userName": "sam@example.com", "emails": [{"value": "sam@example.com", "type": "work", "primary": true}]}),
            "W/\"a17329451a0c826d389a0b5a\"",
        ),
    ];
    for (id, fields, etag) in expected {
        let user = app.get_json(&format!("/Users/{id}")).await;
        for (key, value) in fields.as_object().unwrap() {
            assert_eq!(&user[key], value, "{id}.{key}");
        }
        assert_eq!(user["meta"]["version"], etag, "{id}");
        assert_eq!(
            app.found(&format!(
                "userName eq \"{}\"",
                fields["userName"].as_str().unwrap()
            ))
            .await,
            vec![id.to_owned()]
        );
    }
}
