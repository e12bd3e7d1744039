//! [`SmallMap`]: an ordered map that is a sorted `Vec` while it is small and
//! a `BTreeMap` past [`SMALL_MAX`] entries.
//!
//! Most of the maps a room, a roster or a presence merge keeps per key are
//! tiny: one member in a room, one device of a user, one node in a
//! single-node deployment. A `BTreeMap` allocates a whole leaf for its first
//! entry (eleven keys and eleven values), so a one-entry map of small keys
//! costs a few hundred bytes. Here a map of n ≤ [`SMALL_MAX`] entries holds
//! exactly n slots (it grows one slot at a time while that small), and
//! lookups are a binary search. Past [`SMALL_MAX`] it becomes a `BTreeMap`,
//! so large rooms keep logarithmic inserts and removes; it turns back into a
//! vector when it shrinks to half of that.
//!
//! Iteration is in key order in both forms, as with `BTreeMap`.
//!
//! [`SmallHashMap`] is the same idea for hashed keys, where a map can grow
//! large (a tenant's users): an unsorted vector up to [`SMALL_HASH_MAX`]
//! entries (a linear scan), a `HashMap` above. A one-user tenant's roster
//! keeps several maps by user or room, and a `HashMap`'s first allocation
//! has four slots of key and value.

use std::borrow::Borrow;
use std::collections::btree_map::{self, BTreeMap};
use std::collections::hash_map::{self, HashMap};
use std::fmt;
use std::hash::Hash;
use std::ops::Bound;

/// Above this many entries a map is a `BTreeMap`.
pub const SMALL_MAX: usize = 16;

/// An ordered map, small-first (see the module doc).
#[derive(Clone)]
pub struct SmallMap<K, V> {
    repr: Repr<K, V>,
}

#[derive(Clone)]
enum Repr<K, V> {
    /// Sorted by key, no duplicates.
    Few(Vec<(K, V)>),
    Many(BTreeMap<K, V>),
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap {
            repr: Repr::Few(Vec::new()),
        }
    }
}

impl<K: fmt::Debug + Ord, V: fmt::Debug> fmt::Debug for SmallMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    /// An empty map (no allocation).
    pub fn new() -> Self {
        Self::default()
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Few(v) => v.len(),
            Repr::Many(m) => m.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value for `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &self.repr {
            Repr::Few(v) => find(v, key).ok().map(|i| &v[i].1),
            Repr::Many(m) => m.get(key),
        }
    }

    /// The value for `key`, to change.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &mut self.repr {
            Repr::Few(v) => match find(v, key) {
                Ok(i) => Some(&mut v[i].1),
                Err(_) => None,
            },
            Repr::Many(m) => m.get_mut(key),
        }
    }

    /// Whether `key` is present.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`; the value it had, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match &mut self.repr {
            Repr::Few(v) => match find(v, &key) {
                Ok(i) => Some(std::mem::replace(&mut v[i].1, value)),
                Err(i) => {
                    if v.len() < SMALL_MAX {
                        grow_one(v);
                        v.insert(i, (key, value));
                    } else {
                        let mut m: BTreeMap<K, V> = std::mem::take(v).into_iter().collect();
                        m.insert(key, value);
                        self.repr = Repr::Many(m);
                    }
                    None
                }
            },
            Repr::Many(m) => m.insert(key, value),
        }
    }

    /// The value for `key`, inserted with `make` first if absent.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        if let Repr::Few(v) = &mut self.repr {
            if v.len() >= SMALL_MAX && find(v, &key).is_err() {
                let m: BTreeMap<K, V> = std::mem::take(v).into_iter().collect();
                self.repr = Repr::Many(m);
            }
        }
        match &mut self.repr {
            Repr::Few(v) => {
                let i = match find(v, &key) {
                    Ok(i) => i,
                    Err(i) => {
                        grow_one(v);
                        v.insert(i, (key, make()));
                        i
                    }
                };
                &mut v[i].1
            }
            Repr::Many(m) => m.entry(key).or_insert_with(make),
        }
    }

    /// Removes `key`; its value, if it had one.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &mut self.repr {
            Repr::Few(v) => {
                let i = find(v, key).ok()?;
                let (_, value) = v.remove(i);
                if v.is_empty() {
                    // Give the slots back: an emptied map holds nothing.
                    *v = Vec::new();
                } else if v.capacity() > 2 * v.len() {
                    v.shrink_to_fit();
                }
                Some(value)
            }
            Repr::Many(m) => {
                let value = m.remove(key)?;
                if m.len() <= SMALL_MAX / 2 {
                    let few: Vec<(K, V)> = std::mem::take(m).into_iter().collect();
                    self.repr = Repr::Few(few);
                }
                Some(value)
            }
        }
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> Iter<'_, K, V> {
        match &self.repr {
            Repr::Few(v) => Iter::Few(v.iter()),
            Repr::Many(m) => Iter::Many(m.iter()),
        }
    }

    /// Every entry, in key order, with its value to change.
    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        match &mut self.repr {
            Repr::Few(v) => IterMut::Few(v.iter_mut()),
            Repr::Many(m) => IterMut::Many(m.iter_mut()),
        }
    }

    /// The entries from `start` on, in key order, with their values to change.
    pub fn range_mut_from<Q>(&mut self, start: Bound<&Q>) -> IterMut<'_, K, V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match &mut self.repr {
            Repr::Few(v) => {
                let from = match start {
                    Bound::Unbounded => 0,
                    Bound::Included(k) => find(v, k).unwrap_or_else(|i| i),
                    Bound::Excluded(k) => find(v, k).map_or_else(|i| i, |i| i + 1),
                };
                IterMut::Few(v[from..].iter_mut())
            }
            Repr::Many(m) => IterMut::ManyRange(m.range_mut::<Q, _>((start, Bound::Unbounded))),
        }
    }

    /// Every key, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// Every value, in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// Every value, in key order, to change.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + '_ {
        self.iter_mut().map(|(_, v)| v)
    }

    /// The values, in key order, taking the map.
    pub fn into_values(self) -> impl Iterator<Item = V> {
        let (few, many) = match self.repr {
            Repr::Few(v) => (Some(v.into_iter().map(|(_, v)| v)), None),
            Repr::Many(m) => (None, Some(m.into_values())),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }
}

