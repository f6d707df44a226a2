//! Every limit the model and its loaders enforce, so that no input, however large, deep or
//! strange, costs unbounded time or memory. Each is far above what a real machine needs, and
//! reaching one is an error that names the limit (`docs/cli.md` lists them with the command
//! line's own).

/// The most bridges between a host bridge's root bus and a function. Every bridge below a root
/// bus takes a bus number of its own (0 to 255 in one PCI domain), so no real chain is longer
/// than 255; a file describing a deeper one is refused rather than walked.
pub const MAX_BRIDGE_DEPTH: usize = 256;

/// The most host bridges a machine may have. Real machines have a few dozen; the P2P tables
/// grow with the square of the number.
pub const MAX_HOST_BRIDGES: usize = 4096;

/// A cap on the bytes read from one input, and what the input is (named when the cap is hit).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SizeLimit {
    /// The most bytes read.
    pub bytes: u64,
    /// What is read, for the message: `a sysfs attribute`.
    pub what: &'static str,
}

impl SizeLimit {
    /// The limit in words: `16 MiB`.
    pub fn size(&self) -> String {
        describe_size(self.bytes)
    }
}

/// A sysfs attribute (`vendor`, `resource`, `local_cpus`, ...). The kernel writes at most one
/// page (4 KiB, 64 KiB on some arm64 kernels) per attribute.
pub const SYSFS_ATTRIBUTE: SizeLimit = SizeLimit {
    bytes: 64 << 10,
    what: "a sysfs attribute",
};

/// A function's `config`: the kernel's configuration space is 64, 256 or 4096 bytes.
pub const CONFIG_SPACE: SizeLimit = SizeLimit {
    bytes: 4096,
    what: "a configuration space (config)",
};

/// A file of `/proc` (`cpuinfo` takes about 1.5 KiB per CPU on x86).
pub const PROC_FILE: SizeLimit = SizeLimit {
    bytes: 16 << 20,
    what: "a /proc file",
};

/// One member of a sysfs archive (the biggest file of a real snapshot is `cpuinfo`).
pub const ARCHIVE_MEMBER: SizeLimit = SizeLimit {
    bytes: 16 << 20,
    what: "one member of a sysfs archive",
};

/// A whole sysfs archive once decompressed (real snapshots hold 10 MiB or less). Members are
/// read one at a time as the archive is decompressed; nothing beyond this is read, however
/// well the archive compresses.
pub const ARCHIVE: SizeLimit = SizeLimit {
    bytes: 256 << 20,
    what: "a sysfs archive once decompressed",
};

/// An hwloc XML, NCCL XML or machine TOML file (real ones are below 1 MiB).
pub const MACHINE_FILE: SizeLimit = SizeLimit {
    bytes: 16 << 20,
    what: "a machine file (hwloc, NCCL or TOML)",
};

/// The longest path inside a sysfs tree, links resolved: the kernel's `PATH_MAX`, which no
/// path of a real sysfs can exceed.
pub const MAX_PATH_BYTES: usize = 4096;

/// The deepest element nesting of an XML file (hwloc's deepest real trees have about 20
/// levels, one per bridge at most).
pub const MAX_XML_DEPTH: usize = 512;

/// A size in bytes for messages: `16 MiB`, `4096 bytes`.
pub fn describe_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        if bytes >= unit && bytes % unit == 0 {
            return format!("{} {name}", bytes / unit);
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_words() {
        assert_eq!(ARCHIVE.size(), "256 MiB");
        assert_eq!(SYSFS_ATTRIBUTE.size(), "64 KiB");
        assert_eq!(describe_size(4096), "4 KiB");
        assert_eq!(describe_size(4097), "4097 bytes");
        assert_eq!(describe_size(3 << 30), "3 GiB");
    }
}
