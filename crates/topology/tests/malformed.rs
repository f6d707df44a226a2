//! Bad input never panics and is an error that names the file, a line and a column inside it:
//! every hwloc and NCCL fixture truncated at many points and mutated byte by byte, the TOML
//! written for them likewise, and random bytes and random edits (proptest).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;

use pci_topology::load::{self, Format, LoadError, parse_as, to_toml};
use proptest::prelude::*;

/// The text fixtures: (format, name, text), read once.
fn corpus() -> &'static [(Format, String, String)] {
    static CORPUS: std::sync::OnceLock<Vec<(Format, String, String)>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(read_corpus)
}

fn read_corpus() -> Vec<(Format, String, String)> {
    let mut out = Vec::new();
    let Some(fx) = common::fixtures() else {
        return out;
    };
    let mut files: Vec<(Format, PathBuf)> = Vec::new();
    for p in common::files_with_suffix(&fx.join("hwloc-xml"), ".xml") {
        files.push((Format::HwlocXml, p));
    }
    for p in common::files_with_suffix(&fx.join("nccl"), ".xml") {
        files.push((Format::NcclXml, p));
    }
    for (f, p) in files {
        let text = std::fs::read_to_string(&p).unwrap();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let m = parse_as(&name, &text, f).unwrap();
        out.push((Format::Toml, format!("{name}.toml"), to_toml(&m)));
        out.push((f, name, text));
    }
    out
}

