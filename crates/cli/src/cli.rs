//! The command line as clap sees it: the common options (machine source, output format,
//! colour), taken before or after the command's name, and one subcommand per job.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::error::CliError;
use crate::output::OutputFormat;
use crate::source::MachineSource;

const EXAMPLES: &str = "\
Examples:
  dmabuf-ic topo                                  the PCI tree of this machine (live /sys)
  dmabuf-ic matrix                                P2P between its GPUs, NICs, NVMe, accelerators
  dmabuf-ic matrix --all --format json            every endpoint pair, for tools
  dmabuf-ic explain 03:00.0 05:00.0               why P2P from 03:00.0's memory to 05:00.0 is
                                                  allowed or refused, and what would change it
  dmabuf-ic negotiate examples/negotiate-2-multipath-nic.toml
  dmabuf-ic simulate examples/simulate-1-vram-evicted-for-an-rdma-nic.toml
                                                  a buffer's life: attach, map, move, revoke,
                                                  links down, resets, checked after each event
  dmabuf-ic snapshot this-machine.tar.gz          save this machine (as root: whole config
                                                  spaces) for --sysfs on any other machine
  dmabuf-ic --sysfs snapshot.tar.gz topo          a saved sysfs tree (folder or archive)

Exit status: 0 ok, 1 error (bad file, unloadable machine), 2 usage (bad option, unknown
device), 3 `negotiate` found no common interconnect, 4 `simulate` found a broken invariant,
5 `simulate`: an expectation of the scenario failed. See docs/cli.md.";

/// dma-buf interconnect negotiation and PCI peer-to-peer on real machines: which interconnect,
/// which route, how good, and if refused, why and what would change it.
#[derive(Parser, Debug)]
#[command(
    name = "dmabuf-ic",
    version,
    about = "Which interconnect, which route, how good, and if refused, why: dma-buf \
             negotiation and PCI P2P on real machines",
    after_help = EXAMPLES,
    propagate_version = true
)]
pub struct Cli {
    /// The options given before the command.
    #[command(flatten)]
    pub common: CommonArgs,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The options every command takes, before or after its name (`dmabuf-ic --sysfs A topo` or
/// `dmabuf-ic topo --sysfs A`). They are declared at both levels rather than as clap globals,
/// whose value given on both sides silently overrides the other: [`Cli::options`] makes that a
/// usage error.
#[derive(Args, Debug, Default, Clone)]
pub struct CommonArgs {
    /// Where the machine comes from.
    #[command(flatten)]
    pub source: SourceArgs,

    /// Output format: `human` (the default), `json` (a stable contract, see
    /// docs/json-output.md), `toml` (`topo` only: the machine in the project's description,
    /// docs/machine-format.md), or a picture, `svg` or `dot` (`topo`, `explain` and
    /// `negotiate`, with their route highlighted: docs/pictures.md).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,

    /// Never colour the output. Colour is used only on a terminal, and never when the
    /// NO_COLOR environment variable is set.
    #[arg(long)]
    pub no_color: bool,
}

/// The machine source options; at most one may be given. Without any, the live machine (`/`).
#[derive(Args, Debug, Default, Clone)]
pub struct SourceArgs {
    /// A sysfs tree: a root folder holding sys/ and proc/ (default: the live `/`), or a
    /// snapshot archive (.tar, .tar.gz, .tar.bz2 holding sys/ and proc/, at its top or in one
    /// top folder).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["hwloc", "nccl", "machine"])]
    pub sysfs: Option<PathBuf>,

    /// An hwloc XML export (`lstopo --of xml`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["nccl", "machine"])]
    pub hwloc: Option<PathBuf>,

    /// An NCCL topology dump (NCCL_TOPO_DUMP_FILE, `<system version="1">`).
    #[arg(long, value_name = "FILE", conflicts_with = "machine")]
    pub nccl: Option<PathBuf>,

    /// A machine described in the project's TOML format.
    #[arg(long, value_name = "FILE.toml")]
    pub machine: Option<PathBuf>,
}

/// The common options of a command line, from both sides of the command's name.
#[derive(Clone, Debug)]
pub struct Options {
    /// The machine source, if one was named.
    pub source: Option<MachineSource>,
    /// The output format.
    pub format: OutputFormat,
    /// `--no-color`.
    pub no_color: bool,
}

impl Cli {
    /// The common options, wherever they were given. An option given both before and after
    /// the command is a usage error, as the same option twice on one side is for clap.
    pub fn options(&self) -> Result<Options, CliError> {
        let (before, after) = (&self.common, self.command.common());
        let twice = |option: &str, both: bool| {
            if both {
                Err(CliError::usage(format!(
                    "--{option} is given twice, before and after `{}`: give it once",
                    self.command.name()
                )))
            } else {
                Ok(())
            }
        };
        let (b, a) = (&before.source, &after.source);
        twice("sysfs", b.sysfs.is_some() && a.sysfs.is_some())?;
        twice("hwloc", b.hwloc.is_some() && a.hwloc.is_some())?;
        twice("nccl", b.nccl.is_some() && a.nccl.is_some())?;
        twice("machine", b.machine.is_some() && a.machine.is_some())?;
        twice("format", before.format.is_some() && after.format.is_some())?;
        twice("no-color", before.no_color && after.no_color)?;
        let source = SourceArgs {
            sysfs: b.sysfs.clone().or_else(|| a.sysfs.clone()),
            hwloc: b.hwloc.clone().or_else(|| a.hwloc.clone()),
            nccl: b.nccl.clone().or_else(|| a.nccl.clone()),
            machine: b.machine.clone().or_else(|| a.machine.clone()),
        };
        Ok(Options {
            source: MachineSource::from_args(&source)?,
            format: before
                .format
                .or(after.format)
                .unwrap_or(OutputFormat::Human),
            no_color: before.no_color || after.no_color,
        })
    }
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// The machine as a tree: host bridges, bridges and functions with names, class, link,
    /// ACS, IOMMU group, NUMA node, p2pmem and driver; then private links.
    #[command(after_help = "Examples:
  dmabuf-ic topo
  dmabuf-ic --sysfs snapshot.tar.gz topo --format json
  dmabuf-ic --nccl topo.xml topo --format toml > machine.toml   (edit, then --machine machine.toml)
  dmabuf-ic --hwloc dgx2.xml topo --format svg > dgx2.svg")]
    Topo(TopoArgs),

    /// P2P between every ordered pair of devices: the kernel's map type and distance, the
    /// nvidia-smi-style class and the route bandwidth.
    #[command(
        after_help = "By default the devices people share memory between: GPUs and displays, NICs,
InfiniBand, NVMe and storage controllers, accelerators and co-processors, and any p2pmem
provider (virtual functions only when named, or with --all). Rows are providers (the memory's owner), columns clients (the DMA initiator).

Examples:
  dmabuf-ic matrix
  dmabuf-ic matrix 03:00.0 04:00.0 05:00.0
  dmabuf-ic matrix --all --format json"
    )]
    Matrix(MatrixArgs),

    /// Linux's P2PDMA decision for one provider and one client, step by step, and what would
    /// change it.
    #[command(
        after_help = "Devices are bus ids (0000:03:00.0, or 03:00.0 for domain 0) or OS device names
(nvme0, eth0, mlx5_0) where the source knows them.

Examples:
  dmabuf-ic explain 0000:03:00.0 0000:05:00.0
  dmabuf-ic --sysfs snapshot.tar.gz explain 03:00.0 nvme1
  dmabuf-ic explain 03:00.0 05:00.0 --format svg > route.svg   (the route on the machine)"
    )]
    Explain(ExplainArgs),

    /// One dma-buf negotiation from a scenario file: the chosen interconnect, its route and
    /// quality, and every candidate with its reason.
    #[command(
        after_help = "The scenario format is documented in docs/scenario-format.md; worked examples are in
