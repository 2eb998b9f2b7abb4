//! Repository habits that `cargo test` enforces: no file but a package's own `pyproject.toml`
//! (and the lock files and changelog history) writes that package's version; docs point at files
//! that exist and name every module and command; only command modules read the parsed flags.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use xshell::cmd;

use crate::workspace::{Workspace, find_root};

mod module_graph;

use module_graph::{Crate, cycles_of};

/// Files allowed to carry package versions: the sources of truth, the locks and the history.
fn may_mention_versions(path: &str) -> bool {
    let exempt_exact = ["uv.lock", "Cargo.lock", "docs/development/changelog.md"];
    exempt_exact.contains(&path)
        || (path.starts_with("packages/") && path.ends_with("/pyproject.toml"))
        // The xtask's own tests use made-up versions as fixtures.
        || path.starts_with("xtask/")
}

/// Byte offsets where `version` stands alone: not part of a longer number (`10.4.0`, `0.4.01`,
/// `0.4.0.1`) or of another version (`0.4.0rc1`). A `v` or `-` in front still counts.
fn standalone_occurrences(text: &str, version: &str) -> Vec<usize> {
    text.match_indices(version)
        .map(|(start, _)| start)
        .filter(|&start| {
            let before = text[..start].chars().next_back();
            let rest = &text[start + version.len()..];
            let mut after = rest.chars();
            let clean_start = !before.is_some_and(|c| c.is_ascii_digit() || c == '.');
            let clean_end = match after.next() {
                None => true,
                Some('.') => !after.next().is_some_and(|c| c.is_ascii_digit()),
                Some(c) => !c.is_ascii_alphanumeric(),
            };
            clean_start && clean_end
        })
        .collect()
}

fn tracked_files(root: &Path) -> Vec<String> {
    let sh = crate::process::shell_in(root).unwrap();
    let listed = crate::process::read(cmd!(sh, "git ls-files -z")).unwrap();
    listed.split('\0').filter(|p| !p.is_empty()).map(str::to_string).collect()
}

