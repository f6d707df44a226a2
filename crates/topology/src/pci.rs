//! PCI vocabulary: addresses, identifiers, class codes, PCIe port types, ACS state and links.
//!
//! Everything that may be unknown in a real snapshot is represented so that "unknown" can never be
//! confused with "absent" or "off": [`Acs::Unknown`] is not [`Acs::Absent`], a `None` port type is
//! not an endpoint, and a [`LinkStatus`] with `speed: None` is not a slow link.

use core::fmt;
use core::str::FromStr;

/// A PCI function address: domain (segment), bus, device (slot) and function.
///
/// Domains are 32-bit: Intel VMD and some hypervisors create domains such as `10000`. The
/// textual form is the kernel's: `DDDD:BB:DD.F` with at least four domain digits
/// (`0000:00:1f.3`, `10000:00:02.0`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Bdf {
    /// PCI domain (segment group), up to 32 bits.
    pub domain: u32,
    /// Bus number.
    pub bus: u8,
    /// Device (slot) number, 0 to 31.
    pub device: u8,
    /// Function number, 0 to 7.
    pub function: u8,
}

impl Bdf {
    /// A function address. `device` is masked to 5 bits and `function` to 3, as in hardware.
    pub const fn new(domain: u32, bus: u8, device: u8, function: u8) -> Self {
        Self {
            domain,
            bus,
            device: device & 0x1f,
            function: function & 0x07,
        }
    }

    /// The kernel's `devfn`: device in bits 7:3, function in bits 2:0.
    pub const fn devfn(&self) -> u8 {
        (self.device << 3) | self.function
    }

    /// Whether `other` is in the same physical device (same domain, bus and slot).
    pub const fn same_slot(&self, other: &Bdf) -> bool {
        self.domain == other.domain && self.bus == other.bus && self.device == other.device
    }
}

impl fmt::Display for Bdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

/// A string that is not a PCI address.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("`{text}` is not a PCI address (expected DDDD:BB:DD.F in hex, e.g. 0000:00:1f.3)")]
pub struct BdfParseError {
    /// The text that failed to parse.
    pub text: String,
}

impl FromStr for Bdf {
    type Err = BdfParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_bdf(s).ok_or_else(|| BdfParseError { text: s.to_owned() })
    }
}

fn parse_bdf(s: &str) -> Option<Bdf> {
    let (domain, rest) = s.split_once(':')?;
    let (bus, rest) = rest.split_once(':')?;
    let (dev, func) = rest.split_once('.')?;
    let hex = |t: &str, max_len: usize| {
        (!t.is_empty() && t.len() <= max_len && t.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(t, 16).ok())
            .flatten()
    };
    let domain = hex(domain, 8)?;
    if domain_text_too_short(s) {
        return None;
    }
    let bus = u8::try_from(hex(bus, 2)?).ok()?;
    let dev = u8::try_from(hex(dev, 2)?).ok()?;
    let func = u8::try_from(hex(func, 1)?).ok()?;
    if dev > 0x1f || func > 7 {
        return None;
    }
    Some(Bdf::new(domain, bus, dev, func))
}

/// The kernel always prints at least four domain digits; shorter forms are not sysfs names.
fn domain_text_too_short(s: &str) -> bool {
    s.split(':').next().is_none_or(|d| d.len() < 4)
}

/// A PCI class code: base class (bits 23:16), subclass (15:8), programming interface (7:0).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ClassCode(pub u32);

impl ClassCode {
    /// Base class (`0x03` display, `0x02` network, `0x06` bridge, ...).
    pub const fn base(self) -> u8 {
        (self.0 >> 16) as u8
    }

    /// Base class and subclass, as hwloc and lspci print them (`0x0604` PCI bridge).
    pub const fn class_id(self) -> u16 {
        (self.0 >> 8) as u16
    }

    /// Whether this is a PCI-to-PCI bridge (`0x0604`) or a semi-transparent one (`0x0609`).
    pub const fn is_pci_bridge(self) -> bool {
        matches!(self.class_id(), 0x0604 | 0x0609)
    }
}

impl fmt::Display for ClassCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06x}", self.0 & 0x00ff_ffff)
    }
}

