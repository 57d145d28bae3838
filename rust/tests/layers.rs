//! The core's module graph, read from the source: no import cycle among the top-level modules
//! (DESIGN.md "Layers"), each layer imports only the layers below it, and no cycle among the
//! files of one module. A `use crate::x` / `crate::x::` path (or `super::x` inside a module)
//! counts as an import, code and doc links alike, since a doc link that goes up is a layer
//! that knows too much.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers from the bottom up: each may import only the ones before it.
const LAYERS: &[&str] = &[
    "logging", "metrics", "wire", "outbox", "topic", "pubsub", "presence", "cluster", "handler",
    "channel", "endpoint", "host",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The files of top-level module `name`: `name.rs` and everything under `name/`.
fn module_files(name: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let file = src().join(format!("{name}.rs"));
    if file.exists() {
        files.push(file);
    }
    let dir = src().join(name);
    if dir.is_dir() {
        rust_files(&dir, &mut files);
    }
    files
}

/// The identifiers that follow `prefix` (e.g. `crate::`) in `text`, `{a, b}` groups included.
fn names_after(text: &str, prefix: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (at, _) in text.match_indices(prefix) {
        if at > 0 {
            let before = text.as_bytes()[at - 1];
            if before.is_ascii_alphanumeric() || before == b'_' {
                continue; // `xsuper::` is not `super::`
            }
        }
        let rest = &text[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            out.extend(group.split(',').map(|s| ident(s.trim())));
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Without `#[cfg(test)]` modules: tests may reach anywhere.
fn non_test_text(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("source file");
    match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().expect("ok").to_str().expect("ok");
    name == "tests.rs" || path.components().any(|c| c.as_os_str() == "tests")
}

fn top_level_graph() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let mut graph = BTreeMap::new();
    for &module in LAYERS {
        let mut deps = BTreeSet::new();
        for file in module_files(module) {
            if is_test_file(&file) {
                continue;
            }
            for name in names_after(&non_test_text(&file), "crate::") {
                if let Some(&dep) = LAYERS.iter().find(|&&l| l == name)
                    && dep != module
                {
                    deps.insert(dep);
                }
            }
        }
        graph.insert(module, deps);
    }
    graph
}

/// A cycle in `graph`, if any, as the list of its nodes.
fn find_cycle<N: Ord + Copy + std::fmt::Debug>(graph: &BTreeMap<N, BTreeSet<N>>) -> Option<Vec<N>> {
    fn visit<N: Ord + Copy>(
        n: N,
        graph: &BTreeMap<N, BTreeSet<N>>,
        stack: &mut Vec<N>,
        done: &mut BTreeSet<N>,
    ) -> Option<Vec<N>> {
        if let Some(at) = stack.iter().position(|&s| s == n) {
            return Some(stack[at..].to_vec());
        }
        if done.contains(&n) {
            return None;
        }
        stack.push(n);
        for &d in graph.get(&n).into_iter().flatten() {
            if let Some(c) = visit(d, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n);
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|&n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn every_layer_imports_only_layers_below_it() {
    let graph = top_level_graph();
    let mut wrong = Vec::new();
    for (i, module) in LAYERS.iter().enumerate() {
        for dep in &graph[module] {
            let level = LAYERS.iter().position(|l| l == dep).expect("ok");
            if level > i {
                wrong.push(format!("{module} imports {dep}"));
            }
        }
    }
    assert!(wrong.is_empty(), "layer order broken: {wrong:?}");
    assert_eq!(find_cycle(&graph), None);
}

#[test]
fn channel_and_endpoint_do_not_know_the_host_layer() {
    let graph = top_level_graph();
    assert!(!graph["channel"].contains("host"));
    assert!(!graph["endpoint"].contains("host"));
    assert!(!graph["handler"].contains("channel"));
}

#[test]
fn no_module_has_a_cycle_among_its_files() {
    for &module in LAYERS {
        let dir = src().join(module);
        if !dir.is_dir() {
            continue;
        }
        let files: Vec<PathBuf> = module_files(module)
            .into_iter()
            .filter(|f| !is_test_file(f) && f.parent() == Some(dir.as_path()))
            .collect();
        let stem = |f: &Path| f.file_stem().expect("ok").to_str().expect("ok").to_owned();
        let siblings: BTreeSet<String> = files.iter().map(|f| stem(f)).collect();
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in &files {
            let me = stem(file);
            if me == "mod" {
                continue; // mod.rs declares and re-exports its children
            }
            let text = non_test_text(file);
            let mut deps: BTreeSet<String> = names_after(&text, "super::");
            deps.extend(names_after(&text, &format!("crate::{module}::")));
            deps.retain(|d| siblings.contains(d) && *d != me && d != "mod");
            graph.insert(me, deps);
        }
        let graph: BTreeMap<&str, BTreeSet<&str>> = graph
            .iter()
            .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            find_cycle(&graph),
            None,
            "a cycle among the files of {module}/"
        );
    }
}

#[test]
fn the_checker_sees_imports_and_cycles() {
    let text = "use crate::{wire, pubsub::Broadcast};\nuse super::queue::Inner;\nfoo::bar::x";
    assert_eq!(
        names_after(text, "crate::"),
        ["pubsub", "wire"].map(String::from).into()
    );
    assert_eq!(
        names_after(text, "super::"),
        ["queue"].map(String::from).into()
    );
    let graph: BTreeMap<u8, BTreeSet<u8>> =
        [(1, [2].into()), (2, [3].into()), (3, [1].into())].into();
    assert_eq!(find_cycle(&graph), Some(vec![1, 2, 3]));
    // Every layer has files (a renamed module would otherwise pass unchecked).
    for &module in LAYERS {
        assert!(!module_files(module).is_empty(), "no files for {module}");
    }
}
