//! The output policy, decided once at startup: whether we may prompt, whether to colour (stdout
//! and stderr apart), whether progress redraws, and whether stdout carries a document for a
//! program (`-o json`). Commands receive the [`Printer`] and print through it; nothing outside
//! this module asks whether it is on a terminal.
//!
//! Printing never panics on a closed pipe: [`Printer::out`] returns the write error (a closed
//! stdout is then not a failure, see `exit::is_broken_pipe`); [`Printer::report`], for what
//! is printed after the work is done, keeps the exit code of the work; messages on stderr
//! ignore their errors.

use std::io::{self, IsTerminal, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// Which of the standard streams are terminals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Terminals {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// The width of stderr's terminal in columns, when it is one.
    pub columns: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Printer {
    interactive: bool,
    live: bool,
    color: bool,
    stdout_color: bool,
    machine: bool,
    /// stdout is a terminal (and carries no document): text there may be wrapped to `columns`.
    stdout_wraps: bool,
    columns: u16,
}

/// What ciliumon says when the user stops it before anything ran: Esc at any question or
/// Ctrl-C outside a step (exit 130).
pub const ABORTED: &str = "Aborted: nothing was changed.";

/// The width assumed when stderr is not a terminal (or reports none).
pub const DEFAULT_COLUMNS: u16 = 80;

impl Printer {
    /// Resolve from the environment and the terminals: see [`Printer::resolve`]. The only
    /// place ciliumon asks whether it is on a terminal.
    pub fn detect(choice: ColorChoice, machine: bool) -> Printer {
        let terminals = Terminals {
            stdin: io::stdin().is_terminal(),
            stdout: io::stdout().is_terminal(),
            stderr: io::stderr().is_terminal(),
            columns: None,
        };
        let terminals = Terminals {
            columns: terminals
                .stderr
                .then(|| console::Term::stderr().size_checked().map(|(_, w)| w))
                .flatten(),
            ..terminals
        };
        let env = |k: &str| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned());
        let printer = Printer::resolve(choice, terminals, env, machine);
        console::set_colors_enabled(printer.color);
        console::set_colors_enabled_stderr(printer.color);
        printer
    }

    /// The policy. Colour: `--color`, then a non-empty `NO_COLOR`, then
    /// `CLICOLOR_FORCE`/`FORCE_COLOR`, then whether stderr is a terminal (and `TERM` is not
    /// `dumb`); stdout is coloured on `auto` only when it is a terminal too, and never when it
    /// carries a document. `machine`: the command was asked for `-o json` (or yaml).
    pub fn resolve(
        choice: ColorChoice,
        tty: Terminals,
        env: impl Fn(&str) -> Option<String>,
        machine: bool,
    ) -> Printer {
        let dumb = env("TERM").is_none_or(|t| t == "dumb");
        let env_set = |k: &str| env(k).is_some_and(|v| !v.is_empty() && v != "0");
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto if env_set("NO_COLOR") => false,
            ColorChoice::Auto if env_set("CLICOLOR_FORCE") || env_set("FORCE_COLOR") => true,
            ColorChoice::Auto => tty.stderr && !dumb,
        };
        let stdout_color = !machine
            && match choice {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => color && tty.stdout,
            };
        Printer {
            interactive: tty.stdin && tty.stderr,
            live: tty.stderr && !dumb,
            color,
            stdout_color,
            machine,
            stdout_wraps: tty.stdout && !machine,
            columns: tty
                .columns
                .filter(|w| *w >= 20)
                .or_else(|| env("COLUMNS").and_then(|c| c.trim().parse().ok()))
                .filter(|w| *w >= 20)
                .unwrap_or(DEFAULT_COLUMNS),
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
            stdout_wraps: false,
            columns: DEFAULT_COLUMNS,
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

    /// The width text on stdout is wrapped to: the terminal's, when stdout is one; none (a line
    /// per item, for grep) in a pipe or a file.
    pub fn stdout_width(&self) -> Option<usize> {
        self.stdout_wraps.then(|| self.columns())
    }

    /// The width text on stderr is wrapped to: the terminal's, when it redraws; none otherwise.
    pub fn stderr_width(&self) -> Option<usize> {
        self.live.then(|| self.columns())
    }

    /// stdout carries one document for a program (`-o json`).
    pub fn machine(&self) -> bool {
        self.machine
    }

    /// The width of stderr's terminal (80 when it is not one): rows that must not wrap (the
    /// wizard's lists, the header) are fitted to it.
    pub fn columns(&self) -> usize {
        usize::from(self.columns)
    }

    /// `text` fitted to the terminal width, cut with `…` (colour codes are not counted).
    pub fn fit(&self, text: &str, margin: usize) -> String {
        fit(text, self.columns().saturating_sub(margin))
    }

    /// `warning: text`, the label in yellow, on stderr.
    pub fn warn(&self, text: &str) {
        self.say(&format!("{} {text}", self.paint(Paint::Warn, "warning:")));
    }

    /// `text` in the colour of `paint` when stderr is coloured; as is otherwise.
    pub fn paint(&self, paint: Paint, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let style = console::Style::new().for_stderr().force_styling(true);
        let style = match paint {
            Paint::Ok => style.green(),
            Paint::Warn => style.yellow(),
            Paint::Fail => style.red().bold(),
            Paint::Added => style.green(),
            Paint::Removed => style.red(),
            Paint::Changed => style.yellow(),
            Paint::Strong => style.bold(),
            Paint::Dim => style.dim(),
        };
        style.apply_to(text).to_string()
    }

    /// Write `text` to stdout as is and flush. The error, a closed pipe included, is the
    /// caller's.
    pub fn out(&self, text: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()
    }

    /// Write a command's report (its text or its one document) to stdout, after the work it
    /// reports on is done: a write error does not change what happened, so it is not returned
    /// and the caller's exit code stands. A closed pipe is the reader's choice and is not
    /// mentioned; any other error is said on stderr.
    pub fn report(&self, text: &str) {
        if let Err(e) = self.out(text)
            && e.kind() != io::ErrorKind::BrokenPipe
        {
            self.say(&format!(
                "note: the report could not be written to stdout: {e}"
            ));
        }
    }

    /// Write `text` and a newline to stderr. A closed stderr is ignored.
    pub fn say(&self, text: &str) {
        // One write, as eprintln! does, so lines from other threads do not interleave.
        let line = format!("{text}\n");
        let _ = io::stderr().lock().write_all(line.as_bytes());
    }

    /// Write `text` to stderr as is. A closed stderr is ignored.
    pub fn say_text(&self, text: &str) {
        let _ = io::stderr().lock().write_all(text.as_bytes());
    }

    /// An error, once, with its hint: `error: ...` in red on stderr.
    /// The error line and its hint, with any control character a user typed made visible.
    pub fn error(&self, message: &str, hint: Option<&str>) {
        let red = console::Style::new().red().bold().for_stderr();
        let message = crate::escape::message(message);
        self.say(&format!("{} {message}", red.apply_to("error:")));
        if let Some(hint) = hint {
            self.say(&format!("  hint: {}", crate::escape::message(hint)));
        }
    }
}

/// What a piece of text means, for its colour: [`Printer::paint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    Ok,
    Warn,
    Fail,
    Added,
    Removed,
    Changed,
    Strong,
    Dim,
}

