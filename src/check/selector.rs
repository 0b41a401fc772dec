//! Kubernetes label selectors (`metav1.LabelSelector`) as the Prometheus Operator applies them to
//! ServiceMonitors and namespaces: every `matchLabels` pair and every `matchExpressions`
//! requirement must hold; `{}` selects everything; null selects nothing (the callers decide what
//! null means where the operator gives it another meaning). Pure: a selector and what is known of
//! an object's labels in, a verdict out.

use std::fmt;

use serde_json::Value;

/// A `matchExpressions` operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// A `matchLabels` pair: `key=value`.
    Equals { key: String, value: String },
    /// A `matchExpressions` entry.
    Expr {
        key: String,
        op: Op,
        values: Vec<String>,
    },
}

impl Requirement {
    pub fn key(&self) -> &str {
        match self {
            Requirement::Equals { key, .. } | Requirement::Expr { key, .. } => key,
        }
    }

    /// Whether an object whose label `key` has `value` (None: no such label) meets it.
    pub fn matches(&self, value: Option<&str>) -> bool {
        match self {
            Requirement::Equals { value: want, .. } => value == Some(want.as_str()),
            Requirement::Expr { op, values, .. } => {
                let listed = value.is_some_and(|v| values.iter().any(|w| w == v));
                match op {
                    Op::In => listed,
                    // Kubernetes: an object without the label meets `NotIn`.
                    Op::NotIn => !listed,
                    Op::Exists => value.is_some(),
                    Op::DoesNotExist => value.is_none(),
                }
            }
        }
    }

    /// Why an object with `actual` (the label's value, None: no such label) fails it, as a
    /// clause after the object's name: `lacks the label release=kps`,
    /// ``fails `release In (prom, kps)` (it has release=other)``.
    pub fn explain(&self, actual: Option<&str>) -> String {
        match (self, actual) {
            (Requirement::Equals { .. }, None) => format!("lacks the label {self}"),
            (Requirement::Equals { key, .. }, Some(v)) => format!("has {key}={v}, not {self}"),
            (Requirement::Expr { key, .. }, None) => format!("fails `{self}` (no label {key})"),
            (Requirement::Expr { key, .. }, Some(v)) => {
                format!("fails `{self}` (it has {key}={v})")
            }
        }
    }
}

/// `release=kps`, `release In (prom, kps)`, `team NotIn (a)`, `tier Exists`,
/// `legacy DoesNotExist`.
impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Equals { key, value } => write!(f, "{key}={value}"),
            Requirement::Expr { key, op, values } => match op {
                Op::In => write!(f, "{key} In ({})", values.join(", ")),
                Op::NotIn => write!(f, "{key} NotIn ({})", values.join(", ")),
                Op::Exists => write!(f, "{key} Exists"),
                Op::DoesNotExist => write!(f, "{key} DoesNotExist"),
            },
        }
    }
}

/// A parsed selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// null or absent: selects nothing.
    Null,
    /// Every requirement must hold; none at all (`{}`) selects everything.
    All(Vec<Requirement>),
}

