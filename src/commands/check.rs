//! `ciliumon check`.

use crate::cli::{CheckArgs, GlobalArgs};
use crate::exit::Code;
use crate::ui::Ui;

pub fn run(_global: &GlobalArgs, _args: &CheckArgs, _ui: Ui) -> anyhow::Result<Code> {
    anyhow::bail!("ciliumon check is not built yet")
}
