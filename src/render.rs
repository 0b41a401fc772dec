//! Renderers: the plan as a bash script, as JSON, as YAML. (Helm's `--set` encoding, which the
//! plan needs, is model logic: `crate::helm_set`.)
//! Pure functions from the model to text.

use anyhow::Result;
use serde_json::Value;

use crate::plan::{FileSource, Plan, SCRIPT_SECRETS_DIR};

/// Quote one word so that bash gives it back unchanged. Plain words stay bare; others go in
/// single quotes where they can (no backslash doubling, so `\,` reads as Helm wants it);
/// shlex handles the rest.
pub fn quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        return word.to_string();
    }
    let quoted = shlex::try_quote(word);
    if !word.contains('\'') && !word.chars().any(char::is_control) {
        return format!("'{word}'");
    }
    quoted.map(|c| c.into_owned()).unwrap_or_else(|_| {
        // NUL cannot be passed in argv at all; validation rejects it before here.
        format!("'{}'", word.replace('\0', "").replace('\'', r"'\''"))
    })
}

/// One command line for a person to copy: each word quoted.
pub fn command_line(argv: &[&str]) -> String {
    argv.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

/// The plan as a bash script. Long commands break before each flag.
pub fn shell(plan: &Plan, header: &str) -> String {
    let mut s = String::new();
    s.push_str("#!/usr/bin/env bash\n");
    for line in header.lines() {
        s.push_str(&format!("# {line}\n").replace("# \n", "#\n"));
    }
    if !plan.notes.is_empty() {
        s.push_str("#\n# Decisions:\n");
        for n in &plan.notes {
            s.push_str(&format!("#   - {n}\n"));
        }
    }
    s.push_str(&format!(
        "#\n# To undo the Cilium upgrade: helm rollback {r} REVISION --namespace {n}\n# (`helm history {r} --namespace {n}` lists the revisions; `ciliumon setup` records the one to go back to).\n",
        r = plan.cilium_release,
        n = plan.cilium_namespace
    ));
    s.push_str("set -euo pipefail\n");
    let private: Vec<_> = plan
        .files
        .iter()
        .filter(|f| f.path.starts_with(SCRIPT_SECRETS_DIR))
        .collect();
    if !private.is_empty() {
        s.push_str(&format!(
            "\n# A private directory (0700) for what must not be on a command line, removed when the script exits\n\
             {var}=\"$(mktemp -d \"${{TMPDIR:-/tmp}}/ciliumon-secrets.XXXXXXXX\")\"\n\
             trap 'rm -rf -- \"${var}\"' EXIT\n",
            var = &SCRIPT_SECRETS_DIR[1..]
        ));
    }
    for f in private {
        let path = in_private_dir(&f.path.display().to_string());
        match &f.source {
            FileSource::Env { variable } => {
                s.push_str(&format!(
                    "\n# Write the secret in ${variable} to a private file for helm --set-file (never on the command line)\n\
                     (umask 077 && printf '%s' \"${{{variable}:?set {variable} to the Grafana admin password}}\" > {path})\n",
                ));
            }
            FileSource::Values { values } => {
                let name = f
                    .path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("values");
                let text = values_file(values, name).unwrap_or_default();
                let mut end = "CILIUMON_VALUES".to_string();
                while text.lines().any(|l| l == end) {
                    end.push('_');
                }
                s.push_str(&format!(
                    "\n# {name}, for helm -f\n(umask 077 && cat > {path} <<'{end}'\n{}{}{end}\n)\n",
                    text,
                    if text.ends_with('\n') { "" } else { "\n" },
                ));
            }
        }
    }
    for step in &plan.steps {
        s.push_str(&format!("\n# {}\n", step.purpose));
        let mut line = quote(&step.program);
        let mut width = line.len();
        let mut words = step.args.iter().peekable();
        let mut reads_a_file = false;
        while let Some(w) = words.next() {
            // Only a file argument names the private directory: no other word is expanded.
            let q = if reads_a_file {
                in_private_dir(w)
            } else {
                quote(w)
            };
            reads_a_file = matches!(w.as_str(), "-f" | "--values" | "--set-file");
            let breaks = w.starts_with("--") || w == "-f";
            if breaks && width > 0 && (width + q.len() > 60 || w.starts_with("--set")) {
                line.push_str(" \\\n  ");
                width = 2;
            } else {
                line.push(' ');
                width += 1;
            }
            line.push_str(&q);
            width += q.len();
            // Keep a flag and its value on one line.
            if breaks
                && !w.contains('=')
                && let Some(next) = words.next_if(|n| !n.starts_with('-'))
            {
                let qn = if reads_a_file {
                    in_private_dir(next)
                } else {
                    quote(next)
                };
                reads_a_file = false;
                line.push(' ');
                line.push_str(&qn);
                width += qn.len() + 1;
            }
        }
        s.push_str(&line);
        s.push('\n');
    }
    s
}

/// A file argument (`PATH` or `KEY=PATH`) for bash: where `PATH` is in the printed plan's
/// private directory, the directory is the script's variable and the rest is quoted.
fn in_private_dir(word: &str) -> String {
    let (key, path) = match word.find(SCRIPT_SECRETS_DIR) {
        Some(0) => ("", word),
        Some(at) if word[..at].ends_with('=') => word.split_at(at),
        _ => return quote(word),
    };
    match path
        .strip_prefix(SCRIPT_SECRETS_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(rest) => format!(
            "{}\"{SCRIPT_SECRETS_DIR}\"/{}",
            if key.is_empty() {
                String::new()
            } else {
                quote(key)
            },
            quote(rest)
        ),
        None => quote(word),
    }
}

/// The plan as one JSON document.
pub fn json(plan: &Plan) -> Result<String> {
    Ok(serde_json::to_string_pretty(&document(plan))? + "\n")
}

/// The plan as YAML (same document as JSON).
pub fn yaml(plan: &Plan) -> Result<String> {
    crate::yaml::to_string(&document(plan))
}

fn document(plan: &Plan) -> Value {
    serde_json::json!({
        "ciliumVersion": plan.cilium_version,
        "cilium": { "release": plan.cilium_release, "namespace": plan.cilium_namespace },
        "steps": plan.steps.iter().map(|s| serde_json::json!({
            "kind": s.kind,
            "program": s.program,
            "args": s.args,
            "purpose": s.purpose,
        })).collect::<Vec<_>>(),
        "files": plan.files,
        "notes": plan.notes,
        "values": {
            "cilium": plan.cilium_values,
            "prometheusStack": plan.stack_values,
        },
        "dashboards": plan.dashboards,
        "estimate": plan.estimate,
        "estimateSource": plan.estimate_source,
    })
}

/// A values file as written to disk (YAML, with a header comment).
pub fn values_file(values: &Value, what: &str) -> Result<String> {
    Ok(format!(
        "# {what}, written by ciliumon\n{}",
        crate::yaml::to_string(values)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Old Helm across a chart change: the release's current values go with `-f` in the
    /// script's private directory, written by the script itself (a heredoc no value can end).
    #[test]
    fn a_printed_plan_writes_the_current_values_in_its_private_directory() {
        let current =
            json!({"note": "line\nCILIUMON_VALUES\n$(id) 'q'", "kubeProxyReplacement": true});
        let target = crate::plan::Target {
            installed: Some(crate::version::Version::new(1, 17, 6)),
            helm: Some((3, 12)),
            current_values: Some(current.clone()),
            ..Default::default()
        };
        let mut config = crate::config::Config::default();
        config.cilium.version = Some("1.18.4".into());
        let plan = crate::plan::build(&config, &target, &crate::plan::Layout::default()).unwrap();
        let script = shell(&plan, "test");
        assert!(
            script.contains("-f \"$CILIUMON_SECRETS\"/cilium-current-values.yaml"),
            "{script}"
        );
        // Run the part that writes the file, then read it back as helm would.
        let upto = script.find("\n# Register").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let probe = format!(
            "{}\ncat \"$CILIUMON_SECRETS\"/cilium-current-values.yaml\n",
            &script[..upto]
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &probe])
            .env("TMPDIR", tmp.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let back: Value = serde_saphyr::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
        assert_eq!(back, current);
        assert!(
            std::fs::read_dir(tmp.path()).unwrap().next().is_none(),
            "removed on exit"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("--reuse-values"), "--reuse-values");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote(r"x={a\,b}"), r"'x={a\,b}'");
        assert_eq!(command_line(&["helm", "it's"]), r#"helm "it's""#);
    }
}