/// Parse a LabelSelector. An error says what Kubernetes would reject (an unknown operator, `In`
/// without values, `Exists` with values, a label value that is not a string).
pub fn parse(v: &Value) -> Result<Selector, String> {
    if v.is_null() {
        return Ok(Selector::Null);
    }
    let Some(obj) = v.as_object() else {
        return Err("it is not an object".into());
    };
    let mut reqs = Vec::new();
    match &obj.get("matchLabels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (key, value) in m {
                let value = value
                    .as_str()
                    .ok_or_else(|| format!("matchLabels.{key} is not a string"))?;
                reqs.push(Requirement::Equals {
                    key: key.clone(),
                    value: value.to_string(),
                });
            }
        }
        Some(_) => return Err("matchLabels is not a map".into()),
    }
    match &obj.get("matchExpressions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(exprs)) => {
            for (i, e) in exprs.iter().enumerate() {
                let key = e["key"]
                    .as_str()
                    .filter(|k| !k.is_empty())
                    .ok_or_else(|| format!("matchExpressions[{i}] has no key"))?;
                let op = match e["operator"].as_str() {
                    Some("In") => Op::In,
                    Some("NotIn") => Op::NotIn,
                    Some("Exists") => Op::Exists,
                    Some("DoesNotExist") => Op::DoesNotExist,
                    Some(other) => {
                        return Err(format!(
                            "matchExpressions[{i}] ({key}) has the operator '{other}'; Kubernetes knows In, NotIn, Exists, DoesNotExist"
                        ));
                    }
                    None => return Err(format!("matchExpressions[{i}] ({key}) has no operator")),
                };
                let values: Vec<String> = match &e["values"] {
                    Value::Null => Vec::new(),
                    Value::Array(a) => a
                        .iter()
                        .map(|x| x.as_str().map(str::to_string))
                        .collect::<Option<_>>()
                        .ok_or_else(|| {
                            format!(
                                "matchExpressions[{i}] ({key}) has a value that is not a string"
                            )
                        })?,
                    _ => {
                        return Err(format!(
                            "matchExpressions[{i}] ({key}): values is not a list"
                        ));
                    }
                };
                match op {
                    Op::In | Op::NotIn if values.is_empty() => {
                        return Err(format!(
                            "matchExpressions[{i}] ({key}): {op:?} needs at least one value"
                        ));
                    }
                    Op::Exists | Op::DoesNotExist if !values.is_empty() => {
                        return Err(format!(
                            "matchExpressions[{i}] ({key}): {op:?} takes no values"
                        ));
                    }
                    _ => {}
                }
                reqs.push(Requirement::Expr {
                    key: key.to_string(),
                    op,
                    values,
                });
            }
        }
        Some(_) => return Err("matchExpressions is not a list".into()),
    }
    Ok(Selector::All(reqs))
}

/// What a selector says about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Selected,
    /// The selector is null.
    Nothing,
    /// These requirements fail, each with the object's value for its key (None: no such label).
    Fails(Vec<(Requirement, Option<String>)>),
    /// None fails, but these concern labels that are not known: no verdict.
    Unknown(Vec<Requirement>),
}

/// Evaluate `selector` on an object with `labels` (a JSON map; null is no labels). `known` says
/// which keys the map is complete for: a requirement on another key can be neither met nor
/// failed. One failing requirement is enough for `Fails` (they are ANDed).
pub fn evaluate(selector: &Selector, labels: &Value, known: impl Fn(&str) -> bool) -> Verdict {
    let Selector::All(reqs) = selector else {
        return Verdict::Nothing;
    };
    let mut fails = Vec::new();
    let mut unknown = Vec::new();
    for r in reqs {
        if !known(r.key()) {
            unknown.push(r.clone());
            continue;
        }
        let value = labels[r.key()].as_str();
        if !r.matches(value) {
            fails.push((r.clone(), value.map(str::to_string)));
        }
    }
    if !fails.is_empty() {
        Verdict::Fails(fails)
    } else if !unknown.is_empty() {
        Verdict::Unknown(unknown)
    } else {
        Verdict::Selected
    }
}

