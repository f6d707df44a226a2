//! Build script of dmabuf-ic: the fixtures cfg its tests share with pci-topology
//! (`../fixtures-cfg.rs`), and how the command is linked.

#[path = "../fixtures-cfg.rs"]
mod fixtures_cfg;

fn main() {
    fixtures_cfg::main();
    // On Linux with glibc the command is linked at a fixed address, not as a
    // position-independent executable: the PCI ID database it names devices with (pci-ids,
    // 47,000 pointers) would otherwise be relocated at every start, which is two thirds of
    // the time `dmabuf-ic --version` takes (3.4 ms against 0.9 ms, BENCHMARKS.md).
    // Libraries, stack and heap are still placed at random.
    let target = |key: &str| std::env::var(key).unwrap_or_default();
    if target("CARGO_CFG_TARGET_OS") == "linux" && target("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo::rustc-link-arg-bin=dmabuf-ic=-no-pie");
    }
}
