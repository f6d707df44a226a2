//! Private links read from a file, grouped into fabrics: one [`PrivateFabric`] per connected
//! component, named `{prefix}0`, `{prefix}1`, ... in the order the components first appear.
//!
//! Files list links (an NVLink bandwidth matrix, NCCL's `<nvlink>` elements) but not fabrics.
//! Two groups of GPUs with no link between them are two address domains, so each gets its own
//! fabric; a CPU socket end joins the component of whatever links to it.

use std::collections::HashMap;

use dmabuf_negotiate::Bandwidth;

use crate::machine::{LinkEnd, LinkKind, MachineBuilder, PrivateFabric, PrivateLink};

/// One bundle of links as a file gives it.
#[derive(Clone, Debug)]
pub(crate) struct RawLink {
    pub a: LinkEnd,
    pub b: LinkEnd,
    /// Bandwidth of one link, one direction (the hardware's).
    pub bandwidth: Option<Bandwidth>,
    /// NCCL's figure for one link, when the file is NCCL's.
    pub nccl_bandwidth: Option<Bandwidth>,
    pub count: u16,
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// Adds the links to the builder, one fabric per connected component.
pub(crate) fn add_by_component(
    b: &mut MachineBuilder,
    kind: &LinkKind,
    prefix: &str,
    links: &[RawLink],
) {
    let mut index: HashMap<LinkEnd, usize> = HashMap::new();
    let mut parent: Vec<usize> = Vec::new();
    let mut node = |e: LinkEnd, parent: &mut Vec<usize>| -> usize {
        *index.entry(e).or_insert_with(|| {
            parent.push(parent.len());
            parent.len() - 1
        })
    };
    let mut ends = Vec::with_capacity(links.len());
    for l in links {
        let x = node(l.a, &mut parent);
        let y = node(l.b, &mut parent);
        let (rx, ry) = (find(&mut parent, x), find(&mut parent, y));
        if rx != ry {
            parent[ry] = rx;
        }
        ends.push(x);
    }
    let mut fabric_of_root: HashMap<usize, dmabuf_negotiate::FabricId> = HashMap::new();
    for (l, &x) in links.iter().zip(&ends) {
        let root = find(&mut parent, x);
        let n = fabric_of_root.len();
        let fabric = *fabric_of_root.entry(root).or_insert_with(|| {
            b.fabric(PrivateFabric {
                name: format!("{prefix}{n}"),
                kind: kind.clone(),
            })
        });
        b.link(PrivateLink {
            fabric,
            a: l.a,
            b: l.b,
            bandwidth: l.bandwidth,
            latency: None,
            nccl_bandwidth: l.nccl_bandwidth,
            count: l.count.max(1),
            up: true,
        });
    }
}
