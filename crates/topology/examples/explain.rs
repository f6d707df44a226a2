//! `cargo run -p pci-topology --example explain -- SNAPSHOT [PROVIDER CLIENT]`: loads a sysfs
//! tree (folder or archive), lists its functions, and explains Linux's P2P verdict for a pair
//! (default: every p2pmem provider against every other endpoint).

use pci_topology::load::load_sysfs;
use pci_topology::{Bdf, FunctionId, Machine};

fn explain(m: &Machine, p: FunctionId, c: FunctionId) {
    if let Some(v) = m.p2p_verdict(p, c) {
        println!("== {} -> {}", m.name(p), m.name(c));
        for r in v.reasons(m) {
            println!("   {r}");
        }
        if let Some(q) = m.route_quality(p, c) {
            println!("   quality: {q:?}");
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: explain SNAPSHOT [PROVIDER CLIENT]");
        std::process::exit(2);
    };
    let m = load_sysfs(path)?;
    println!("cpu: {:?}", m.cpu());
    for id in m.function_ids() {
        let f = &m.functions()[id.index()];
        println!(
            "{:>3} {} {} class={} parent={:?} type={:?} acs={:?} link={} numa={:?} listed={} os={:?} drv={:?}",
            id.0,
            f.bdf,
            f.id_string(),
            f.class.map(|c| c.to_string()).unwrap_or_default(),
            m.parent(id).map(|p| m.name(p)),
            f.port_type,
            f.acs,
            f.current_link,
            f.numa_node,
            f.listed,
            f.os_devices,
            f.driver
        );
    }
    if args.len() == 3 {
        let p = m.find(args[1].parse::<Bdf>()?).ok_or("no such provider")?;
        let c = m.find(args[2].parse::<Bdf>()?).ok_or("no such client")?;
        explain(&m, p, c);
    } else {
        let providers: Vec<FunctionId> = m.p2pmem_providers().collect();
        for &p in &providers {
            for c in m.endpoints() {
                explain(&m, p, c);
            }
        }
    }
    Ok(())
}
