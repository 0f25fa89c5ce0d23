use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::*;

const RSA_PRIVATE: &str = include_str!("../../tests/fixtures/license-test-rsa-private.pem");
const RSA_PUBLIC: &str = include_str!("../../tests/fixtures/license-test-rsa-public.pem");
const NOW_MS: i64 = 1_800_000_000_000;
const NOW: i64 = NOW_MS / 1000;

fn claims() -> LicenseClaims {
    LicenseClaims {
        sub: Some("lic_test".into()),
        exp: NOW + 3600,
        nbf: None,
        iat: Some(NOW - 60),
        entitlements: vec!["search".into(), "scim".into()],
        seats: Some(25),
    }
}

/// A fixed Ed25519 key pair (`openssl genpkey -algorithm ed25519`), so that these tests need
/// nothing but the verifier and jsonwebtoken.
struct TestKey {
    private_pem: &'static str,
    public_pem: &'static str,
}

impl TestKey {
    fn public_key_pem(&self) -> &str {
        self.public_pem
    }

    fn sign(&self, claims: &LicenseClaims) -> String {
        let key = EncodingKey::from_ed_pem(self.private_pem.as_bytes()).unwrap();
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, &key).unwrap()
    }
}

const VENDOR: TestKey = TestKey {
    private_pem: "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ8gEzfOVz6/OQ6T6Rx7FQo1Sb52+qkojO+M2pP7kD0R
-----END PRIVATE KEY-----
",
    public_pem: "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAU404e3I3m7j8mnQGTnJWHNMll9A82DgU2LLuIrnfAPA=
-----END PUBLIC KEY-----
",
};

const FORGER: TestKey = TestKey {
    private_pem: "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINAtwvwsF5zc7K3apWgUcyj8GOBPtAy+tm9XdUs0gkbH
-----END PRIVATE KEY-----
",
    public_pem: "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAEiudEbityycrXXiX/IeLEBLpCSljNsL8RNDIRxgDQZ8=
-----END PUBLIC KEY-----
",
};

fn ed_verifier(key: &TestKey) -> LicenseVerifier {
    LicenseVerifier::from_pem(Algorithm::EdDSA, key.public_key_pem().as_bytes()).unwrap()
}

fn rsa_sign(claims: &LicenseClaims) -> String {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).unwrap();
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
}

/// Base64url without padding, as JWT segments use it.
fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn accepts_eddsa_key_signed_by_the_vendor_key() {
    let verified = ed_verifier(&VENDOR)
        .verify(&VENDOR.sign(&claims()), NOW_MS)
        .unwrap();
    assert_eq!(verified, claims());
    assert!(verified.grants_scim(NOW_MS));
}

#[test]
fn accepts_rs256_key_when_configured() {
    let verifier = LicenseVerifier::from_pem(Algorithm::RS256, RSA_PUBLIC.as_bytes()).unwrap();
    assert_eq!(
        verifier.verify(&rsa_sign(&claims()), NOW_MS).unwrap(),
        claims()
    );
}

#[test]
fn rejects_expired_and_not_yet_valid_keys() {
    let verifier = ed_verifier(&VENDOR);
    let expired = LicenseClaims {
        exp: NOW - 1,
        ..claims()
    };
    assert!(matches!(
        verifier.verify(&VENDOR.sign(&expired), NOW_MS),
        Err(LicenseError::Expired(_))
    ));
    let early = LicenseClaims {
        nbf: Some(NOW + 10),
        ..claims()
    };
    assert!(matches!(
        verifier.verify(&VENDOR.sign(&early), NOW_MS),
        Err(LicenseError::NotYetValid(_))
    ));
}

#[test]
fn stops_granting_exactly_at_exp() {
    let c = LicenseClaims {
        exp: NOW,
        ..claims()
    };
    assert!(c.grants_scim(NOW_MS - 1));
    assert!(!c.grants_scim(NOW_MS));
    assert!(ed_verifier(&VENDOR)
        .verify(&VENDOR.sign(&c), NOW_MS)
        .is_err());
}

