//! Cilium release versions, as ciliumon compares them.

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, bail};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::escape::escape;

/// A Cilium release, `MAJOR.MINOR[.PATCH]`. Pre-release suffixes (`-rc.1`, `-pre.0`) are kept
/// for display but compare like the release they lead to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    pub pre: Option<String>,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version {
            major,
            minor,
            patch,
            pre: None,
        }
    }

    /// The minor release line, e.g. `1.18` for `1.18.4`.
    pub fn minor_line(&self) -> (u32, u32) {
        (self.major, self.minor)
    }

    /// True when this version is at least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch))
    }
}

impl FromStr for Version {
    type Err = anyhow::Error;

    /// `[v]MAJOR.MINOR[.PATCH][-PRERELEASE]`, numbers without leading zeros and a pre-release
    /// part in semver's grammar (dot-separated identifiers of `[0-9A-Za-z-]`, numeric ones
    /// without leading zeros; semver.org 2.0.0 §9). Cilium releases carry no build metadata.
    fn from_str(s: &str) -> Result<Self> {
        let core = parse_core(s, "Cilium version")?;
        if core.build.is_some() {
            bail!(
                "invalid Cilium version '{}': Cilium releases have no build metadata ('+...'); give the release, e.g. 1.18.4",
                escape(s)
            );
        }
        Ok(Version {
            major: core.major,
            minor: core.minor,
            patch: core.patch,
            pre: core.pre.map(str::to_string),
        })
    }
}

/// The parts of a semver-like version string, borrowed from it.
///
/// Not the `semver` crate: it takes only `MAJOR.MINOR.PATCH` without a `v`, and ciliumon
/// accepts `1.18` and `v1.16.0` (as helm's Masterminds/semver does for chart versions), so the
/// crate would check only the pre-release and build parts, which are the few lines below (and
/// are covered by the property tests in `proptests.rs`).
struct Core<'a> {
    major: u32,
    minor: u32,
    patch: u32,
    pre: Option<&'a str>,
    build: Option<&'a str>,
    /// Whether the text named a patch release (`1.16.19`), not only a line (`1.16`).
    patch_given: bool,
}

fn parse_core<'a>(s: &'a str, what: &str) -> Result<Core<'a>> {
    let shown = escape(s);
    let raw = s.trim();
    let body = raw.strip_prefix('v').unwrap_or(raw);
    let (body, build) = match body.split_once('+') {
        Some((b, build)) => (b, Some(build)),
        None => (body, None),
    };
    let (core, pre) = match body.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (body, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
        bail!("invalid {what} '{shown}': expected MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. 1.18.4");
    }
    let num = |p: &str| -> Result<u32> {
        if !p.bytes().all(|b| b.is_ascii_digit()) {
            bail!("invalid {what} '{shown}': '{}' is not a number", escape(p));
        }
        if p.len() > 1 && p.starts_with('0') {
            bail!("invalid {what} '{shown}': '{p}' has a leading zero");
        }
        p.parse::<u32>()
            .map_err(|_| anyhow::anyhow!("invalid {what} '{shown}': '{p}' is too large"))
    };
    let identifiers = |part: &str, name: &str, numeric_rule: bool| -> Result<()> {
        for id in part.split('.') {
            if id.is_empty() {
                bail!("invalid {what} '{shown}': empty identifier in the {name} part");
            }
            if let Some(c) = id
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
            {
                bail!(
                    "invalid {what} '{shown}': '{}' in the {name} part; it takes letters, digits, '-' and '.' only (e.g. 1.19.0-rc.1)",
                    escape(&c.to_string())
                );
            }
            if numeric_rule
                && id.len() > 1
                && id.starts_with('0')
                && id.bytes().all(|b| b.is_ascii_digit())
            {
                bail!("invalid {what} '{shown}': numeric identifier '{id}' has a leading zero");
            }
        }
        Ok(())
    };
    if let Some(pre) = pre {
        identifiers(pre, "pre-release", true)?;
    }
    if let Some(build) = build {
        identifiers(build, "build metadata", false)?;
    }
    Ok(Core {
        major: num(parts[0])?,
        minor: num(parts[1])?,
        patch: if parts.len() == 3 { num(parts[2])? } else { 0 },
        pre,
        build,
        patch_given: parts.len() == 3,
    })
}

/// Whether `s` names only a minor line (`1.16`, `v1.16`), not a release: such a version cannot
/// be pinned (`helm --version 1.16` would be 1.16.0, a downgrade for a 1.16.19 cluster).
pub fn is_minor_line(s: &str) -> bool {
    parse_core(s, "version").is_ok_and(|c| !c.patch_given)
}

/// Check a Helm chart version (`--stack-version`, `prometheusStack.version`): semver as Helm
/// reads it, `[v]MAJOR.MINOR[.PATCH][-PRERELEASE][+BUILD]`. An exact version, not a range:
/// ciliumon pins what it installs.
pub fn check_chart_version(s: &str) -> Result<()> {
    // Kept as written for helm: no whitespace around it either.
    if s.trim() != s {
        bail!(
            "invalid chart version '{}': it has spaces around it",
            escape(s)
        );
    }
    parse_core(s, "chart version").map(|_| ())
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(pre) = &self.pre {
            write!(f, "-{pre}")?;
        }
        Ok(())
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A half-open range of releases, `[since, until)`, to the patch: `(1, 14, 3)` is "from
/// 1.14.3". `until: None` means "still there". Pre-releases compare like the release they lead
/// to (`Version`'s order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since {
    pub since: (u32, u32, u32),
    pub until: Option<(u32, u32, u32)>,
}

