//! The lifecycle's lists, with every allocation fallible.
//!
//! The lifecycle keeps lists: a buffer's attachments, an importer's offers, the placements and
//! windows of an exporter policy, the address ranges of a mapping, the candidate table of a
//! negotiation that found nothing, the attachments a move invalidated. The kernel has no
//! infallible vector: its `KVec` grows only through calls that take allocation flags and return
//! a `Result`, and it has no `vec!`, no `collect()` and no `Clone`. So the lifecycle grows a list
//! only through [`FallibleVec`], whose every allocating operation can fail with
//! [`OutOfMemory`], and every operation of a [`Buffer`](crate::Buffer) makes all its
//! allocations before it changes anything: when memory runs out it fails with
//! [`LifecycleError::OutOfMemory`](crate::LifecycleError::OutOfMemory), and the buffer is
//! exactly as it was.
//!
//! # Which vector
//!
//! The lifecycle's `Vec` is the environment's own (chosen in `lib.rs`), and [`FallibleVec`] is
//! implemented here for both:
//!
//! - with feature `alloc`: `alloc::vec::Vec`, grown through `try_reserve`, so that in user space
//!   too an allocation failure is an error and not an abort;
//! - inside Linux (`kernel/` builds the crate with `--cfg kernel` and the `kernel` crate): the
//!   kernel's `KVec`, grown with `GFP_KERNEL` (the lifecycle runs in process context, under the
//!   buffer's reservation lock, where sleeping allocations are allowed).
//!
//! Either vector is `Default` (empty, without allocating), dereferences to a slice, and is
//! `PartialEq`, `Eq` and `Debug` when its elements are, as the lifecycle's types need.
//!
//! # Why the environment's own vector, and not fixed capacity
//!
//! Fixed capacity would need a bound for every list, paid in full by every value: the candidate
//! table an [`Unreachable`](crate::Unreachable) keeps can hold
//! [`MAX_OFFERINGS`](crate::MAX_OFFERINGS) × [`MAX_IMPORTER_OFFERS`](crate::MAX_IMPORTER_OFFERS)
//! candidates (256 KiB), and a buffer's attachments have no natural bound at all. Cutting the
//! limits down to what fits on a kernel stack would change what user space accepts today. With
//! the environment's own vector, each list costs what it holds, user space keeps its types (a
//! `Vec` field is still a `Vec`), and the kernel module allocates through the kernel's
//! allocator, with its accounting and its failure injection.
//!
//! # Cloning
//!
//! With `alloc`'s vector the lifecycle's types are `Clone` (for callers; such a clone aborts on
//! allocation failure, like `Vec`'s own). `KVec` is not `Clone`, so in the kernel they are not:
//! where the lifecycle itself needs a copy of a list it makes one with
//! [`FallibleVec::try_from_slice`].

use core::fmt;
use core::ops::{Deref, DerefMut};

/// An allocation failed: a list could not grow.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct OutOfMemory;

impl fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("out of memory")
    }
}

impl core::error::Error for OutOfMemory {}

/// The operations the lifecycle needs of a growable list: those that allocate can fail, none
/// panics.
pub(crate) trait FallibleVec<T>: Sized + Default + Deref<Target = [T]> + DerefMut {
    /// An empty list with room for `n` elements.
    fn try_with_room(n: usize) -> Result<Self, OutOfMemory>;

    /// Appends `value`. On failure the list is unchanged.
    fn try_push(&mut self, value: T) -> Result<(), OutOfMemory>;

    /// Removes the element at `index` and returns it, keeping the others in order; `None` (and
    /// nothing removed) past the end.
    fn remove_at(&mut self, index: usize) -> Option<T>;

    /// A list of the items of `items`, in order.
    fn try_from_iter(items: impl IntoIterator<Item = T>) -> Result<Self, OutOfMemory> {
        let items = items.into_iter();
        let mut list = Self::try_with_room(items.size_hint().0)?;
        for item in items {
            list.try_push(item)?;
        }
        Ok(list)
    }

    /// A list of copies of `items`.
    fn try_from_slice(items: &[T]) -> Result<Self, OutOfMemory>
    where
        T: Clone,
    {
        Self::try_from_iter(items.iter().cloned())
    }
}

#[cfg(feature = "alloc")]
impl<T> FallibleVec<T> for alloc::vec::Vec<T> {
    fn try_with_room(n: usize) -> Result<Self, OutOfMemory> {
        let mut list = alloc::vec::Vec::new();
        list.try_reserve_exact(n).map_err(|_| OutOfMemory)?;
        Ok(list)
    }

    fn try_push(&mut self, value: T) -> Result<(), OutOfMemory> {
        self.try_reserve(1).map_err(|_| OutOfMemory)?;
        // Cannot reallocate: room for one more was just reserved.
        self.push(value);
        Ok(())
    }

    fn remove_at(&mut self, index: usize) -> Option<T> {
        (index < self.len()).then(|| self.remove(index))
    }
}

#[cfg(all(kernel, not(feature = "alloc")))]
impl<T> FallibleVec<T> for kernel::alloc::KVec<T> {
    fn try_with_room(n: usize) -> Result<Self, OutOfMemory> {
        kernel::alloc::KVec::with_capacity(n, kernel::alloc::flags::GFP_KERNEL)
            .map_err(|_| OutOfMemory)
    }

    fn try_push(&mut self, value: T) -> Result<(), OutOfMemory> {
        self.push(value, kernel::alloc::flags::GFP_KERNEL)
            .map_err(|_| OutOfMemory)
    }

    fn remove_at(&mut self, index: usize) -> Option<T> {
        // Moves the element to the end of the list by swapping it with each one after it (in
        // place, no allocation, no indexing: `core`'s `rotate_left` would bring its bounds
        // assertion into the module), then takes it off.
        let mut tail = self.get_mut(index..)?.iter_mut();
        let mut moving = tail.next()?;
        for next in tail {
            core::mem::swap(moving, next);
            moving = next;
        }
        self.pop()
    }
}