/// Index of `key` in the sorted entries, or where it would go.
fn find<K, V, Q>(v: &[(K, V)], key: &Q) -> Result<usize, usize>
where
    K: Borrow<Q>,
    Q: Ord + ?Sized,
{
    v.binary_search_by(|(k, _)| k.borrow().cmp(key))
}

/// Room for one more entry: one slot at a time while tiny (a `Vec` would
/// jump from none to four), then by half.
fn grow_one<T>(v: &mut Vec<T>) {
    if v.len() == v.capacity() {
        v.reserve_exact(if v.len() < 4 { 1 } else { v.len() / 2 });
    }
}

/// Iterator over a [`SmallMap`]'s entries.
pub enum Iter<'a, K, V> {
    /// Over the vector.
    Few(std::slice::Iter<'a, (K, V)>),
    /// Over the tree.
    Many(btree_map::Iter<'a, K, V>),
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Few(it) => it.next().map(|(k, v)| (k, v)),
            Iter::Many(it) => it.next(),
        }
    }
}

impl<K, V> DoubleEndedIterator for Iter<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Few(it) => it.next_back().map(|(k, v)| (k, v)),
            Iter::Many(it) => it.next_back(),
        }
    }
}

/// Iterator over a [`SmallMap`]'s entries, with values to change.
pub enum IterMut<'a, K, V> {
    /// Over the vector.
    Few(std::slice::IterMut<'a, (K, V)>),
    /// Over the tree.
    Many(btree_map::IterMut<'a, K, V>),
    /// Over part of the tree.
    ManyRange(btree_map::RangeMut<'a, K, V>),
}

impl<'a, K, V> Iterator for IterMut<'a, K, V> {
    type Item = (&'a K, &'a mut V);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            IterMut::Few(it) => it.next().map(|(k, v)| (&*k, v)),
            IterMut::Many(it) => it.next(),
            IterMut::ManyRange(it) => it.next(),
        }
    }
}

