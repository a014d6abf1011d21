//! The layers ARCHITECTURE.md documents, held against the code: every crate's code map lists each of its source files
//! once, lowest layer first, and a file imports (`crate::`, `super::`, a `mod.rs` re-exporting its children) only
//! from files listed before it, so no two modules import each other, directly or in a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Each crate's code map in ARCHITECTURE.md: under a heading naming `crates/<crate>/src`, one `` - `path.rs` ``
/// bullet per file, in layer order.
fn code_maps(architecture: &str) -> BTreeMap<String, Vec<String>> {
    let mut maps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in architecture.lines() {
        if line.starts_with('#') {
            current = line
                .split('`')
                .find(|part| part.starts_with("crates/") && part.ends_with("/src"))
                .map(|src| src.trim_end_matches("/src").to_owned());
            continue;
        }
        let Some(krate) = &current else { continue };
        if let Some(rest) = line.strip_prefix("- `")
            && let Some((file, _)) = rest.split_once('`')
            && file.ends_with(".rs")
        {
            maps.entry(krate.clone()).or_default().push(file.to_owned());
        }
    }
    maps
}

fn source_files(src: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(src, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.insert(path.strip_prefix(src).unwrap().to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The module path of a file: `recommend/fit.rs` is `[recommend, fit]`, `recommend/mod.rs` and `lib.rs` drop the
/// file's own name.
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The file that holds module `path`, if any.
fn file_of(path: &[String], files: &BTreeSet<String>) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    let joined = path.join("/");
    [format!("{joined}.rs"), format!("{joined}/mod.rs")].into_iter().find(|f| files.contains(f))
}

/// The code of a file without comments and without its trailing `#[cfg(test)]` module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

/// Every path a `use` or an expression names from `prefix` (`crate`, `super`, or a child module), braces expanded:
/// `use crate::{a::X, b::{Y, Z}}` gives `a::X`, `b::Y`, `b::Z`.
fn paths(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let needle = format!("{prefix}::");
    let mut rest = code;
    while let Some(at) = rest.find(&needle) {
        let before = rest[..at].chars().last();
        rest = &rest[at + needle.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        expand(rest, &[], &mut out);
    }
    out
}

fn expand(text: &str, base: &[String], out: &mut Vec<Vec<String>>) -> usize {
    let bytes = text.as_bytes();
    let skip = |mut i: usize| {
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\n' | b',') {
            i += 1;
        }
        i
    };
    let mut path = base.to_vec();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if i > start {
            path.push(text[start..i].to_owned());
        }
        if text[i..].starts_with('{') {
            i += 1;
            loop {
                i = skip(i);
                if i >= bytes.len() || bytes[i] == b'}' {
                    return i + 1;
                }
                i += expand(&text[i..], &path, out);
            }
        } else if text[i..].starts_with("::") {
            i += 2;
        } else {
            if !path.is_empty() {
                out.push(path);
            }
            return i;
        }
    }
}

/// The file a path from `file` names: the longest prefix that is a module file; a name the crate root re-exports is
/// the file it comes from; anything else defined in the root is the root.
fn target(path: &[String], files: &BTreeSet<String>, reexports: &BTreeMap<String, String>, root: &str) -> String {
    for len in (1..=path.len()).rev() {
        if let Some(file) = file_of(&path[..len], files) {
            return file;
        }
    }
    path.first().and_then(|name| reexports.get(name)).cloned().unwrap_or_else(|| root.to_owned())
}

/// The crate root's `pub use a::b::{X, Y}`: each name and the file it comes from.
fn root_reexports(root_code: &str, files: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for statement in root_code.split(';') {
        let Some(rest) = statement.trim().strip_prefix("pub use ") else { continue };
        for path in paths(&format!(" x::{rest}"), "x") {
            let module = (1..path.len()).rev().find_map(|len| file_of(&path[..len], files));
            if let (Some(name), Some(file)) = (path.last(), module) {
                out.insert(name.clone(), file);
            }
        }
    }
    out
}

/// Each file's imports of other files of the crate.
fn imports(krate: &Path, files: &BTreeSet<String>) -> BTreeMap<String, BTreeSet<String>> {
    let src = krate.join("src");
    let root = if files.contains("lib.rs") { "lib.rs" } else { "main.rs" };
    let reexports = root_reexports(&code(&std::fs::read_to_string(src.join(root)).unwrap()), files);
    let mut graph = BTreeMap::new();
    for file in files {
        let text = code(&std::fs::read_to_string(src.join(file)).unwrap());
        let module = module_of(file);
        let is_parent = file.ends_with("mod.rs") || file == "lib.rs" || file == "main.rs";
        let mut named: Vec<Vec<String>> = paths(&text, "crate");
        let parent = if is_parent { &module[..module.len().saturating_sub(1)] } else { &module[..module.len() - 1] };
        for p in paths(&text, "super") {
            named.push(parent.iter().cloned().chain(p).collect());
        }
        // A parent's re-exports of its children (`pub use fit::propose;`) import the child.
        if is_parent && file != root {
            for statement in text.split(';') {
                let statement = statement.trim();
                let Some(rest) = statement.strip_prefix("pub use ").or_else(|| statement.strip_prefix("use ")) else {
                    continue;
                };
                for p in paths(&format!(" x::{rest}"), "x") {
                    named.push(module.iter().cloned().chain(p).collect());
                }
            }
        }
        let targets: BTreeSet<String> =
            named.iter().map(|p| target(p, files, &reexports, root)).filter(|t| t != file).collect();
        graph.insert(file.clone(), targets);
    }
    graph
}

fn crates() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("src").is_dir())
        .map(|p| (format!("crates/{}", p.file_name().unwrap().to_string_lossy()), p))
        .collect();
    out.sort();
    out
}

