//! Helm values as Helm merges them, and the difference between two sets, for people to read
//! before they confirm.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::ui::Paint;

/// `over` merged onto `base` the way Helm merges `-f` values over the release's values: maps
/// merge key by key, anything else (lists included) replaces, and `null` deletes the key.
pub fn merge(base: &Value, over: &Value) -> Value {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                if v.is_null() {
                    out.remove(k);
                } else {
                    let merged = match out.get(k) {
                        Some(existing) => merge(existing, v),
                        None => strip_nulls(v),
                    };
                    out.insert(k.clone(), merged);
                }
            }
            Value::Object(out)
        }
        (_, o) => strip_nulls(o),
    }
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether merging `over` onto `base` would change nothing.
pub fn is_subset(over: &Value, base: &Value) -> bool {
    merge(base, over) == *base
}

/// One changed leaf, by its dotted path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
}

/// What changes between the current values and the new ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diff {
    pub changed: Vec<Change>,
    pub added: Vec<Change>,
    pub removed: Vec<Change>,
}

impl Diff {
    pub fn between(current: &Value, new: &Value) -> Diff {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        flatten("", current, &mut a);
        flatten("", new, &mut b);
        let find = |list: &[(String, Value)], k: &str| {
            list.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let mut d = Diff::default();
        for (k, v) in &b {
            match find(&a, k) {
                None => d.added.push(Change {
                    key: k.clone(),
                    from: None,
                    to: Some(v.clone()),
                }),
                Some(old) if old != *v => d.changed.push(Change {
                    key: k.clone(),
                    from: Some(old),
                    to: Some(v.clone()),
                }),
                Some(_) => {}
            }
        }
        for (k, v) in &a {
            if find(&b, k).is_none() {
                d.removed.push(Change {
                    key: k.clone(),
                    from: Some(v.clone()),
                    to: None,
                });
            }
        }
        d
    }

    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty() && self.removed.is_empty()
    }

    /// For people: `~ key: old → new`, `+ key: new`, `- key: old`; a list that changes is
    /// shown as the items added (`+`) and removed (`-`), not as two whole lists.
    pub fn to_text(&self) -> String {
        self.to_text_painted(&|_, t| t.to_string())
    }

    /// [`Diff::to_text`] with each line coloured by `paint` (`+` added, `-` removed, `~`
    /// changed).
    pub fn to_text_painted(&self, paint: &dyn Fn(Paint, &str) -> String) -> String {
        let show = |v: &Option<Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
        let mut s = String::new();
        let mut line = |p: Paint, text: String| {
            s.push_str(&paint(p, &text));
            s.push('\n');
        };
        for c in &self.changed {
            match (&c.from, &c.to) {
                (Some(Value::Array(from)), Some(Value::Array(to))) => {
                    line(Paint::Changed, format!("  ~ {}:", c.key));
                    for item in to.iter().filter(|i| !from.contains(i)) {
                        line(Paint::Added, format!("      + {}", item_text(item)));
                    }
                    for item in from.iter().filter(|i| !to.contains(i)) {
                        line(Paint::Removed, format!("      - {}", item_text(item)));
                    }
                    if to.iter().all(|i| from.contains(i)) && from.iter().all(|i| to.contains(i)) {
                        line(
                            Paint::Changed,
                            "      (the same items, in another order)".into(),
                        );
                    }
                }
                _ => line(
                    Paint::Changed,
                    format!("  ~ {}: {} → {}", c.key, show(&c.from), show(&c.to)),
                ),
            }
        }
        for c in &self.added {
            match &c.to {
                Some(Value::Array(items)) if !items.is_empty() => {
                    line(Paint::Added, format!("  + {}:", c.key));
                    for item in items {
                        line(Paint::Added, format!("      + {}", item_text(item)));
                    }
                }
                _ => line(Paint::Added, format!("  + {}: {}", c.key, show(&c.to))),
            }
        }
        for c in &self.removed {
            line(Paint::Removed, format!("  - {}: {}", c.key, show(&c.from)));
        }
        s
    }
}

/// A list item as people read it: a string without its quotes.
fn item_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Leaves by dotted path; lists are leaves (Helm replaces them whole); empty maps are leaves.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Object(_) if prefix.is_empty() => {}
        other => out.push((prefix.to_string(), other.clone())),
    }
}

/// An empty map.
pub fn empty() -> Value {
    Value::Object(Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_like_helm() {
        let base = json!({"a": {"b": 1, "c": [1, 2]}, "keep": "x", "gone": 1});
        let over = json!({"a": {"c": [3], "d": true}, "gone": null});
        assert_eq!(
            merge(&base, &over),
            json!({"a": {"b": 1, "c": [3], "d": true}, "keep": "x"})
        );
    }

    #[test]
    fn subset() {
        let base =
            json!({"hubble": {"enabled": true, "metrics": {"enabled": ["dns", "drop"]}}, "k": 1});
        assert!(is_subset(
            &json!({"hubble": {"metrics": {"enabled": ["dns", "drop"]}}}),
            &base
        ));
        assert!(
            !is_subset(&json!({"hubble": {"metrics": {"enabled": ["dns"]}}}), &base),
            "lists replace"
        );
        assert!(!is_subset(&json!({"prometheus": {"enabled": true}}), &base));
        assert!(is_subset(&json!({}), &base));
    }

    #[test]
    fn diff_reports_changed_added_removed() {
        let current = json!({"hubble": {"metrics": {"enabled": ["dns"]}, "relay": {"enabled": false}}, "old": {"x": 1}});
        let new = json!({"hubble": {"metrics": {"enabled": ["dns", "drop"]}, "relay": {"enabled": false}}, "prometheus": {"enabled": true}});
        let d = Diff::between(&current, &new);
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].key, "hubble.metrics.enabled");
        assert_eq!(d.added[0].key, "prometheus.enabled");
        assert_eq!(d.removed[0].key, "old.x");
        let text = d.to_text();
        assert!(
            text.contains("  ~ hubble.metrics.enabled:\n      + drop\n"),
            "a list change is the items added and removed: {text}"
        );
        assert!(!text.contains("[\"dns\"]"), "{text}");
        assert!(text.contains("+ prometheus.enabled: true"));
        assert!(text.contains("- old.x: 1"));
        assert!(Diff::between(&new, &new).is_empty());
    }

    #[test]
    fn list_changes_show_items_and_lines_are_painted_by_kind() {
        let current = json!({"l": ["dns:query", "drop"], "n": 1});
        let new = json!({"l": ["drop", "tcp", "flow"], "n": 2, "added": ["a"]});
        let d = Diff::between(&current, &new);
        let text = d.to_text_painted(&|p, t| format!("<{p:?}>{t}"));
        assert_eq!(
            text,
            "<Changed>  ~ l:\n<Added>      + tcp\n<Added>      + flow\n<Removed>      - dns:query\n<Changed>  ~ n: 1 → 2\n<Added>  + added:\n<Added>      + a\n"
        );
    }
}
