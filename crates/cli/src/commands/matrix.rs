//! `dmabuf-ic matrix`: the kernel's P2P verdict, the nvidia-smi class and the route bandwidth
//! for every ordered pair of chosen devices.

use pci_topology::{CompactVerdict, FunctionId, Machine, MapType, NvClass, PathQuality};

use crate::cli::MatrixArgs;
use crate::commands::Outcome;
use crate::error::CliError;
use crate::kind::Kind;
use crate::limits::MAX_MATRIX_PAIRS;
use crate::output::OutputFormat;
use crate::render;
use crate::resolve;
use crate::source::MachineSource;

/// How the devices were chosen.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Selection {
    /// The shared-memory kinds (GPUs, NICs, storage, accelerators) and p2pmem providers,
    /// physical functions only.
    Default {
        /// Endpoints of those kinds left out because they are virtual functions.
        hidden_vfs: usize,
    },
    /// Every endpoint (`--all`).
    All,
    /// The devices named on the command line.
    Named,
}

/// One ordered pair.
#[derive(Clone, Copy, Debug)]
pub struct Cell {
    /// The function owning the memory.
    pub provider: FunctionId,
    /// The function doing the DMA.
    pub client: FunctionId,
    /// The kernel's verdict (unknown ACS taken as off, with the alternative recorded).
    pub verdict: CompactVerdict,
    /// The nvidia-smi class.
    pub class: NvClass,
    /// The route's quality when the kernel allows the transfer and the pair is not a device
    /// with itself.
    pub route: Option<PathQuality>,
}

impl Cell {
    /// The verdict as the matrix shows it: the best outcome the facts the source does not give
    /// allow (the cell then carries `?`), else the verdict.
    pub fn shown_map_type(&self) -> MapType {
        self.verdict
            .possible()
            .best()
            .unwrap_or(self.verdict.map_type())
    }

    /// How good the pair is for a transfer, to compare pairs: the shown map type (bus
    /// addresses, then through the host bridge, then refused), then the shorter distance, the
    /// wider route and the nearer path class.
    fn rank(&self) -> impl Ord {
        let map = match self.shown_map_type() {
            MapType::BusAddr => 2,
            MapType::ThruHostBridge => 1,
            MapType::NotSupported => 0,
        };
        let supported = map > 0;
        (
            map,
            std::cmp::Reverse(if supported {
                self.verdict.distance()
            } else {
                0
            }),
            self.route.and_then(|q| q.bandwidth),
            std::cmp::Reverse(self.class),
        )
    }
}

/// The NICs nearest to one GPU (or accelerator), for GPUDirect RDMA: the NIC does the DMA into
/// the GPU's memory (provider the GPU, client the NIC).
#[derive(Clone, Debug)]
pub struct NearestNics {
    /// The GPU or accelerator.
    pub gpu: FunctionId,
    /// The NICs (InfiniBand included) that reach its memory best, equally well, in the
    /// matrix's order.
    pub nics: Vec<FunctionId>,
    /// The pair of the GPU and the first of them.
    pub cell: Cell,
}

impl NearestNics {
    /// Whether the kernel allows those NICs peer-to-peer DMA into the GPU's memory (with what
    /// the source shows, or were its unknown facts favourable).
    pub fn p2p(&self) -> bool {
        self.cell.shown_map_type().is_supported()
    }
}

/// The answer.
#[derive(Debug)]
pub struct Matrix {
    /// How the devices were chosen.
    pub selection: Selection,
    /// Endpoints on the machine (for "n of m" notes).
    pub endpoints: usize,
    /// The devices, in row and column order.
    pub devices: Vec<FunctionId>,
    /// Every ordered pair, row-major: provider = `devices[i]`, client = `devices[j]`.
    pub cells: Vec<Cell>,
}

impl Matrix {
    /// The pair of `devices[i]` (provider) and `devices[j]` (client).
    pub fn cell(&self, i: usize, j: usize) -> Option<&Cell> {
        let (p, c) = (self.devices.get(i)?, self.devices.get(j)?);
        self.cells
            .get(i * self.devices.len() + j)
            .filter(|x| x.provider == *p && x.client == *c)
    }

    /// For every GPU and accelerator among the devices, the NICs among them nearest to it;
    /// empty unless there are both.
    pub fn nearest_nics(&self, m: &Machine) -> Vec<NearestNics> {
        let kind = |i: usize| m.function(self.devices[i]).map(Kind::of);
        let n = self.devices.len();
        let gpus = (0..n).filter(|&i| matches!(kind(i), Some(Kind::Gpu | Kind::Accelerator)));
        let nics: Vec<usize> = (0..n)
            .filter(|&j| matches!(kind(j), Some(Kind::Nic | Kind::InfiniBand)))
            .collect();
        gpus.filter_map(|i| {
            let cells: Vec<&Cell> = nics.iter().filter_map(|&j| self.cell(i, j)).collect();
            let best = cells.iter().map(|c| c.rank()).max()?;
            let nearest: Vec<&Cell> = cells.into_iter().filter(|c| c.rank() == best).collect();
            Some(NearestNics {
                gpu: self.devices[i],
                nics: nearest.iter().map(|c| c.client).collect(),
                cell: **nearest.first()?,
            })
        })
        .collect()
    }
}

