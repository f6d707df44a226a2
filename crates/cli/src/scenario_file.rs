//! What every scenario file shares, whatever it describes (one negotiation, or a simulated
//! timeline): its text, kept for positioned errors (`path:line:column: what was expected`), and
//! its `[machine]` section, whose paths are relative to the file.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use toml::Spanned;

use crate::error::CliError;
use crate::limits::SCENARIO_FILE;
use crate::location;
use crate::source::MachineSource;

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
    sysfs: Option<String>,
    hwloc: Option<String>,
    nccl: Option<String>,
    machine: Option<String>,
    live: Option<bool>,
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
    ) -> Result<Option<MachineSource>, CliError> {
        let Some(m) = raw else {
            return Ok(None);
        };
        let span = m.span();
        let m = m.get_ref();
        let base = self.path.parent().unwrap_or(Path::new(""));
        let join = |p: &String| normalize(&base.join(p));
        let mut given = Vec::new();
        if let Some(p) = &m.sysfs {
            given.push(MachineSource::Sysfs(join(p)));
        }
        if let Some(p) = &m.hwloc {
            given.push(MachineSource::Hwloc(join(p)));
        }
        if let Some(p) = &m.nccl {
            given.push(MachineSource::Nccl(join(p)));
        }
        if let Some(p) = &m.machine {
            given.push(MachineSource::Toml(join(p)));
        }
        if m.live == Some(true) {
            given.push(MachineSource::Live);
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
