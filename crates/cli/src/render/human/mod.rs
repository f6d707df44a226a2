//! Text for people, one module per command, with [`words`] for the phrases they share.
//! Styles are always emitted; [`crate::output::emit`] strips them off a terminal.

pub mod explain;
pub mod matrix;
pub mod negotiate;
pub mod snapshot;
pub mod timeline;
pub mod topo;
pub mod words;
