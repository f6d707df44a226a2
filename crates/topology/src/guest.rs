//! Whether a machine is a virtual machine's guest, and what says so.
//!
//! A guest sees the PCI tree its hypervisor builds: emulated host bridges and root ports, and
//! the functions passed through to it, placed where the hypervisor likes. Linux's P2P rules
//! applied to that tree give the *guest kernel's* decision; whether the traffic then flows, and
//! by which route, is the host's business (its switches, ACS and IOMMU, the hypervisor's
//! mappings). So a verdict on a guest is said to be one. What counts as evidence:
//!
//! - the CPU's `hypervisor` flag (`/proc/cpuinfo`: x86 CPUs report it to a guest);
//! - the DMI system vendor and product (`/sys/class/dmi/id`, hwloc's `DMISysVendor` and
//!   `DMIProductName`): QEMU, KVM, VMware, Xen, VirtualBox, Hyper-V's `Virtual Machine`,
//!   Amazon EC2 and Google Compute Engine instances other than bare-metal ones;
//! - `/sys/hypervisor/type` (Xen);
//! - PCI functions only hypervisors make: virtio (vendor `1af4`), QEMU's own devices (`1b36`),
//!   VMware's (`15ad`), Hyper-V's (`1414`), Xen's (`5853`), VirtualBox's (`80ee`);
//! - in NCCL files, the virtual switches Azure's and AWS's files use (at `ffff:ff:NN.0`, or of
//!   vendor `ffff`).
//!
//! A container is no guest: it shares the host's kernel and PCI tree.

use crate::machine::Function;

/// PCI vendors whose functions only hypervisors present, with their names.
const VIRTUAL_VENDORS: [(u16, &str); 6] = [
    (0x1af4, "virtio"),
    (0x1b36, "QEMU"),
    (0x15ad, "VMware"),
    (0x1414, "Hyper-V"),
    (0x5853, "Xen"),
    (0x80ee, "VirtualBox"),
];

/// Evidence from the functions: the virtual vendors present, as one sentence.
pub fn from_functions(functions: &[Function]) -> Option<String> {
    let mut found: Vec<&str> = Vec::new();
    let mut count = 0;
    for f in functions {
        if let Some((_, name)) = VIRTUAL_VENDORS.iter().find(|(v, _)| Some(*v) == f.vendor) {
            count += 1;
            if !found.contains(name) {
                found.push(name);
            }
        }
    }
    (count > 0).then(|| {
        format!(
            "{count} PCI function{} only hypervisors present ({})",
            if count == 1 { "" } else { "s" },
            found.join(", ")
        )
    })
}

/// Evidence from `/proc/cpuinfo`: the `hypervisor` CPU flag.
pub fn from_cpuinfo(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| matches!(k.trim(), "flags" | "Features"))
        .any(|(_, v)| v.split_whitespace().any(|f| f == "hypervisor"))
        .then(|| "the CPU reports the hypervisor flag (/proc/cpuinfo)".to_owned())
}

/// Evidence from the DMI system vendor and product name.
pub fn from_dmi(vendor: Option<&str>, product: Option<&str>) -> Option<String> {
    let v = vendor.map(str::trim).unwrap_or("");
    let p = product.map(str::trim).unwrap_or("");
    let lv = v.to_ascii_lowercase();
    let lp = p.to_ascii_lowercase();
    let virtual_vendor = [
        "qemu",
        "vmware",
        "xen",
        "innotek",
        "parallels",
        "bochs",
        "red hat",
    ]
    .iter()
    .any(|n| lv.contains(n));
    let cloud_vm = (lv.contains("amazon ec2") || lv.contains("google"))
        && !lp.ends_with(".metal")
        && !lp.contains("metal");
    let hyperv = lv.contains("microsoft") && lp.contains("virtual machine");
    let product_says = [
        "kvm",
        "qemu",
        "virtual machine",
        "vmware",
        "virtualbox",
        "hvm domu",
    ]
    .iter()
    .any(|n| lp.contains(n));
    (virtual_vendor || cloud_vm || hyperv || product_says)
        .then(|| format!("the DMI system is {v} {p} (a virtual machine)").replace("  ", " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_says_guest() {
        assert!(from_cpuinfo("flags\t\t: fpu vme hypervisor lahf_lm\n").is_some());
        assert!(from_cpuinfo("flags\t\t: fpu vme lahf_lm\n").is_none());
        assert!(from_dmi(Some("QEMU"), Some("Standard PC (Q35 + ICH9, 2009)")).is_some());
        assert!(from_dmi(Some("Amazon EC2"), Some("p5.48xlarge")).is_some());
        assert!(from_dmi(Some("Amazon EC2"), Some("m5.metal")).is_none());
        assert!(from_dmi(Some("Microsoft Corporation"), Some("Virtual Machine")).is_some());
        assert!(from_dmi(Some("Supermicro"), Some("SYS-4029GP-TRT")).is_none());
        assert!(from_dmi(None, None).is_none());
    }
}
