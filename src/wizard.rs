//! The questions `ciliumon setup` asks on a terminal.

use std::path::Path;

use anyhow::Result;

use crate::cluster::Preflight;
use crate::config::Config;

/// Ask; `None` when the user aborted (Esc). Not built yet: the configuration from flags.
pub fn ask(config: Config, _pf: &Preflight, _save: Option<&Path>) -> Result<Option<Config>> {
    Ok(Some(config))
}
