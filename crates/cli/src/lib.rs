//! The library half of `dmabuf-ic`: the whole command line except its `main`, so that its
//! benchmarks, integration tests and fuzzing targets (`fuzz/`) reach the same code the binary
//! runs. For any machine (the live one, a sysfs snapshot, hwloc, NCCL and TOML files) it answers
//! which interconnect, which route, how good, and if refused, why and what would change it.
//!
//! - [`cli`]: options and subcommands; [`commands`]: one module per subcommand;
//!   [`render`]: one module per output kind.
//! - [`source`]: where the machine comes from; [`scenario`]: negotiation scenario files;
//!   [`simulation`]: simulated timelines; [`scenario_file`] and [`offers`]: what both file
//!   formats share (positioned errors, `[machine]`, offers and their binding).
//! - [`resolve`], [`names`], [`kind`]: device arguments, PCI ID names, device kinds;
//!   [`core_names`]: the negotiation core's ids by bus id, fabric name or importer.
//! - [`picture`]: pictures of a machine, as Graphviz DOT and as SVG drawn by the program itself,
//!   with an optional route highlighted.
//! - [`limits`]: what the command line refuses as too large, on top of the loaders' limits.
//! - [`error`]: errors and exit codes; [`output`], [`style`]: formats, writing, colour;
//!   [`counts`]: a number with its noun.

pub mod cli;
pub mod commands;
pub mod core_names;
pub mod counts;
pub mod error;
pub mod kind;
pub mod limits;
pub mod location;
pub mod names;
pub mod offers;
pub mod output;
pub mod picture;
pub mod render;
pub mod resolve;
pub mod scenario;
pub mod scenario_file;
pub mod simulation;
pub mod source;
pub mod style;
