// SPDX-License-Identifier: GPL-2.0

//! A small fabric held in the module, for the KUnit tests: devices, the relations between
//! them and an explicit table of routes, in fixed-size arrays (nothing allocates). Nothing is
//! inferred: a question a test did not answer is refused, so a test cannot pass by accident.
//! It mirrors `crates/negotiate/tests/common`, which the same scenarios use in user space.

use dmabuf_negotiate::{
    DeviceId, Fabric, FabricId, Initiator, Memory, Refusal, Relation, Route, RouteKind,
};

/// How many devices a test fabric holds.
const DEVICES: usize = 8;
/// How many private links it holds.
const LINKS: usize = 4;

/// One device: functions with the same `slot` belong to one physical device; a virtual
/// function names its physical function.
#[derive(Clone, Copy)]
struct TestDevice {
    slot: u32,
    physfn: Option<DeviceId>,
}

/// One private link between two devices, usable both ways.
#[derive(Clone, Copy)]
struct Link {
    fabric: FabricId,
    a: DeviceId,
    b: DeviceId,
    route: Route,
}

/// The test fabric. `reach[who][target]`: row 0 is the CPU, row `d + 1` device `d`; column 0 is
/// system memory, column `d + 1` the memory of device `d`.
pub(crate) struct TestFabric {
    devices: [Option<TestDevice>; DEVICES],
    reach: [[Option<Result<Route, Refusal>>; DEVICES + 1]; DEVICES + 1],
    links: [Option<Link>; LINKS],
    down: Option<FabricId>,
}

/// The id of no device: what `device()` returns once the fabric is full. Every question about
/// it is refused as an unknown device, so an overfull test fails instead of panicking.
const NO_DEVICE: DeviceId = DeviceId(u32::MAX);

impl TestFabric {
    /// An empty fabric.
    pub(crate) const fn new() -> Self {
        TestFabric {
            devices: [None; DEVICES],
            reach: [[None; DEVICES + 1]; DEVICES + 1],
            links: [None; LINKS],
            down: None,
        }
    }

    fn push(&mut self, slot: Option<u32>, physfn: Option<DeviceId>) -> DeviceId {
        let Some(index) = self.devices.iter().position(Option::is_none) else {
            return NO_DEVICE;
        };
        let id = DeviceId(index as u32);
        if let Some(free) = self.devices.get_mut(index) {
            *free = Some(TestDevice {
                slot: slot.unwrap_or(id.0),
                physfn,
            });
        }
        // Every device reaches system memory unless a test says otherwise.
        if let Some(c) = self.cell(Some(id), None) {
            *c = Some(Ok(Route::new(RouteKind::SystemMemory).with_hops(2)));
        }
        id
    }

    fn slot_of(&self, id: DeviceId) -> Option<u32> {
        Some(self.get(id)?.slot)
    }

    fn get(&self, id: DeviceId) -> Option<TestDevice> {
        *self.devices.get(id.0 as usize)?
    }

    /// Adds a device on its own slot.
    pub(crate) fn device(&mut self) -> DeviceId {
        self.push(None, None)
    }

    /// Adds another function of `sibling`'s physical device.
    pub(crate) fn function_of(&mut self, sibling: DeviceId) -> DeviceId {
        let slot = self.slot_of(sibling);
        self.push(slot, None)
    }

    /// Adds an SR-IOV virtual function of `pf`.
    pub(crate) fn virtual_function_of(&mut self, pf: DeviceId) -> DeviceId {
        let slot = self.slot_of(pf);
        self.push(slot, Some(pf))
    }

    fn cell(
        &mut self,
        who: Option<DeviceId>,
        target: Option<DeviceId>,
    ) -> Option<&mut Option<Result<Route, Refusal>>> {
        let row = who.map_or(Some(0), |d| (d.0 as usize).checked_add(1))?;
        let col = target.map_or(Some(0), |d| (d.0 as usize).checked_add(1))?;
        self.reach.get_mut(row)?.get_mut(col)
    }

    /// `initiator` reaches the memory of `owner` by `route`.
    pub(crate) fn route(
        &mut self,
        initiator: DeviceId,
        owner: DeviceId,
        route: Route,
    ) -> &mut Self {
        if let Some(c) = self.cell(Some(initiator), Some(owner)) {
            *c = Some(Ok(route));
        }
        self
    }

    /// `initiator` cannot reach the memory of `owner`, for `why`.
    pub(crate) fn refuse(
        &mut self,
        initiator: DeviceId,
        owner: DeviceId,
        why: Refusal,
    ) -> &mut Self {
        if let Some(c) = self.cell(Some(initiator), Some(owner)) {
            *c = Some(Err(why));
        }
        self
    }

    /// The CPU reaches the memory of `owner` by `route`.
    pub(crate) fn cpu_route(&mut self, owner: DeviceId, route: Route) -> &mut Self {
        if let Some(c) = self.cell(None, Some(owner)) {
            *c = Some(Ok(route));
        }
        self
    }

    /// A private link on `fabric` between `a` and `b`, usable both ways.
    pub(crate) fn link(
        &mut self,
        fabric: FabricId,
        a: DeviceId,
        b: DeviceId,
        route: Route,
    ) -> &mut Self {
        if let Some(free) = self.links.iter_mut().find(|l| l.is_none()) {
            *free = Some(Link {
                fabric,
                a,
                b,
                route,
            });
        }
        self
    }

    /// Takes every link of `fabric` down.
    pub(crate) fn set_link_down(&mut self, fabric: FabricId) {
        self.down = Some(fabric);
    }

    fn links_of(&self, fabric: FabricId) -> impl Iterator<Item = &Link> {
        self.links
            .iter()
            .flatten()
            .filter(move |l| l.fabric == fabric)
    }
}

impl Fabric for TestFabric {
    fn reach(&self, initiator: Initiator, memory: Memory) -> Result<Route, Refusal> {
        let who = match initiator {
            Initiator::Device(d) if self.get(d).is_none() => return Err(Refusal::UnknownDevice(d)),
            Initiator::Device(d) => Some(d.0 as usize + 1),
            Initiator::Cpu => Some(0),
        };
        let target = match memory {
            Memory::System { .. } => Some(0),
            Memory::Device(d) if self.get(d).is_none() => return Err(Refusal::UnknownDevice(d)),
            Memory::Device(d) => Some(d.0 as usize + 1),
        };
        who.zip(target)
            .and_then(|(row, col)| *self.reach.get(row)?.get(col)?)
            .unwrap_or(Err(Refusal::Other("no route in the test fabric")))
    }

    fn private_route(
        &self,
        fabric: FabricId,
        initiator: DeviceId,
        owner: DeviceId,
    ) -> Result<Route, Refusal> {
        if self.links_of(fabric).next().is_none() {
            return Err(Refusal::UnknownFabric(fabric));
        }
        for d in [initiator, owner] {
            if !self.links_of(fabric).any(|l| l.a == d || l.b == d) {
                return Err(Refusal::NotOnFabric { fabric, device: d });
            }
        }
        if self.down == Some(fabric) {
            return Err(Refusal::LinkDown(fabric));
        }
        self.links_of(fabric)
            .find(|l| (l.a, l.b) == (initiator, owner) || (l.b, l.a) == (initiator, owner))
            .map(|l| l.route)
            .ok_or(Refusal::Other("no link between them on this fabric"))
    }

    fn relation(&self, importer: DeviceId, owner: DeviceId) -> Relation {
        let (Some(i), Some(o)) = (self.get(importer), self.get(owner)) else {
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
