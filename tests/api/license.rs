//! Licence keys at start-up and per request.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use scim_sidecar::dev::license_issuer::EphemeralIssuer;
use scim_sidecar::license::LicenseClaims;
use scim_sidecar::startup::Application;

use crate::helpers::{
    assert_scim_error, issuer, now_secs, settings_for, valid_claims, Options, TestApp, TestDb,
    ENCRYPTION_KEY, MANIFEST_DIR,
};

const BIN: &str = env!("CARGO_BIN_EXE_scim-sidecar");
const RSA_PRIVATE: &str = include_str!("../fixtures/license-test-rsa-private.pem");

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn rs256(claims: &LicenseClaims) -> String {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
}

/// Every kind of bad key an operator might configure, with the word the refusal must use.
fn bad_keys() -> Vec<(&'static str, String, &'static str)> {
    let (vendor, public_path) = issuer();
    let public_pem = std::fs::read_to_string(public_path).unwrap();
    let valid = vendor.sign(&valid_claims());
    let parts: Vec<&str> = valid.split('.').collect();
    let richer = LicenseClaims {
        seats: Some(1_000_000),
        ..valid_claims()
    };
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&serde_json::to_vec(&richer).unwrap()),
        parts[2]
    );
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(&serde_json::to_vec(&valid_claims()).unwrap())
    );
    let hs256 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &valid_claims(),
        &EncodingKey::from_secret(public_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    vec![
        (
            "expired",
            vendor.sign(&LicenseClaims {
                exp: now_secs() - 10,
                ..valid_claims()
            }),
            "expired",
        ),
        (
            "not yet valid",
            vendor.sign(&LicenseClaims {
                nbf: Some(now_secs() + 3600),
                ..valid_claims()
            }),
            "not valid yet",
        ),
        (
            "wrong key",
            EphemeralIssuer::generate().sign(&valid_claims()),
            "signature",
        ),
        ("tampered payload", tampered, "signature"),
        ("alg none", none, "licence key"),
        ("HS256 with the public key", hs256, "another algorithm"),
        (
            "RS256 while EdDSA is configured",
            rs256(&valid_claims()),
            "another algorithm",
        ),
        ("malformed", "not-a-licence".to_owned(), "malformed"),
        (
            "without scim",
            vendor.sign(&LicenseClaims {
                entitlements: vec!["search".into()],
                ..valid_claims()
            }),
            "scim",
        ),
    ]
}

#[tokio::test]
async fn serve_exits_non_zero_on_every_bad_licence_key() {
    let db = TestDb::migrated().await;
    let (_, public_path) = issuer();
    for (case, key, expected) in bad_keys() {
        let output = std::process::Command::new(BIN)
            .arg("serve")
            .current_dir(MANIFEST_DIR)
            .env_clear()
            .env("DATABASE_URL", &db.url)
            .env("SOURCEBOT_ENCRYPTION_KEY", ENCRYPTION_KEY)
            .env("SCIM_LISTEN", "127.0.0.1:0")
            .env("SCIM_LICENSE_KEY", &key)
            .env("SCIM_LICENSE_PUBLIC_KEY_FILE", public_path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{case}: serve started");
        assert!(stderr.contains("licence key"), "{case}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{case}: expected {expected:?} in {stderr}"
        );
        assert!(!stderr.contains(&key), "{case}: the key was printed");
    }
}

#[tokio::test]
async fn check_reports_the_licence_state() {
    let db = TestDb::migrated().await;
    let (vendor, public_path) = issuer();
    let run = |key: String| {
        std::process::Command::new(BIN)
            .arg("check")
            .current_dir(MANIFEST_DIR)
            .env_clear()
            .env("DATABASE_URL", &db.url)
            .env("SOURCEBOT_ENCRYPTION_KEY", ENCRYPTION_KEY)
            .env("SCIM_LICENSE_KEY", key)
            .env("SCIM_LICENSE_PUBLIC_KEY_FILE", public_path)
            .output()
            .unwrap()
    };
    let good = run(vendor.sign(&valid_claims()));
    let report = String::from_utf8_lossy(&good.stdout);
    // Valid, yet warned about (an hour-long key expires soon): exit 2, warnings only.
    assert_eq!(good.status.code(), Some(2), "{report}");
    assert!(report.contains("key lic_test (EdDSA)"), "{report}");
    assert!(
        report.contains("entitlements [scim]") && report.contains("seats 50"),
        "{report}"
    );
    let expired = run(vendor.sign(&LicenseClaims {
        exp: now_secs() - 1,
        ..valid_claims()
    }));
    assert_eq!(expired.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&expired.stdout)
        .contains("[FAIL] licence: the licence key has expired"));
}

