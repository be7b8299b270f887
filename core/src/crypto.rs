//! Encryption at rest: AES-256-GCM with a random nonce per value, bound by associated data to
//! the row it belongs to, so a ciphertext copied to another row does not decrypt.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const NONCE_LEN: usize = 12;

/// `SLIPWAY_SECRET_KEY`: 32 bytes. Its Debug output never shows the bytes.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl SecretKey {
    /// Parses the base64 text form.
    pub fn from_base64(s: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(s.trim())
            .map_err(|_| "SLIPWAY_SECRET_KEY is not valid base64".to_owned())?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| {
            "SLIPWAY_SECRET_KEY must be 32 bytes (44 characters of base64)".to_owned()
        })?;
        Ok(Self(arr))
    }

    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Self(k)
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// A value that identifies the key without revealing it (HMAC of a fixed label).
    pub fn fingerprint(&self) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("any key length works");
        mac.update(b"slipway key fingerprint v1");
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new_from_slice(&self.0).expect("32-byte key")
    }

    /// Encrypts `plain`, bound to `aad` (e.g. `release:<uuid>`): nonce ‖ ciphertext.
    pub fn seal(&self, aad: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encryption does not fail for in-memory buffers");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts what [`seal`](Self::seal) made with the same `aad`.
    pub fn open(&self, aad: &str, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        anyhow::ensure!(sealed.len() > NONCE_LEN, "sealed value too short");
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "cannot decrypt a value sealed for {aad}: wrong key or tampered data"
                )
            })
    }
}

/// SHA-256 of a token, for storing and looking up API tokens.
pub fn token_hash(token: &str) -> Vec<u8> {
    use sha2::Digest;
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_binding() {
        let k = SecretKey::generate();
        let sealed = k.seal("release:1", b"hunter2");
        assert_eq!(k.open("release:1", &sealed).unwrap(), b"hunter2");
        assert!(k.open("release:2", &sealed).is_err());
        assert!(SecretKey::generate().open("release:1", &sealed).is_err());
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
    }

    #[test]
    fn keys_round_trip_through_base64_and_have_stable_fingerprints() {
        let k = SecretKey::generate();
        let again = SecretKey::from_base64(&k.to_base64()).unwrap();
        assert_eq!(k.fingerprint(), again.fingerprint());
        assert_ne!(k.fingerprint(), SecretKey::generate().fingerprint());
        assert!(SecretKey::from_base64("c2hvcnQ=").is_err());
        assert!(format!("{k:?}").contains('…'));
    }
}