/// The imports that break the documented order: (file, the file it imports, listed at or after it).
fn violations(order: &[String], graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let rank: BTreeMap<&str, usize> = order.iter().enumerate().map(|(i, f)| (f.as_str(), i)).collect();
    let mut out = Vec::new();
    for (file, targets) in graph {
        for t in targets {
            if rank.get(t.as_str()) >= rank.get(file.as_str()) {
                out.push(format!("{file} imports {t}, which ARCHITECTURE.md lists at or after it"));
            }
        }
    }
    out
}

/// Files that import each other, directly or through others: each strongly connected set of two or more.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(f) = todo.pop() {
            for t in graph.get(&f).into_iter().flatten() {
                if seen.insert(t.clone()) {
                    todo.push(t.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> = graph.keys().map(|f| (f, reach(f))).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for (f, seen) in &reached {
        let circle: BTreeSet<String> =
            seen.iter().filter(|g| reached.get(g).is_some_and(|back| back.contains(*f))).cloned().collect();
        if circle.len() > 1 && !out.contains(&circle) {
            out.push(circle);
        }
    }
    out
}

#[test]
fn every_crate_code_map_lists_each_source_file_once() {
    let maps = code_maps(&std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap());
    for (name, path) in crates() {
        let mut files = BTreeSet::new();
        source_files(&path.join("src"), &path.join("src"), &mut files);
        let order = maps.get(&name).unwrap_or_else(|| panic!("ARCHITECTURE.md has no code map for `{name}/src`"));
        let listed: BTreeSet<String> = order.iter().cloned().collect();
        assert_eq!(listed.len(), order.len(), "{name}: a file is listed twice: {order:?}");
        assert_eq!(listed, files, "{name}: the code map and src/ differ");
    }
}

#[test]
fn modules_import_only_from_lower_layers() {
    let maps = code_maps(&std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap());
    let mut broken = Vec::new();
    for (name, path) in crates() {
        let mut files = BTreeSet::new();
        source_files(&path.join("src"), &path.join("src"), &mut files);
        let graph = imports(&path, &files);
        for circle in circles(&graph) {
            broken.push(format!("{name}: import circle among {circle:?}"));
        }
        let order = maps.get(&name).cloned().unwrap_or_default();
        broken.extend(violations(&order, &graph).into_iter().map(|v| format!("{name}: {v}")));
    }
    assert!(broken.is_empty(), "imports against ARCHITECTURE.md's layers:\n{}", broken.join("\n"));
}

#[test]
fn the_import_reader_sees_grouped_nested_super_and_reexported_paths() {
    let files: BTreeSet<String> =
        ["lib.rs", "a.rs", "b/mod.rs", "b/c.rs", "b/d.rs"].into_iter().map(str::to_owned).collect();
    let found = paths("use crate::{a::X, b::{c::Y, d::{Z, W}}};\nlet v = crate::a::f();", "crate");
    let want: Vec<Vec<&str>> =
        vec![vec!["a", "X"], vec!["b", "c", "Y"], vec!["b", "d", "Z"], vec!["b", "d", "W"], vec!["a", "f"]];
    assert_eq!(found, want.iter().map(|p| p.iter().map(|s| s.to_string()).collect::<Vec<_>>()).collect::<Vec<_>>());
    let reexports = root_reexports("pub use b::c::{Y, Q};\npub use a::X;", &files);
    assert_eq!(reexports.get("Q").map(String::as_str), Some("b/c.rs"));
    assert_eq!(target(&["X".into()], &files, &reexports, "lib.rs"), "a.rs");
    assert_eq!(target(&["Defined".into()], &files, &reexports, "lib.rs"), "lib.rs");
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a.rs".to_owned(), BTreeSet::from(["b/c.rs".to_owned()])),
        ("b/c.rs".to_owned(), BTreeSet::from(["b/d.rs".to_owned()])),
        ("b/d.rs".to_owned(), BTreeSet::from(["a.rs".to_owned()])),
    ]
    .into();
    assert_eq!(circles(&graph), vec![BTreeSet::from(["a.rs".to_owned(), "b/c.rs".to_owned(), "b/d.rs".to_owned()])]);
    let order: Vec<String> = ["b/d.rs", "b/c.rs", "a.rs"].into_iter().map(str::to_owned).collect();
    assert_eq!(violations(&order, &graph), vec!["b/d.rs imports a.rs, which ARCHITECTURE.md lists at or after it"]);
}

/// The lines of ARCHITECTURE.md's section headed `heading`, up to the next heading.
fn section(architecture: &str, heading: &str) -> String {
    let start = architecture.find(&format!("## {heading}\n")).unwrap_or_else(|| panic!("no `## {heading}` section"));
    let body = &architecture[start + heading.len() + 4..];
    body[..body.find("\n## ").unwrap_or(body.len())].to_owned()
}

#[test]
fn the_birds_eye_view_names_every_trigger_the_function_reads() {
    let view = section(&std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap(), "Bird's eye view");
    for call in egress_guard_core::EventName::ALL {
        assert!(view.contains(&format!("`{}`", call.as_str())), "the bird's eye view does not name {}", call.as_str());
    }
    for other in ["Scheduled Event", "SQS batch", "Incoming"] {
        assert!(view.contains(other), "the bird's eye view does not name {other}");
    }
}

#[test]
fn every_entry_point_names_a_file_that_exists() {
    let entries = section(&std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap(), "Entry points");
    let mut named = 0;
    for line in entries.lines() {
        for path in line.split('`').filter(|p| p.ends_with(".rs") || p.ends_with(".sh") || p.ends_with("/run")) {
            let candidates = [root().join(path), root().join("crates/egress-guard-cli/src").join(path)];
            assert!(candidates.iter().any(|c| c.exists()), "Entry points names {path}, which does not exist");
            named += 1;
        }
    }
    assert!(named > 10, "Entry points names {named} files");
}
