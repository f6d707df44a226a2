//! The machine with some private links taken down (or brought back up).
//!
//! A [`Machine`] is immutable, and its private routes (direct links, NVSwitch planes, widest
//! paths through switches) are precomputed by pci-topology when it is built. To take a link
//! down, the simulator rebuilds the machine through the public [`MachineBuilder`] with the same
//! host bridges, functions (in the same order, so every [`FunctionId`] and every negotiation
//! `DeviceId` stays the same), CPU, flags and whitelist, and the links' `up` flags changed.
//! pci-topology then recomputes the routes exactly as for a loaded machine: a pair whose every
//! path crossed a down link is refused with `Refusal::LinkDown`, a pair that keeps another path
//! (one NVSwitch plane of six lost) gets a narrower route. Nothing of the route model is
//! duplicated here.

use dmabuf_negotiate::FabricId;
use pci_topology::{BuildError, FunctionId, LinkEnd, Machine, MachineBuilder};

/// Which of a machine's links are up, by their position in [`Machine::links`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LinkState {
    up: Vec<bool>,
}

impl LinkState {
    /// The links as the machine's source says they are.
    pub fn of(m: &Machine) -> Self {
        Self {
            up: m.links().iter().map(|l| l.up).collect(),
        }
    }

    /// Whether link `index` is up.
    pub fn is_up(&self, index: usize) -> bool {
        self.up.get(index).copied().unwrap_or(false)
    }

    /// Sets the links at `indices` up or down; returns those whose state changed.
    pub fn set(&mut self, indices: &[usize], up: bool) -> Vec<usize> {
        let mut changed = Vec::new();
        for &i in indices {
            if let Some(state) = self.up.get_mut(i)
                && *state != up
            {
                *state = up;
                changed.push(i);
            }
        }
        changed
    }

    /// `original` with these link states: the same model, every link's `up` as here.
    pub fn apply(&self, original: &Machine) -> Result<Machine, BuildError> {
        let mut b = MachineBuilder::from_machine(original);
        for (i, link) in b.links_mut().iter_mut().enumerate() {
            link.up = self.is_up(i);
        }
        b.build()
    }
}

/// The links of `fabric`: all of them, those touching `a`, or those between `a` and `b`
/// (either way round), by position in [`Machine::links`].
pub fn select(
    m: &Machine,
    fabric: FabricId,
    a: Option<FunctionId>,
    b: Option<FunctionId>,
) -> Vec<usize> {
    let touches = |end: &LinkEnd, f: FunctionId| *end == LinkEnd::Function(f);
    m.links()
        .iter()
        .enumerate()
        .filter(|(_, l)| l.fabric == fabric)
        .filter(|(_, l)| match (a, b) {
            (None, _) => true,
            (Some(a), None) => touches(&l.a, a) || touches(&l.b, a),
            (Some(a), Some(b)) => {
                (touches(&l.a, a) && touches(&l.b, b)) || (touches(&l.a, b) && touches(&l.b, a))
            }
        })
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmabuf_negotiate::{DeviceId, Fabric, Refusal, RouteKind};
    use pci_topology::{Bdf, Function, HostBridge, LinkKind, PrivateFabric, PrivateLink, Upstream};

    /// Two GPUs joined directly and through two NVSwitches.
    fn machine() -> Machine {
        let mut b = Machine::builder();
        let hb = b.host_bridge(HostBridge::new(0, 0));
        let f = |bus: u8| Function::new(Bdf::new(0, bus, 0, 0), Upstream::HostBridge(hb));
        let g0 = b.function(f(1));
        let g1 = b.function(f(2));
        let mut s = f(3);
        s.fabric_switch = true;
        let s0 = b.function(s.clone());
        s.bdf = Bdf::new(0, 4, 0, 0);
        let s1 = b.function(s);
        let nv = b.fabric(PrivateFabric {
            name: "nvlink0".into(),
            kind: LinkKind::NvLink,
        });
        for (x, y) in [(g0, s0), (g0, s1), (g1, s0), (g1, s1)] {
            b.link(PrivateLink {
                fabric: nv,
                a: LinkEnd::Function(x),
                b: LinkEnd::Function(y),
                bandwidth: Some(dmabuf_negotiate::Bandwidth(20_000)),
                latency: None,
                nccl_bandwidth: None,
                count: 2,
                up: true,
            });
        }
        b.build().unwrap()
    }

    #[test]
    fn the_same_links_give_the_same_machine() {
        let m = machine();
        assert_eq!(LinkState::of(&m).apply(&m).unwrap(), m);
    }

    #[test]
    fn a_plane_down_narrows_the_route_and_all_down_refuses_it() {
        let m = machine();
        let (g0, g1, s0) = (FunctionId(0), FunctionId(1), FunctionId(2));
        let route = |m: &Machine| m.private_route(FabricId(0), DeviceId(0), DeviceId(1));
        let full = route(&m).unwrap();
        assert_eq!(full.kind, RouteKind::PrivateLink(FabricId(0)));

        let mut state = LinkState::of(&m);
        let plane = select(&m, FabricId(0), Some(g0), Some(s0));
        assert_eq!(plane, vec![0]);
        assert_eq!(state.set(&plane, false), vec![0]);
        assert_eq!(
            state.set(&plane, false),
            Vec::<usize>::new(),
            "already down"
        );
        let narrower = route(&state.apply(&m).unwrap()).unwrap();
        assert!(
            narrower.bandwidth < full.bandwidth,
            "{narrower:?} vs {full:?}"
        );

        let all = select(&m, FabricId(0), None, None);
        assert_eq!(all.len(), 4);
        state.set(&all, false);
        let down = state.apply(&m).unwrap();
        assert_eq!(route(&down), Err(Refusal::LinkDown(FabricId(0))));
        assert_eq!(select(&m, FabricId(0), Some(g1), None), vec![2, 3]);

        state.set(&all, true);
        assert_eq!(route(&state.apply(&m).unwrap()), Ok(full));
    }
}
