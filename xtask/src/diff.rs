//! Unified diffs of text files, for `--dry-run` output.

/// A unified diff (`---`/`+++` headers, 3 lines of context) of `old` → `new`; empty when equal.
/// Lines compare with their line ends, so a changed line end or final newline shows; a last line
/// without a newline is followed by `\ No newline at end of file`, as `diff -u` prints it.
pub fn unified(path: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let (a, b): (Vec<&str>, Vec<&str>) = (old.split_inclusive('\n').collect(), new.split_inclusive('\n').collect());
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..].iter().rev().zip(b[prefix..].iter().rev()).take_while(|(x, y)| x == y).count();
    let (middle_a, middle_b) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    // Longest common subsequence over the changed middle only.
    let mut lengths = vec![vec![0u32; middle_b.len() + 1]; middle_a.len() + 1];
    for i in (0..middle_a.len()).rev() {
        for j in (0..middle_b.len()).rev() {
            lengths[i][j] = if middle_a[i] == middle_b[j] {
                lengths[i + 1][j + 1] + 1
            } else {
                lengths[i + 1][j].max(lengths[i][j + 1])
            };
        }
    }
    // Edit script over the whole file: (' ' | '-' | '+', line).
    let mut script: Vec<(char, &str)> = a[..prefix].iter().map(|line| (' ', *line)).collect();
    let (mut i, mut j) = (0, 0);
    while i < middle_a.len() || j < middle_b.len() {
        if i < middle_a.len() && j < middle_b.len() && middle_a[i] == middle_b[j] {
            script.push((' ', middle_a[i]));
            i += 1;
            j += 1;
        } else if i < middle_a.len() && (j == middle_b.len() || lengths[i + 1][j] >= lengths[i][j + 1]) {
            script.push(('-', middle_a[i]));
            i += 1;
        } else {
            script.push(('+', middle_b[j]));
            j += 1;
        }
    }
    script.extend(a[a.len() - suffix..].iter().map(|line| (' ', *line)));

    let mut out = format!("--- a/{path}\n+++ b/{path}\n");
    let changed: Vec<usize> =
        script.iter().enumerate().filter(|(_, (tag, _))| *tag != ' ').map(|(index, _)| index).collect();
    let mut index = 0;
    while index < changed.len() {
        let start = changed[index].saturating_sub(3);
        let mut end = changed[index];
        while index < changed.len() && changed[index] <= end + 7 {
            end = changed[index];
            index += 1;
        }
        let end = (end + 4).min(script.len());
        let hunk = &script[start..end];
        let old_start = script[..start].iter().filter(|(tag, _)| *tag != '+').count() + 1;
        let new_start = script[..start].iter().filter(|(tag, _)| *tag != '-').count() + 1;
        let old_count = hunk.iter().filter(|(tag, _)| *tag != '+').count();
        let new_count = hunk.iter().filter(|(tag, _)| *tag != '-').count();
        out.push_str(&format!("@@ -{old_start},{old_count} +{new_start},{new_count} @@\n"));
        for (tag, line) in hunk {
            let shown = line.strip_suffix('\n').map_or(*line, |line| line.strip_suffix('\r').unwrap_or(line));
            out.push_str(&format!("{tag}{shown}\n"));
            if !line.ends_with('\n') {
                out.push_str("\\ No newline at end of file\n");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_changed_line_with_context() {
        let old = "a\nb\nc\nd\nversion = \"1\"\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\nversion = \"2\"\ne\nf\ng\nh\n";
        assert_eq!(
            unified("p.toml", old, new),
            "--- a/p.toml\n+++ b/p.toml\n@@ -2,7 +2,7 @@\n b\n c\n d\n-version = \"1\"\n+version = \"2\"\n e\n f\n g\n"
        );
    }

    #[test]
    fn equal_texts_have_no_diff_and_far_changes_make_two_hunks() {
        assert_eq!(unified("x", "same\n", "same\n"), "");
        let old: String = (0..30).map(|n| format!("{n}\n")).collect();
        let new: String = (0..30)
            .map(|n| match n {
                2 => "two\n".to_string(),
                27 => "twenty-seven\n".to_string(),
                _ => format!("{n}\n"),
            })
            .collect();
        assert_eq!(unified("x", &old, &new).matches("@@ -").count(), 2);
    }

    #[test]
    fn a_missing_final_newline_and_line_end_changes_show() {
        assert_eq!(
            unified("x", "a\nversion = 1", "a\nversion = 2"),
            "--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n-version = 1\n\\ No newline at end of file\n+version = 2\n\\ No newline at end of file\n"
        );
        assert_eq!(unified("x", "a\r\n", "a\n"), "--- a/x\n+++ b/x\n@@ -1,1 +1,1 @@\n-a\n+a\n");
    }
}