impl<K, V> DoubleEndedIterator for IterMut<'_, K, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            IterMut::Few(it) => it.next_back().map(|(k, v)| (&*k, v)),
            IterMut::Many(it) => it.next_back(),
            IterMut::ManyRange(it) => it.next_back(),
        }
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a SmallMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a mut SmallMap<K, V> {
    type Item = (&'a K, &'a mut V);
    type IntoIter = IterMut<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

/// Above this many entries a [`SmallHashMap`] is a `HashMap`.
pub const SMALL_HASH_MAX: usize = 8;

/// A map of hashed keys, small-first (see the module doc). Iteration order
/// is unspecified, as with `HashMap`.
#[derive(Clone)]
pub struct SmallHashMap<K, V> {
    repr: HashRepr<K, V>,
}

#[derive(Clone)]
enum HashRepr<K, V> {
    /// Unsorted, no duplicates.
    Few(Vec<(K, V)>),
    /// Boxed, so that the map is as small as a vector inline (most are
    /// small; one more allocation for a large one is nothing).
    #[allow(clippy::box_collection)]
    Many(Box<HashMap<K, V>>),
}

impl<K, V> Default for SmallHashMap<K, V> {
    fn default() -> Self {
        SmallHashMap {
            repr: HashRepr::Few(Vec::new()),
        }
    }
}

impl<K: fmt::Debug + Hash + Eq, V: fmt::Debug> fmt::Debug for SmallHashMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Hash + Eq, V> SmallHashMap<K, V> {
    /// An empty map (no allocation).
    pub fn new() -> Self {
        Self::default()
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        match &self.repr {
            HashRepr::Few(v) => v.len(),
            HashRepr::Many(m) => m.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value for `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match &self.repr {
            HashRepr::Few(v) => v.iter().find(|(k, _)| k.borrow() == key).map(|(_, v)| v),
            HashRepr::Many(m) => m.get(key),
        }
    }

    /// The value for `key`, to change.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match &mut self.repr {
            HashRepr::Few(v) => v
                .iter_mut()
                .find(|(k, _)| k.borrow() == key)
                .map(|(_, v)| v),
            HashRepr::Many(m) => m.get_mut(key),
        }
    }

    /// Whether `key` is present.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`; the value it had, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(old) = self.get_mut(&key) {
            return Some(std::mem::replace(old, value));
        }
        self.push_new(key, value);
        None
    }

    /// The value for `key`, inserted with `make` first if absent.
    pub fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        if let HashRepr::Few(v) = &mut self.repr {
            if v.len() >= SMALL_HASH_MAX && !v.iter().any(|(k, _)| *k == key) {
                let m: HashMap<K, V> = std::mem::take(v).into_iter().collect();
                self.repr = HashRepr::Many(Box::new(m));
            }
        }
        match &mut self.repr {
            HashRepr::Few(v) => {
                let i = match v.iter().position(|(k, _)| *k == key) {
                    Some(i) => i,
                    None => {
                        grow_one(v);
                        v.push((key, make()));
                        v.len() - 1
                    }
                };
                &mut v[i].1
            }
            HashRepr::Many(m) => m.entry(key).or_insert_with(make),
        }
    }

    /// Adds a key known to be absent.
    fn push_new(&mut self, key: K, value: V) {
        match &mut self.repr {
            HashRepr::Few(v) if v.len() < SMALL_HASH_MAX => {
                grow_one(v);
                v.push((key, value));
            }
            HashRepr::Few(v) => {
                let mut m: HashMap<K, V> = std::mem::take(v).into_iter().collect();
                m.insert(key, value);
                self.repr = HashRepr::Many(Box::new(m));
            }
            HashRepr::Many(m) => {
                m.insert(key, value);
            }
        }
    }

    /// Removes `key`; its value, if it had one.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match &mut self.repr {
            HashRepr::Few(v) => {
                let i = v.iter().position(|(k, _)| k.borrow() == key)?;
                let (_, value) = v.swap_remove(i);
                if v.is_empty() {
                    *v = Vec::new();
                } else if v.capacity() > 2 * v.len() {
                    v.shrink_to_fit();
                }
                Some(value)
            }
            HashRepr::Many(m) => {
                let value = m.remove(key)?;
                if m.len() <= SMALL_HASH_MAX / 2 {
                    let few: Vec<(K, V)> = std::mem::take(&mut **m).into_iter().collect();
                    self.repr = HashRepr::Few(few);
                }
                Some(value)
            }
        }
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> HashIter<'_, K, V> {
        match &self.repr {
            HashRepr::Few(v) => HashIter::Few(v.iter()),
            HashRepr::Many(m) => HashIter::Many(m.iter()),
        }
    }

    /// Every key.
    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.iter().map(|(k, _)| k)
    }

    /// Every value.
    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// Every value, to change.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> + '_ {
        let (few, many) = match &mut self.repr {
            HashRepr::Few(v) => (Some(v.iter_mut().map(|(_, v)| v)), None),
            HashRepr::Many(m) => (None, Some(m.values_mut())),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }
}

/// Iterator over a [`SmallHashMap`]'s entries.
pub enum HashIter<'a, K, V> {
    /// Over the vector.
    Few(std::slice::Iter<'a, (K, V)>),
    /// Over the table.
    Many(hash_map::Iter<'a, K, V>),
}

impl<'a, K, V> Iterator for HashIter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Few(it) => it.next().map(|(k, v)| (k, v)),
            HashIter::Many(it) => it.next(),
        }
    }
}