impl Since {
    pub const ALWAYS: Since = Since {
        since: (1, 0, 0),
        until: None,
    };

    /// From the first release of a minor line on.
    pub const fn from(major: u32, minor: u32) -> Self {
        Since::from_patch(major, minor, 0)
    }

    /// From a patch release on (a fix backported to `major.minor.patch`).
    pub const fn from_patch(major: u32, minor: u32, patch: u32) -> Self {
        Since {
            since: (major, minor, patch),
            until: None,
        }
    }

    /// Before the first release of a minor line.
    pub const fn until(major: u32, minor: u32) -> Self {
        Since {
            since: (1, 0, 0),
            until: Some((major, minor, 0)),
        }
    }

    pub fn contains(&self, v: &Version) -> bool {
        let at = (v.major, v.minor, v.patch);
        at >= self.since && self.until.is_none_or(|u| at < u)
    }

    /// "Cilium 1.20 and later", "Cilium 1.14.3 and later", "Cilium before 1.19", for messages.
    pub fn describe(&self) -> String {
        fn show((a, b, c): (u32, u32, u32)) -> String {
            if c == 0 {
                format!("{a}.{b}")
            } else {
                format!("{a}.{b}.{c}")
            }
        }
        match (self.since, self.until) {
            ((1, 0, 0), None) => "all versions".into(),
            ((1, 0, 0), Some(u)) => format!("Cilium before {}", show(u)),
            (s, None) => format!("Cilium {} and later", show(s)),
            (s, Some(u)) => format!("Cilium {} to before {}", show(s), show(u)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!("1.18.4".parse::<Version>().unwrap(), Version::new(1, 18, 4));
        assert_eq!(
            "v1.16.0".parse::<Version>().unwrap(),
            Version::new(1, 16, 0)
        );
        assert_eq!("1.20".parse::<Version>().unwrap(), Version::new(1, 20, 0));
        let pre: Version = "1.21.0-pre.0".parse().unwrap();
        assert_eq!(pre.pre.as_deref(), Some("pre.0"));
        assert_eq!(pre.to_string(), "1.21.0-pre.0");
    }

    #[test]
    fn rejects_garbage_naming_it() {
        for bad in [
            "",
            "1",
            "one.two",
            "1.x.3",
            "1..3",
            "1.2.3.4",
            "latest",
            "1.18.12-$(id)",
            "1.18.0-",
            "1.18.0-rc..1",
            "1.18.0-rc.01",
            "01.18.0",
            "1.18.0+build",
            "1.18.0-rc\n1",
        ] {
            let err = bad.parse::<Version>().unwrap_err().to_string();
            assert!(err.contains("invalid Cilium version"), "{bad}: {err}");
        }
    }

    #[test]
    fn pre_releases_follow_semver() {
        for ok in [
            "1.19.0-rc.1",
            "1.19.0-pre.0",
            "1.19.0-0.3.7",
            "1.19.0-x-y.z",
            "v1.19.0-beta",
        ] {
            assert!(ok.parse::<Version>().is_ok(), "{ok}");
        }
        let e = "1.18.12-$(id)".parse::<Version>().unwrap_err().to_string();
        assert!(e.contains("'$'") && e.contains("pre-release"), "{e}");
        let e = "1.18.0\u{1b}[2J"
            .parse::<Version>()
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\u{1b}'), "{e}");
    }

    #[test]
    fn minor_lines() {
        assert!(is_minor_line("1.16") && is_minor_line("v1.16"));
        assert!(!is_minor_line("1.16.0") && !is_minor_line("1.19.0-rc.1"));
        assert!(!is_minor_line("banana"));
    }

    #[test]
    fn chart_versions() {
        for ok in [
            "80.4.1",
            "v80.4.1",
            "80.4",
            "80.4.1-rc.1+build.5",
            "1.0.0+20130313144700",
        ] {
            assert!(check_chart_version(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "latest",
            "-1",
            "80",
            "^80.0.0",
            "80.4.1 ",
            "80.4.1+",
            "80.4.1+a..b",
            "80.x",
        ] {
            assert!(check_chart_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges() {
        let v119 = Version::new(1, 19, 6);
        let v120 = Version::new(1, 20, 0);
        assert!(Since::from(1, 20).contains(&v120));
        assert!(!Since::from(1, 20).contains(&v119));
        assert!(Since::until(1, 20).contains(&v119));
        assert!(!Since::until(1, 20).contains(&v120));
        assert!(Since::ALWAYS.contains(&v119));
        let fixed = Since::from_patch(1, 14, 3);
        assert!(!fixed.contains(&Version::new(1, 14, 2)));
        assert!(fixed.contains(&Version::new(1, 14, 3)));
        assert!(fixed.contains(&Version::new(1, 15, 0)));
        assert_eq!(fixed.describe(), "Cilium 1.14.3 and later");
        assert_eq!(Since::from(1, 15).describe(), "Cilium 1.15 and later");
        assert_eq!(Since::until(1, 20).describe(), "Cilium before 1.20");
    }
}
