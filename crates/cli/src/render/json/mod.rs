//! JSON documents, one module per command: explicit output structs, so the contract
//! (docs/json-output.md) changes only when these files do. [`vocab`] maps internal values to
//! the contract's strings.

pub mod explain;
pub mod matrix;
pub mod negotiate;
pub mod snapshot;
pub mod timeline;
pub mod topo;
pub mod vocab;
