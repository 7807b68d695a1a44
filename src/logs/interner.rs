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

/// Distinct values of one label, bounded three ways: at most `cap` values live at once, each
/// at most `max_bytes` long (longer ones are cut and marked with `…`), and a value not seen
/// for `ttl` seconds is freed ([`Interner::expire`]) so a later value can take its slot.
pub struct Interner {
    ids: FxMap<Box<[u8]>, u32>,
    /// By id; a freed slot holds an empty name until it is reused.
    names: Vec<String>,
    /// By id: the clock (seconds) when the value was last seen.
    last_seen: Vec<u32>,
    free: Vec<u32>,
    cap: usize,
    max_bytes: usize,
    /// Seconds since the labeler started, advanced by [`Interner::tick`].
    now: u32,
}

/// The id of [`OVERFLOW`].
pub const OVERFLOWED: u32 = u32::MAX;

pub enum Interned {
    Id(u32),
    /// A new value; false when its bytes were not UTF-8 (lossily converted).
    New(u32, bool),
    Overflow,
}

/// The mark of a value cut at the byte limit.
const CUT_MARK: char = '…';

impl Interner {
    pub fn new(cap: usize, max_bytes: usize) -> Interner {
        Interner {
            ids: FxMap::default(),
            names: Vec::new(),
            last_seen: Vec::new(),
            free: Vec::new(),
            cap,
            max_bytes,
            now: 0,
        }
    }

    /// Whether `value` is short enough to be used as a cache key as it is.
    pub fn fits(&self, value: &[u8]) -> bool {
        value.len() <= self.max_bytes
    }

    pub fn get(&mut self, value: &[u8]) -> Interned {
        let key = self.key(value);
        if let Some(&id) = self.ids.get(key) {
            self.last_seen[id as usize] = self.now;
            return Interned::Id(id);
        }
        if self.names.len() - self.free.len() >= self.cap {
            return Interned::Overflow;
        }
        let valid = std::str::from_utf8(key).is_ok();
        let mut name = String::from_utf8_lossy(key).into_owned();
        if key.len() < value.len() {
            name.push(CUT_MARK);
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.names[id as usize] = name;
                self.last_seen[id as usize] = self.now;
                id
            }
            None => {
                self.names.push(name);
                self.last_seen.push(self.now);
                (self.names.len() - 1) as u32
            }
        };
        self.ids.insert(key.into(), id);
        Interned::New(id, valid)
    }

    /// The bytes a value is known by: all of it, or its first `max_bytes` cut back to a
    /// character boundary.
    fn key<'v>(&self, value: &'v [u8]) -> &'v [u8] {
        if value.len() <= self.max_bytes {
            return value;
        }
        let mut cut = self.max_bytes;
        while cut > 0 && value[cut] & 0xC0 == 0x80 {
            cut -= 1;
        }
        &value[..cut]
    }

    /// Mark `id` as seen now (the callers' caches skip [`Interner::get`]).
    pub fn touch(&mut self, id: u32) {
        if let Some(seen) = self.last_seen.get_mut(id as usize) {
            *seen = self.now;
        }
    }

    pub fn tick(&mut self, now: u32) {
        self.now = now;
    }

    /// Free every value not seen for `ttl` seconds; returns their ids.
    pub fn expire(&mut self, ttl: u32) -> Vec<u32> {
        let now = self.now;
        let expired: Vec<u32> = (0..self.names.len() as u32)
            .filter(|&id| {
                !self.names[id as usize].is_empty()
                    && now.saturating_sub(self.last_seen[id as usize]) >= ttl
            })
            .collect();
        if expired.is_empty() {
            return expired;
        }
        self.ids.retain(|_, id| !expired.contains(id));
        for &id in &expired {
            self.names[id as usize].clear();
            self.free.push(id);
        }
        expired
    }

    pub fn name(&self, id: u32) -> &str {
        if id == OVERFLOWED {
            OVERFLOW
        } else {
            &self.names[id as usize]
        }
    }

    /// The live values.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.names
            .iter()
            .filter(|n| !n.is_empty())
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_and_marked() {
        let mut i = Interner::new(10, 8);
        let Interned::New(id, true) = i.get(b"abcdefghijkl") else {
            panic!("a new valid value")
        };
        assert_eq!(i.name(id), "abcdefgh…");
        // Another value with the same first 8 bytes is the same label value.
        assert!(matches!(i.get(b"abcdefghXYZ"), Interned::Id(same) if same == id));
        // A cut never splits a character: "ééééé" is 10 bytes, cut back to 8.
        let Interned::New(id, true) = i.get("zéééé".as_bytes()) else {
            panic!()
        };
        assert_eq!(i.name(id), "zééé…");
        assert!(!i.fits(b"123456789") && i.fits(b"12345678"));
    }

    #[test]
    fn values_unseen_for_the_ttl_free_their_slot() {
        let mut i = Interner::new(2, 64);
        let (a, b) = (i.get(b"a"), i.get(b"b"));
        assert!(matches!((a, b), (Interned::New(0, _), Interned::New(1, _))));
        assert!(matches!(i.get(b"c"), Interned::Overflow));
        i.tick(100);
        i.touch(1); // "b" is still in use
        assert!(i.expire(3600).is_empty());
        i.tick(3600);
        assert_eq!(i.expire(3600), [0]);
        assert_eq!(i.values().collect::<Vec<_>>(), ["b"]);
        // The freed slot goes to the value that arrives later.
        assert!(matches!(i.get(b"c"), Interned::New(0, _)));
        assert_eq!(i.name(0), "c");
        assert!(matches!(i.get(b"a"), Interned::Overflow));
    }
}
