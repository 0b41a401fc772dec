//! `ciliumon metrics`.

use crate::cli::MetricsArgs;
use crate::exit::Code;

pub fn run(_args: &MetricsArgs) -> anyhow::Result<Code> {
    anyhow::bail!("ciliumon metrics is not built yet")
}