/// A licence key, the public key it is verified with and the configured algorithm.
fn configured_key(key: String, public_key: &Path, algorithm: &str) -> Options {
    Options::unlicensed(&[
        ("SCIM_LICENSE_KEY", &key),
        (
            "SCIM_LICENSE_PUBLIC_KEY_FILE",
            &public_key.display().to_string(),
        ),
        ("SCIM__LICENSE__ALGORITHM", algorithm),
    ])
}

#[tokio::test]
async fn eddsa_and_rs256_keys_are_accepted() {
    let (vendor, eddsa_public) = issuer();
    let rsa_public = Path::new(MANIFEST_DIR).join("tests/fixtures/license-test-rsa-public.pem");
    let eddsa_key = || vendor.sign(&valid_claims());
    let rs256_key = || rs256(&valid_claims());

    // Each algorithm's key starts the server and lets its token provision (without a usable
    // key, an org with no "License" row is refused with 403).
    let eddsa = TestApp::spawn_with(configured_key(eddsa_key(), eddsa_public, "EdDSA")).await;
    assert_eq!(eddsa.status("/Users").await, 200);
    let rs = TestApp::spawn_with(configured_key(rs256_key(), &rsa_public, "RS256")).await;
    assert_eq!(rs.status("/Users").await, 200);

    // A key signed with the other algorithm stops start-up.
    for (case, options) in [
        (
            "EdDSA key, RS256 configured",
            configured_key(eddsa_key(), &rsa_public, "RS256"),
        ),
        (
            "RS256 key, EdDSA configured",
            configured_key(rs256_key(), eddsa_public, "EdDSA"),
        ),
    ] {
        let refused = Application::build(&settings_for(&rs.db.url, &options))
            .await
            .err()
            .unwrap_or_else(|| panic!("{case}: the server started"));
        assert!(
            format!("{refused:#}").contains("another algorithm"),
            "{case}: {refused:#}"
        );
    }
}

#[tokio::test]
async fn a_licence_expiring_while_serving_flips_requests_to_403_at_exp() {
    // Time enough for start-up on a loaded machine (the key must still be valid then), and
    // short enough for `until_status`'s 10 s.
    let exp = now_secs() + 6;
    let app = TestApp::spawn_with(Options {
        license: Some(LicenseClaims {
            exp,
            ..valid_claims()
        }),
        ..Default::default()
    })
    .await;
    assert_eq!(app.status("/ServiceProviderConfig").await, 200);
    app.until_status("/ServiceProviderConfig", 403).await;
    assert!(
        chrono::Utc::now().timestamp_millis() >= exp * 1000,
        "refused before exp"
    );
    let body =
        assert_scim_error(app.get("/ServiceProviderConfig").send().await.unwrap(), 403).await;
    assert!(body["detail"].as_str().unwrap().contains("licence"));
}

/// A server without a licence key that reads the org's `"License"` row every `secs` seconds.
async fn without_key_reading_org_rows_every(secs: u32) -> TestApp {
    let secs = secs.to_string();
    TestApp::spawn_with(Options::unlicensed(&[(
        "SCIM__LICENSE__ORG_REFRESH_SECS",
        &secs,
    )]))
    .await
}

#[tokio::test]
async fn an_org_licence_row_grants_scim_and_losing_it_takes_effect_within_the_bound() {
    let app = without_key_reading_org_rows_every(1).await;
    assert_scim_error(app.get("/ServiceProviderConfig").send().await.unwrap(), 403).await;
    app.db
        .run_sql(&format!(
            "INSERT INTO \"License\" (id, \"orgId\", \"activationCode\", entitlements, seats, status, \"lastSyncAt\", \"updatedAt\") \
             VALUES ('lic1', {}, 'code', '{{search,scim}}', 10, 'active', now() AT TIME ZONE 'UTC', now())",
            app.org_id
        ))
        .await;
    app.until_status("/ServiceProviderConfig", 200).await;

    app.db
        .run_sql("UPDATE \"License\" SET entitlements = '{search}'")
        .await;
    app.until_status_within("/ServiceProviderConfig", 403, Duration::from_millis(2500))
        .await;
}

#[tokio::test]
async fn a_stale_or_inactive_org_licence_row_does_not_grant() {
    let app = without_key_reading_org_rows_every(0).await;
    for (status, synced) in [
        ("active", "now() AT TIME ZONE 'UTC' - interval '8 days'"),
        ("canceled", "now() AT TIME ZONE 'UTC'"),
    ] {
        app.db.run_sql("DELETE FROM \"License\"").await;
        app.db
            .run_sql(&format!(
                "INSERT INTO \"License\" (id, \"orgId\", \"activationCode\", entitlements, status, \"lastSyncAt\", \"updatedAt\") \
                 VALUES ('lic1', {}, 'code', '{{scim}}', '{status}', {synced}, now())",
                app.org_id
            ))
            .await;
        assert_scim_error(app.get("/ServiceProviderConfig").send().await.unwrap(), 403).await;
    }
}
