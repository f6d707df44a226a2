//! One module per output kind: [`human`] text and [`json`] documents. Pictures (`dot`, `svg`)
//! and the TOML machine description will be further modules here.

pub mod human;
pub mod json;