/// The error must point inside the text.
fn check_error(name: &str, text: &str, e: &LoadError) {
    let lines = text.lines().count().max(1);
    match e {
        LoadError::MalformedAt {
            path, line, column, ..
        }
        | LoadError::Parse {
            path, line, column, ..
        } => {
            assert_eq!(path, name);
            assert!(
                *line >= 1 && *line <= lines + 1,
                "{name}: line {line} of {lines}: {e}"
            );
            assert!(*column >= 1, "{name}: {e}");
        }
        // About the whole file: it (or what is left of it) describes no PCI function.
        LoadError::Build { path, .. } | LoadError::NoPci { path, .. } => assert_eq!(path, name),
        other => panic!("{name}: an error without a place: {other}"),
    }
    assert!(e.to_string().starts_with(name), "{e}");
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn truncated_files_are_errors_at_a_place() {
    let corpus = corpus();
    let mut cases = 0;
    for (format, name, text) in corpus {
        let len = text.len();
        // 60 cuts through each file, plus the last few bytes.
        let mut cuts: Vec<usize> = (0..60).map(|i| i * len / 60).collect();
        cuts.extend(len.saturating_sub(4)..len);
        for cut in cuts {
            let mut cut = cut;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let short = &text[..cut];
            match parse_as(name, short, *format) {
                Err(e) => check_error(name, short, &e),
                // A TOML file cut between two tables can still be a (smaller) machine, and an
                // XML file cut only in its trailing whitespace is complete.
                Ok(_) if *format == Format::Toml || short.trim_end() == text.trim_end() => {}
                Ok(_) => panic!("{name} cut at {cut} loaded"),
            }
            cases += 1;
        }
    }
    eprintln!("{cases} truncations");
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn mutated_files_never_panic() {
    let corpus = corpus();
    if corpus.is_empty() {
        return;
    }
    let replacements = [
        "", "\"", "<", ">", "/", "0", "-1", "ff", ":", "=", "\n[[", "&",
    ];
    let mut errors = 0;
    let mut cases = 0;
    for (format, name, text) in corpus {
        let bytes = text.as_bytes();
        let step = (bytes.len() / 150).max(1);
        for (k, pos) in (0..bytes.len()).step_by(step).enumerate() {
            let r = replacements[k % replacements.len()];
            let mut v = bytes[..pos].to_vec();
            v.extend_from_slice(r.as_bytes());
            v.extend_from_slice(&bytes[(pos + 1).min(bytes.len())..]);
            let mutated = String::from_utf8_lossy(&v);
            if let Err(e) = parse_as(name, &mutated, *format) {
                check_error(name, &mutated, &e);
                errors += 1;
            }
            cases += 1;
        }
    }
    assert!(errors > cases / 4, "{errors} errors in {cases} mutations");
}

#[test]
fn non_utf8_files_are_errors_at_the_byte() {
    let dir = std::env::temp_dir().join(format!("pci-topology-malformed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("bad.xml");
    std::fs::write(&p, b"<topology>\n  <object type=\"\xff\"/>\n</topology>\n").unwrap();
    match load::load_hwloc_xml(&p) {
        Err(LoadError::MalformedAt {
            line,
            column,
            expected,
            ..
        }) => {
            assert_eq!((line, column), (2, 17));
            assert_eq!(expected, "UTF-8 text");
        }
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        for f in [Format::HwlocXml, Format::NcclXml, Format::Toml] {
            if let Err(e) = parse_as("random", &text, f) {
                check_error("random", &text, &e);
            }
        }
        let _ = Format::detect_bytes(&bytes);
    }

    #[test]
    fn random_xml_never_panics(text in "(<(topology|system|object|cpu|pci|gpu|nvlink|distances2hetero|indexes|u64values)( [a-z_]{1,10}=\"[0-9a-fx:.\\[\\] -]{0,12}\"){0,4}/?>|</[a-z]{1,8}>|[0-9 :.A-Za-z]{0,8}){0,40}") {
        for f in [Format::HwlocXml, Format::NcclXml] {
            if let Err(e) = parse_as("random.xml", &text, f) {
                check_error("random.xml", &text, &e);
            }
        }
    }

    #[test]
    #[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
    fn random_edits_of_real_files_never_panic(
        which in 0usize..64,
        at in 0.0f64..1.0,
        len in 0usize..40,
        insert in "[<>/\"=:0-9a-fx\\[\\], \n-]{0,12}",
    ) {
        let corpus = corpus();
        if corpus.is_empty() {
            return Ok(());
        }
        let (format, name, text) = &corpus[which % corpus.len()];
        let mut start = ((text.len() as f64) * at) as usize;
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + len).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let edited = format!("{}{}{}", &text[..start], insert, &text[end..]);
        if let Err(e) = parse_as(name, &edited, *format) {
            check_error(name, &edited, &e);
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let toml = format!("x = {}", "[".repeat(100_000));
    assert!(load::parse_toml("deep.toml", &toml).is_err());
    let toml = format!("x = {}", "{ a = ".repeat(50_000));
    assert!(load::parse_toml("deep.toml", &toml).is_err());
    let xml = "<a>".repeat(100_000);
    assert!(load::parse_hwloc_xml("deep.xml", &xml).is_err());
    assert!(load::parse_nccl_xml("deep.xml", &xml).is_err());
}

#[test]
fn too_many_host_bridges_are_refused() {
    // 5000 functions, each on a root bus of its own in its own domain.
    let mut toml = String::new();
    for d in 0..5000u32 {
        toml.push_str(&format!("[[function]]\nbdf = \"{d:04x}:00:00.0\"\n"));
    }
    let e = load::parse_toml("many.toml", &toml).unwrap_err();
    assert!(e.to_string().contains("at most 4096 host bridges"), "{e}");
    let mut nccl = String::from(
        "<system version=\"1\"><cpu numaid=\"0\"><pci busid=\"0000:01:00.0\" class=\"0x030200\"><gpu dev=\"0\" sm=\"80\">",
    );
    for d in 0..5000u32 {
        nccl.push_str(&format!(
            "<nvlink target=\"{d:04x}:01:00.0\" count=\"1\" tclass=\"0x068000\"/>"
        ));
    }
    nccl.push_str("</gpu></pci></cpu></system>");
    let e = load::parse_nccl_xml("many.xml", &nccl).unwrap_err();
    assert!(e.to_string().contains("at most 4096 host bridges"), "{e}");
}
