//! Templates, what a message says: prompt names and spoken values. The
//! names are checked against `[prompts]` once all sections are read.

use super::Parser;
use crate::scenario::diag::closest;
use crate::scenario::doc::{self, Table};
use crate::scenario::*;
use toml::Spanned;
use toml::de::DeValue;

impl Parser<'_> {
    pub(super) fn required_template(&mut self, t: &Table, key: &str) -> Template {
        if t.get(key).is_none() {
            self.d
                .error(t.span.clone(), &t.path, format!("`{key}` is missing"))
                .hint("what to say, e.g. say = [\"you-are\", { say = \"ordinal\", value = \"position\" }, \"in-queue\"]");
        }
        self.template_at(t, key).unwrap_or_default()
    }

    /// A template: a prompt name, or a list of prompt names and spoken
    /// values (`{ say = "ordinal", value = "position" }`).
    pub(super) fn template_at(&mut self, t: &Table, key: &str) -> Option<Template> {
        let v = t.get(key)?;
        let path = t.key_path(key);
        let items: Vec<&Spanned<DeValue<'_>>> = match v.get_ref() {
            DeValue::String(_) => vec![v],
            DeValue::Array(a) => a.iter().collect(),
            other => {
                doc::type_error(&mut self.d, v.span(), &path, "a list of prompts", other);
                return None;
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let ipath = format!("{path}[{i}]");
            match item.get_ref() {
                DeValue::String(name) => {
                    self.used_prompts.push((name.to_string(), item.span(), ipath));
                    out.push(Part::Prompt(name.to_string()));
                }
                DeValue::Table(_) => {
                    if let Some(p) = self.value_part(item, &ipath) {
                        out.push(p);
                    }
                }
                other => doc::type_error(
                    &mut self.d,
                    item.span(),
                    &ipath,
                    "a prompt name or { say, value }",
                    other,
                ),
            }
        }
        Some(out)
    }

    fn value_part(&mut self, v: &Spanned<DeValue<'_>>, path: &str) -> Option<Part> {
        let t = doc::as_table(&mut self.d, v, path)?;
        t.deny_unknown(&mut self.d, &["say", "value", "gender"]);
        let say = self.choice(
            &t,
            "say",
            &[
                ("number", SayKind::Number),
                ("ordinal", SayKind::Ordinal),
                ("digits", SayKind::Digits),
                ("money", SayKind::Money),
                ("duration", SayKind::Duration),
            ],
        );
        let value = self.choice(
            &t,
            "value",
            &[
                ("position", ValueName::Position),
                ("wait", ValueName::Wait),
                ("hold", ValueName::Hold),
                ("balance", ValueName::Balance),
                ("account", ValueName::Account),
            ],
        );
        use crate::speech::Gender;
        let gender = match t.get("gender") {
            None => Some(Gender::Masculine),
            Some(_) => self.choice(
                &t,
                "gender",
                &[
                    ("m", Gender::Masculine),
                    ("f", Gender::Feminine),
                    ("n", Gender::Neuter),
                ],
            ),
        };
        if t.get("say").is_none() || t.get("value").is_none() {
            self.d
                .error(v.span(), path, "a spoken value needs `say` and `value`")
                .hint("e.g. { say = \"ordinal\", value = \"position\" }");
        }
        Some(Part::Value {
            say: say?,
            value: value?,
            gender: gender?,
        })
    }
    /// Every prompt a template names must exist; a prompt nobody uses is
    /// worth a warning. Unknown names are dropped from the scenario.
    pub(super) fn check_prompt_names(&mut self, root: &Table, s: &mut Scenario) {
        let used = std::mem::take(&mut self.used_prompts);
        for (name, span, path) in &used {
            if !s.prompts.contains_key(name) {
                // Each search is linear in the prompts: budgeted (see diag::SEARCHES).
                let near = if self.d.may_search() {
                    closest(name, s.prompts.keys().map(String::as_str))
                } else {
                    None
                };
                let hint = near.map_or_else(
                    || "add it to [prompts]: name = \"file.wav\"".to_string(),
                    |c| format!("did you mean \"{c}\"?"),
                );
                self.d
                    .error(span.clone(), path, format!("no prompt named {name:?}"))
                    .hint(hint);
            }
        }
        let said: std::collections::HashSet<&str> = used.iter().map(|(n, _, _)| n.as_str()).collect();
        let prompts = &s.prompts;
        let keep = |t: &mut Template| t.retain(|p| !matches!(p, Part::Prompt(n) if !prompts.contains_key(n)));
        keep(&mut s.welcome);
        s.repeats.iter_mut().for_each(|r| keep(&mut r.say));
        s.keys.values_mut().for_each(|k| keep(&mut k.say));
        if let Some(p) = &mut s.announce.position {
            keep(&mut p.say);
            keep(&mut p.next);
        }
        if let Some(w) = &mut s.announce.wait {
            keep(&mut w.say);
            keep(&mut w.short);
        }
        if let Some(b) = &mut s.announce.balance {
            for t in [
                &mut b.say,
                &mut b.several,
                &mut b.next,
                &mut b.none,
                &mut b.failed,
                &mut b.wait,
                &mut b.locked,
            ] {
                keep(t);
            }
        }
        if let Some(x) = &mut s.announce.dissuade {
            keep(&mut x.say);
        }
        // Explicitly listed prompts that nothing says.
        if let Some(t) = root.get("prompts")
            && let DeValue::Table(map) = t.get_ref()
        {
            for (k, _) in map.iter() {
                let name = k.get_ref().as_ref();
                if name != "from" && !said.contains(name) {
                    self.d
                        .warning(k.span(), &format!("prompts.{name}"), "prompt is never used")
                        .hint("say it in a template, or remove it");
                }
            }
        }
    }
}
