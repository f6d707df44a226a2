//! A small in-memory fabric for tests and benchmarks: devices with names, the relations between
//! them, and an explicit table of routes. Nothing is inferred: a question the test did not
//! answer is refused, so a test cannot pass by accident.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod workload;

use dmabuf_negotiate::{
    DeviceId, Fabric, FabricId, Initiator, Memory, Refusal, Relation, Route, RouteKind,
};

/// One device of the test machine.
#[derive(Clone, Debug)]
pub struct TestDevice {
    /// For messages.
    pub name: &'static str,
    /// Functions with the same `slot` are functions of one physical device.
    pub slot: u32,
    /// For a virtual function: its physical function.
    pub physfn: Option<DeviceId>,
}

/// Key of a cached route: who reaches what.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Target {
    System,
    Device(DeviceId),
}

/// The test fabric. Routes are cached in a dense table indexed by initiator and target, so a
/// question costs two bounds-checked loads, as a real fabric with precomputed routes would.
#[derive(Clone, Debug, Default)]
pub struct TestFabric {
    devices: Vec<TestDevice>,
    /// `reach[who][target]`: row 0 is the CPU, row `d + 1` device `d`; column 0 is system
    /// memory, column `d + 1` the memory of device `d`.
    reach: Vec<Vec<Option<Result<Route, Refusal>>>>,
    /// Private fabrics, each with its members and a dense table of link routes.
    fabrics: Vec<PrivateFabric>,
}

/// One private fabric of the test machine.
#[derive(Clone, Debug)]
struct PrivateFabric {
    id: FabricId,
    down: bool,
    members: Vec<DeviceId>,
    /// `links[a][b]`, indexed by device id.
    links: Vec<Vec<Option<Route>>>,
}

impl PrivateFabric {
    fn link(&self, a: DeviceId, b: DeviceId) -> Option<Route> {
        *self.links.get(a.0 as usize)?.get(b.0 as usize)?
    }
}

impl TestFabric {
    /// An empty fabric.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a device on its own slot.
    pub fn device(&mut self, name: &'static str) -> DeviceId {
        let slot = self.devices.len() as u32;
        self.push(TestDevice {
            name,
            slot,
            physfn: None,
        })
    }

    /// Adds another function of `sibling`'s physical device.
    pub fn function_of(&mut self, sibling: DeviceId, name: &'static str) -> DeviceId {
        let slot = self.devices[sibling.0 as usize].slot;
        self.push(TestDevice {
            name,
            slot,
            physfn: None,
        })
    }

    /// Adds an SR-IOV virtual function of `pf`.
    pub fn virtual_function_of(&mut self, pf: DeviceId, name: &'static str) -> DeviceId {
        let slot = self.devices[pf.0 as usize].slot;
        self.push(TestDevice {
            name,
            slot,
            physfn: Some(pf),
        })
    }

    fn push(&mut self, device: TestDevice) -> DeviceId {
        let id = DeviceId(self.devices.len() as u32);
        self.devices.push(device);
        if self.reach.is_empty() {
            self.reach.push(vec![None]);
        }
        for row in &mut self.reach {
            row.push(None);
        }
        let width = self.devices.len() + 1;
        self.reach.push(vec![None; width]);
        // Every device reaches system memory unless a test says otherwise.
        self.set(
            (Some(id), Target::System),
            Ok(Route::new(RouteKind::SystemMemory).with_hops(2)),
        );
        id
    }

    fn slot(
        &self,
        who: Option<DeviceId>,
        target: Target,
    ) -> Option<&Option<Result<Route, Refusal>>> {
        let row = who.map_or(0, |d| d.0 as usize + 1);
        let col = match target {
            Target::System => 0,
            Target::Device(d) => d.0 as usize + 1,
        };
        self.reach.get(row)?.get(col)
    }

    fn set(&mut self, (who, target): (Option<DeviceId>, Target), route: Result<Route, Refusal>) {
        let row = who.map_or(0, |d| d.0 as usize + 1);
        let col = match target {
            Target::System => 0,
            Target::Device(d) => d.0 as usize + 1,
        };
        self.reach[row][col] = Some(route);
    }