/// The failing requirements as clauses: `lacks the label a=b; fails `c In (d)` (no label c)`.
pub fn explain(fails: &[(Requirement, Option<String>)]) -> String {
    fails
        .iter()
        .map(|(r, v)| r.explain(v.as_deref()))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(v: Value) -> Selector {
        parse(&v).unwrap()
    }

    fn on(s: &Selector, labels: Value) -> Verdict {
        evaluate(s, &labels, |_| true)
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> Selector {
        sel(json!({"matchExpressions": [{"key": key, "operator": op, "values": values}]}))
    }

    #[test]
    fn match_labels_must_all_be_equal() {
        let s = sel(json!({"matchLabels": {"release": "kps", "team": "net"}}));
        assert_eq!(
            on(&s, json!({"release": "kps", "team": "net", "x": "y"})),
            Verdict::Selected
        );
        let Verdict::Fails(f) = on(&s, json!({"release": "other"})) else {
            panic!()
        };
        assert_eq!(
            explain(&f),
            "has release=other, not release=kps; lacks the label team=net"
        );
    }

    #[test]
    fn operator_in() {
        let s = expr("release", "In", &["prom", "kps"]);
        assert_eq!(on(&s, json!({"release": "kps"})), Verdict::Selected);
        assert_eq!(on(&s, json!({"release": "prom"})), Verdict::Selected);
        let Verdict::Fails(f) = on(&s, json!({"release": "other"})) else {
            panic!()
        };
        assert_eq!(
            explain(&f),
            "fails `release In (prom, kps)` (it has release=other)"
        );
        let Verdict::Fails(f) = on(&s, json!({})) else {
            panic!()
        };
        assert_eq!(
            explain(&f),
            "fails `release In (prom, kps)` (no label release)"
        );
    }

    #[test]
    fn operator_not_in_accepts_a_missing_label() {
        let s = expr("env", "NotIn", &["dev", "test"]);
        assert_eq!(on(&s, json!({"env": "prod"})), Verdict::Selected);
        assert_eq!(on(&s, json!({})), Verdict::Selected);
        assert_eq!(on(&s, Value::Null), Verdict::Selected);
        let Verdict::Fails(f) = on(&s, json!({"env": "dev"})) else {
            panic!()
        };
        assert_eq!(
            explain(&f),
            "fails `env NotIn (dev, test)` (it has env=dev)"
        );
    }

    #[test]
    fn operators_exists_and_does_not_exist() {
        let s = expr("monitored", "Exists", &[]);
        assert_eq!(on(&s, json!({"monitored": ""})), Verdict::Selected);
        let Verdict::Fails(f) = on(&s, json!({"other": "x"})) else {
            panic!()
        };
        assert_eq!(explain(&f), "fails `monitored Exists` (no label monitored)");

        let s = expr("legacy", "DoesNotExist", &[]);
        assert_eq!(on(&s, json!({"other": "x"})), Verdict::Selected);
        let Verdict::Fails(f) = on(&s, json!({"legacy": "true"})) else {
            panic!()
        };
        assert_eq!(
            explain(&f),
            "fails `legacy DoesNotExist` (it has legacy=true)"
        );
    }

    #[test]
    fn labels_and_expressions_are_anded_and_an_expression_alone_can_fail() {
        let s = sel(json!({
            "matchLabels": {"app.kubernetes.io/part-of": "cilium"},
            "matchExpressions": [{"key": "release", "operator": "In", "values": ["prom", "kps"]}]
        }));
        let labels = json!({"app.kubernetes.io/part-of": "cilium", "release": "cilium"});
        let Verdict::Fails(f) = on(&s, labels) else {
            panic!()
        };
        assert_eq!(f.len(), 1, "the matchLabels pair holds: {f:?}");
        assert_eq!(f[0].0.to_string(), "release In (prom, kps)");
        assert_eq!(
            on(
                &s,
                json!({"app.kubernetes.io/part-of": "cilium", "release": "prom"})
            ),
            Verdict::Selected
        );
    }

    #[test]
    fn empty_selects_everything_and_null_nothing() {
        assert_eq!(on(&sel(json!({})), json!({})), Verdict::Selected);
        assert_eq!(
            on(
                &sel(json!({"matchLabels": {}, "matchExpressions": []})),
                Value::Null
            ),
            Verdict::Selected
        );
        assert_eq!(sel(Value::Null), Selector::Null);
        assert_eq!(on(&Selector::Null, json!({"a": "b"})), Verdict::Nothing);
    }

    #[test]
    fn unknown_keys_give_no_verdict_unless_a_known_one_fails() {
        let s = sel(json!({
            "matchLabels": {"kubernetes.io/metadata.name": "kube-system"},
            "matchExpressions": [{"key": "monitoring", "operator": "Exists"}]
        }));
        let known = |k: &str| k == "kubernetes.io/metadata.name";
        let Verdict::Unknown(u) = evaluate(
            &s,
            &json!({"kubernetes.io/metadata.name": "kube-system"}),
            known,
        ) else {
            panic!()
        };
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].to_string(), "monitoring Exists");
        let v = evaluate(
            &s,
            &json!({"kubernetes.io/metadata.name": "default"}),
            known,
        );
        assert!(matches!(&v, Verdict::Fails(f) if f.len() == 1), "{v:?}");
    }

    #[test]
    fn invalid_selectors_are_errors_naming_the_fault() {
        let bad = |v: Value| parse(&v).unwrap_err();
        assert!(
            bad(json!({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]}))
                .contains("'Equals'")
        );
        assert!(
            bad(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}))
                .contains("In needs at least one value")
        );
        assert!(
            bad(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["b"]}]}))
                .contains("takes no values")
        );
        assert!(bad(json!({"matchLabels": {"a": 1}})).contains("matchLabels.a"));
        assert!(bad(json!("release=kps")).contains("not an object"));
    }
}
