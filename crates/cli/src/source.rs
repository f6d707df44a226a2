//! Where the machine comes from: the live system, a sysfs snapshot, or (with the formats work)
//! an hwloc XML export, an NCCL topology dump or the project's TOML description.

use std::path::{Path, PathBuf};

use pci_topology::Machine;
use pci_topology::load::{self, Format, LoadError};

use crate::cli::SourceArgs;
use crate::error::CliError;

/// A machine source.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum MachineSource {
    /// The running system's `/sys` and `/proc`.
    Live,
    /// A sysfs root folder or snapshot archive.
    Sysfs(PathBuf),
    /// An hwloc XML export.
    Hwloc(PathBuf),
    /// An NCCL topology dump.
    Nccl(PathBuf),
    /// The project's TOML machine description.
    Toml(PathBuf),
}

impl MachineSource {
    /// The source the command-line options name, if any. More than one is a usage error
    /// (clap checks this on each side of the command's name, [`Cli::options`](crate::cli::Cli::options)
    /// gives this the options of both sides).
    pub fn from_args(args: &SourceArgs) -> Result<Option<Self>, CliError> {
        let mut given = Vec::new();
        if let Some(p) = &args.sysfs {
            given.push(Self::Sysfs(p.clone()));
        }
        if let Some(p) = &args.hwloc {
            given.push(Self::Hwloc(p.clone()));
        }
        if let Some(p) = &args.nccl {
            given.push(Self::Nccl(p.clone()));
        }
        if let Some(p) = &args.machine {
            given.push(Self::Toml(p.clone()));
        }
        if given.len() > 1 {
            let names: Vec<String> = given.iter().map(|s| format!("--{}", s.option())).collect();
            return Err(CliError::usage(format!(
                "{} name different machines: give only one source",
                names.join(" and ")
            )));
        }
        Ok(given.pop())
    }

    /// The command-line option of this kind of source.
    const fn option(&self) -> &'static str {
        self.kind()
    }

    /// The kind of source, as the options and the scenario format name it.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Live | Self::Sysfs(_) => "sysfs",
            Self::Hwloc(_) => "hwloc",
            Self::Nccl(_) => "nccl",
            Self::Toml(_) => "machine",
        }
    }

    /// The path, unless live.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Live => None,
            Self::Sysfs(p) | Self::Hwloc(p) | Self::Nccl(p) | Self::Toml(p) => Some(p),
        }
    }

    /// `dmabuf-ic` with the option that names this source, as a command line to paste into a
    /// shell (the path quoted when it needs to be): `dmabuf-ic --sysfs x.tar.gz`, or
    /// `dmabuf-ic` for the live system.
    pub fn command(&self) -> String {
        match self.path() {
            None => "dmabuf-ic".to_owned(),
            Some(p) => format!(
                "dmabuf-ic --{} {}",
                self.option(),
                shell_word(&p.display().to_string())
            ),
        }
    }

    /// A short description for people: `live system (/)`, `sysfs snapshot x.tar.gz`, ...
    pub fn describe(&self) -> String {
        match self {
            Self::Live => "live system (/sys, /proc)".to_owned(),
            Self::Sysfs(p) => format!("sysfs {}", p.display()),
            Self::Hwloc(p) => format!("hwloc XML {}", p.display()),
            Self::Nccl(p) => format!("NCCL topology {}", p.display()),
            Self::Toml(p) => format!("machine description {}", p.display()),
        }
    }

    /// Loads the machine, with what the loader says it left out (for standard error).
    pub fn load(&self) -> Result<Loaded, CliError> {
        self.load_as_written(None)
    }

    /// Loads the machine that a scenario's `[machine]` names with `written` (its path as
    /// written there), or the command line's (`None`): a file of another kind is answered with
    /// the key or the option that reads it.
    pub fn load_as_written(&self, written: Option<&str>) -> Result<Loaded, CliError> {
        let (path, format) = match self {
            Self::Live => {
                let machine = load::load_live().map_err(|e| {
                    load_error(self, &e, written).note(
                        "this system shows no usable PCI tree in /sys; name a snapshot with --sysfs PATH",
                    )
                })?;
                return Ok(Loaded {
                    machine,
                    warnings: Vec::new(),
                });
            }
            Self::Sysfs(p) => (p, Format::Sysfs),
            Self::Hwloc(p) => (p, Format::HwlocXml),
            Self::Nccl(p) => (p, Format::NcclXml),
            Self::Toml(p) => (p, Format::Toml),
        };
        let loaded = load::open(path, Some(format)).map_err(|e| load_error(self, &e, written))?;
        Ok(Loaded {
            machine: loaded.machine,
            warnings: loaded
                .warnings
                .iter()
                .map(|w| format!("warning: {w}"))
                .collect(),
        })
    }
}

/// A loaded machine and the loader's warnings.
#[derive(Debug)]
pub struct Loaded {
    /// The machine.
    pub machine: Machine,
    /// What the source said that the model cannot hold, or what it left out, in words.
    pub warnings: Vec<String>,
}

fn load_error(source: &MachineSource, e: &LoadError, written: Option<&str>) -> CliError {
    let error = CliError::input(format!(
        "cannot load the machine ({}): {e}",
        source.describe()
    ));
    match (e, source.path()) {
        (
            LoadError::WrongKind {
                detected: Some(f), ..
            },
            Some(path),
        ) => error.note(match (*f, scenario_kind(path)) {
            (Format::Toml, Some(command)) => format!(
                "it is a scenario, not a machine: run `dmabuf-ic {command} {}`",
                path.display()
            ),
            _ => match written {
                Some(w) => format!("name it with `{} = {w:?}` in [machine]", option_of(*f)),
                None => format!("read it with --{} {}", option_of(*f), path.display()),
            },
        }),
        _ => error,
    }
}

/// The command a TOML file is a scenario for, by its top-level tables: `negotiate` (exporter
/// and importer offers) or `simulate` (a buffer and events). Files over 1 MiB are not read.
fn scenario_kind(path: &Path) -> Option<&'static str> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(1 << 20)
        .read_to_string(&mut text)
        .ok()?;
    let doc: toml::Table = text.parse().ok()?;
    if doc.contains_key("buffer") || doc.contains_key("event") {
        Some("simulate")
    } else if doc.contains_key("exporter") || doc.contains_key("importer") {
        Some("negotiate")
    } else {
        None
    }
}

/// `text` as one shell word: as it is when it holds only characters no shell treats specially,
/// else in single quotes.
fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./+:=,@%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The command-line option (and scenario key) that reads a format.
const fn option_of(format: Format) -> &'static str {
    match format {
        Format::Sysfs => "sysfs",
        Format::HwlocXml => "hwloc",
        Format::NcclXml => "nccl",
        Format::Toml => "machine",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_name_the_source_as_a_shell_reads_it() {
        assert_eq!(MachineSource::Live.command(), "dmabuf-ic");
        assert_eq!(
            MachineSource::Sysfs("../shared/fixtures/x.tar.gz".into()).command(),
            "dmabuf-ic --sysfs ../shared/fixtures/x.tar.gz"
        );
        assert_eq!(
            MachineSource::Toml("my machine's.toml".into()).command(),
            r"dmabuf-ic --machine 'my machine'\''s.toml'"
        );
        assert_eq!(
            MachineSource::Hwloc("a$b".into()).command(),
            "dmabuf-ic --hwloc 'a$b'"
        );
    }
}
