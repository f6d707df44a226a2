//! Simulated timelines (`dmabuf-ic simulate`, docs/simulation-format.md): a buffer on a real
//! machine, its exporter policy, importers, and a sequence of events, run through the
//! negotiation core's attachment lifecycle with the invariant monitor watching every step.
//!
//! - [`format`](mod@format): the file as written and the checks that need no machine;
//! - [`bind`]: devices, apertures, the exporter policy, importers, events and expectations
//!   bound to the loaded machine;
//! - [`links`]: the machine with private links taken down or brought back;
//! - [`engine`]: applying the events to the buffer, observing, checking expectations;
//! - [`timeline`]: what the run produced, for the renderers;
//! - [`expect`]: expectations and their check.

pub mod bind;
pub mod engine;
pub mod expect;
pub mod format;
pub mod links;
pub mod timeline;

pub use bind::Bound;
pub use format::Simulation;
pub use timeline::Timeline;