/// The device/port type from the PCI Express capability (bits 7:4 of capability + 2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PortType {
    /// PCI Express endpoint (0).
    Endpoint,
    /// Legacy PCI Express endpoint (1).
    LegacyEndpoint,
    /// Root port of a root complex (4).
    RootPort,
    /// Upstream port of a switch (5).
    SwitchUpstream,
    /// Downstream port of a switch (6).
    SwitchDownstream,
    /// PCI Express to PCI/PCI-X bridge (7).
    PcieToPciBridge,
    /// PCI/PCI-X to PCI Express bridge (8).
    PciToPcieBridge,
    /// Root-complex integrated endpoint (9).
    RcIntegratedEndpoint,
    /// Root-complex event collector (10).
    RcEventCollector,
    /// A value the specification does not define.
    Reserved(u8),
}

impl PortType {
    /// Decodes the 4-bit field.
    pub const fn from_field(v: u8) -> Self {
        match v & 0x0f {
            0 => PortType::Endpoint,
            1 => PortType::LegacyEndpoint,
            4 => PortType::RootPort,
            5 => PortType::SwitchUpstream,
            6 => PortType::SwitchDownstream,
            7 => PortType::PcieToPciBridge,
            8 => PortType::PciToPcieBridge,
            9 => PortType::RcIntegratedEndpoint,
            10 => PortType::RcEventCollector,
            other => PortType::Reserved(other),
        }
    }

    /// The 4-bit field value.
    pub const fn field(self) -> u8 {
        match self {
            PortType::Endpoint => 0,
            PortType::LegacyEndpoint => 1,
            PortType::RootPort => 4,
            PortType::SwitchUpstream => 5,
            PortType::SwitchDownstream => 6,
            PortType::PcieToPciBridge => 7,
            PortType::PciToPcieBridge => 8,
            PortType::RcIntegratedEndpoint => 9,
            PortType::RcEventCollector => 10,
            PortType::Reserved(v) => v,
        }
    }

    /// A short human name.
    pub const fn name(self) -> &'static str {
        match self {
            PortType::Endpoint => "endpoint",
            PortType::LegacyEndpoint => "legacy endpoint",
            PortType::RootPort => "root port",
            PortType::SwitchUpstream => "switch upstream port",
            PortType::SwitchDownstream => "switch downstream port",
            PortType::PcieToPciBridge => "PCIe-to-PCI bridge",
            PortType::PciToPcieBridge => "PCI-to-PCIe bridge",
            PortType::RcIntegratedEndpoint => "root-complex integrated endpoint",
            PortType::RcEventCollector => "root-complex event collector",
            PortType::Reserved(_) => "reserved port type",
        }
    }
}

impl fmt::Display for PortType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// ACS P2P Request Redirect.
pub const ACS_RR: u16 = 0x0004;
/// ACS P2P Completion Redirect.
pub const ACS_CR: u16 = 0x0008;
/// ACS P2P Egress Control.
pub const ACS_EC: u16 = 0x0020;
/// The control bits Linux's `pci_bridge_has_acs_redir` tests.
pub const ACS_REDIRECT_MASK: u16 = ACS_RR | ACS_CR | ACS_EC;

/// Access Control Services state of one function.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Acs {
    /// The configuration space that would hold the capability could not be read (a 64-byte or
    /// 256-byte `config` of a PCI Express function, or no config at all).
    Unknown,
    /// The function has no ACS capability (known: the whole extended space was readable, or the
    /// function is conventional PCI and has none).
    Absent,
    /// The capability is present with this ACS Control register.
    Present {
        /// The 16-bit ACS Control register (capability + 6).
        control: u16,
    },
}

impl Acs {
    /// Whether P2P redirect (RR, CR or EC) is on: `Some(true)`/`Some(false)` when known.
    pub const fn redirect(self) -> Option<bool> {
        match self {
            Acs::Unknown => None,
            Acs::Absent => Some(false),
            Acs::Present { control } => Some(control & ACS_REDIRECT_MASK != 0),
        }
    }

    /// A three-valued summary.
    pub const fn redirect_state(self) -> AcsRedirect {
        match self.redirect() {
            None => AcsRedirect::Unknown,
            Some(true) => AcsRedirect::On,
            Some(false) => AcsRedirect::Off,
        }
    }
}

/// Whether ACS redirect is on, off or unknown for one function.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AcsRedirect {
    /// RR, CR or EC is set.
    On,
    /// No ACS capability, or none of RR, CR, EC set.
    Off,
    /// The state could not be read.
    Unknown,
}

impl fmt::Display for AcsRedirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AcsRedirect::On => "on",
            AcsRedirect::Off => "off",
            AcsRedirect::Unknown => "unknown",
        })
    }
}

