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
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            crate::escape::print_clap_error(&e);
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    return Code::Ok.into();
                }
                _ => Code::BadInput,
            };
            if asks_for_json(&args) {
                let message = e.render().to_string();
                let message = message.trim().trim_start_matches("error: ");
                let first = message.lines().next().unwrap_or_default();
                // clap's tips are the hint; the usage lines are for a person on stderr.
                let hint = message
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("tip: "))
                    .collect::<Vec<_>>()
                    .join("; ");
                let hint = (!hint.is_empty()).then_some(hint);
                let mut extra = serde_json::Map::new();
                if subcommand(&args).as_deref() == Some("setup") {
                    // Setup's documents always say what ran: nothing.
                    extra.insert("steps".into(), serde_json::json!([]));
                }
                let _ = Printer::plain().out(&error_document(code, first, hint.as_deref(), extra));
            }
            return code.into();
        }
    };
    let printer = Printer::detect(cli.global.color, machine_output(&cli.command));
    if printer.machine() {
        // Ctrl-C before a command has its own document (preflight, a question) still gives one.
        crate::run::interrupt::on_exit(
            crate::run::interrupt::NOTHING_CHANGED,
            Some(error_document(
                Code::Interrupted,
                crate::run::interrupt::NOTHING_CHANGED,
                None,
                serde_json::Map::new(),
            )),
        );
    }
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
        // `plan | head`: the reader had what it wanted.
        Err(e) if exit::is_broken_pipe(&e) => Code::Ok.into(),
        Err(e) => fail(printer, &e, serde_json::Map::new()).into(),
    }
}

/// A command that stopped with an error: the error once on stderr with its hint, and with
/// `-o json` the one document on stdout (the error, the hint, the exit code, and `extra`:
/// what the command did before it stopped). The exit code.
pub fn fail(
    printer: Printer,
    err: &anyhow::Error,
    extra: serde_json::Map<String, serde_json::Value>,
) -> Code {
    let (code, hint) = exit::classify(err);
    let message = format!("{err:#}");
    // SpecError prints its own hint inside Display.
    let inline = hint.as_ref().is_some_and(|h| message.contains(h.as_str()));
    printer.error(&message, hint.as_deref().filter(|_| !inline));
    if printer.machine() {
        // The document keeps the hint apart, as it does for every other error.
        let error = match &hint {
            Some(h) if inline => message.replace(&format!("\n  hint: {h}"), ""),
            _ => message.clone(),
        };
        printer.report(&error_document(code, &error, hint.as_deref(), extra));
    }
    code
}

/// The one JSON document of a failure: `status` (bad-input, preflight-failed, failed,
/// interrupted), `exitCode`, `error`, `hint` when there is one, then `extra`.
pub fn error_document(
    code: Code,
    message: &str,
    hint: Option<&str>,
    extra: serde_json::Map<String, serde_json::Value>,
) -> String {
    let status = match code {
        Code::Ok => "done",
        Code::Failed => "failed",
        Code::BadInput => "bad-input",
        Code::Preflight => "preflight-failed",
        Code::Interrupted => "interrupted",
    };
    let mut doc = serde_json::Map::new();
    doc.insert("status".into(), status.into());
    doc.insert("exitCode".into(), (code as u8).into());
    doc.insert("error".into(), message.into());
    if let Some(h) = hint {
        doc.insert("hint".into(), h.into());
    }
    doc.extend(extra);
    serde_json::to_string_pretty(&serde_json::Value::Object(doc)).unwrap_or_default() + "\n"
}

/// The subcommand a command line names: its first word that is neither a flag nor the value
/// of a global flag.
fn subcommand(args: &[OsString]) -> Option<String> {
    let mut words = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(w) = words.next() {
        match w.as_ref() {
            "--kube-context" | "-n" | "--namespace" | "--kubeconfig" | "--color" => {
                words.next();
            }
            w if w.starts_with('-') => {}
            w => return Some(w.to_string()),
        }
    }
    None
}

/// Whether a command line that clap refused asked for `-o json` (or yaml, of which JSON is a
/// part): `-o json`, `-ojson`, `-o=json`, `--output json`, `--output=json`.
fn asks_for_json(args: &[OsString]) -> bool {
    let words: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let machine = |v: &str| matches!(v, "json" | "yaml");
    words.iter().enumerate().skip(1).any(|(i, w)| {
        let next = words.get(i + 1).map(String::as_str).unwrap_or_default();
        match w.as_str() {
            "-o" | "--output" => machine(next),
            _ => w
                .strip_prefix("--output=")
                .or_else(|| w.strip_prefix("-o="))
                .or_else(|| w.strip_prefix("-o"))
                .is_some_and(machine),
        }
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<OsString> {
        s.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn json_is_seen_in_every_spelling() {
        for yes in [
            "ciliumon plan -o json --bogus",
            "ciliumon plan -ojson",
            "ciliumon plan -o=json",
            "ciliumon setup --output json",
            "ciliumon setup --output=json",
            "ciliumon plan -o yaml",
        ] {
            assert!(asks_for_json(&words(yes)), "{yes}");
        }
        for no in [
            "ciliumon plan --bogus",
            "ciliumon plan -o shell",
            "ciliumon plan --metric json",
            "ciliumon plan -o",
        ] {
            assert!(!asks_for_json(&words(no)), "{no}");
        }
    }

    #[test]
    fn the_subcommand_is_found_after_global_flags() {
        assert_eq!(
            subcommand(&words("ciliumon -n setup --kube-context x setup -o json")).as_deref(),
            Some("setup")
        );
        assert_eq!(
            subcommand(&words("ciliumon --color never plan")).as_deref(),
            Some("plan")
        );
        assert_eq!(subcommand(&words("ciliumon --bogus")), None);
    }

    #[test]
    fn an_error_document_has_the_error_its_hint_and_the_code() {
        let mut extra = serde_json::Map::new();
        extra.insert("steps".into(), serde_json::json!([]));
        let doc: serde_json::Value = serde_json::from_str(&error_document(
            Code::Preflight,
            "helm was not found",
            Some("install helm"),
            extra,
        ))
        .unwrap();
        assert_eq!(
            doc,
            serde_json::json!({"status": "preflight-failed", "exitCode": 3,
                "error": "helm was not found", "hint": "install helm", "steps": []})
        );
    }
}
