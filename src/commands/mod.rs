//! One module per subcommand. Each turns parsed flags into settings and calls the library.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::exit::{self, Code};
use crate::ui::Ui;

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
    let ui = Ui::detect(cli.global.color);
    let result = match &cli.command {
        Command::Plan(args) => plan::run(&cli.global, args),
        Command::Setup(args) => setup::run(&cli.global, args, ui),
        Command::Check(args) => check::run(&cli.global, args, ui),
        Command::Metrics(args) => metrics::run(args),
        Command::Completions { shell } => {
            let mut out = std::io::stdout();
            clap_complete::generate(*shell, &mut Cli::command(), "ciliumon", &mut out);
            out.flush().map_err(anyhow::Error::from).map(|_| Code::Ok)
        }
    };
    match result {
        Ok(code) => code.into(),
        Err(e) if exit::is_broken_pipe(&e) => Code::Ok.into(),
        Err(e) => {
            let (code, hint) = exit::classify(&e);
            let red = console::Style::new().red().bold().for_stderr();
            let text = format!("{e:#}");
            eprintln!(
                "{} {}",
                red.apply_to("error:"),
                crate::escape::message(&text)
            );
            if let Some(hint) = hint {
                // SpecError prints its own hint inside Display.
                if !text.contains(&hint) {
                    eprintln!("  hint: {}", crate::escape::message(&hint));
                }
            }
            code.into()
        }
    }
}
