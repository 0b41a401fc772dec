//! One module per subcommand. Each turns parsed flags into settings and calls the library.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command, PlanOutput, ReportOutput};
use crate::exit::{self, Code};
use crate::ui::Printer;

pub mod check;
pub mod metrics;
pub mod plan;
pub mod setup;

/// Parse, run, print the error once with its hint, and choose the exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            crate::escape::print_clap_error(&e);
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    Code::Ok.into()
                }
                _ => Code::BadInput.into(),
            };
        }
    };
    let printer = Printer::detect(cli.global.color, machine_output(&cli.command));
    let result = match &cli.command {
        Command::Plan(args) => plan::run(&cli.global, args, printer),
        Command::Setup(args) => setup::run(&cli.global, args, printer),
        Command::Check(args) => check::run(&cli.global, args, printer),
        Command::Metrics(args) => metrics::run(args),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "ciliumon", &mut out);
            printer
                .out(&String::from_utf8_lossy(&out))
                .map_err(anyhow::Error::from)
                .map(|_| Code::Ok)
        }
    };
    match result {
        Ok(code) => code.into(),
        Err(e) if exit::is_broken_pipe(&e) => Code::Ok.into(),
        Err(e) => {
            let (code, hint) = exit::classify(&e);
            let message = format!("{e:#}");
            // SpecError prints its own hint inside Display.
            let hint = hint.filter(|h| !message.contains(h.as_str()));
            printer.error(&message, hint.as_deref());
            code.into()
        }
    }
}

/// Whether the command's stdout is a document for a program (`-o json`, `-o yaml`).
fn machine_output(command: &Command) -> bool {
    match command {
        Command::Plan(args) => matches!(args.output, PlanOutput::Json | PlanOutput::Yaml),
        Command::Setup(args) => args.output == ReportOutput::Json,
        Command::Check(args) => args.output == ReportOutput::Json,
        Command::Metrics(args) => args.output == ReportOutput::Json,
        Command::Completions { .. } => false,
    }
}

/// The cluster's size from `--estimate-nodes/-namespaces/-pods/-workloads`: all four or none;
/// some but not all is bad input naming the missing flags.
pub fn sizes_from_flags(
    args: &crate::cli::ConfigArgs,
) -> anyhow::Result<Option<crate::plan::Sizes>> {
    let inv = crate::estimate::Inventory::from_flags(
        args.estimate_nodes,
        args.estimate_namespaces,
        args.estimate_pods,
        args.estimate_workloads,
    )
    .map_err(|e| {
        exit::Failure::bad_input(e).hint(
            "give all four: --estimate-nodes N --estimate-namespaces N --estimate-pods N --estimate-workloads N",
        )
    })?;
    Ok(inv.map(|inventory| crate::plan::Sizes::Known {
        inventory,
        source: "from the --estimate-* flags".into(),
    }))
}