/// A PCIe lane rate, in megatransfers per second (2.5 GT/s = 2500).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct LinkSpeed(pub u32);

impl LinkSpeed {
    /// Gen1, 2.5 GT/s.
    pub const GEN1: LinkSpeed = LinkSpeed(2_500);
    /// Gen2, 5 GT/s.
    pub const GEN2: LinkSpeed = LinkSpeed(5_000);
    /// Gen3, 8 GT/s.
    pub const GEN3: LinkSpeed = LinkSpeed(8_000);
    /// Gen4, 16 GT/s.
    pub const GEN4: LinkSpeed = LinkSpeed(16_000);
    /// Gen5, 32 GT/s.
    pub const GEN5: LinkSpeed = LinkSpeed(32_000);
    /// Gen6, 64 GT/s.
    pub const GEN6: LinkSpeed = LinkSpeed(64_000);

    /// Line encoding efficiency as a fraction (numerator, denominator): 8b/10b up to 5 GT/s,
    /// 128b/130b up to 32 GT/s, 242/256 (FLIT mode) from 64 GT/s on.
    pub const fn encoding(self) -> (u64, u64) {
        if self.0 <= 5_000 {
            (8, 10)
        } else if self.0 <= 32_000 {
            (128, 130)
        } else {
            (242, 256)
        }
    }

    /// What [`LinkSpeed::parse_sysfs`] accepts, for messages.
    pub const SYSFS_SPELLINGS: &'static str =
        "a link speed such as \"16.0 GT/s PCIe\", \"8 GT/s\" or \"Unknown\"";

    /// Parses sysfs spellings: `"16.0 GT/s PCIe"`, `"8 GT/s"`, `"2.5 GT/s"`. `"Unknown"`
    /// (and an empty string) give `Ok(None)`; anything else is an error.
    pub fn parse_sysfs(text: &str) -> Result<Option<LinkSpeed>, LinkSpeedParseError> {
        let t = text.trim();
        if t.is_empty() || t.eq_ignore_ascii_case("unknown") {
            return Ok(None);
        }
        let Some(num) = t.split_whitespace().next() else {
            return Err(LinkSpeedParseError);
        };
        let rest = t[num.len()..].trim_start();
        if !rest.starts_with("GT/s") {
            return Err(LinkSpeedParseError);
        }
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty()
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || int.len() > 4
        {
            return Err(LinkSpeedParseError);
        }
        let int: u32 = int.parse().map_err(|_| LinkSpeedParseError)?;
        let mut milli = 0u32;
        let mut scale = 100u32;
        for d in frac.bytes().take(3) {
            milli += u32::from(d - b'0') * scale;
            scale /= 10;
        }
        let mt = int * 1000 + milli;
        if mt == 0 {
            return Ok(None);
        }
        Ok(Some(LinkSpeed(mt)))
    }
}

impl fmt::Display for LinkSpeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 1000 == 0 {
            write!(f, "{} GT/s", self.0 / 1000)
        } else {
            let frac = format!("{:03}", self.0 % 1000);
            write!(f, "{}.{} GT/s", self.0 / 1000, frac.trim_end_matches('0'))
        }
    }
}

/// A link speed that is neither `N GT/s`, `N.N GT/s` (optionally followed by `PCIe`) nor
/// `Unknown`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[error("expected {}", LinkSpeed::SYSFS_SPELLINGS)]
pub struct LinkSpeedParseError;

/// The state of one PCIe link as a function reports it (`current_*` or `max_*` attributes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct LinkStatus {
    /// Lane rate, if known.
    pub speed: Option<LinkSpeed>,
    /// Number of lanes, if known.
    pub width: Option<u8>,
}

impl LinkStatus {
    /// A link with both values known.
    pub const fn new(speed: LinkSpeed, width: u8) -> Self {
        Self {
            speed: Some(speed),
            width: Some(width),
        }
    }

    /// Whether nothing is known about the link.
    pub const fn is_unknown(&self) -> bool {
        self.speed.is_none() && self.width.is_none()
    }

    /// Bandwidth in one direction after line encoding, in MB/s (10^6 bytes/s), as hwloc
    /// computes it: lane rate × lanes × encoding ÷ 8. Gen3 x16 = 15 753 MB/s, Gen4 x16 =
    /// 31 507 MB/s. `None` when the speed or the width is unknown.
    pub fn bandwidth_mb_s(&self) -> Option<u32> {
        let speed = self.speed?;
        let width = self.width?;
        let (num, den) = speed.encoding();
        let mb = u64::from(speed.0) * u64::from(width) * num / (den * 8);
        u32::try_from(mb).ok()
    }
}

