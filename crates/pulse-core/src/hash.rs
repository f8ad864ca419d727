//! Stable, fast hashing. Stable because user keys are stored as hashes in state
//! snapshots (a restart must map the same user to the same key); fast because every
//! usage event hashes its account and user ids.

use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a over the bytes, finished with the murmur3 64-bit mixer so the high bits
/// (used by hash tables' control bytes) are well distributed.
pub fn hash_str(s: &str) -> u64 {
    let mut h = StableHasher::default();
    h.write(s.as_bytes());
    h.finish()
}

#[derive(Clone, Copy)]
pub struct StableHasher(u64);

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
    fn finish(&self) -> u64 {
        fmix64(self.0)
    }
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

pub type StableBuild = BuildHasherDefault<StableHasher>;

/// For keys that already are [`hash_str`] outputs: hashing them again is waste.
#[derive(Clone, Copy, Default)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are used; fold anything else for safety.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type IdentityBuild = BuildHasherDefault<IdentityHasher>;
