//! The limits the command line enforces on top of the loaders' ([`pci_topology::limits`]), so
//! that no scenario or machine, however large, makes a command run without end, take all
//! memory or print without end. Each is listed in `docs/cli.md` (Limits).

use pci_topology::limits::SizeLimit;

/// A scenario or simulation file (the largest example is a few KiB; 1000 × 1000 offers take
/// about 150 KiB).
pub const SCENARIO_FILE: SizeLimit = SizeLimit {
    bytes: 16 << 20,
    what: "a scenario file",
};

/// The most candidate pairs (exporter entries × importer entries) one negotiation weighs. The
/// table, its order and the report take about 100 bytes a pair; the human table about 100
/// bytes a pair and the JSON about 500. 1000 × 1000 offers fit.
pub const MAX_CANDIDATES: usize = 1 << 20;

/// The most ordered pairs `matrix` computes (1024 devices), each with its verdict, class and
/// route quality; name devices (`matrix A B C`) to see some of a larger machine.
pub const MAX_MATRIX_PAIRS: usize = 1 << 20;

/// The most importer states a simulation records: one per importer after each event (and at
/// the start). Each takes about a kilobyte of pretty-printed JSON and as much memory, so this
/// keeps a simulation's JSON under about 150 MB: 1000 importers for 130 events, 100 for 1300,
/// or 10 for 13 000.
pub const MAX_SIMULATION_STATES: usize = 1 << 17;

/// In the human timeline of a simulation with more importers than this, each event shows only
/// the importers whose state it changed, at most this many, and counts the others (`--format
/// json` has every importer's state after every event). Up to this many importers, every one
/// is shown after every event.
pub const MAX_IMPORTERS_SHOWN: usize = 16;
