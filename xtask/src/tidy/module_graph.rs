//! The crate's imports as the source writes them, for the tidy rules on the flags and on cycles:
//! which module files each file names, through `crate::`, `super::` and `self::` paths (in `use`
//! groups too, spaces around `::` or not) and the names `lib.rs` re-exports; test modules aside.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The source folder of the crate, read once.
pub struct Crate {
    source: PathBuf,
    /// Module paths of every `.rs` file, `bench/comparison` style, sorted.
    pub modules: Vec<String>,
    /// Names `lib.rs` re-exports (`pub use failure::shell_quote;`) and the module they come from.
    reexports: BTreeMap<String, String>,
}

impl Crate {
    pub fn read(source: &Path) -> Crate {
        let modules = module_files(source);
        let lib = std::fs::read_to_string(source.join("lib.rs")).unwrap();
        Crate { source: source.to_path_buf(), modules, reexports: reexports_of(&lib) }
    }

    pub fn text(&self, module: &str) -> String {
        std::fs::read_to_string(self.source.join(format!("{module}.rs"))).unwrap()
    }

    /// The module files `module` names outside its test modules.
    pub fn imports_of(&self, module: &str) -> BTreeSet<String> {
        let own_path: Vec<String> = module.split('/').map(str::to_string).collect();
        named_paths(&without_test_modules(&self.text(module)), &own_path)
            .iter()
            .filter_map(|path| self.module_file_of(path))
            .filter(|used| used != module)
            .collect()
    }

    /// The file a path lands in: the longest prefix that is a module file
    /// (`[bench, comparison, Comparison]` is `bench/comparison`), or the module a `lib.rs`
    /// re-export comes from.
    fn module_file_of(&self, path: &[String]) -> Option<String> {
        let file = (1..=path.len())
            .rev()
            .map(|length| path[..length].join("/"))
            .find(|module| self.modules.binary_search(module).is_ok() && module != "lib" && module != "main");
        file.or_else(|| self.reexports.get(path.first()?).cloned())
    }
}

/// Every `.rs` file under `source`, as its module path (`bench/comparison`), sorted.
fn module_files(source: &Path) -> Vec<String> {
    let mut modules = Vec::new();
    let mut pending = vec![source.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Some(module) = path.strip_prefix(source).unwrap().to_string_lossy().strip_suffix(".rs") {
                modules.push(module.replace('\\', "/"));
            }
        }
    }
    modules.sort();
    modules
}

/// `pub use module::...::Name;` lines of `lib.rs`: Name → module.
fn reexports_of(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for line in lib.lines() {
        let Some(path) = line.trim().strip_prefix("pub use ").and_then(|path| path.strip_suffix(';')) else { continue };
        let path = path.strip_prefix("crate::").unwrap_or(path);
        let Some((module, rest)) = path.split_once("::") else { continue };
        // `a::b::Name`, `a::{B, C as D}`: the last segment of each item, after any `as`.
        let items = rest.rsplit("::").next().unwrap_or(rest).trim_matches(|c| c == '{' || c == '}');
        for item in items.split(',') {
            let name = item.rsplit(" as ").next().unwrap_or(item).trim();
            if !name.is_empty() {
                names.insert(name.to_string(), module.to_string());
            }
        }
    }
    names
}

