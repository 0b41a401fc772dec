//! Helm's `--set` encoding: values as `--set`/`--set-string` flags that Helm (pkg/strvals) parses
//! back into the same tree. Model logic the plan needs; the renderers only print its result.

use serde_json::Value;

/// Whether Helm's `--set` would read `s` back as something other than the string `s`
/// (helm pkg/strvals `typedVal`: true/false/null in any case, `0`, integers not starting with 0).
fn retyped_by_set(s: &str) -> bool {
    s.eq_ignore_ascii_case("true")
        || s.eq_ignore_ascii_case("false")
        || s.eq_ignore_ascii_case("null")
        || s == "0"
        || (!s.is_empty() && !s.starts_with('0') && s.parse::<i64>().is_ok())
}

/// Escape for a `--set` key segment: `.`, `=`, `[`, `,` and `\` are syntax there.
fn escape_key(k: &str) -> String {
    let mut out = String::with_capacity(k.len());
    for c in k.chars() {
        if matches!(c, '.' | '=' | '[' | ',' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escape a scalar value: `,` ends a value, `\` escapes, a leading `{` starts a list.
fn escape_value(v: &str, in_list: bool) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        if c == ',' || c == '\\' || (in_list && c == '}') || (i == 0 && c == '{') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Flatten values into `--set`/`--set-string` flags that Helm parses back into the same tree.
/// Strings Helm would retype (`"true"`, `"123"`) go with `--set-string`. Empty maps are skipped
/// (merging them changes nothing); empty lists and lists of maps, which `--set` cannot write,
/// go with `--set-json` (Helm 3.10+, helm/helm#10693): `hubble.metrics.enabled=[]` clears a
/// static list that `--reuse-values` would otherwise keep, and the dynamic metrics `content` is
/// a list of maps.
pub fn set_flags(values: &Value) -> Vec<String> {
    let mut out = Vec::new();
    flatten(values, &mut Vec::new(), &mut out);
    out
}

fn flatten(v: &Value, path: &mut Vec<String>, out: &mut Vec<String>) {
    let key = || {
        path.iter()
            .map(|p| escape_key(p))
            .collect::<Vec<_>>()
            .join(".")
    };
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                path.push(k.clone());
                flatten(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) if items.is_empty() || items.iter().any(|i| !i.is_string()) => {
            out.push("--set-json".into());
            out.push(format!("{}={v}", key()));
        }
        Value::Array(items) => {
            let strings: Vec<&str> = items
                .iter()
                .map(|i| i.as_str().expect("--set lists hold strings only"))
                .collect();
            let flag = if strings.iter().any(|s| retyped_by_set(s)) {
                "--set-string"
            } else {
                "--set"
            };
            let body: Vec<String> = strings.iter().map(|s| escape_value(s, true)).collect();
            out.push(flag.into());
            out.push(format!("{}={{{}}}", key(), body.join(",")));
        }
        Value::String(s) => {
            out.push(
                if retyped_by_set(s) {
                    "--set-string"
                } else {
                    "--set"
                }
                .into(),
            );
            out.push(format!("{}={}", key(), escape_value(s, false)));
        }
        Value::Bool(_) | Value::Number(_) => {
            out.push("--set".into());
            out.push(format!("{}={v}", key()));
        }
        Value::Null => {
            out.push("--set".into());
            out.push(format!("{}=null", key()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_typing() {
        let v = json!({"a": {"b": true, "n": 31234, "s": "NodePort", "t": "true", "z": "0", "num": "123", "v": "1.20", "lead": "0755"}});
        let flags = set_flags(&v);
        assert_eq!(
            flags,
            [
                "--set",
                "a.b=true",
                "--set",
                "a.n=31234",
                "--set",
                "a.s=NodePort",
                "--set-string",
                "a.t=true",
                "--set-string",
                "a.z=0",
                "--set-string",
                "a.num=123",
                "--set",
                "a.v=1.20",
                "--set",
                "a.lead=0755"
            ]
        );
    }

    #[test]
    fn set_escapes() {
        let v = json!({"hubble": {"metrics": {"enabled": ["dns", "httpV2:labelsContext=source_ip,destination_ip"]}},
                        "labels": {"app.kubernetes.io/name": "a,b", "x": "{y}"}});
        let flags = set_flags(&v);
        assert_eq!(
            flags[1],
            r"hubble.metrics.enabled={dns,httpV2:labelsContext=source_ip\,destination_ip}"
        );
        assert_eq!(flags[3], r"labels.app\.kubernetes\.io/name=a\,b");
        assert_eq!(flags[5], r"labels.x=\{y}");
    }

    #[test]
    fn json_for_what_set_cannot_write() {
        let v = json!({"hubble": {"metrics": {"enabled": [], "dynamic": {"config": {"content": [
            {"name": "flow", "includeFilters": [{"source_pod": ["a,b/"]}]}]}}}}});
        let flags = set_flags(&v);
        assert_eq!(flags[0], "--set-json");
        assert_eq!(flags[1], "hubble.metrics.enabled=[]");
        assert_eq!(flags[2], "--set-json");
        assert_eq!(
            flags[3],
            r#"hubble.metrics.dynamic.config.content=[{"name":"flow","includeFilters":[{"source_pod":["a,b/"]}]}]"#
        );
    }
}
