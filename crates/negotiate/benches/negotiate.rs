//! Benchmarks of `negotiate` (filled in with the negotiation-core issue).

fn main() {}
