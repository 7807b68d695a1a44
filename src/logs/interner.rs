//! Label values from outside (vhosts, upstreams), interned per log under a cap: a value
//! gets a small id once, and lines cost hash lookups, never an allocation.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The value a label takes once its cap is reached.
pub const OVERFLOW: &str = "__overflow__";

/// FxHash: the label caches are keyed by small integers and short byte strings.
#[derive(Default)]
pub struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        let mut v = [0u8; 8];
        v[..rest.len()].copy_from_slice(rest);
        self.write_u64(u64::from_le_bytes(v) ^ rest.len() as u64);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_u16(&mut self, v: u16) {
        self.write_u64(u64::from(v));
    }
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// Distinct values of one label, capped.
pub struct Interner {
    ids: FxMap<Box<[u8]>, u32>,
    pub names: Vec<String>,
    cap: usize,
}

/// The id of [`OVERFLOW`].
pub const OVERFLOWED: u32 = u32::MAX;

pub enum Interned {
    Id(u32),
    New(u32, bool),
    Overflow,
}

impl Interner {
    pub fn new(cap: usize) -> Interner {
        Interner {
            ids: FxMap::default(),
            names: Vec::new(),
            cap,
        }
    }

    pub fn get(&mut self, value: &[u8]) -> Interned {
        if let Some(&id) = self.ids.get(value) {
            return Interned::Id(id);
        }
        if self.names.len() >= self.cap {
            return Interned::Overflow;
        }
        let id = self.names.len() as u32;
        let valid = std::str::from_utf8(value).is_ok();
        self.names.push(String::from_utf8_lossy(value).into_owned());
        self.ids.insert(value.into(), id);
        Interned::New(id, valid)
    }

    pub fn name(&self, id: u32) -> &str {
        if id == OVERFLOWED {
            OVERFLOW
        } else {
            &self.names[id as usize]
        }
    }
}