examples/ (negotiate-*.toml). A source option on the command line replaces the scenario's machine.

Examples:
  dmabuf-ic negotiate examples/negotiate-1-vram-same-device.toml
  dmabuf-ic negotiate examples/negotiate-6-nothing-in-common.toml --format json
  dmabuf-ic negotiate examples/negotiate-5a-nvlink-best-route.toml --format svg > chosen.svg"
    )]
    Negotiate(NegotiateArgs),

    /// A buffer's life on a machine, event by event: attach, map, move, revoke, detach, links
    /// going down and up, device resets. After each event, what every importer holds
    /// (interconnect, route, mapping generation, valid or stale), checked against the lifecycle's
    /// invariants and the scenario's expectations.
    #[command(
        after_help = "The simulation format is documented in docs/simulation-format.md; worked examples are
in examples/ (simulate-*.toml). A source option on the command line replaces the scenario's
machine.

Exit status: 0 the timeline ran, every invariant held and every expectation was met; 4 an
invariant broke (the timeline stops at that event); 5 an expectation failed.

Examples:
  dmabuf-ic simulate examples/simulate-1-vram-evicted-for-an-rdma-nic.toml
  dmabuf-ic simulate examples/simulate-3a-nvlink-down-falls-back-to-pcie.toml --format json"
    )]
    Simulate(SimulateArgs),

    /// Saves this machine (or the sysfs folder --sysfs names) as an archive that --sysfs reads
    /// back into the same machine: what the model reads of the PCI functions (attributes,
    /// configuration space, links, IOMMU groups) and of the CPU. Says what it could not read
    /// without root.
    #[command(
        after_help = "Run as root to save each function's whole configuration space: without root the kernel
gives only its first 64 bytes, so ACS and PCIe port types are unknown in the snapshot (and
every verdict that depends on them shows each outcome). The archive is written whole or not at
all; its top folder is the file name without .tar.gz.

Examples:
  sudo dmabuf-ic snapshot node7.tar.gz
  dmabuf-ic --sysfs node7.tar.gz matrix          (on any machine)
  dmabuf-ic --sysfs /mnt/other-root snapshot other.tar.bz2"
    )]
    Snapshot(SnapshotArgs),
}

