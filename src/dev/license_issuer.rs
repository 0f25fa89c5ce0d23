//! Issuing licence keys with a throw-away Ed25519 key generated in this process. `demo` and
//! the tests use it; a real deployment only ever verifies keys signed by the vendor, which is
//! why this is development tooling. Its `expect`s guard encodings that cannot fail for a key
//! this process has just made.

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::license::LicenseClaims;

/// A key pair that exists only in this process.
pub struct EphemeralIssuer {
    signing_pem: String,
    public_pem: String,
}

impl EphemeralIssuer {
    pub fn generate() -> Self {
        let signing = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let signing_pem = signing
            .to_pkcs8_pem(LineEnding::LF)
            .expect("a fresh Ed25519 key encodes as PKCS#8")
            .to_string();
        let public_pem = signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("an Ed25519 public key encodes as SPKI");
        Self {
            signing_pem,
            public_pem,
        }
    }

    /// The public key, PEM-encoded, as `SCIM_LICENSE_PUBLIC_KEY_FILE` expects it.
    pub fn public_key_pem(&self) -> &str {
        &self.public_pem
    }

    /// Signs `claims` with EdDSA.
    pub fn sign(&self, claims: &LicenseClaims) -> String {
        let key = EncodingKey::from_ed_pem(self.signing_pem.as_bytes())
            .expect("the key was encoded by this process");
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, &key)
            .expect("signing with a valid Ed25519 key succeeds")
    }
}
