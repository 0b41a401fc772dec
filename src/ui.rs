//! Terminal policy, decided once: whether we may prompt, whether to colour, whether progress
//! redraws. Nothing below this module asks whether it is on a terminal.

use std::io::IsTerminal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// stdin and stderr are both terminals: prompts may be shown.
    pub interactive: bool,
    /// stderr is a terminal: spinners may redraw.
    pub live: bool,
    pub color: bool,
}

impl Ui {
    /// Resolve from the environment: `--color`, then a non-empty `NO_COLOR`, then
    /// `CLICOLOR_FORCE`, then whether stderr is a terminal (and `TERM` is not `dumb`).
    pub fn detect(choice: ColorChoice) -> Ui {
        let stderr_tty = std::io::stderr().is_terminal();
        let dumb = std::env::var("TERM").map(|t| t == "dumb").unwrap_or(true);
        let interactive = std::io::stdin().is_terminal() && stderr_tty;
        let env_set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty() && v != "0");
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto if env_set("NO_COLOR") => false,
            ColorChoice::Auto if env_set("CLICOLOR_FORCE") || env_set("FORCE_COLOR") => true,
            ColorChoice::Auto => stderr_tty && !dumb,
        };
        console::set_colors_enabled(color);
        console::set_colors_enabled_stderr(color);
        Ui {
            interactive,
            live: stderr_tty && !dumb,
            color,
        }
    }

    /// For tests and machine output: no prompts, no colour, no redraws.
    pub fn plain() -> Ui {
        Ui {
            interactive: false,
            live: false,
            color: false,
        }
    }
}
