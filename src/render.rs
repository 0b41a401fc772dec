//! Renderers: the plan as a bash script, as JSON, as YAML. (Helm's `--set` encoding, which the
//! plan needs, is model logic: `crate::helm_set`.)
//! Pure functions from the model to text.

use anyhow::Result;
use serde_json::Value;

use crate::plan::{FileSource, Plan};

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
    for f in &plan.files {
        match &f.source {
            FileSource::Env { variable } => {
                let path = f.path.display().to_string();
                let dir = f
                    .path
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| ".".into());
                s.push_str(&format!(
                    "\n# Write the secret in ${variable} to a private file for helm --set-file (never on the command line)\n\
                     install -d -m 700 {}\n\
                     (umask 077 && printf '%s' \"${{{variable}:?set {variable} to the Grafana admin password}}\" > {})\n",
                    quote(&dir),
                    quote(&path)
                ));
            }
            FileSource::Values { .. } => {}
        }
    }
    for step in &plan.steps {
        s.push_str(&format!("\n# {}\n", step.purpose));
        let mut line = quote(&step.program);
        let mut width = line.len();
        let mut words = step.args.iter().peekable();
        while let Some(w) = words.next() {
            let q = quote(w);
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
                let qn = quote(next);
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

    #[test]
    fn quoting() {
        assert_eq!(quote("--reuse-values"), "--reuse-values");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote(r"x={a\,b}"), r"'x={a\,b}'");
        assert_eq!(command_line(&["helm", "it's"]), r#"helm "it's""#);
    }
}