impl fmt::Display for LinkStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.speed {
            Some(s) => write!(f, "{s}")?,
            None => f.write_str("unknown speed")?,
        }
        match self.width {
            Some(w) => write!(f, " x{w}"),
            None => f.write_str(" x?"),
        }
    }
}

/// One BAR (or other resource) of a function, as the kernel's `resource` file lists it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Bar {
    /// BAR index (0 to 5; 6 is the expansion ROM).
    pub index: u8,
    /// First address (CPU physical).
    pub start: u64,
    /// Last address, inclusive.
    pub end: u64,
    /// The kernel's `IORESOURCE_*` flags.
    pub flags: u64,
}

impl Bar {
    /// Size in bytes.
    pub const fn size(&self) -> u64 {
        self.end.wrapping_sub(self.start).wrapping_add(1)
    }

    /// Whether this is a memory BAR (`IORESOURCE_MEM`).
    pub const fn is_memory(&self) -> bool {
        self.flags & 0x200 != 0
    }

    /// Whether the kernel marks it prefetchable (`IORESOURCE_PREFETCH`).
    pub const fn is_prefetchable(&self) -> bool {
        self.flags & 0x2000 != 0
    }
}

/// Peer-to-peer memory a function publishes through the kernel's p2pdma (`p2pmem/`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct P2pMem {
    /// Total size in bytes.
    pub size: u64,
    /// Bytes still available, if known.
    pub available: Option<u64>,
    /// Whether the memory is published for other drivers to find, if known.
    pub published: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bdf_round_trip_and_32_bit_domains() {
        let b: Bdf = "10000:00:02.0".parse().unwrap();
        assert_eq!(b.domain, 0x10000);
        assert_eq!(b.to_string(), "10000:00:02.0");
        let b: Bdf = "0000:00:1f.3".parse().unwrap();
        assert_eq!(b.devfn(), 0xfb);
        assert_eq!(b.to_string(), "0000:00:1f.3");
        for bad in [
            "",
            "00:1f.3",
            "0000:00:1f",
            "0000:00:20.0",
            "0000:00:1f.8",
            "zzzz:00:00.0",
        ] {
            assert!(bad.parse::<Bdf>().is_err(), "{bad}");
        }
    }

    #[test]
    fn link_speeds_in_both_spellings() {
        assert_eq!(
            LinkSpeed::parse_sysfs("16.0 GT/s PCIe\n"),
            Ok(Some(LinkSpeed::GEN4))
        );
        assert_eq!(LinkSpeed::parse_sysfs("8 GT/s"), Ok(Some(LinkSpeed::GEN3)));
        assert_eq!(
            LinkSpeed::parse_sysfs("2.5 GT/s"),
            Ok(Some(LinkSpeed::GEN1))
        );
        assert_eq!(LinkSpeed::parse_sysfs("Unknown"), Ok(None));
        assert_eq!(LinkSpeed::parse_sysfs("fast"), Err(LinkSpeedParseError));
        assert_eq!(LinkSpeed::GEN1.to_string(), "2.5 GT/s");
    }

    #[test]
    fn encoded_bandwidth_as_hwloc() {
        assert_eq!(
            LinkStatus::new(LinkSpeed::GEN3, 16).bandwidth_mb_s(),
            Some(15_753)
        );
        assert_eq!(
            LinkStatus::new(LinkSpeed::GEN4, 16).bandwidth_mb_s(),
            Some(31_507)
        );
        assert_eq!(
            LinkStatus::new(LinkSpeed::GEN1, 1).bandwidth_mb_s(),
            Some(250)
        );
        assert_eq!(
            LinkStatus::new(LinkSpeed::GEN6, 16).bandwidth_mb_s(),
            Some(121_000)
        );
        let half = LinkStatus {
            speed: Some(LinkSpeed::GEN4),
            width: None,
        };
        assert_eq!(half.bandwidth_mb_s(), None);
    }

    #[test]
    fn acs_states() {
        assert_eq!(Acs::Unknown.redirect(), None);
        assert_eq!(Acs::Absent.redirect(), Some(false));
        assert_eq!(Acs::Present { control: 0x0011 }.redirect(), Some(false));
        assert_eq!(Acs::Present { control: ACS_RR }.redirect(), Some(true));
        assert_eq!(Acs::Present { control: ACS_EC }.redirect(), Some(true));
    }
}
