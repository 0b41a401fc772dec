//! The check from settings to report: read (the cluster, or this host's sockets), plan the
//! probes, probe with retries, judge. Rendering is the caller's (`render`).

use anyhow::{Context as _, Result};

use super::{Report, Settings, Source, judge, probe, proc_net, snapshot, targets, wait};
use crate::catalogue::Component;

/// Run the check `settings` describe.
pub fn report(settings: &Settings) -> Result<Report> {
    settings.validate()?;
    match &settings.source {
        Source::Local => {
            let wanted: Vec<u16> = Component::ALL
                .iter()
                .map(|c| settings.ports.get(*c))
                .collect();
            let listeners =
                proc_net::listening_on(&wanted).context("reading this host's listening sockets")?;
            let plan = targets::for_local(settings, &listeners, &hostname())?;
            let mut report = wait::probe_until(&plan, settings, probe::run_all);
            let now = proc_net::listening_on(&wanted).unwrap_or(listeners);
            judge::annotate_local(&mut report, settings.ports, &now);
            Ok(report)
        }
        Source::Nodes(nodes) => {
            let plan = targets::for_nodes(settings, nodes)?;
            Ok(wait::probe_until(&plan, settings, probe::run_all))
        }
        Source::Cluster { .. } => {
            let (snap, proxy) = snapshot::read(settings)?;
            let plan = targets::for_cluster(&snap, settings)?;
            let report = wait::probe_until(&plan, settings, probe::run_all);
            drop(proxy);
            Ok(report)
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
