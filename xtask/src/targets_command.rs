//! `cargo xtask targets`: print the table of supported triples (targets.rs) for people, or as
//! JSON for the workflows' build matrices.

use serde_json::{Value, json};

use crate::flags::TargetsFlags;
use crate::targets::SUPPORTED;

/// `cargo xtask targets`: the supported triples and their runners, as a table or as JSON.
pub fn run(flags: &TargetsFlags) -> anyhow::Result<()> {
    if flags.json {
        println!("{}", serde_json::to_string_pretty(&table_json())?);
    } else {
        print!("{}", render_table());
    }
    Ok(())
}

/// One object per triple: `triple`, `runner`, `os`, `arch`, `archive`, `executable_suffix`.
pub fn table_json() -> Value {
    let rows: Vec<Value> = SUPPORTED
        .iter()
        .map(|target| {
            json!({
                "triple": target.triple,
                "runner": target.runner,
                "os": target.os.name(),
                "arch": target.arch.name(),
                "archive": target.archive_format().extension(),
                "executable_suffix": target.executable_suffix(),
            })
        })
        .collect();
    Value::Array(rows)
}

fn render_table() -> String {
    let mut table = format!("{:<28} {:<18} {}\n", "triple", "runner", "archive");
    for target in &SUPPORTED {
        table.push_str(&format!(
            "{:<28} {:<18} {}\n",
            target.triple,
            target.runner,
            target.archive_format().extension()
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::host_for;

    #[test]
    fn the_printed_table_names_every_triple_once_with_its_runner() {
        let rows = table_json();
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), SUPPORTED.len());
        for (row, target) in rows.iter().zip(&SUPPORTED) {
            assert_eq!(row["triple"], target.triple);
            assert_eq!(row["runner"], target.runner);
            // The name the host detection maps from is the one printed.
            assert_eq!(host_for(row["os"].as_str().unwrap(), row["arch"].as_str().unwrap()), Some(target));
        }
        let runners: std::collections::BTreeSet<_> = SUPPORTED.iter().map(|target| target.runner).collect();
        assert_eq!(runners.len(), SUPPORTED.len(), "each triple needs a runner of its own");
    }
}
