//! A small cache of access tokens whose signature already checked out.
//!
//! Verifying an HS256 JWT (base64, HMAC, two JSON parses) is the largest
//! cost of an authenticated request, and a client sends the same token
//! hundreds of times. A hit needs the byte-identical token, so it can only
//! skip work that was already done for exactly that input; expiry and
//! purpose are still checked every time, and revocation is the store's
//! job, after this. Direct-mapped: each token has one slot, each slot its
//! own lock, so there is no global lock and the memory is fixed.

use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};

use subtle::ConstantTimeEq;

use super::Claims;

/// Slots in the cache: about 1 MiB with typical tokens.
const SLOTS: usize = 2048;

/// One slot: the last token that landed here, and its claims.
type Slot = Mutex<Option<(Arc<str>, Claims)>>;

pub(super) struct VerifiedCache {
    slots: Box<[Slot]>,
    // Keyed per process, so slot collisions cannot be aimed at.
    hasher: RandomState,
}

impl VerifiedCache {
    pub(super) fn new() -> Self {
        VerifiedCache {
            slots: (0..SLOTS).map(|_| Mutex::new(None)).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Where `token` lives; computed once per lookup-and-insert.
    pub(super) fn index(&self, token: &str) -> usize {
        (self.hasher.hash_one(token) % SLOTS as u64) as usize
    }

    /// The claims of `token`, if exactly this token verified before.
    pub(super) fn get(&self, index: usize, token: &str) -> Option<Claims> {
        let slot = self.slots.get(index)?.lock().ok()?;
        match &*slot {
            // Constant time: how much of a valid token a guess matched must
            // not show in the answer's timing.
            Some((cached, claims))
                if cached.len() == token.len()
                    && bool::from(cached.as_bytes().ct_eq(token.as_bytes())) =>
            {
                Some(claims.clone())
            }
            _ => None,
        }
    }

    pub(super) fn put(&self, index: usize, token: &str, claims: &Claims) {
        if let Some(Ok(mut slot)) = self.slots.get(index).map(|s| s.lock()) {
            *slot = Some((Arc::from(token), claims.clone()));
        }
    }
}
