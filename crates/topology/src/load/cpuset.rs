//! CPU sets written as bit masks, turned into the kernel's cpulist form (`0-7,16-23`) that
//! [`Function::local_cpulist`](crate::Function::local_cpulist) holds.
//!
//! Two spellings exist: the kernel's (`local_cpus`, NCCL's `affinity`): comma-separated 32-bit
//! hex words, most significant first, without `0x` (`00000000,ffffffff`); and hwloc's bitmaps:
//! the same words with `0x` and empty words for zero (`0x00000303,0x03030000,,0x0`). hwloc's
//! infinite sets (`0xf...f,...`) are not CPU localities and are rejected.

/// Bits set in a mask, lowest first; `None` if the text is not a mask.
fn bits(mask: &str, hwloc: bool) -> Option<Vec<usize>> {
    let t = mask.trim();
    if t.is_empty() {
        return None;
    }
    let words: Vec<&str> = t.split(',').collect();
    if words.len() > 4096 {
        return None;
    }
    let mut out = Vec::new();
    for (i, w) in words.iter().rev().enumerate() {
        let digits = if hwloc {
            match w.strip_prefix("0x") {
                Some(d) => d,
                None if w.is_empty() => "0",
                None => return None,
            }
        } else {
            w
        };
        if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let v = u32::from_str_radix(digits, 16).ok()?;
        for bit in 0..32 {
            if v & (1 << bit) != 0 {
                out.push(i * 32 + bit);
            }
        }
    }
    Some(out)
}

/// `0,2-5` from a sorted list of CPUs.
fn list(cpus: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(",")
}

/// A kernel mask (`00000000,0000ffff`) as a cpulist; `None` if it is not one.
pub(crate) fn kernel_mask_to_list(mask: &str) -> Option<String> {
    bits(mask, false).map(|b| list(&b))
}

/// An hwloc bitmap (`0x00000303,0x03030000,,0x0`) as a cpulist; `None` if it is not a finite
/// hwloc bitmap.
pub(crate) fn hwloc_bitmap_to_list(bitmap: &str) -> Option<String> {
    bits(bitmap, true).map(|b| list(&b))
}

/// The only bit set in an hwloc bitmap (a nodeset naming one NUMA node); `None` if none or
/// several are set or it is not a bitmap.
pub(crate) fn hwloc_bitmap_single(bitmap: &str) -> Option<u32> {
    match bits(bitmap, true)?.as_slice() {
        [one] => u32::try_from(*one).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings() {
        assert_eq!(
            kernel_mask_to_list("00000000,ffffffff,00000000,ffffffff").as_deref(),
            Some("0-31,64-95")
        );
        assert_eq!(
            hwloc_bitmap_to_list("0x00000303,0x03030000,,0x0").as_deref(),
            Some("80-81,88-89,96-97,104-105")
        );
        assert_eq!(
            hwloc_bitmap_to_list("0x03000003").as_deref(),
            Some("0-1,24-25")
        );
        assert_eq!(hwloc_bitmap_single("0x00000002"), Some(1));
        assert_eq!(hwloc_bitmap_single("0x00000003"), None);
        assert_eq!(hwloc_bitmap_single("0x0"), None);
        assert_eq!(hwloc_bitmap_to_list("0xf...f"), None);
        assert_eq!(kernel_mask_to_list("0x1"), None);
        assert_eq!(kernel_mask_to_list(""), None);
    }
}
