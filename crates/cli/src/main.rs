//! `dmabuf-ic`: the command line over dmabuf-negotiate and pci-topology.

fn main() {
    println!("dmabuf-ic: commands arrive with the command-line issue");
}