#[test]
fn no_file_hard_codes_a_package_version() {
    let root = find_root(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    let workspace = Workspace::load(&root).unwrap();
    let mut offenders = Vec::new();
    for path in tracked_files(&root).into_iter().filter(|path| !may_mention_versions(path)) {
        let Ok(text) = std::fs::read_to_string(root.join(&path)) else { continue };
        for package in &workspace.packages {
            for offset in standalone_occurrences(&text, &package.version) {
                let line = text[..offset].lines().count().max(1);
                offenders.push(format!("{path}:{line}: {} {}", package.distribution, package.version));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "versions belong only in packages/<name>/pyproject.toml; read them from there instead:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn version_finder_sees_standalone_versions_only() {
    assert_eq!(standalone_occurrences("VERSION = \"0.4.0\"", "0.4.0"), [11]);
    assert_eq!(standalone_occurrences("lumen-argus 0.4.0.", "0.4.0"), [12]);
    assert!(standalone_occurrences("10.4.0 and 0.4.01 and 0.4.0rc1 and 0.4.0.1 and v0.4.0x", "0.4.0").is_empty());
    assert!(standalone_occurrences("core>=0.4,<0.5", "0.4.0").is_empty());
}

/// Repository paths named in `text`: tokens that start at a top-level folder of the repository or
/// are one of its top-level files, e.g. `docs/reference/commands.md` or `RELEASE.md`.
fn repository_paths_in(text: &str) -> Vec<String> {
    const FOLDERS: [&str; 6] = ["docs/", "packages/", "scripts/", "xtask/", ".github/", ".ci/"];
    const FILES: [&str; 6] = ["README.md", "RELEASE.md", "Dockerfile", ".python-version", ".dockerignore", "DESIGN.md"];
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || "_-./".contains(c);
    let mut found = Vec::new();
    for (start, _) in text.char_indices() {
        if start > 0 && text[..start].chars().next_back().is_some_and(is_path_char) {
            continue;
        }
        let rest = &text[start..];
        let token: String = rest.chars().take_while(|c| is_path_char(*c)).collect();
        let token = token.trim_end_matches(['.', '/']).to_string();
        let named = FOLDERS.iter().any(|folder| token.starts_with(folder) && token.len() > folder.len())
            || FILES.contains(&token.as_str());
        // A template such as packages/<name>/pyproject.toml or dist/*.sha256 names no one file.
        let templated = rest[token.len()..].starts_with(['<', '*', '{']) || token.ends_with('-');
        if named && !templated {
            found.push(token);
        }
    }
    found
}

#[test]
fn docs_and_messages_point_only_at_files_that_exist() {
    let root = find_root(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    let readers_see = |path: &str| {
        path.ends_with(".md")
            || path.starts_with(".github/")
            || (path.starts_with("xtask/src/") && path.ends_with(".rs") && path != "xtask/src/tidy.rs")
            || (path.starts_with("packages/") && [".py", ".toml", ".spec"].iter().any(|end| path.ends_with(end)))
            || ["Dockerfile", "scripts/install.sh", ".ci/run", "xtask/Cargo.toml", "Cargo.toml"].contains(&path)
    };
    let mut dangling = Vec::new();
    for path in tracked_files(&root).into_iter().filter(|path| readers_see(path)) {
        let Ok(text) = std::fs::read_to_string(root.join(&path)) else { continue };
        // The xtask's own unit tests use made-up trees; only the text before them is read by people.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for named in repository_paths_in(text) {
            if !root.join(&named).exists() {
                dangling.push(format!("{path}: {named}"));
            }
        }
        if cites_the_design_document(text) {
            dangling.push(format!("{path}: cites DESIGN, a document this repository does not have"));
        }
    }
    // The integration tests name files their runs create, so only their citations are checked.
    for path in tracked_files(&root).into_iter().filter(|path| path.starts_with("xtask/tests/")) {
        let Ok(text) = std::fs::read_to_string(root.join(&path)) else { continue };
        if cites_the_design_document(&text) {
            dangling.push(format!("{path}: cites DESIGN, a document this repository does not have"));
        }
    }
    assert!(dangling.is_empty(), "text points at files that do not exist:\n{}", dangling.join("\n"));
}

/// The module map a newcomer reads (docs/development/layout.md) names every source module of the
/// xtask and of the packages; a path it names that is gone fails the test above.
#[test]
fn the_layout_page_names_every_module() {
    let root = find_root(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    let page = std::fs::read_to_string(root.join("docs/development/layout.md")).unwrap();
    let named = repository_paths_in(&page);
    let is_module = |path: &str| {
        (path.starts_with("xtask/src/") && path.ends_with(".rs"))
            || (path.starts_with("packages/") && path.ends_with(".py") && !path.contains("/tests/"))
    };
    let missing: Vec<String> =
        tracked_files(&root).into_iter().filter(|path| is_module(path) && !named.contains(path)).collect();
    assert!(missing.is_empty(), "docs/development/layout.md does not name these modules:\n{}", missing.join("\n"));
}

/// The command modules: those `lib.rs` dispatches a parsed command to (`=> sidecar::run(&flags)`).
fn command_modules(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|line| line.trim().split_once(") => ")?.1.strip_suffix("::run(&flags),").map(str::to_string))
        .collect()
}

#[test]
fn command_modules_are_read_from_the_dispatch() {
    let lib = "    match command {\n        Command::Bump(flags) => bump::run(&flags),\n        \
               Command::Targets(flags) => targets_command::run(&flags),\n    }\n";
    assert_eq!(command_modules(lib), ["bump", "targets_command"]);
}

/// The flags are the edge of the crate: a command module reads its flags and hands plain values
/// (a target, a package, a path) to everything else; `flags.rs` imports no command module, only
/// the modules of the types it parses values into. So nothing below a command depends on the
/// command line, and the command line never pulls a command's internals into the parser.
#[test]
fn only_command_modules_use_the_flags() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let crate_source = Crate::read(&source);
    let lib = crate_source.text("lib");
    let commands = command_modules(&lib);
    assert!(commands.len() >= 16 && commands.iter().any(|name| name == "bump"), "{commands:?}");
    let mut offenders = Vec::new();
    // tidy is test code as a whole; lib.rs parses and dispatches (and re-exports none of the flags).
    let checked = crate_source.modules.iter().filter(|module| *module != "lib" && !module.starts_with("tidy"));
    for module in checked {
        let uses = crate_source.imports_of(module);
        if module == "flags" {
            offenders.extend(uses.iter().filter(|used| commands.contains(used)).map(|used| {
                format!("flags.rs imports the command module `{used}`: move the type it parses into a lower module")
            }));
        } else if uses.contains("flags") && !commands.contains(module) {
            offenders.push(format!("{module}.rs uses crate::flags but is not a command module: pass it plain values"));
        }
    }
    if lib.lines().any(|line| line.trim_start().starts_with("pub") && line.contains("use") && line.contains("flags")) {
        offenders.push("lib.rs re-exports from the flags: other modules would reach them around this rule".into());
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

/// The modules import each other in one direction only: no cycle of imports between the crate's
/// modules, through any number of them. A module is its file with its sub-modules (`bench.rs` and
/// `bench/report.rs` are one); a cycle means neither side can be read, tested or moved alone.
#[test]
fn no_module_imports_form_a_cycle() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let crate_source = Crate::read(&source);
    let top = |module: &str| module.split('/').next().unwrap().to_string();
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for module in crate_source.modules.iter().filter(|module| !module.starts_with("tidy")) {
        let used =
            crate_source.imports_of(module).into_iter().map(|used| top(&used)).filter(|used| *used != top(module));
        imports.entry(top(module)).or_default().extend(used);
    }
    let cycles = cycles_of(&imports);
    assert!(
        cycles.is_empty(),
        "these modules import each other (move what both need into a lower module):\n{}",
        cycles.iter().map(|cycle| cycle.join(" -> ")).collect::<Vec<_>>().join("\n")
    );
}

/// Modules are reached only by their paths: no `#[path]` (a file from elsewhere) and no alias of
/// the crate (`use crate as x`), which the rules above could not follow.
#[test]
fn modules_are_reached_only_by_their_paths() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let crate_source = Crate::read(&source);
    let mut offenders = Vec::new();
    for module in crate_source.modules.iter().filter(|module| !module.starts_with("tidy")) {
        let text = crate_source.text(module);
        let squeezed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for (sign, what) in [("#[path", "a #[path] attribute"), ("crate as ", "an alias of the crate")] {
            if squeezed.contains(sign) {
                offenders.push(format!("{module}.rs has {what}"));
            }
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

/// docs/reference/commands.md has a `## \`cargo xtask NAME ...\`` section for every subcommand and
/// none for a command that does not exist.
#[test]
fn every_command_has_a_section_in_the_reference() {
    let root = find_root(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    let page = std::fs::read_to_string(root.join("docs/reference/commands.md")).unwrap();
    let documented: std::collections::BTreeSet<&str> =
        page.lines().filter_map(|line| line.strip_prefix("## `cargo xtask ")?.split([' ', '`']).next()).collect();
    let commands: std::collections::BTreeSet<String> =
        crate::flags::command().get_subcommands().map(|command| command.get_name().to_string()).collect();
    let missing: Vec<&String> = commands.iter().filter(|name| !documented.contains(name.as_str())).collect();
    let unknown: Vec<&&str> = documented.iter().filter(|name| !commands.contains(**name)).collect();
    assert!(missing.is_empty(), "docs/reference/commands.md has no `## cargo xtask` section for {missing:?}");
    assert!(unknown.is_empty(), "docs/reference/commands.md documents commands that do not exist: {unknown:?}");
}

/// `DESIGN` as a word of its own (`DESIGN §4`, `(DESIGN: ...)`), not inside `CODESIGN_IDENTITY`.
fn cites_the_design_document(text: &str) -> bool {
    let is_word_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices("DESIGN").any(|(start, word)| {
        let before = text[..start].chars().next_back();
        let after = text[start + word.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

#[test]
fn design_citations_are_found_as_words() {
    assert!(cites_the_design_document("refuses (DESIGN §4)."));
    assert!(cites_the_design_document("# baked in (DESIGN: never)"));
    assert!(!cites_the_design_document("CODESIGN_IDENTITY and ENTITLEMENTS_FILE"));
    assert!(!cites_the_design_document("DESIGNER"));
}

#[test]
fn path_finder_reads_paths_and_skips_templates() {
    let text = "see `docs/reference/commands.md`, RELEASE.md and packages/<name>/pyproject.toml; \
                not mydocs/x.md; dist/*.sha256; .github/workflows/binaries.yml.";
    assert_eq!(
        repository_paths_in(text),
        ["docs/reference/commands.md", "RELEASE.md", ".github/workflows/binaries.yml"]
    );
}
