//! What every scenario file shares, whatever it describes (one negotiation, or a simulated
//! timeline): its text, kept for positioned errors (`path:line:column: what was expected`), and
//! its `[machine]` section, whose paths are relative to the file ([`NamedMachine`], loaded by
//! [`load_machine`] unless the command line names another machine).

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;

use crate::error::CliError;
use crate::limits::SCENARIO_FILE;
use crate::location;
use crate::source::{Loaded, MachineSource};

/// A scenario file's text and where it came from.
#[derive(Debug)]
pub struct ScenarioFile {
    /// The file, as named.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

/// A `[machine]` section as written: exactly one source must be given.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawMachine {
    sysfs: Option<Spanned<String>>,
    hwloc: Option<Spanned<String>>,
    nccl: Option<Spanned<String>>,
    machine: Option<Spanned<String>>,
    live: Option<bool>,
}

/// The machine a scenario file names in `[machine]`: the source, its path resolved against the
/// file's folder, and where the file names it, so that a path that does not exist or a machine
/// that cannot be loaded is an error at that line.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NamedMachine {
    /// The source, its path relative to the working directory.
    pub source: MachineSource,
    /// The path as written in the file (`None` for `live = true`).
    pub written: Option<String>,
    /// `file:line:column` of the value.
    pub at: String,
}

impl NamedMachine {
    /// Loads the machine; errors name the scenario's line and say that the path is relative
    /// to the scenario file.
    pub fn load(&self) -> Result<Loaded, CliError> {
        let relative = "paths in [machine] are relative to the scenario file";
        if let (Some(path), Some(written)) = (self.source.path(), &self.written) {
            if !path.exists() {
                return Err(CliError::input(format!(
                    "{}: no such file or folder: `{written}` ({relative}: {})",
                    self.at,
                    path.display()
                )));
            }
        }
        self.source
            .load_as_written(self.written.as_deref())
            .map_err(|e| {
                let at = CliError {
                    message: format!("{}: {}", self.at, e.message),
                    ..e
                };
                if self.written.is_some() {
                    at.note(relative)
                } else {
                    at
                }
            })
    }
}

/// The machine a scenario runs on, loaded: the command line's source if it names one (it
/// replaces the scenario's), else the scenario's `[machine]`, else the live system.
pub fn load_machine(
    command_line: Option<MachineSource>,
    named: Option<&NamedMachine>,
) -> Result<(MachineSource, Loaded), CliError> {
    match (command_line, named) {
        (Some(source), _) => Ok((source.clone(), source.load()?)),
        (None, Some(named)) => Ok((named.source.clone(), named.load()?)),
        (None, None) => Ok((MachineSource::Live, MachineSource::Live.load()?)),
    }
}

impl ScenarioFile {
    /// Reads a file; `what` names it in the error (`scenario`, `simulation`).
    pub fn read(path: &Path, what: &str) -> Result<Self, CliError> {
        let bytes = pci_topology::load::read_file(path, &SCENARIO_FILE)
            .map_err(|e| CliError::input(format!("cannot read {what} {e}")))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let good = String::from_utf8_lossy(&e.as_bytes()[..at]);
            CliError::input(format!(
                "{}: expected UTF-8 text, found the byte {:#04x}",
                location::at(path, &good, at),
                e.as_bytes().get(at).copied().unwrap_or(0)
            ))
        })?;
        Ok(Self {
            path: path.to_owned(),
            text,
        })
    }

    /// Parses the TOML into `T`; a syntax or shape error names the line and column, with
    /// `note` (where the format is documented).
    pub fn parse<T: DeserializeOwned>(&self, note: &str) -> Result<T, CliError> {
        toml::from_str(&self.text).map_err(|e| {
            let at = e
                .span()
                .map_or_else(|| self.path.display().to_string(), |s| self.at(s.start));
            CliError::input(format!("{at}: {}", e.message().trim_end())).note(note)
        })
    }

    /// `path:line:column` of a byte offset.
    pub fn at(&self, offset: usize) -> String {
        location::at(&self.path, &self.text, offset)
    }

    /// An input error at `span`.
    pub fn err(&self, span: Range<usize>, msg: impl Into<String>) -> CliError {
        CliError::input(format!("{}: {}", self.at(span.start), msg.into()))
    }

    /// The machine a `[machine]` section names, its paths resolved against the file's folder;
    /// `None` without a section.
    pub fn machine(
        &self,
        raw: Option<&Spanned<RawMachine>>,
    ) -> Result<Option<NamedMachine>, CliError> {
        let Some(m) = raw else {
            return Ok(None);
        };
        let span = m.span();
        let m = m.get_ref();
        let base = self.path.parent().unwrap_or(Path::new(""));
        let named = |p: &Spanned<String>, source: fn(PathBuf) -> MachineSource| NamedMachine {
            source: source(normalize(&base.join(p.get_ref()))),
            written: Some(p.get_ref().clone()),
            at: self.at(p.span().start),
        };
        let mut given = Vec::new();
        if let Some(p) = &m.sysfs {
            given.push(named(p, MachineSource::Sysfs));
        }
        if let Some(p) = &m.hwloc {
            given.push(named(p, MachineSource::Hwloc));
        }
        if let Some(p) = &m.nccl {
            given.push(named(p, MachineSource::Nccl));
        }
        if let Some(p) = &m.machine {
            given.push(named(p, MachineSource::Toml));
        }
        if m.live == Some(true) {
            given.push(NamedMachine {
                source: MachineSource::Live,
                written: None,
                at: self.at(span.start),
            });
        }
        if given.len() != 1 {
            return Err(self.err(
                span,
                "`machine` must name exactly one source: sysfs, hwloc, nccl, machine (a path \
                 relative to the scenario) or live = true",
            ));
        }
        Ok(given.pop())
    }
}

/// Removes `.` and `name/..` pairs without touching the filesystem, so that paths print as
/// people would write them (`examples/../../shared` is `../shared`).
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_without_the_filesystem() {
        assert_eq!(
            normalize(Path::new("examples/../../shared/x")),
            PathBuf::from("../shared/x")
        );
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("./")), PathBuf::from("."));
    }
}
