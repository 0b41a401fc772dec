//! `ciliumon plan`.

use crate::cli::{GlobalArgs, PlanArgs};
use crate::exit::Code;

pub fn run(_global: &GlobalArgs, _args: &PlanArgs) -> anyhow::Result<Code> {
    anyhow::bail!("ciliumon plan is not built yet")
}
