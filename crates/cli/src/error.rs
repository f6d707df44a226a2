//! Errors and exit codes.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (for `negotiate`: an interconnect was agreed) |
//! | 1 | an error: a file that cannot be read or parsed, a machine that cannot be loaded |
//! | 2 | usage: a bad option, or a device argument that names nothing on the machine |
//! | 3 | `negotiate`: no common interconnect (the full table is still printed on stdout) |
//!
//! Every non-zero exit prints a message on standard error, except 3, whose answer is the
//! output itself (a one-line note goes to standard error as well).

use std::fmt;

/// The process exit codes (documented in docs/cli.md).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// An error in the input data or the environment.
    Error = 1,
    /// A usage error: bad options, unknown devices on the command line.
    Usage = 2,
    /// `negotiate` found no common interconnect.
    NoAgreement = 3,
}

impl Exit {
    /// The numeric code.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

/// What kind of failure an error is, which decides the exit code.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ErrorKind {
    /// Bad input data or environment (exit 1).
    Input,
    /// Bad command line (exit 2).
    Usage,
    /// A bug in this program (exit 1, and says so).
    Internal,
}

/// An error for the user: a message, optional notes (hints, closest matches), and a kind.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CliError {
    /// The kind, for the exit code.
    pub kind: ErrorKind,
    /// One line saying what went wrong.
    pub message: String,
    /// Further lines: what to do, what was meant.
    pub notes: Vec<String>,
}

impl CliError {
    /// A data or environment error.
    pub fn input(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Input,
            message: message.into(),
            notes: Vec::new(),
        }
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Usage,
            message: message.into(),
            notes: Vec::new(),
        }
    }

    /// An internal error (a bug).
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Internal,
            message: message.into(),
            notes: Vec::new(),
        }
    }

    /// The same error with one more note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// The exit code.
    pub const fn exit(&self) -> Exit {
        match self.kind {
            ErrorKind::Input | ErrorKind::Internal => Exit::Error,
            ErrorKind::Usage => Exit::Usage,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == ErrorKind::Internal {
            write!(f, "internal error (please report it): {}", self.message)?;
        } else {
            f.write_str(&self.message)?;
        }
        for n in &self.notes {
            write!(f, "\n  {n}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}
