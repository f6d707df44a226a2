//! `--format dot` and `--format svg` as users meet them: `topo` draws the machine, `explain`
//! and `negotiate` draw their route on it, `matrix` refuses with status 2.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{arg, fixtures, repo_root, run, scenario_machine};
use quick_xml::Reader;
use quick_xml::events::Event;

/// The `class` and `data-bdf` attributes of every element; panics if the SVG is not
/// well-formed.
fn svg_attrs(svg: &str) -> Vec<(String, Option<String>)> {
    let mut r = Reader::from_str(svg);
    let mut out = Vec::new();
    loop {
        match r.read_event().expect("well-formed SVG") {
            Event::Start(e) | Event::Empty(e) => {
                let mut class = String::new();
                let mut bdf = None;
                for a in e.attributes() {
                    let a = a.unwrap();
                    let v = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .unwrap()
                        .into_owned();
                    match a.key.as_ref() {
                        b"class" => class = v,
                        b"data-bdf" => bdf = Some(v),
                        _ => {}
                    }
                }
                out.push((class, bdf));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn routes(attrs: &[(String, Option<String>)]) -> Vec<&str> {
    attrs
        .iter()
        .filter(|(c, _)| c.split_whitespace().any(|w| w == "route"))
        .map(|(c, _)| c.as_str())
        .collect()
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn topo_draws_every_function_in_svg_and_dot() {
    let Some(fx) = fixtures() else {
        return;
    };
    for (opt, rel) in [
        ("--sysfs", "kernel-oracle/switch-vs-rootport.tar.gz"),
        ("--hwloc", "hwloc-xml/nvidiaDGX2.xml"),
        ("--nccl", "nccl/topo_8A100_4CX6.xml"),
    ] {
        let path = arg(&fx, rel);
        let m = pci_topology::load::load(&path).unwrap();
        let r = run(&[opt, &path, "topo", "--format", "svg"]);
        assert_eq!(r.code, 0, "{rel}: {}", r.stderr);
        assert!(r.stdout.starts_with("<svg "), "{rel}");
        let attrs = svg_attrs(&r.stdout);
        for f in m.functions() {
            let b = f.bdf.to_string();
            assert!(
                attrs.iter().any(|(_, x)| x.as_deref() == Some(b.as_str())),
                "{rel}: {b} drawn"
            );
        }
        assert!(routes(&attrs).is_empty(), "{rel}: no route on topo");
        let r = run(&[opt, &path, "topo", "--format", "dot"]);
        assert_eq!(r.code, 0, "{rel}: {}", r.stderr);
        assert!(r.stdout.starts_with("digraph machine {"), "{rel}");
        for f in m.functions() {
            let b = f.bdf;
            let name = format!(
                "fn_{:04x}_{:02x}_{:02x}_{:x} [",
                b.domain, b.bus, b.device, b.function
            );
            assert!(r.stdout.contains(&name), "{rel}: DOT node {name}");
        }
    }
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn explain_draws_the_route_and_says_when_it_is_refused() {
    let Some(fx) = fixtures() else {
        return;
    };
    let snap = arg(&fx, "kernel-oracle/switch-vs-rootport.tar.gz");
    // Below the switch: bus addresses, the route turns at the switch.
    let r = run(&[
        "--sysfs", &snap, "explain", "03:00.0", "04:00.0", "--format", "svg",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Linux bus-addr"), "caption");
    let attrs = svg_attrs(&r.stdout);
    let marked = routes(&attrs);
    assert!(!marked.is_empty());
    assert!(marked.iter().all(|c| !c.contains("refused")));
    // Across root ports on QEMU's host bridge: refused, drawn as such.
    let r = run(&[
        "--sysfs", &snap, "explain", "03:00.0", "05:00.0", "--format", "svg",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("not-supported"), "caption");
    let attrs = svg_attrs(&r.stdout);
    assert!(routes(&attrs).iter().any(|c| c.contains("refused")));
    let r = run(&[
        "--sysfs", &snap, "explain", "03:00.0", "05:00.0", "--format", "dot",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("class=\"route refused\""));
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn negotiate_draws_the_chosen_route() {
    let Some(fx) = fixtures() else {
        return;
    };
    let rel = "examples/negotiate-5a-nvlink-best-route.toml";
    let (kind, machine) = scenario_machine(&repo_root().join(rel), &fx).unwrap();
    let opt = format!("--{kind}");
    let m = machine.display().to_string();
    let r = run(&[&opt, &m, "negotiate", rel, "--format", "svg"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("chosen: "), "caption");
    let attrs = svg_attrs(&r.stdout);
    assert!(
        routes(&attrs).iter().any(|c| c.contains("private-link")),
        "the NVLinks of the route are marked"
    );
    let r = run(&[&opt, &m, "negotiate", rel, "--format", "dot"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("class=\"route\""));

    // Without agreement: the machine, the caption, status 3.
    let rel = "examples/negotiate-6-nothing-in-common.toml";
    let args: Vec<String> = match scenario_machine(&repo_root().join(rel), &fx) {
        Some((kind, machine)) => vec![format!("--{kind}"), machine.display().to_string()],
        None => Vec::new(),
    };
    let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
    a.extend(["negotiate", rel, "--format", "svg"]);
    let r = run(&a);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stdout.contains("no common interconnect"));
    assert!(routes(&svg_attrs(&r.stdout)).is_empty());
}

#[test]
#[cfg_attr(no_fixtures, ignore = "needs ../shared/fixtures or DMABUF_IC_FIXTURES")]
fn matrix_has_no_picture() {
    let Some(fx) = fixtures() else {
        return;
    };
    let snap = arg(&fx, "kernel-oracle/switch-vs-rootport.tar.gz");
    for format in ["svg", "dot"] {
        let r = run(&["--sysfs", &snap, "matrix", "--format", format]);
        assert_eq!(r.code, 2);
        assert!(
            r.stderr.contains("does not produce --format"),
            "{}",
            r.stderr
        );
        assert!(r.stdout.is_empty());
    }
}