/// `text` cut to `width` columns with `…` at the end when it is wider (ANSI codes are not
/// counted, wide characters count twice).
pub fn fit(text: &str, width: usize) -> String {
    if console::measure_text_width(text) <= width {
        return text.to_string();
    }
    console::truncate_str(text, width.max(1), "…").into_owned()
}

/// `text` in lines of at most `width` columns, broken at spaces; a word longer than a line is
/// cut, after a comma where it can be. The first line is `first` columns narrower (what is
/// printed before it), the others `rest` (their indent).
pub fn wrap(text: &str, width: usize, first: usize, rest: usize) -> Vec<String> {
    let room = |n: usize| {
        width
            .saturating_sub(if n == 0 { first } else { rest })
            .max(10)
    };
    let columns = console::measure_text_width;
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word;
        loop {
            let sep = usize::from(!line.is_empty());
            let free = room(lines.len()).saturating_sub(columns(&line) + sep);
            if columns(word) <= free {
                if sep == 1 {
                    line.push(' ');
                }
                line.push_str(word);
                break;
            }
            if columns(word) <= room(1) || free == 0 {
                // On a line of its own.
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // Longer than a line: as much as fits here, up to a comma when there is one.
            let end = word
                .char_indices()
                .nth(free)
                .map_or(word.len(), |(at, _)| at);
            let cut = match word[..end].rfind(',') {
                Some(c) => c + 1,
                // No comma: on a fresh line first, then cut anywhere.
                None if sep == 1 => {
                    lines.push(std::mem::take(&mut line));
                    continue;
                }
                None => end,
            };
            if sep == 1 {
                line.push(' ');
            }
            line.push_str(&word[..cut]);
            lines.push(std::mem::take(&mut line));
            word = &word[cut..];
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines.retain(|l| !l.is_empty());
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

/// Give the cursor back after a question was cut short (Ctrl-C): dialoguer hides it while a
/// question is up. Does nothing when stderr is not a terminal.
pub fn restore_cursor() {
    let _ = console::Term::stderr().show_cursor();
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Terminals = Terminals {
        stdin: true,
        stdout: true,
        stderr: true,
        columns: Some(120),
    };

    fn env<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
        |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn a_terminal_gets_prompts_colour_and_redraws() {
        let p = Printer::resolve(ColorChoice::Auto, ALL, env(&[("TERM", "xterm")]), false);
        assert!(p.interactive() && p.live() && p.color() && p.stdout_color());
        assert!(!p.machine());
    }

    #[test]
    fn no_color_force_and_the_flag_decide_in_that_order() {
        let term = ("TERM", "xterm");
        let auto = |vars: &[(&str, &str)], tty| {
            Printer::resolve(ColorChoice::Auto, tty, env(vars), false).color()
        };
        assert!(!auto(&[term, ("NO_COLOR", "1")], ALL));
        assert!(
            auto(&[term, ("NO_COLOR", "")], ALL),
            "an empty NO_COLOR is unset"
        );
        assert!(auto(&[("CLICOLOR_FORCE", "1")], Terminals::default()));
        assert!(!auto(&[("CLICOLOR_FORCE", "0")], Terminals::default()));
        assert!(!auto(&[("TERM", "dumb")], ALL));
        let never = Printer::resolve(ColorChoice::Never, ALL, env(&[term]), false);
        assert!(!never.color() && !never.stdout_color());
        let always = Printer::resolve(
            ColorChoice::Always,
            Terminals::default(),
            env(&[("NO_COLOR", "1")]),
            false,
        );
        assert!(always.color() && always.stdout_color());
    }

    #[test]
    fn prompts_need_stdin_and_stderr_and_stdout_colour_needs_stdout() {
        let term = env(&[("TERM", "xterm")]);
        let piped_in = Terminals {
            stdin: false,
            ..ALL
        };
        assert!(!Printer::resolve(ColorChoice::Auto, piped_in, &term, false).interactive());
        let piped_out = Terminals {
            stdout: false,
            ..ALL
        };
        let p = Printer::resolve(ColorChoice::Auto, piped_out, &term, false);
        assert!(p.interactive() && p.color() && !p.stdout_color());
        let to_file = Terminals {
            stderr: false,
            ..ALL
        };
        let p = Printer::resolve(ColorChoice::Auto, to_file, &term, false);
        assert!(!p.interactive() && !p.live() && !p.color());
    }

    #[test]
    fn machine_output_is_never_coloured_on_stdout() {
        let p = Printer::resolve(ColorChoice::Always, ALL, env(&[]), true);
        assert!(p.machine() && !p.stdout_color());
        assert!(p.color(), "stderr keeps its colour");
        assert!(!Printer::plain().interactive() && !Printer::plain().live());
    }

    #[test]
    fn the_width_is_the_terminals_else_columns_else_80() {
        let term = env(&[("TERM", "xterm"), ("COLUMNS", "100")]);
        assert_eq!(
            Printer::resolve(ColorChoice::Auto, ALL, &term, false).columns(),
            120
        );
        let no_size = Terminals {
            columns: None,
            ..ALL
        };
        assert_eq!(
            Printer::resolve(ColorChoice::Auto, no_size, &term, false).columns(),
            100
        );
        assert_eq!(Printer::plain().columns(), 80);
    }

    #[test]
    fn wrap_breaks_at_spaces_then_after_commas() {
        let text = format!("{} {}", "word ".repeat(40), "x".repeat(200));
        let lines = wrap(&text, 80, 9, 2);
        assert!(lines[0].len() <= 71, "{lines:?}");
        assert!(lines[1..].iter().all(|l| l.len() <= 78), "{lines:?}");
        assert_eq!(lines.join("").replace(' ', ""), text.replace(' ', ""));
        assert_eq!(wrap("short", 80, 0, 2), ["short"]);
        // A long list is cut after its commas, not left on a line of its own.
        let lines = wrap(
            "the costliest choice is labelsContext=source_ip,source_namespace,source_workload,destination_ip on httpV2",
            40,
            9,
            2,
        );
        assert_eq!(
            lines,
            [
                "the costliest choice is",
                "labelsContext=source_ip,",
                "source_namespace,source_workload,",
                "destination_ip on httpV2"
            ]
        );
        // The indent of the other lines counts: 4 columns of it leave 36 at 40.
        let lines = wrap(
            "a b c d e f g h i j k l m n o p q r s t u v w x y z",
            40,
            0,
            4,
        );
        assert!(
            lines[0].len() <= 40 && lines[1..].iter().all(|l| l.len() <= 36),
            "{lines:?}"
        );
        assert_eq!(
            lines.join(" "),
            "a b c d e f g h i j k l m n o p q r s t u v w x y z"
        );
    }

    #[test]
    fn fit_cuts_wide_text_with_an_ellipsis_and_ignores_colour_codes() {
        assert_eq!(fit("short", 10), "short");
        let cut = fit("0123456789abcdef", 10);
        assert_eq!(console::measure_text_width(&cut), 10);
        assert!(cut.ends_with('…'), "{cut}");
        let red = console::style("0123456789")
            .red()
            .force_styling(true)
            .to_string();
        assert_eq!(fit(&red, 10), red, "escape codes take no columns");
    }

    #[test]
    fn paint_colours_only_when_stderr_is_coloured() {
        assert_eq!(Printer::plain().paint(Paint::Warn, "warning:"), "warning:");
        let p = Printer::resolve(ColorChoice::Always, ALL, env(&[]), false);
        let w = p.paint(Paint::Warn, "warning:");
        assert!(w.contains("\u{1b}[33m") && w.contains("warning:"), "{w:?}");
    }
}
