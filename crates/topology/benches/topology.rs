//! Benchmarks of pci-topology (filled in below).

fn main() {}