/// The code of a file without its test modules: every `#[cfg(test)]` (or `#[cfg(all(test, ...))]`)
/// `mod NAME { ... }`, wherever it sits, braces counted.
pub fn without_test_modules(text: &str) -> String {
    let mut kept = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("#[cfg(") {
        let attribute_end = rest[start..].find(")]").map(|end| start + end + 2);
        let is_test = attribute_end.is_some_and(|end| {
            let condition = &rest[start..end];
            condition.starts_with("#[cfg(test)") || condition.starts_with("#[cfg(all(test,")
        });
        let module_body = attribute_end.filter(|_| is_test).and_then(|end| {
            let item = rest[end..].trim_start();
            let item = item.strip_prefix("pub ").unwrap_or(item);
            let after_name = item.strip_prefix("mod ")?.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_');
            after_name.trim_start().starts_with('{').then(|| rest.len() - after_name.trim_start().len())
        });
        let Some(open) = module_body else {
            kept.push_str(&rest[..start + 6]);
            rest = &rest[start + 6..];
            continue;
        };
        kept.push_str(&rest[..start]);
        let mut depth = 0usize;
        let mut close = rest.len();
        for (offset, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + offset + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &rest[close..];
    }
    kept.push_str(rest);
    kept
}

/// Every module path `code` names, from the crate root: `crate::a::B` gives `[a, B]`; `super::x`
/// and `self::x` are read from `module` (`[sidecar, build]`: `super::super::flags` is `[flags]`);
/// a group `crate::{a::{B, C}, d}` gives `[a]` and `[d]`.
pub fn named_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let code: String = code.split("::").map(str::trim).collect::<Vec<_>>().join("::");
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let path_of = |text: &str| -> Vec<String> {
        let mut segments = Vec::new();
        for segment in text.trim_start().split("::") {
            let word: String = segment.chars().take_while(|c| is_word(*c)).collect();
            if word.is_empty() || word == "self" {
                break;
            }
            let complete = word.len() == segment.len();
            segments.push(word);
            if !complete {
                break;
            }
        }
        segments
    };
    let mut paths = Vec::new();
    let mut offset = 0;
    while offset < code.len() {
        let rest = &code[offset..];
        let starts_path = !code[..offset].chars().next_back().is_some_and(|c| is_word(c) || c == ':');
        let (base, after) = if !starts_path {
            (None, rest)
        } else if let Some(after) = rest.strip_prefix("crate::") {
            (Some(Vec::new()), after)
        } else if let Some(after) = rest.strip_prefix("self::") {
            (Some(module.to_vec()), after)
        } else if rest.starts_with("super::") {
            let mut after = rest;
            let mut base = module.to_vec();
            while let Some(next) = after.strip_prefix("super::") {
                base.pop();
                after = next;
            }
            (Some(base), after)
        } else {
            (None, rest)
        };
        let Some(base) = base else {
            offset += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let mut items = Vec::new();
        if let Some(group) = after.strip_prefix('{') {
            let (mut depth, mut item_start) = (0, 0);
            for (position, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        items.push(path_of(&group[item_start..position]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(path_of(&group[item_start..position]));
                        item_start = position + 1;
                    }
                    _ => {}
                }
            }
        } else {
            items.push(path_of(after));
        }
        for item in items.into_iter().filter(|item| !item.is_empty()) {
            paths.push(base.iter().cloned().chain(item).collect());
        }
        offset = code.len() - after.len();
    }
    paths
}

/// One cycle through each group of modules that import each other, as `a -> b -> a`.
pub fn cycles_of(imports: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Depth-first search; a module met again on the current path closes a cycle.
    fn visit(
        module: &str,
        imports: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<Vec<String>>,
    ) {
        if let Some(start) = path.iter().position(|on_path| on_path == module) {
            let mut cycle = path[start..].to_vec();
            cycle.push(module.to_string());
            cycles.push(cycle);
            return;
        }
        if done.contains(module) {
            return;
        }
        path.push(module.to_string());
        for used in imports.get(module).into_iter().flatten() {
            visit(used, imports, path, done, cycles);
        }
        path.pop();
        done.insert(module.to_string());
    }
    let (mut done, mut cycles) = (BTreeSet::new(), Vec::new());
    for module in imports.keys() {
        visit(module, imports, &mut Vec::new(), &mut done, &mut cycles);
    }
    cycles
}

#[test]
fn paths_are_read_from_uses_groups_relative_paths_and_expressions() {
    let code = "use crate::failure::{WithHint, refuse};\nuse crate::{diff, files as f, process::{self, Echo}};\n\
                let x = crate :: bench::comparison::Comparison::Hash; mycrate::no;\n\
                use super::super::flags::SidecarFlags; use super::{build, publish}; self::inner::f();";
    let module = ["sidecar".to_string(), "build".to_string()];
    let paths: Vec<String> = named_paths(code, &module).iter().map(|path| path.join("::")).collect();
    assert_eq!(
        paths,
        [
            "failure",
            "diff",
            "files",
            "process",
            "bench::comparison::Comparison::Hash",
            "flags::SidecarFlags",
            "sidecar::build",
            "sidecar::publish",
            "sidecar::build::inner::f",
        ]
    );
}

#[test]
fn test_modules_are_left_out_wherever_they_sit() {
    let text = "use crate::a;\n#[cfg(test)]\nmod early { use crate::flags; fn f() { {} } }\nuse crate::b;\n\
                #[cfg(all(test, unix))]\npub mod more {\n use crate::flags;\n}\n#[cfg(test)]\nuse crate::c;\n";
    let code = without_test_modules(text);
    assert!(!code.contains("flags"), "{code}");
    assert!(code.contains("crate::a") && code.contains("crate::b") && code.contains("crate::c"), "{code}");
}

#[test]
fn lib_reexports_name_their_module() {
    let lib = "pub use failure::shell_quote;\npub use crate::process::{run_within, Echo as Out};\nmod x;\n";
    let expected = [("shell_quote", "failure"), ("run_within", "process"), ("Out", "process")];
    let expected: BTreeMap<String, String> = expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(reexports_of(lib), expected);
}

#[test]
fn cycles_are_found_through_any_number_of_modules() {
    let graph = |edges: &[(&str, &str)]| {
        let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            imports.entry(from.to_string()).or_default().insert(to.to_string());
            imports.entry(to.to_string()).or_default();
        }
        imports
    };
    assert!(cycles_of(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])).is_empty());
    assert_eq!(cycles_of(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])), [["a", "b", "c", "a"]]);
    assert_eq!(cycles_of(&graph(&[("x", "y"), ("y", "x"), ("z", "x")])), [["x", "y", "x"]]);
}
