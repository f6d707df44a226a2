//! The library half of `dmabuf-ic`: what the command line shares with its benchmarks and
//! integration tests.
//!
//! - [`picture`]: pictures of a machine, as Graphviz DOT and as SVG drawn by the program itself,
//!   with an optional route highlighted.
//! - [`names`], [`kind`]: PCI ID database names and the kind of a device, used by every output.

pub mod kind;
pub mod names;
pub mod picture;
