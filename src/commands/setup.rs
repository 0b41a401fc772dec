//! `ciliumon setup`.

use crate::cli::{GlobalArgs, SetupArgs};
use crate::exit::Code;
use crate::ui::Ui;

pub fn run(_global: &GlobalArgs, _args: &SetupArgs, _ui: Ui) -> anyhow::Result<Code> {
    anyhow::bail!("ciliumon setup is not built yet")
}