/// Chooses the devices.
pub fn select(m: &Machine, args: &MatrixArgs) -> Result<(Vec<FunctionId>, Selection), CliError> {
    if !args.devices.is_empty() {
        let mut out: Vec<FunctionId> = Vec::new();
        for d in &args.devices {
            let id = resolve::resolve(m, d).map_err(|u| {
                let e = CliError::usage(u.message());
                match u.hint() {
                    Some(h) => e.note(h),
                    None => e,
                }
            })?;
            if !out.contains(&id) {
                out.push(id);
            }
        }
        return Ok((out, Selection::Named));
    }
    if args.all {
        return Ok((m.endpoints().collect(), Selection::All));
    }
    let mut hidden_vfs = 0;
    let mut out = Vec::new();
    for id in m.endpoints() {
        let Some(f) = m.function(id) else { continue };
        // The shared-memory kinds, and any function that publishes p2pmem (a P2P provider in
        // the kernel's sense, whatever its class).
        if !Kind::of(f).shares_memory() && f.p2pmem.is_none() {
            continue;
        }
        if f.is_virtfn() {
            hidden_vfs += 1;
        } else {
            out.push(id);
        }
    }
    Ok((out, Selection::Default { hidden_vfs }))
}

/// Refuses a matrix of more than [`MAX_MATRIX_PAIRS`] pairs before anything is computed,
/// saying how much it would take.
pub fn check_size(source: &MachineSource, devices: &[FunctionId]) -> Result<(), CliError> {
    let n = devices.len();
    let pairs = n.saturating_mul(n);
    if pairs <= MAX_MATRIX_PAIRS {
        return Ok(());
    }
    let per_pair = std::mem::size_of::<Cell>() + std::mem::size_of::<CompactVerdict>();
    let bytes = u64::try_from(pairs.saturating_mul(per_pair)).unwrap_or(u64::MAX);
    Err(CliError::input(format!(
        "a matrix of the {n} devices of {} would hold {pairs} pairs (about {} of memory, more \
         as text); at most {MAX_MATRIX_PAIRS} pairs are computed",
        source.describe(),
        approximate_size(bytes)
    ))
    .note("name the devices to compare (`matrix DEVICE DEVICE ...`), or leave out --all"))
}

/// A size in bytes for people, to two significant digits: `40 GB`, `3.1 MB`.
fn approximate_size(bytes: u64) -> String {
    let units = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")];
    let b = bytes as f64;
    for (unit, name) in units {
        if b >= unit {
            let v = b / unit;
            return if v >= 10.0 {
                format!("{v:.0} {name}")
            } else {
                format!("{v:.1} {name}")
            };
        }
    }
    format!("{bytes} bytes")
}

/// Computes every ordered pair.
pub fn compute(m: &Machine, devices: Vec<FunctionId>, selection: Selection) -> Matrix {
    let verdicts = m.p2p_matrix(&devices, &devices);
    let mut cells = Vec::with_capacity(devices.len() * devices.len());
    for (i, &p) in devices.iter().enumerate() {
        for (j, &c) in devices.iter().enumerate() {
            let (Some(verdict), Some(class)) = (verdicts.get(i, j), m.nv_class(p, c)) else {
                continue;
            };
            let route = (p != c && verdict.map_type() != MapType::NotSupported)
                .then(|| m.path_quality(p, c, verdict.map_type() != MapType::BusAddr))
                .flatten();
            cells.push(Cell {
                provider: p,
                client: c,
                verdict,
                class,
                route,
            });
        }
    }
    Matrix {
        selection,
        endpoints: m.endpoints().count(),
        devices,
        cells,
    }
}

/// Loads, selects, computes and renders.
pub fn run(
    source: &MachineSource,
    format: OutputFormat,
    args: &MatrixArgs,
) -> Result<Outcome, CliError> {
    if format == OutputFormat::Toml || format.is_picture() {
        return Err(super::unsupported("matrix", format));
    }
    let loaded = source.load()?;
    let m = loaded.machine;
    let (devices, selection) = select(&m, args)?;
    check_size(source, &devices)?;
    let matrix = compute(&m, devices, selection);
    let text = render(&m, source, format, &matrix)?;
    Ok(Outcome::ok(text).with_notes(loaded.warnings))
}

/// A computed matrix in `format` (human, or JSON for any other).
pub fn render(
    m: &Machine,
    source: &MachineSource,
    format: OutputFormat,
    matrix: &Matrix,
) -> Result<String, CliError> {
    Ok(match format {
        OutputFormat::Human => render::human::matrix::render(m, source, matrix),
        OutputFormat::Json | OutputFormat::Toml | OutputFormat::Dot | OutputFormat::Svg => {
            render::json::matrix::render(m, matrix)?
        }
    })
}
