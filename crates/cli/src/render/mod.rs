//! One module per output kind: [`human`] text, [`json`] documents, and [`picture`] (DOT and
//! SVG, drawn by [`crate::picture`]). The TOML machine description is
//! pci-topology's own writer.

pub mod human;
pub mod json;
pub mod picture;
