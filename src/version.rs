//! Cilium release versions, as ciliumon compares them.

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, bail};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

    fn from_str(s: &str) -> Result<Self> {
        let raw = s.trim();
        let body = raw.strip_prefix('v').unwrap_or(raw);
        let (core, pre) = match body.split_once(['-', '+']) {
            Some((core, pre)) => (core, Some(pre.to_string())),
            None => (body, None),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            bail!(
                "invalid Cilium version '{s}': expected MAJOR.MINOR or MAJOR.MINOR.PATCH, e.g. 1.18.4"
            );
        }
        let num = |p: &str| -> Result<u32> {
            if !p.bytes().all(|b| b.is_ascii_digit()) {
                bail!("invalid Cilium version '{s}': '{p}' is not a number");
            }
            p.parse::<u32>()
                .map_err(|_| anyhow::anyhow!("invalid Cilium version '{s}': '{p}' is too large"))
        };
        Ok(Version {
            major: num(parts[0])?,
            minor: num(parts[1])?,
            patch: if parts.len() == 3 { num(parts[2])? } else { 0 },
            pre,
        })
    }
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

/// A half-open range of minor release lines, `[since, until)`. `until: None` means "still there".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since {
    pub since: (u32, u32),
    pub until: Option<(u32, u32)>,
}

impl Since {
    pub const ALWAYS: Since = Since {
        since: (1, 0),
        until: None,
    };

    pub const fn from(major: u32, minor: u32) -> Self {
        Since {
            since: (major, minor),
            until: None,
        }
    }

    pub const fn until(major: u32, minor: u32) -> Self {
        Since {
            since: (1, 0),
            until: Some((major, minor)),
        }
    }

    pub fn contains(&self, v: &Version) -> bool {
        let line = v.minor_line();
        line >= self.since && self.until.is_none_or(|u| line < u)
    }

    /// "since 1.20", "until 1.19", for error messages.
    pub fn describe(&self) -> String {
        match (self.since, self.until) {
            ((1, 0), None) => "all versions".into(),
            ((1, 0), Some((a, b))) => format!("Cilium before {a}.{b}"),
            ((a, b), None) => format!("Cilium {a}.{b} and later"),
            ((a, b), Some((c, d))) => format!("Cilium {a}.{b} to before {c}.{d}"),
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
        for bad in ["", "1", "one.two", "1.x.3", "1..3", "1.2.3.4", "latest"] {
            let err = bad.parse::<Version>().unwrap_err().to_string();
            assert!(err.contains("invalid Cilium version"), "{bad}: {err}");
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
    }
}
