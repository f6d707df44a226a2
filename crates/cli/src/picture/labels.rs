//! What the boxes and lines of a picture say: device titles, shortened vendor names, link
//! speeds, bandwidths, sizes, short addresses.

use pci_topology::{Bdf, Function, LinkStatus};

use super::names::Names;

/// A vendor name shortened for a box: the bracketed short form pci.ids gives some vendors
/// (`Advanced Micro Devices, Inc. [AMD/ATI]` → `AMD/ATI`), else the name without its company
/// suffix (`NVIDIA Corporation` → `NVIDIA`, `Mellanox Technologies` → `Mellanox`).
pub fn short_vendor(name: &str) -> String {
    if let Some((_, rest)) = name.split_once('[') {
        if let Some((inner, _)) = rest.split_once(']') {
            if !inner.trim().is_empty() {
                return inner.trim().to_owned();
            }
        }
    }
    let mut s = name.trim();
    const SUFFIXES: [&str; 13] = [
        " and subsidiaries",
        ", Inc.",
        " Inc.",
        " Inc",
        " Corporation",
        " Corp.",
        " Co., Ltd.",
        " Co., Ltd",
        " Ltd.",
        " Technologies",
        " Technology",
        " Semiconductor",
        ",",
    ];
    loop {
        let before = s;
        for suffix in SUFFIXES {
            if let Some(stripped) = s.strip_suffix(suffix) {
                if !stripped.trim().is_empty() {
                    s = stripped.trim_end();
                }
            }
        }
        if s == before {
            break;
        }
    }
    s.to_owned()
}

/// The title of a function's box: its device name; else, for a function that switches a
/// private fabric, `NVSwitch` (NVIDIA's) or `fabric switch`; else its class name; else its IDs.
pub fn device_title(f: &Function, names: &dyn Names) -> String {
    let named = f.vendor.zip(f.device).and_then(|(v, d)| names.device(v, d));
    if named.is_none() && f.fabric_switch {
        return if f.vendor == Some(0x10de) {
            "NVSwitch".to_owned()
        } else {
            "fabric switch".to_owned()
        };
    }
    if let Some(name) = f.vendor.zip(f.device).and_then(|(v, d)| names.device(v, d)) {
        return name.to_owned();
    }
    if let Some(class) = f.class.and_then(|c| names.class(c)) {
        return class.to_owned();
    }
    match (f.vendor, f.device) {
        (None, None) => "unknown device".to_owned(),
        _ => format!("device {}", f.id_string()),
    }
}

/// `vendor · class` for a function's box, from what is known.
pub fn vendor_and_class(f: &Function, names: &dyn Names) -> Option<String> {
    let vendor = f.vendor.and_then(|v| names.vendor(v)).map(short_vendor);
    let class = f.class.map(|c| {
        names
            .class(c)
            .map_or_else(|| format!("class {:04x}", c.class_id()), str::to_owned)
    });
    match (vendor, class) {
        (Some(v), Some(c)) => Some(format!("{v} · {c}")),
        (Some(v), None) => Some(v),
        (None, Some(c)) => Some(c),
        (None, None) => None,
    }
}

/// `16 GT/s x16`, `8 GT/s x?`, `? x4`; `None` when nothing is known.
pub fn link_text(link: &LinkStatus) -> Option<String> {
    if link.is_unknown() {
        return None;
    }
    let speed = link.speed.map_or_else(|| "?".to_owned(), |s| s.to_string());
    let width = link.width.map_or_else(|| "?".to_owned(), |w| w.to_string());
    Some(format!("{speed} x{width}"))
}

/// A bandwidth in MB/s for people: `31.5 GB/s`, `0.25 GB/s` (by the one rounding rule,
/// [`dmabuf_negotiate::Gbps`]).
pub fn bandwidth_text(mb_s: u32) -> String {
    dmabuf_negotiate::Bandwidth(mb_s).to_string()
}

/// A size in bytes for people: `256 MiB`, `1.5 GiB`.
pub fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 || v >= 100.0 || (v - v.round()).abs() < 0.05 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `bus:device.function` without the domain (`2d:04.0`), for port labels.
pub fn short_bdf(bdf: Bdf) -> String {
    format!("{:02x}:{:02x}.{:x}", bdf.bus, bdf.device, bdf.function)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pci_topology::LinkSpeed;

    #[test]
    fn vendors_are_shortened() {
        assert_eq!(short_vendor("NVIDIA Corporation"), "NVIDIA");
        assert_eq!(short_vendor("Mellanox Technologies"), "Mellanox");
        assert_eq!(
            short_vendor("Advanced Micro Devices, Inc. [AMD/ATI]"),
            "AMD/ATI"
        );
        assert_eq!(short_vendor("PLX Technology, Inc."), "PLX");
        assert_eq!(short_vendor("Intel Corporation"), "Intel");
        assert_eq!(short_vendor("Red Hat, Inc."), "Red Hat");
        assert_eq!(short_vendor("Inc."), "Inc.");
        assert_eq!(short_vendor("Broadcom Inc. and subsidiaries"), "Broadcom");
    }

    #[test]
    fn links_bandwidths_sizes() {
        assert_eq!(
            link_text(&LinkStatus::new(LinkSpeed::GEN4, 16)).as_deref(),
            Some("16 GT/s x16")
        );
        assert_eq!(link_text(&LinkStatus::default()), None);
        let half = LinkStatus {
            speed: Some(LinkSpeed::GEN1),
            width: None,
        };
        assert_eq!(link_text(&half).as_deref(), Some("2.5 GT/s x?"));
        assert_eq!(bandwidth_text(31_507), "31.5 GB/s");
        assert_eq!(bandwidth_text(25_000), "25 GB/s");
        assert_eq!(bandwidth_text(150_000), "150 GB/s");
        assert_eq!(bandwidth_text(250), "0.25 GB/s");
        assert_eq!(bandwidth_text(15_753), "15.8 GB/s");
        assert_eq!(size_text(256 << 20), "256 MiB");
        assert_eq!(size_text(3 << 29), "1.5 GiB");
        assert_eq!(size_text(512), "512 B");
        assert_eq!(short_bdf(Bdf::new(0, 0x2d, 4, 0)), "2d:04.0");
    }
}
