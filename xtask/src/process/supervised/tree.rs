//! Finding a supervised child's tree members in the process table. Pure parts first, the platform
//! shells after.

/// A process seen in a tree. `start_time` (where the system tells it) tells a process from a
/// later one that reuses its pid, so a signal never reaches a stranger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    pub pid: u32,
    pub start_time: u64,
}

/// One row of the process table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub pid: u32,
    pub parent: u32,
    pub start_time: u64,
    pub marked: bool,
}

/// The members among `rows`: descendants of `root` by parent links, and every marked process
/// with its descendants. The root itself is left out (its caller owns it).
pub fn members_of(root: u32, rows: &[Row]) -> Vec<Member> {
    let mut found: Vec<u32> = rows.iter().filter(|row| row.marked && row.pid != root).map(|row| row.pid).collect();
    let mut frontier: Vec<u32> = std::iter::once(root).chain(found.iter().copied()).collect();
    while let Some(parent) = frontier.pop() {
        for row in rows.iter().filter(|row| row.parent == parent && row.pid != root) {
            if !found.contains(&row.pid) {
                found.push(row.pid);
                frontier.push(row.pid);
            }
        }
    }
    rows.iter()
        .filter(|row| found.contains(&row.pid))
        .map(|row| Member { pid: row.pid, start_time: row.start_time })
        .collect()
}

/// `/proc/<pid>/stat` → (state, parent pid, start time). The command name in parentheses may
/// hold spaces and parentheses itself, so fields are counted after the last `)`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn parse_proc_stat(text: &str) -> Option<(char, u32, u64)> {
    let after_name = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state (field 3), ppid (4), ..., starttime (22).
    let state = fields.first()?.chars().next()?;
    let parent = fields.get(1)?.parse().ok()?;
    let start_time = fields.get(19)?.parse().ok()?;
    Some((state, parent, start_time))
}

/// `ps -A -o pid=,ppid=` → rows (no start time, no mark: `ps` tells neither portably).
#[cfg_attr(not(all(unix, not(target_os = "linux"))), allow(dead_code))]
pub fn parse_ps_output(text: &str) -> Vec<Row> {
    text.lines()
        .filter_map(|line| {
            let mut numbers = line.split_whitespace().map(|field| field.parse::<u32>());
            match (numbers.next(), numbers.next()) {
                (Some(Ok(pid)), Some(Ok(parent))) => Some(Row { pid, parent, start_time: 0, marked: false }),
                _ => None,
            }
        })
        .collect()
}

#[cfg(target_os = "linux")]
fn process_table(mark: &str) -> Vec<Row> {
    let wanted = format!("{}={mark}", super::TREE_MARK_VARIABLE).into_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (state, parent, start_time) = parse_proc_stat(&stat)?;
            if state == 'Z' || state == 'X' {
                return None;
            }
            // Processes of other users are unreadable: they are not ours to stop anyway.
            let environment = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let marked = environment.split(|byte| *byte == 0).any(|entry| entry == wanted.as_slice());
            Some(Row { pid, parent, start_time, marked })
        })
        .collect()
}

#[cfg(all(unix, not(target_os = "linux")))]
fn process_table(_mark: &str) -> Vec<Row> {
    // The runner's own helper, started with std's `Command` like Windows' `taskkill`.
    std::process::Command::new("ps")
        .args(["-A", "-o", "pid=,ppid="])
        .stderr(std::process::Stdio::null())
        .output()
        .map(|output| parse_ps_output(&String::from_utf8_lossy(&output.stdout)))
        .unwrap_or_default()
}

/// Windows: `taskkill /T` on the root covers the tree.
#[cfg(windows)]
fn process_table(_mark: &str) -> Vec<Row> {
    Vec::new()
}

pub fn current_members(root: u32, mark: &str) -> Vec<Member> {
    members_of(root, &process_table(mark))
}

/// Still running (not a zombie) and still the same process.
#[cfg(target_os = "linux")]
pub fn is_alive(member: &Member) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", member.pid))
        .ok()
        .and_then(|stat| parse_proc_stat(&stat))
        .is_some_and(|(state, _, start_time)| state != 'Z' && state != 'X' && start_time == member.start_time)
}

#[cfg(all(unix, not(target_os = "linux")))]
pub fn is_alive(member: &Member) -> bool {
    let Ok(pid) = libc::pid_t::try_from(member.pid) else { return false };
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[cfg(windows)]
pub fn is_alive(_member: &Member) -> bool {
    false
}

#[cfg(unix)]
pub fn signal_member(member: &Member, signal: super::Signal) {
    if !is_alive(member) {
        return;
    }
    let Ok(pid) = libc::pid_t::try_from(member.pid) else { return };
    // SAFETY: kill only sends a signal; a pid that is gone gives ESRCH, which is fine here.
    unsafe {
        libc::kill(pid, super::unix_signal(signal));
    }
}

#[cfg(windows)]
pub fn signal_member(_member: &Member, _signal: super::Signal) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pid: u32, parent: u32, marked: bool) -> Row {
        Row { pid, parent, start_time: u64::from(pid) * 100, marked }
    }

    #[test]
    fn members_are_descendants_and_marked_processes_with_theirs() {
        let rows = [
            row(1, 0, false),
            row(10, 1, true),   // the root
            row(11, 10, true),  // its child
            row(12, 11, true),  // a grandchild
            row(13, 1, true),   // called setsid and was reparented to init
            row(14, 13, false), // cleared its environment, but its parent is a member
            row(15, 12, false),
            row(20, 1, false), // a stranger
            row(21, 20, false),
        ];
        let mut pids: Vec<u32> = members_of(10, &rows).iter().map(|member| member.pid).collect();
        pids.sort();
        assert_eq!(pids, [11, 12, 13, 14, 15]);
        assert_eq!(members_of(10, &rows)[0].start_time, 1100);
        assert!(members_of(20, &[row(20, 1, false)]).is_empty());
    }

    #[test]
    fn proc_stat_fields_are_counted_after_the_command_name() {
        let stat = "4242 (we) (ird) name) S 17 4242 4242 0 -1 4194304 1 0 0 0 0 0 0 0 20 0 1 0 987654 1 2 3";
        assert_eq!(parse_proc_stat(stat), Some(('S', 17, 987654)));
        assert_eq!(parse_proc_stat("7 (zombie) Z 1 7 7 0"), None, "too short: no start time");
        assert_eq!(parse_proc_stat("garbage"), None);
    }

    #[test]
    fn ps_rows() {
        let rows = parse_ps_output("  PID  PPID\n    1     0\n  300     1\nbad line\n  301   300\n");
        assert_eq!(rows.iter().map(|row| (row.pid, row.parent)).collect::<Vec<_>>(), [(1, 0), (300, 1), (301, 300)]);
    }
}
