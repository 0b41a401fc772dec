//! The output policy, decided once at startup: whether we may prompt, whether to colour (stdout
//! and stderr apart), whether progress redraws, and whether stdout carries a document for a
//! program (`-o json`). Commands receive the [`Printer`] and print through it; nothing outside
//! this module asks whether it is on a terminal.
//!
//! Printing never panics on a closed pipe: [`Printer::out`] returns the write error (a closed
//! stdout is then not a failure, see `exit::is_broken_pipe`); messages on stderr ignore theirs.

use std::io::{self, IsTerminal, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Printer {
    interactive: bool,
    live: bool,
    color: bool,
    stdout_color: bool,
    machine: bool,
}

impl Printer {
    /// Resolve from the environment. Colour: `--color`, then a non-empty `NO_COLOR`, then
    /// `CLICOLOR_FORCE`/`FORCE_COLOR`, then whether stderr is a terminal (and `TERM` is not
    /// `dumb`); stdout is coloured on `auto` only when it is a terminal too, and never when it
    /// carries a document. `machine`: the command was asked for `-o json` (or yaml).
    pub fn detect(choice: ColorChoice, machine: bool) -> Printer {
        let stderr_tty = io::stderr().is_terminal();
        let stdout_tty = io::stdout().is_terminal();
        let dumb = std::env::var("TERM").map(|t| t == "dumb").unwrap_or(true);
        let interactive = io::stdin().is_terminal() && stderr_tty;
        let env_set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty() && v != "0");
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto if env_set("NO_COLOR") => false,
            ColorChoice::Auto if env_set("CLICOLOR_FORCE") || env_set("FORCE_COLOR") => true,
            ColorChoice::Auto => stderr_tty && !dumb,
        };
        let stdout_color = !machine
            && match choice {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => color && stdout_tty,
            };
        console::set_colors_enabled(color);
        console::set_colors_enabled_stderr(color);
        Printer {
            interactive,
            live: stderr_tty && !dumb,
            color,
            stdout_color,
            machine,
        }
    }

    /// For tests and machine output: no prompts, no colour, no redraws.
    pub fn plain() -> Printer {
        Printer {
            interactive: false,
            live: false,
            color: false,
            stdout_color: false,
            machine: false,
        }
    }

    /// This printer with stdout for a program (`-o json`).
    pub fn for_machine(self) -> Printer {
        Printer {
            machine: true,
            stdout_color: false,
            ..self
        }
    }

    /// stdin and stderr are both terminals: questions may be asked (they render on stderr).
    pub fn interactive(&self) -> bool {
        self.interactive
    }

    /// stderr is a terminal that redraws: spinners may be shown.
    pub fn live(&self) -> bool {
        self.live
    }

    /// Colour on stderr (messages, progress, questions).
    pub fn color(&self) -> bool {
        self.color
    }

    /// Colour in what is printed on stdout (a text report).
    pub fn stdout_color(&self) -> bool {
        self.stdout_color
    }

    /// stdout carries one document for a program (`-o json`).
    pub fn machine(&self) -> bool {
        self.machine
    }

    /// Write `text` to stdout as is and flush. The error, a closed pipe included, is the
    /// caller's.
    pub fn out(&self, text: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()
    }

    /// Write `text` and a newline to stderr. A closed stderr is ignored.
    pub fn say(&self, text: &str) {
        let mut err = io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.write_all(b"\n");
    }

    /// Write `text` to stderr as is. A closed stderr is ignored.
    pub fn say_text(&self, text: &str) {
        let _ = io::stderr().lock().write_all(text.as_bytes());
    }

    /// An error, once, with its hint: `error: ...` in red on stderr.
    pub fn error(&self, message: &str, hint: Option<&str>) {
        let red = console::Style::new().red().bold().for_stderr();
        self.say(&format!("{} {message}", red.apply_to("error:")));
        if let Some(hint) = hint {
            self.say(&format!("  hint: {hint}"));
        }
    }
}

/// Give the cursor back after a question was cut short (Ctrl-C): dialoguer hides it while a
/// question is up. Does nothing when stderr is not a terminal.
pub fn restore_cursor() {
    let _ = console::Term::stderr().show_cursor();
}
