//! The `smoke` comparison: `cargo xtask smoke` of both sidecars against a plain workflow's script
//! that starts each binary, polls it with `curl` and `sleep 1`, and checks its build_id.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::comparison::Comparison;
use super::measure::{BenchContext, Invocation, rotate_with_fresh_baselines};
use super::report::{Metric, metric};
use crate::failure::refuse;

/// A plain workflow's smoke test of one binary after another: start it on fixed ports, poll with
/// `curl` and `sleep 1` until it answers, compare its build_id with `sha256sum` of the file, kill it.
/// Arguments: agent binary, proxy binary, agent port, proxy port, proxy dashboard port.
const SMOKE_WITH_CURL: &str = r#"set -eu
check() {
  binary=$1; api_port=$2; shift 2
  "$binary" "$@" >/dev/null 2>&1 &
  pid=$!
  tries=0
  until body=$(curl -fsS "http://127.0.0.1:$api_port/api/v1/build" 2>/dev/null); do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then kill "$pid"; echo "$binary did not answer"; exit 1; fi
    sleep 1
  done
  expected="sha256:$(sha256sum "$binary" | cut -d ' ' -f 1)"
  kill "$pid"
  wait "$pid" || true
  case "$body" in
    *"$expected"*) echo "$binary: build_id matches" ;;
    *) echo "$binary: build_id does not match $expected: $body"; exit 1 ;;
  esac
}
check "$1" "$3" relay --host 127.0.0.1 --port "$3"
check "$2" "$5" serve --host 127.0.0.1 --port "$4" --dashboard-port "$5"
"#;

/// Three free loopback ports, held together while chosen so that they differ.
fn free_ports() -> anyhow::Result<[u16; 3]> {
    let listeners = [
        std::net::TcpListener::bind("127.0.0.1:0")?,
        std::net::TcpListener::bind("127.0.0.1:0")?,
        std::net::TcpListener::bind("127.0.0.1:0")?,
    ];
    let mut ports = [0u16; 3];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener.local_addr()?.port();
    }
    Ok(ports)
}

/// `smoke`: `cargo xtask smoke` of both sidecars vs the curl script above.
pub fn bench_smoke(context: &BenchContext<'_>) -> anyhow::Result<Metric> {
    let sidecars: BTreeMap<String, PathBuf> = context.host_sidecar_paths()?.into_iter().collect();
    let (Some(agent), Some(proxy)) = (sidecars.get("lumen-argus-agent"), sidecars.get("lumen-argus")) else {
        return Err(refuse(
            "the smoke baseline knows the lumen-argus-agent and lumen-argus sidecars, and one is not declared",
            "leave smoke out with --only, or teach SMOKE_WITH_CURL in xtask/src/bench/smoke.rs the new sidecar",
        ));
    };
    let ours = context.xtask_invocation(&["smoke"]);
    // Ports are chosen anew for every run (after a warm-up, then the runs), like a workflow's fixed ones.
    let mut baselines = Vec::new();
    for _ in 0..=context.plan.runs {
        let [agent_port, proxy_port, dashboard_port] = free_ports()?;
        baselines.push(Invocation::shell(SMOKE_WITH_CURL, &context.workspace.root).arg(agent).arg(proxy).args([
            agent_port.to_string(),
            proxy_port.to_string(),
            dashboard_port.to_string(),
        ]));
    }
    // The rotation runs one baseline invocation; give each run its own ports by rotating the list.
    let samples = rotate_with_fresh_baselines(context, "smoke", ("xtask-smoke", ours), ("curl-sleep-1", baselines))?;
    let label = "start + curl/sleep 1 poll + sha256sum + kill, one binary after the other";
    Ok(metric(Comparison::Smoke, samples.0, samples.1, label))
}