    /// The device's name.
    pub fn name(&self, id: DeviceId) -> &'static str {
        self.devices[id.0 as usize].name
    }

    /// `initiator` reaches the memory of `owner` by `route` (PCI P2P or otherwise).
    pub fn route(&mut self, initiator: DeviceId, owner: DeviceId, route: Route) -> &mut Self {
        self.set((Some(initiator), Target::Device(owner)), Ok(route));
        self
    }

    /// `initiator` cannot reach the memory of `owner`, for `why`.
    pub fn refuse(&mut self, initiator: DeviceId, owner: DeviceId, why: Refusal) -> &mut Self {
        self.set((Some(initiator), Target::Device(owner)), Err(why));
        self
    }

    /// `initiator` reaches system memory by `route` (or is refused).
    pub fn system_route(
        &mut self,
        initiator: Option<DeviceId>,
        route: Result<Route, Refusal>,
    ) -> &mut Self {
        self.set((initiator, Target::System), route);
        self
    }

    /// The CPU reaches the memory of `owner` by `route`.
    pub fn cpu_route(&mut self, owner: DeviceId, route: Route) -> &mut Self {
        self.set((None, Target::Device(owner)), Ok(route));
        self
    }

    /// A private link on `fabric` between `a` and `b`, usable both ways.
    pub fn link(&mut self, fabric: FabricId, a: DeviceId, b: DeviceId, route: Route) -> &mut Self {
        let n = self.devices.len();
        let pos = match self.fabrics.iter().position(|f| f.id == fabric) {
            Some(pos) => pos,
            None => {
                self.fabrics.push(PrivateFabric {
                    id: fabric,
                    down: false,
                    members: Vec::new(),
                    links: Vec::new(),
                });
                self.fabrics.len() - 1
            }
        };
        let f = &mut self.fabrics[pos];
        f.links.resize(n, Vec::new());
        for row in &mut f.links {
            row.resize(n, None);
        }
        f.links[a.0 as usize][b.0 as usize] = Some(route);
        f.links[b.0 as usize][a.0 as usize] = Some(route);
        for d in [a, b] {
            if !f.members.contains(&d) {
                f.members.push(d);
            }
        }
        self
    }

    /// Takes every link of `fabric` down (or back up).
    pub fn set_link_down(&mut self, fabric: FabricId, down: bool) {
        for f in self.fabrics.iter_mut().filter(|f| f.id == fabric) {
            f.down = down;
        }
    }

    fn known(&self, id: DeviceId) -> bool {
        (id.0 as usize) < self.devices.len()
    }
}

impl Fabric for TestFabric {
    fn reach(&self, initiator: Initiator, memory: Memory) -> Result<Route, Refusal> {
        let who = match initiator {
            Initiator::Device(d) if !self.known(d) => return Err(Refusal::UnknownDevice(d)),
            Initiator::Device(d) => Some(d),
            Initiator::Cpu => None,
        };
        let target = match memory {
            Memory::System { .. } => Target::System,
            Memory::Device(d) if !self.known(d) => return Err(Refusal::UnknownDevice(d)),
            Memory::Device(d) => Target::Device(d),
        };
        self.slot(who, target)
            .copied()
            .flatten()
            .unwrap_or(Err(Refusal::Other("no route in the test fabric")))
    }

    fn private_route(
        &self,
        fabric: FabricId,
        initiator: DeviceId,
        owner: DeviceId,
    ) -> Result<Route, Refusal> {
        let Some(f) = self.fabrics.iter().find(|f| f.id == fabric) else {
            return Err(Refusal::UnknownFabric(fabric));
        };
        for d in [initiator, owner] {
            if !f.members.contains(&d) {
                return Err(Refusal::NotOnFabric { fabric, device: d });
            }
        }
        if f.down {
            return Err(Refusal::LinkDown(fabric));
        }
        f.link(initiator, owner)
            .ok_or(Refusal::Other("no link between them on this fabric"))
    }

    fn relation(&self, importer: DeviceId, owner: DeviceId) -> Relation {
        let (Some(i), Some(o)) = (
            self.devices.get(importer.0 as usize),
            self.devices.get(owner.0 as usize),
        ) else {
            return Relation::Unknown;
        };
        // Functions of one slot are one device only when neither is a virtual function.
        let same_device = i.slot == o.slot && i.physfn.is_none() && o.physfn.is_none();
        Relation::between(
            &importer,
            &owner,
            i.physfn.as_ref(),
            o.physfn.as_ref(),
            same_device,
        )
    }
}
