//! # pci-topology
//!
//! The machine: PCI functions, bridges and host bridges, ACS, SR-IOV, NUMA, links and private
//! fabrics; Linux's P2PDMA decision; the route-quality model; and the loaders that build a
//! machine from sysfs, hwloc XML, NCCL topology XML and the project's TOML.
