// SPDX-License-Identifier: GPL-2.0

//! Removing from the exporter's small lists without a panic path.
//!
//! `KVec::remove()` and `KVec::retain()` compute with overflow-checked arithmetic and indexing,
//! which would bring calls into `core::panicking` into the module (`kernel/run` refuses them).
//! These lists are unordered, so the found element is swapped with the last one and popped.

use kernel::prelude::*;

/// Takes the first element for which `matches` holds out of `list` (the last element takes
/// its place), or `None`.
pub(crate) fn take_first<T>(list: &mut KVec<T>, matches: impl Fn(&T) -> bool) -> Option<T> {
    let mut slots = list.iter_mut();
    let found = slots.by_ref().find(|slot| matches(slot))?;
    if let Some(last) = slots.last() {
        core::mem::swap(found, last);
    }
    list.pop()
}
