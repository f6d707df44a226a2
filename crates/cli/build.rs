//! Build script of dmabuf-ic: the fixtures cfg its tests share with pci-topology
//! (`../fixtures-cfg.rs`).

#[path = "../fixtures-cfg.rs"]
mod fixtures_cfg;

fn main() {
    fixtures_cfg::main();
}
