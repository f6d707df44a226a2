//! Device arguments to functions: full bus ids (`0000:03:00.0`, `10000:00:02.0`), short ones
//! for domain 0 (`03:00.0`), and OS device names the source knows (`nvme0`, `eth0`, `mlx5_0`).
//! A name that matches nothing gets the closest matches.

use pci_topology::{Bdf, FunctionId, Machine};

/// Why a device argument names no function.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Unresolved {
    /// The argument as given.
    pub text: String,
    /// The bus id it parsed as, if any (else it was taken as an OS device name).
    pub bus_id: Option<Bdf>,
    /// The closest bus ids (and OS device names) on the machine, best first.
    pub closest: Vec<String>,
}

impl Unresolved {
    /// One line for an error message.
    pub fn message(&self) -> String {
        if let Some(b) = self.bus_id {
            format!("no PCI function {b} on this machine")
        } else {
            format!(
                "`{}` is neither a bus id (DDDD:BB:DD.F or BB:DD.F) nor a device name known on this machine",
                self.text
            )
        }
    }

    /// The "did you mean" note, if there is anything to suggest.
    pub fn hint(&self) -> Option<String> {
        (!self.closest.is_empty()).then(|| format!("closest: {}", self.closest.join(", ")))
    }
}

/// Parses a bus id, accepting the short `BB:DD.F` form for domain 0 and any case.
pub fn parse_bus_id(text: &str) -> Option<Bdf> {
    let t = text.trim().to_ascii_lowercase();
    if let Ok(b) = t.parse::<Bdf>() {
        return Some(b);
    }
    // `BB:DD.F`: exactly one colon before the dot.
    if t.matches(':').count() == 1 {
        return format!("0000:{t}").parse().ok();
    }
    None
}

/// Finds the function an argument names.
pub fn resolve(m: &Machine, text: &str) -> Result<FunctionId, Unresolved> {
    let bdf = parse_bus_id(text);
    if let Some(id) = bdf.and_then(|b| m.find(b)) {
        return Ok(id);
    }
    if bdf.is_none() {
        let wanted = text.trim();
        if let Some(id) = m.function_ids().find(|&id| {
            m.function(id)
                .is_some_and(|f| f.os_devices.iter().any(|d| d == wanted))
        }) {
            return Ok(id);
        }
    }
    Err(Unresolved {
        text: text.to_owned(),
        bus_id: bdf,
        closest: closest(
            m,
            bdf.map_or_else(|| text.trim().to_owned(), |b| b.to_string()),
        ),
    })
}

/// Up to three names on the machine closest to `wanted`: bus ids compared as text (with a
/// bonus for the same slot, then the same bus, of a wanted bus id), and OS device names, by
/// normalised Levenshtein similarity.
fn closest(m: &Machine, wanted: String) -> Vec<String> {
    let wanted_bdf = parse_bus_id(&wanted);
    let mut scored: Vec<(f64, String)> = Vec::new();
    for f in m.functions() {
        let bdf = f.bdf.to_string();
        let bonus = match wanted_bdf {
            Some(w) if w.same_slot(&f.bdf) => 0.5,
            Some(w) if w.domain == f.bdf.domain && w.bus == f.bdf.bus => 0.25,
            _ => 0.0,
        };
        scored.push((strsim::normalized_levenshtein(&wanted, &bdf) + bonus, bdf));
        for d in &f.os_devices {
            scored.push((
                strsim::normalized_levenshtein(&wanted, d),
                format!("{d} ({})", f.bdf),
            ));
        }
    }
    // Best first; equal scores in address order, so the answer is deterministic.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let close: Vec<String> = scored
        .iter()
        .filter(|(s, _)| *s > 0.3)
        .take(3)
        .map(|(_, n)| n.clone())
        .collect();
    if !close.is_empty() || wanted_bdf.is_some() {
        return close;
    }
    // A device name far from every known one: list the names there are.
    m.functions()
        .iter()
        .flat_map(|f| f.os_devices.iter().map(move |d| format!("{d} ({})", f.bdf)))
        .take(5)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pci_topology::{Function, HostBridge, Upstream};

    fn machine() -> Machine {
        let mut b = Machine::builder();
        let hb = b.host_bridge(HostBridge::new(0, 0));
        let rp = b.function(Function::new(
            Bdf::new(0, 0, 1, 0),
            Upstream::HostBridge(hb),
        ));
        let mut nvme = Function::new(Bdf::new(0, 3, 0, 0), Upstream::Bridge(rp));
        nvme.os_devices = vec!["nvme0".into()];
        b.function(nvme);
        b.function(Function::new(Bdf::new(0, 3, 0, 1), Upstream::Bridge(rp)));
        b.build().unwrap()
    }

    #[test]
    fn bus_ids_short_forms_and_names() {
        let m = machine();
        assert_eq!(resolve(&m, "0000:03:00.0"), Ok(FunctionId(1)));
        assert_eq!(resolve(&m, "03:00.1"), Ok(FunctionId(2)));
        assert_eq!(
            resolve(&m, "0000:03:00.1".to_uppercase().as_str()),
            Ok(FunctionId(2))
        );
        assert_eq!(resolve(&m, "nvme0"), Ok(FunctionId(1)));
    }

    #[test]
    fn unknown_ids_name_the_closest() {
        let m = machine();
        let e = resolve(&m, "03:00.2").unwrap_err();
        assert_eq!(e.bus_id, Some(Bdf::new(0, 3, 0, 2)));
        assert_eq!(e.closest[..2], ["0000:03:00.0", "0000:03:00.1"]);
        assert!(e.message().contains("0000:03:00.2"));
        let e = resolve(&m, "nvme1").unwrap_err();
        assert_eq!(e.bus_id, None);
        assert_eq!(
            e.closest.first().map(String::as_str),
            Some("nvme0 (0000:03:00.0)")
        );
    }
}