impl<'a, K: Hash + Eq, V> IntoIterator for &'a SmallHashMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = HashIter<'a, K, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u32),
        Remove(u8),
        GetOrInsert(u8, u32),
        Bump(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Keys from a range wide enough to cross SMALL_MAX both ways.
        prop_oneof![
            (0u8..40, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            (0u8..40).prop_map(Op::Remove),
            (0u8..40, any::<u32>()).prop_map(|(k, v)| Op::GetOrInsert(k, v)),
            (0u8..40).prop_map(Op::Bump),
        ]
    }

    /// Applies `op` to the small map and to the standard one it must agree with.
    macro_rules! apply {
        ($small:ident, $model:ident, $op:expr) => {
            match $op {
                Op::Insert(k, v) => prop_assert_eq!($small.insert(k, v), $model.insert(k, v)),
                Op::Remove(k) => prop_assert_eq!($small.remove(&k), $model.remove(&k)),
                Op::GetOrInsert(k, v) => {
                    let a = *$small.get_or_insert_with(k, || v);
                    let b = *$model.entry(k).or_insert(v);
                    prop_assert_eq!(a, b);
                }
                Op::Bump(k) => {
                    if let Some(v) = $small.get_mut(&k) {
                        *v = v.wrapping_add(1);
                    }
                    if let Some(v) = $model.get_mut(&k) {
                        *v = v.wrapping_add(1);
                    }
                }
            }
        };
    }

    proptest! {
        /// Every operation agrees with `BTreeMap`, in both forms and across
        /// the switches between them; iteration is in key order.
        #[test]
        fn behaves_like_a_btree_map(ops in proptest::collection::vec(op(), 0..300), from in 0u8..40) {
            let mut small: SmallMap<u8, u32> = SmallMap::new();
            let mut model: BTreeMap<u8, u32> = BTreeMap::new();
            for op in ops {
                apply!(small, model, op);
                prop_assert_eq!(small.len(), model.len());
                prop_assert_eq!(small.is_empty(), model.is_empty());
                let a: Vec<(u8, u32)> = small.iter().map(|(k, v)| (*k, *v)).collect();
                let b: Vec<(u8, u32)> = model.iter().map(|(k, v)| (*k, *v)).collect();
                prop_assert_eq!(a, b);
                if let Repr::Few(v) = &small.repr {
                    prop_assert!(v.len() <= SMALL_MAX);
                }
            }
            for k in 0u8..40 {
                prop_assert_eq!(small.get(&k), model.get(&k));
                prop_assert_eq!(small.contains_key(&k), model.contains_key(&k));
            }
            let rev: Vec<u8> = small.keys().rev().copied().collect();
            let want: Vec<u8> = model.keys().rev().copied().collect();
            prop_assert_eq!(rev, want);
            for bound in [Bound::Unbounded, Bound::Included(&from), Bound::Excluded(&from)] {
                let a: Vec<u8> = small.range_mut_from(bound).map(|(k, _)| *k).collect();
                let b: Vec<u8> = model.range_mut((bound, Bound::Unbounded)).map(|(k, _)| *k).collect();
                prop_assert_eq!(a, b);
            }
            let a: Vec<u32> = small.into_values().collect();
            let b: Vec<u32> = model.into_values().collect();
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn a_small_map_holds_exactly_its_entries() {
        let mut m: SmallMap<u64, u64> = SmallMap::new();
        m.insert(1, 1);
        let Repr::Few(v) = &m.repr else {
            panic!("small")
        };
        assert_eq!(v.capacity(), 1, "one entry, one slot");
        m.remove(&1);
        let Repr::Few(v) = &m.repr else {
            panic!("small")
        };
        assert_eq!(v.capacity(), 0, "emptied: nothing held");
        for k in 0..=SMALL_MAX as u64 {
            m.insert(k, k);
        }
        assert!(matches!(m.repr, Repr::Many(_)), "past SMALL_MAX: a tree");
        for k in 0..=(SMALL_MAX / 2) as u64 {
            m.remove(&k);
        }
        assert!(matches!(m.repr, Repr::Few(_)), "back to a vector at half");
    }

    proptest! {
        /// [`SmallHashMap`] agrees with `HashMap`, across both switches.
        #[test]
        fn small_hash_map_behaves_like_a_hash_map(ops in proptest::collection::vec(op(), 0..300)) {
            let mut small: SmallHashMap<u8, u32> = SmallHashMap::new();
            let mut model: HashMap<u8, u32> = HashMap::new();
            for op in ops {
                apply!(small, model, op);
                prop_assert_eq!(small.len(), model.len());
                let mut a: Vec<(u8, u32)> = small.iter().map(|(k, v)| (*k, *v)).collect();
                a.sort_unstable();
                let mut b: Vec<(u8, u32)> = model.iter().map(|(k, v)| (*k, *v)).collect();
                b.sort_unstable();
                prop_assert_eq!(a, b);
                if let HashRepr::Few(v) = &small.repr {
                    prop_assert!(v.len() <= SMALL_HASH_MAX);
                }
            }
            for v in small.values_mut() { *v = v.wrapping_add(1); }
            for v in model.values_mut() { *v = v.wrapping_add(1); }
            for k in 0u8..40 {
                prop_assert_eq!(small.get(&k), model.get(&k));
                prop_assert_eq!(small.contains_key(&k), model.contains_key(&k));
            }
        }
    }
}