#[test]
fn rejects_a_key_signed_by_another_key() {
    assert_eq!(
        ed_verifier(&VENDOR).verify(&FORGER.sign(&claims()), NOW_MS),
        Err(LicenseError::BadSignature)
    );
}

#[test]
fn rejects_a_tampered_payload() {
    let token = VENDOR.sign(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let richer = LicenseClaims {
        seats: Some(100_000),
        ..claims()
    };
    let payload = base64_url(&serde_json::to_vec(&richer).unwrap());
    let tampered = format!("{}.{}.{}", parts[0], payload, parts[2]);
    assert_eq!(
        ed_verifier(&VENDOR).verify(&tampered, NOW_MS),
        Err(LicenseError::BadSignature)
    );
}

#[test]
fn rejects_alg_none() {
    let header = base64_url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = base64_url(&serde_json::to_vec(&claims()).unwrap());
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        assert!(
            ed_verifier(&VENDOR).verify(&token, NOW_MS).is_err(),
            "{token}"
        );
    }
}

#[test]
fn rejects_hs256_signed_with_the_public_key() {
    // The classic confusion attack: an HMAC "signature" keyed with the public key's bytes.
    for (algorithm, public_pem) in [
        (Algorithm::RS256, RSA_PUBLIC.to_string()),
        (Algorithm::EdDSA, VENDOR.public_key_pem().to_string()),
    ] {
        let forged = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(public_pem.as_bytes()).unwrap(),
        )
        .unwrap();
        let verifier = LicenseVerifier::from_pem(algorithm, public_pem.as_bytes()).unwrap();
        assert_eq!(
            verifier.verify(&forged, NOW_MS),
            Err(LicenseError::WrongAlgorithm(algorithm))
        );
    }
}

#[test]
fn rejects_a_key_signed_with_another_asymmetric_algorithm() {
    let verifier = LicenseVerifier::from_pem(Algorithm::RS256, RSA_PUBLIC.as_bytes()).unwrap();
    assert_eq!(
        verifier.verify(&VENDOR.sign(&claims()), NOW_MS),
        Err(LicenseError::WrongAlgorithm(Algorithm::RS256))
    );
}

#[test]
fn rejects_malformed_keys_and_keys_without_exp() {
    let verifier = ed_verifier(&VENDOR);
    for token in ["", "not-a-jwt", "a.b.c", "....."] {
        assert_eq!(
            verifier.verify(token, NOW_MS),
            Err(LicenseError::Malformed),
            "{token:?}"
        );
    }
    let no_exp = serde_json::json!({"sub": "x", "entitlements": ["scim"]});
    let header = base64_url(br#"{"alg":"EdDSA","typ":"JWT"}"#);
    let token = format!("{header}.{}.sig", base64_url(no_exp.to_string().as_bytes()));
    assert!(verifier.verify(&token, NOW_MS).is_err());
}

#[test]
fn refuses_symmetric_and_unknown_algorithms_in_config() {
    for name in ["HS256", "HS512", "none", "None", "eddsa", ""] {
        assert!(parse_algorithm(name).is_err(), "{name}");
    }
    assert_eq!(parse_algorithm("EdDSA"), Ok(Algorithm::EdDSA));
    assert_eq!(parse_algorithm("RS256"), Ok(Algorithm::RS256));
}

#[test]
fn a_refused_algorithm_setting_names_the_setting_and_its_variable() {
    let settings = LicenseSettings {
        key: None,
        public_key_file: None,
        algorithm: "HS256".into(),
        org_refresh_secs: 30,
    };
    let message = configured_algorithm(&settings).unwrap_err().to_string();
    assert!(
        message.contains("license.algorithm (SCIM__LICENSE__ALGORITHM)"),
        "{message}"
    );
}

#[test]
fn a_public_key_of_the_wrong_family_is_refused() {
    assert_eq!(
        LicenseVerifier::from_pem(Algorithm::EdDSA, RSA_PUBLIC.as_bytes()).err(),
        Some(LicenseError::PublicKeyInvalid(Algorithm::EdDSA))
    );
}
