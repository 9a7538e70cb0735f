//! The shape of the code, checked: no import circle among the files of
//! `controller/` or of `plan/`, `plan/` imports nothing from `sites/`, no
//! function in either over 80 lines. Read from the sources themselves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every non-test source file under `dir`, by module path relative to it
/// ("trip::journal"; a `mod.rs` is its folder).
fn modules(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(dir)
                .expect("under dir")
                .with_extension("");
            let rel = rel.to_string_lossy().replace('/', "::");
            if rel.ends_with("tests") || path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = rel.strip_suffix("::mod").unwrap_or(&rel).to_string();
            out.insert(if rel == "mod" { String::new() } else { rel }, path);
        }
    }
    out
}

/// The source without its `#[cfg(test)]` part.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    text.split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The modules of the same tree that `rel` names (`crate::<tree>::x`,
/// `super::x`, `self::x`).
fn imports(
    tree: &str,
    rel: &str,
    path: &Path,
    mods: &BTreeMap<String, PathBuf>,
) -> BTreeSet<String> {
    let is_mod_rs = path.file_name().is_some_and(|f| f == "mod.rs");
    let parent = |m: &str| {
        m.rsplit_once("::")
            .map_or(String::new(), |(p, _)| p.to_string())
    };
    let here = if is_mod_rs {
        rel.to_string()
    } else {
        parent(rel)
    };
    let src = code(path);
    let mut out = BTreeSet::new();
    let crate_prefix = format!("crate::{tree}::");
    for (i, _) in src.match_indices("::") {
        let start = src[..i]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map_or(0, |s| s + 1);
        let path_text: String = src[start..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let named = if let Some(rest) = path_text.strip_prefix(&crate_prefix) {
            rest.to_string()
        } else if let Some(rest) = path_text.strip_prefix("super::") {
            let base = if is_mod_rs {
                parent(rel)
            } else {
                parent(&here)
            };
            if base.is_empty() {
                rest.to_string()
            } else {
                format!("{base}::{rest}")
            }
        } else if let Some(rest) = path_text.strip_prefix("self::") {
            if rel.is_empty() {
                rest.to_string()
            } else {
                format!("{rel}::{rest}")
            }
        } else {
            continue;
        };
        let parts: Vec<&str> = named.split("::").collect();
        if let Some(m) = (1..=parts.len())
            .rev()
            .map(|k| parts[..k].join("::"))
            .find(|m| mods.contains_key(m) && m != rel)
        {
            out.insert(m);
        }
    }
    out
}

/// A circle of imports among the files of `src/<tree>`, if any.
fn circle(tree: &str) -> Option<Vec<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(tree);
    let mods = modules(&dir);
    let graph: BTreeMap<&String, BTreeSet<String>> = mods
        .iter()
        .map(|(rel, path)| (rel, imports(tree, rel, path, &mods)))
        .collect();
    fn walk(
        n: &str,
        graph: &BTreeMap<&String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| s == n) {
            let mut c = stack[at..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if !done.insert(n.to_string()) {
            return None;
        }
        stack.push(n.to_string());
        for d in graph.get(&n.to_string()).into_iter().flatten() {
            if let Some(c) = walk(d, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| walk(n, &graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_import_circle_among_the_controllers_files() {
    assert_eq!(circle("controller"), None);
}

#[test]
fn no_import_circle_among_the_plans_files() {
    assert_eq!(circle("plan"), None);
}

#[test]
fn the_plan_imports_nothing_from_the_sites() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/plan");
    for (rel, path) in modules(&dir) {
        assert!(
            !code(&path).contains("crate::sites"),
            "plan::{rel} imports from sites"
        );
    }
}

/// Functions of `src/<tree>` longer than 80 lines: (file, name, lines).
fn long_functions(tree: &str) -> Vec<(String, String, usize)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(tree);
    let mut out = Vec::new();
    for (rel, path) in modules(&dir) {
        let src = code(&path);
        let lines: Vec<&str> = src.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let t = lines[i].trim_start();
            let indent = lines[i].len() - t.len();
            let is_fn = [
                "fn ",
                "pub fn ",
                "async fn ",
                "pub async fn ",
                "pub(crate) fn ",
                "pub(super) fn ",
                "pub(crate) async fn ",
                "pub(super) async fn ",
            ]
            .iter()
            .any(|p| t.starts_with(p));
            if is_fn && !lines[i].trim_end().ends_with(';') {
                let close = format!("{}}}", " ".repeat(indent));
                let end = (i + 1..lines.len())
                    .find(|&k| lines[k].trim_end() == close)
                    .unwrap_or(i);
                if end + 1 - i > 80 {
                    let name = t
                        .split("fn ")
                        .nth(1)
                        .unwrap_or("")
                        .split('(')
                        .next()
                        .unwrap_or("");
                    out.push((rel.clone(), name.to_string(), end + 1 - i));
                }
                i = end;
            }
            i += 1;
        }
    }
    out
}

#[test]
fn no_function_in_the_plan_or_the_controller_is_over_80_lines() {
    assert_eq!(long_functions("plan"), Vec::new());
    assert_eq!(long_functions("controller"), Vec::new());
}

#[test]
fn imports_between_two_files_are_seen_both_ways() {
    // The checker itself: two files of a scratch tree naming each other.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.rs"), "use super::b::X;\n").expect("write");
    std::fs::write(dir.path().join("b.rs"), "use super::a::Y;\n").expect("write");
    let found = modules(dir.path());
    let a = imports("plan", "a", &found["a"], &found);
    let b = imports("plan", "b", &found["b"], &found);
    assert!(a.contains("b") && b.contains("a"), "{a:?} {b:?}");
}
