//! Probing a plan, and `--wait`: probe every target, judge, and while something fails and
//! there is time, probe again what failed (see `judge::to_retry`), backing off 50 ms to 200 ms.
//! The prober is a parameter (`probe::run_all` in use), so the loop runs without sockets in
//! tests.

use std::time::{Duration, Instant};

use super::probe::{self, Probe, Request};
use super::targets::Plan;
use super::{Report, Settings, judge};
use crate::catalogue::Component;

/// Requests in flight by default. Through the proxy every byte goes through one local kubectl
/// proxy and the API server. (Pod proxy requests are long-running to the API server, so its
/// in-flight limits do not count them.) More streams at once only queue in their buffers and
/// this machine's TCP memory: on the bench, 1,024 lost most Hubble bodies to stalls where 256
/// passed them all.
pub fn default_concurrency(via_proxy: bool) -> usize {
    if via_proxy { 256 } else { 4096 }
}

/// Probe the plan's targets (again under `--wait` for those that fail) and judge them.
pub fn probe_until(
    plan: &Plan,
    settings: &Settings,
    mut prober: impl FnMut(&[Request], &probe::Settings) -> Vec<Probe>,
) -> Report {
    let start = Instant::now();
    let overall = start
        + settings
            .wait
            .unwrap_or(Duration::ZERO)
            .max(settings.timeout * 2);
    let targets = &plan.targets;
    let mut probes: Vec<Option<Probe>> = vec![None; targets.len()];
    let mut pending: Vec<usize> = (0..targets.len()).collect();
    let mut backoff = Duration::from_millis(50);
    loop {
        // Requests start in this order when not all fit in --concurrency: the operators and
        // agents (small bodies, and what every other answer depends on) before Hubble's large
        // ones, node order within each.
        pending.sort_by_key(|&i| match targets[i].component {
            Component::Operator => 0,
            Component::Agent => 1,
            Component::Hubble => 2,
        });
        let requests: Vec<Request> = pending
            .iter()
            .map(|&i| Request {
                group: Some(targets[i].row),
                ..targets[i].request.clone()
            })
            .collect();
        let probe_settings = probe::Settings {
            timeout: settings.timeout,
            deadline: overall,
            concurrency: settings
                .concurrency
                .unwrap_or(default_concurrency(plan.ctx.via_proxy)),
        };
        for (&i, p) in pending.iter().zip(prober(&requests, &probe_settings)) {
            probes[i] = Some(p);
        }
        let report = judge::assemble(plan, &probes);
        let now = Instant::now();
        if report.passed || settings.wait.is_none() || now >= overall {
            return report;
        }
        pending = judge::to_retry(plan, &report);
        if pending.is_empty() {
            return report;
        }
        std::thread::sleep(backoff.min(overall - now));
        backoff = (backoff * 3 / 2).min(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::super::examples::{self, AGENT, HUBBLE_BUSY, OPERATOR, ok, probe};
    use super::super::probe::Outcome;
    use super::super::{Ports, Source};
    use super::*;

    fn settings(wait: Option<Duration>) -> Settings {
        Settings {
            source: Source::Nodes(Vec::new()),
            ports: Ports::default(),
            expected: None,
            strict: false,
            wait,
            timeout: Duration::from_millis(100),
            concurrency: None,
            namespace: "kube-system".into(),
            kube: Default::default(),
            from_prometheus: false,
        }
    }

    /// Hubble refuses on the first round and answers on the second.
    fn flaky() -> impl FnMut(&[Request], &probe::Settings) -> Vec<Probe> {
        let mut round = 0;
        move |requests: &[Request], s: &probe::Settings| {
            round += 1;
            assert_eq!(s.concurrency, 4096);
            requests
                .iter()
                .map(|r| match r.url.rsplit(':').next().unwrap() {
                    "9962/metrics" => ok(AGENT),
                    "9963/metrics" => ok(OPERATOR),
                    _ if round == 1 => probe(Outcome::Refused),
                    _ => ok(HUBBLE_BUSY),
                })
                .collect()
        }
    }

    #[test]
    fn without_wait_one_round() {
        let plan = examples::plan(examples::context(None), 1);
        let r = probe_until(&plan, &settings(None), flaky());
        assert!(!r.passed);
    }

    #[test]
    fn wait_asks_again_only_what_failed() {
        let plan = examples::plan(examples::context(None), 1);
        let mut asked = Vec::new();
        let mut inner = flaky();
        let r = probe_until(
            &plan,
            &settings(Some(Duration::from_secs(5))),
            |reqs: &[Request], s: &probe::Settings| {
                asked.push(reqs.iter().map(|r| r.url.clone()).collect::<Vec<_>>());
                inner(reqs, s)
            },
        );
        assert!(r.passed);
        assert_eq!(asked.len(), 2);
        // Operators first, then agents, then Hubble; the second round only Hubble.
        assert_eq!(
            asked[0],
            [
                "http://10.0.0.1:9963/metrics",
                "http://10.0.0.1:9962/metrics",
                "http://10.0.0.1:9965/metrics"
            ]
        );
        assert_eq!(asked[1], ["http://10.0.0.1:9965/metrics"]);
    }
}
