//! `ciliumon check`: the flags as `check::Settings`, the check, the report on stdout.

use anyhow::Result;

use crate::catalogue;
use crate::check::{self, Expected, Ports, Settings, Source};
use crate::cli::{CheckArgs, GlobalArgs, ReportOutput};
use crate::cluster::Kube;
use crate::exit::{Code, Failure};
use crate::ui::Printer;

pub fn run(global: &GlobalArgs, args: &CheckArgs, printer: Printer) -> Result<Code> {
    // Ctrl-C: stop the kubectl that is running (in its own process group) and exit 130.
    crate::run::install_interrupt_handler();
    let report = check::report(&settings(global, args)?)?;
    let out = match args.output {
        ReportOutput::Json => check::render::json(&report),
        ReportOutput::Text => {
            check::render::text_at(&report, printer.stdout_color(), printer.stdout_width())
        }
    };
    // The check is done: a closed stdout does not turn a failed check into a pass.
    printer.report(&out);
    Ok(if report.passed {
        Code::Ok
    } else {
        Code::Failed
    })
}

/// The flags as settings, bad input first in the order of the flags.
pub fn settings(global: &GlobalArgs, args: &CheckArgs) -> Result<Settings> {
    let mut settings = Settings {
        source: Source::Cluster {
            direct: args.direct,
        },
        ports: Ports {
            agent: args.agent_port,
            operator: args.operator_port,
            hubble: args.hubble_port,
        },
        expected: None,
        strict: args.strict,
        wait: args.wait,
        timeout: args.timeout,
        concurrency: args.concurrency,
        namespace: global
            .namespace
            .clone()
            .unwrap_or_else(|| catalogue::objects::NAMESPACE.into()),
        kube: Kube::from_global(global),
        from_prometheus: args.from_prometheus,
    };
    settings.validate()?;
    settings.expected = expected_from_flags(args)?;
    let mut nodes = Vec::new();
    for n in &args.nodes {
        nodes.push((n.clone(), check::settings::parse_node(n, "--node")?));
    }
    if let Some(file) = &args.nodes_file {
        nodes.extend(check::settings::read_nodes_file(file)?);
    }
    if args.local {
        settings.source = Source::Local;
    } else if !nodes.is_empty() {
        settings.source = Source::Nodes(nodes);
    } else if args.nodes_file.is_some() {
        return Err(Failure::bad_input("the --nodes-file has no addresses")
            .hint("one address a line; # starts a comment")
            .into());
    }
    Ok(settings)
}

fn expected_from_flags(args: &CheckArgs) -> Result<Option<(Vec<Expected>, String)>> {
    let version = catalogue::resolve_version(
        args.cilium_version.as_deref(),
        None,
        catalogue::VersionUse::Facts,
    )?
    .facts;
    if !args.metrics.is_empty() {
        let specs = crate::spec::parse_list(&args.metrics, &version)?;
        return Ok(Some((
            specs.iter().map(Expected::from_spec).collect(),
            crate::check::FROM_METRIC_FLAGS.into(),
        )));
    }
    if let Some(path) = &args.config {
        let specs = crate::config::metrics_from_file(path, &version)?;
        return Ok(Some((
            specs.iter().map(Expected::from_spec).collect(),
            path.display().to_string(),
        )));
    }
    Ok(None)
}