impl Command {
    /// The common options given after the command's name.
    pub const fn common(&self) -> &CommonArgs {
        match self {
            Self::Topo(a) => &a.common,
            Self::Matrix(a) => &a.common,
            Self::Explain(a) => &a.common,
            Self::Negotiate(a) => &a.common,
            Self::Simulate(a) => &a.common,
            Self::Snapshot(a) => &a.common,
        }
    }

    /// The command's name, as typed.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Topo(_) => "topo",
            Self::Matrix(_) => "matrix",
            Self::Explain(_) => "explain",
            Self::Negotiate(_) => "negotiate",
            Self::Simulate(_) => "simulate",
            Self::Snapshot(_) => "snapshot",
        }
    }
}

/// Options of `topo`.
#[derive(Args, Debug)]
pub struct TopoArgs {
    /// The common options, given after the command's name.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Options of `matrix`.
#[derive(Args, Debug)]
pub struct MatrixArgs {
    /// The common options, given after the command's name.
    #[command(flatten)]
    pub common: CommonArgs,

    /// Devices to include (bus ids or OS device names); default: the shared-memory kinds.
    #[arg(value_name = "DEVICE")]
    pub devices: Vec<String>,

    /// Every endpoint (every function that is not a PCI bridge), virtual functions included.
    #[arg(long, conflicts_with = "devices")]
    pub all: bool,
}

/// Options of `explain`.
#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The common options, given after the command's name.
    #[command(flatten)]
    pub common: CommonArgs,

    /// The function that owns the memory (a GPU's VRAM, an NVMe CMB).
    #[arg(value_name = "PROVIDER")]
    pub provider: String,

    /// The function that does the DMA.
    #[arg(value_name = "CLIENT")]
    pub client: String,
}

/// Options of `negotiate`.
#[derive(Args, Debug)]
pub struct NegotiateArgs {
    /// The common options, given after the command's name.
    #[command(flatten)]
    pub common: CommonArgs,

    /// The scenario file (TOML).
    #[arg(value_name = "SCENARIO.toml")]
    pub scenario: PathBuf,
}

/// Options of `simulate`.
#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// The common options, given after the command's name.
    #[command(flatten)]
    pub common: CommonArgs,

    /// The simulation file (TOML).
    #[arg(value_name = "SCENARIO.toml")]
    pub scenario: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    fn options(args: &[&str]) -> Result<Options, String> {
        let cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
        cli.options().map_err(|e| e.to_string())
    }

    #[test]
    fn sources_exclude_each_other_anywhere_on_the_line() {
        let split = options(&["dmabuf-ic", "--sysfs", "a", "topo", "--hwloc", "b"]);
        assert!(split.unwrap_err().contains("--sysfs and --hwloc"));
        assert!(options(&["dmabuf-ic", "topo", "--nccl", "a", "--machine", "b"]).is_err());
        let ok = options(&["dmabuf-ic", "matrix", "--sysfs", "a", "--all"]).unwrap();
        assert_eq!(ok.source, Some(MachineSource::Sysfs("a".into())));
    }

    #[test]
    fn an_option_given_before_and_after_the_command_is_a_usage_error() {
        for line in [
            "dmabuf-ic --sysfs a topo --sysfs b",
            "dmabuf-ic --format json matrix --format human",
            "dmabuf-ic --no-color explain a b --no-color",
            "dmabuf-ic --machine a negotiate s.toml --machine b",
        ] {
            let e = options(&line.split(' ').collect::<Vec<_>>()).unwrap_err();
            assert!(
                e.contains("is given twice, before and after"),
                "{line:?}: {e}"
            );
        }
        // Once, on either side, is fine.
        let before = options(&["dmabuf-ic", "--format", "json", "topo"]).unwrap();
        let after = options(&["dmabuf-ic", "topo", "--format", "json"]).unwrap();
        assert_eq!(before.format, OutputFormat::Json);
        assert_eq!(after.format, OutputFormat::Json);
        let plain = options(&["dmabuf-ic", "topo"]).unwrap();
        assert_eq!((plain.format, plain.source), (OutputFormat::Human, None));
    }

    #[test]
    fn every_command_takes_the_common_options_after_its_name() {
        let top = Cli::command();
        let common: Vec<String> = top
            .get_arguments()
            .filter(|a| a.get_long().is_some())
            .map(|a| a.get_id().to_string())
            .collect();
        for sub in top.get_subcommands() {
            for id in &common {
                assert!(
                    sub.get_arguments().any(|a| a.get_id() == id.as_str()),
                    "`{}` does not take --{id}",
                    sub.get_name()
                );
            }
        }
    }
}

/// Options of `snapshot`.
#[derive(Args, Debug)]
pub struct SnapshotArgs {
    /// The common options, given after the command's name.
    #[command(flatten)]
    pub common: CommonArgs,

    /// The archive to write: `.tar.gz` (or `.tgz`), `.tar.bz2` or `.tar`.
    #[arg(value_name = "OUT")]
    pub out: PathBuf,
}
