//! HTTP basic authentication against `basic_auth_users` (bcrypt hashes), as exporter-toolkit
//! does it: one bcrypt comparison at a time (bcrypt is slow on purpose, so a flood of
//! guesses must not take every core), verdicts cached, and an unknown user costs the same
//! bcrypt as a known one. Unlike exporter-toolkit, the cache key is a SHA-256 of user, hash
//! and password, so no password stays in memory.

use axum::http::HeaderValue;
use base64::Engine;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Verdicts remembered; beyond this an arbitrary one is forgotten (as exporter-toolkit).
const CACHE_SIZE: usize = 100;

/// Compared against when the user is unknown, so the answer takes as long as for a known
/// user with a wrong password (a bcrypt hash of a password nobody knows, cost 10).
const DUMMY_HASH: &str = "$2y$10$x.8Tb19wepWaGpSVgma2WeVm5r3zMglJEkfttGOj/6S5M1/10NZQ.";

pub struct BasicAuth {
    users: BTreeMap<String, String>,
    verdicts: Mutex<HashMap<[u8; 32], bool>>,
    /// One bcrypt at a time.
    bcrypt: Arc<tokio::sync::Semaphore>,
}

impl BasicAuth {
    pub fn new(users: BTreeMap<String, String>) -> Self {
        BasicAuth {
            users,
            verdicts: Mutex::new(HashMap::new()),
            bcrypt: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    /// Whether `authorization` (the request header) names a user with the right password.
    pub async fn allows(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return false;
        };
        let known = self.users.get(&user);
        let hash = known.map(String::as_str).unwrap_or(DUMMY_HASH);
        let key = cache_key(&user, hash, &password);
        let cached = crate::base::lock::lock(&self.verdicts, "auth cache")
            .get(&key)
            .copied();
        let matches = match cached {
            Some(verdict) => verdict,
            None => {
                let verdict = self.compare(password, hash.to_string()).await;
                let mut verdicts = crate::base::lock::lock(&self.verdicts, "auth cache");
                if verdicts.len() >= CACHE_SIZE
                    && let Some(any) = verdicts.keys().next().copied()
                {
                    verdicts.remove(&any);
                }
                verdicts.insert(key, verdict);
                verdict
            }
        };
        matches && known.is_some()
    }

    /// bcrypt's own comparison (constant-time), off the async threads, one at a time.
    async fn compare(&self, password: String, hash: String) -> bool {
        let Ok(_turn) = self.bcrypt.clone().acquire_owned().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false)
    }
}

/// `Basic base64(user:password)`; anything else is no credentials.
fn basic_credentials(header: &HeaderValue) -> Option<(String, String)> {
    let text = header.to_str().ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The cache holds no password, only a digest that includes the hash, so a changed hash
/// for the same user never reuses an old verdict.
fn cache_key(user: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user, hash, password] {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part.as_bytes());
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> HeaderValue {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    fn alice() -> BasicAuth {
        // The hash of "right", cost 4 to keep the test fast.
        let hash = bcrypt::hash("right", 4).unwrap();
        BasicAuth::new(BTreeMap::from([("alice".to_string(), hash)]))
    }

    #[tokio::test]
    async fn right_password_passes_and_others_do_not() {
        let auth = alice();
        assert!(auth.allows(Some(&header("alice", "right"))).await);
        assert!(auth.allows(Some(&header("alice", "right"))).await, "cached");
        assert!(!auth.allows(Some(&header("alice", "wrong"))).await);
        assert!(!auth.allows(Some(&header("bob", "right"))).await);
        assert!(!auth.allows(None).await);
        assert!(
            !auth
                .allows(Some(&HeaderValue::from_static("Bearer x")))
                .await
        );
        assert!(
            !auth
                .allows(Some(&HeaderValue::from_static("Basic !!!")))
                .await
        );
    }

    #[tokio::test]
    async fn the_cache_stays_bounded() {
        let auth = alice();
        for i in 0..(CACHE_SIZE + 20) {
            auth.allows(Some(&header("alice", &i.to_string()))).await;
        }
        assert!(auth.verdicts.lock().unwrap().len() <= CACHE_SIZE);
    }

    #[test]
    fn the_dummy_hash_is_a_bcrypt_hash() {
        assert!(!bcrypt::verify("", DUMMY_HASH).unwrap());
    }
}
