//! argon2id on memory each hashing thread keeps, instead of 19 MiB from the
//! allocator for every hash.
//!
//! Freshly allocated per hash, the blocks were freed into glibc's
//! per-thread arenas, which kept them: a 64-login burst on 2 hashing
//! threads left the server at 340 MiB, where 2 × 19 MiB were ever in use.
//! Here each hashing thread allocates blocks for today's `m_cost` once and
//! reuses them, so hashing memory is the threads times `m_cost`, as the
//! memory budget assumes. A stored hash of a higher cost (made before the
//! cost was lowered) is checked on blocks of its own, freed when it is done,
//! so one such login cannot leave a thread holding more than the budget
//! counts. argon2 overwrites every block before reading it, so what a buffer
//! held before changes nothing.

use std::cell::RefCell;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;

thread_local! {
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `argon` into `out`: on this thread's blocks if `params` need no
/// more than `current` (today's cost) does, else on blocks freed after.
fn run(
    argon: &Argon2<'_>,
    params: &Params,
    current: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> bool {
    let needed = params.block_count();
    let mut into = |blocks: &mut [Block]| {
        argon
            .hash_password_into_with_memory(password, salt, out, blocks)
            .is_ok()
    };
    if needed > current.block_count() {
        return into(&mut vec![Block::default(); needed]);
    }
    BLOCKS.with_borrow_mut(|blocks| {
        if blocks.len() < needed {
            blocks.resize(needed, Block::default());
        }
        into(&mut blocks[..needed])
    })
}

/// How many blocks this thread keeps.
#[cfg(test)]
pub(super) fn held_blocks() -> usize {
    BLOCKS.with_borrow(Vec::len)
}

/// A PHC string of argon2id v19 under `params` with a random salt, on
/// this thread's blocks.
pub(super) fn hash(
    params: &Params,
    password: &[u8],
) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    if !run(&argon, params, params, password, &salt, &mut out) {
        return Err(argon2::password_hash::Error::Crypto);
    }
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(Salt::new(&salt)?),
        hash: Some(Output::new(&out)?),
    };
    Ok(phc.to_string())
}

/// Whether `password` gives `hash`, under the algorithm, version and
/// parameters `hash` names, on this thread's blocks unless they cost more
/// than `current`. The comparison is in constant time (`Output`'s equality).
pub(super) fn verify(hash: &PasswordHash, password: &[u8], current: &Params) -> bool {
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(hash) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let Some(out) = buffer.get_mut(..expected.len()) else {
        return false;
    };
    run(&argon, &params, current, password, salt, out)
        && Output::new(out).is_ok_and(|o| o == *expected)
}

#[cfg(test)]
mod tests {
    use argon2::{PasswordHasher as _, PasswordVerifier as _};

    use super::*;

    fn small() -> Params {
        Params::new(1024, 1, 1, None).unwrap()
    }

    #[test]
    fn hashes_verify_with_the_argon2_crate_and_its_hashes_verify_here() {
        let params = small();
        let ours = hash(&params, b"correct horse").unwrap();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        assert!(
            argon
                .verify_password(b"correct horse", &PasswordHash::new(&ours).unwrap())
                .is_ok()
        );
        let theirs = argon
            .hash_password_with_salt(b"correct horse", b"sixteen byte salt")
            .unwrap();
        assert!(verify(&theirs, b"correct horse", &params));
        assert!(!verify(&theirs, b"correct horsf", &params));
    }

    #[test]
    fn other_costs_and_variants_verify_on_the_same_blocks() {
        // A bigger cost, then a smaller one, then argon2i: each is checked
        // under its own parameters.
        for (algorithm, m_cost) in [
            (Algorithm::Argon2id, 2048),
            (Algorithm::Argon2id, 512),
            (Algorithm::Argon2i, 1024),
        ] {
            let params = Params::new(m_cost, 1, 1, None).unwrap();
            let argon = Argon2::new(algorithm, Version::V0x13, params);
            let phc = argon
                .hash_password_with_salt(b"pw", b"sixteen byte salt")
                .unwrap();
            assert!(verify(&phc, b"pw", &small()), "{phc}");
            assert!(!verify(&phc, b"pw2", &small()), "{phc}");
        }
    }

    #[test]
    fn a_hash_without_salt_or_output_never_verifies() {
        let phc = PasswordHash::new("$argon2id$v=19$m=1024,t=1,p=1").unwrap();
        assert!(!verify(&phc, b"", &small()));
    }

    #[test]
    fn a_hash_costlier_than_today_leaves_the_thread_holding_only_todays_blocks() {
        std::thread::spawn(|| {
            let current = small();
            let held = || BLOCKS.with_borrow(|b| b.len());
            hash(&current, b"pw").unwrap();
            assert_eq!(held(), current.block_count());
            let costlier = Params::new(4096, 1, 1, None).unwrap();
            let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, costlier)
                .hash_password_with_salt(b"pw", b"sixteen byte salt")
                .unwrap();
            assert!(verify(&phc, b"pw", &current));
            assert_eq!(held(), current.block_count());
        })
        .join()
        .unwrap();
    }
}
