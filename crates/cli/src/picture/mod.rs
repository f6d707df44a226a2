//! Pictures of a machine: `topo --format dot|svg`, and the route of `negotiate` and `explain`
//! drawn on the machine.
//!
//! One renderer-independent [`graph::MachineGraph`] is built from a
//! [`Machine`](pci_topology::Machine) (host bridges with their root ports, PCIe switches with
//! their downstream ports, bridges, endpoints labelled with their names, PCI links with their
//! speed, private links with their bandwidth, and an optional [`highlight::Highlight`]); two
//! renderers draw it:
//!
//! - [`dot`]: Graphviz DOT, one node per PCI function and per host bridge, each switch and each
//!   root complex a cluster;
//! - [`svg`]: an SVG drawn here, without Graphviz: a left-to-right tidy tree laid out by
//!   [`layout`], private links in lanes beside the tree, a legend.
//!
//! Names come through the [`names::Names`] trait ([`names::PciIds`] reads the PCI ID database
//! the binary embeds; [`names::NoNames`] keeps pictures independent of that database, for
//! tests).
//!
//! ```
//! use dmabuf_ic::picture::{dot, svg, names::PciIds};
//! use pci_topology::synth::{generate, SynthSpec};
//! let m = generate(&SynthSpec::default()).unwrap();
//! let d = dot::machine(&m, &PciIds, None);
//! assert!(d.starts_with("digraph machine {"));
//! let s = svg::machine(&m, &PciIds, None);
//! assert!(s.starts_with("<svg"));
//! ```

pub mod dot;
pub mod graph;
pub mod highlight;
pub mod labels;
pub mod layout;
pub mod names;
pub mod svg;
pub mod text;
