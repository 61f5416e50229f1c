//! `[keys]`: what each DTMF digit does, and where a redirect goes.

use super::Parser;
use crate::scenario::diag::closest;
use crate::scenario::doc::{self, Table};
use crate::scenario::*;

impl Parser<'_> {
    pub(super) fn keys(&mut self, t: &Table) -> BTreeMap<char, Key> {
        let mut keys = BTreeMap::new();
        for (digit, key_span, v) in t.entries() {
            let path = t.key_path(digit);
            let mut chars = digit.chars();
            let c = match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D') => c,
                _ => {
                    self.d
                        .error(key_span, &path, format!("{digit:?} is not a DTMF digit"))
                        .hint("keys are 0-9, *, #, A-D, e.g. [keys] \"3\" = { action = \"next-music\" }");
                    continue;
                }
            };
            let Some(k) = doc::as_table(&mut self.d, v, &path) else {
                continue;
            };
            if let Some(key) = self.key(&k) {
                keys.insert(c, key);
            }
        }
        keys
    }

    fn key(&mut self, t: &Table) -> Option<Key> {
        t.deny_unknown(
            &mut self.d,
            &["action", "say", "debounce", "priority", "to", "when", "closed"],
        );
        let Some((name, span)) = t.str(&mut self.d, "action") else {
            if t.get("action").is_none() {
                self.d
                    .error(t.span.clone(), &t.path, "a key needs an `action`")
                    .hint(format!("one of: {}", action_names().join(", ")));
            }
            return None;
        };
        let Some(action) = Action::from_name(name) else {
            let names = action_names();
            let e = self
                .d
                .error(span, &t.key_path("action"), format!("unknown action {name:?}"));
            match closest(name, names.iter().copied()) {
                Some(c) => e.hint(format!("did you mean \"{c}\"?")),
                None => e.hint(format!("one of: {}", names.join(", "))),
            };
            return None;
        };
        let say = self.template_at(t, "say").unwrap_or_default();
        if action == Action::Say && say.is_empty() {
            self.d
                .error(t.span.clone(), &t.path, "action \"say\" needs prompts in `say`")
                .hint("e.g. say = [\"key-help\"]");
        }
        let when = self.when(t);
        if when.is_none()
            && let Some(v) = t.get("closed")
        {
            self.d
                .warning(
                    v.span(),
                    &t.key_path("closed"),
                    "`closed` is only said outside `when`",
                )
                .hint("add a window, e.g. when = { days = \"mon-fri\", time = \"09:00-18:00\" }");
        }
        let closed = self.template_at(t, "closed").unwrap_or_default();
        if action == Action::Language {
            let language = self.language_key(t);
            return language.map(|code| Key {
                action,
                say,
                debounce: t.duration(&mut self.d, "debounce").unwrap_or(Duration::ZERO),
                priority: 5,
                redirect: None,
                when,
                closed,
                language: Some(code),
            });
        }
        let redirect = match t.str(&mut self.d, "to") {
            Some((to, span)) => match parse_redirect(to) {
                Ok(r) => Some(r),
                Err(e) => {
                    self.d
                        .error(span, &t.key_path("to"), e)
                        .hint("write \"context,extension,priority\", e.g. \"callback,s,1\"");
                    None
                }
            },
            None => None,
        };
        if action == Action::Redirect && redirect.is_none() && t.get("to").is_none() {
            self.d
                .error(t.span.clone(), &t.path, "action \"redirect\" needs `to`")
                .hint("the dialplan place, e.g. to = \"callback,s,1\"");
        }
        if action != Action::Redirect
            && let Some(v) = t.get("to")
        {
            self.d.warning(
                v.span(),
                &t.key_path("to"),
                "`to` is only used by the \"redirect\" action",
            );
        }
        let priority = t.whole(&mut self.d, "priority", 0, 9).map_or(5, |(n, _)| n as u8);
        Some(Key {
            action,
            say,
            debounce: t.duration(&mut self.d, "debounce").unwrap_or(Duration::ZERO),
            priority,
            redirect,
            when,
            closed,
            language: None,
        })
    }
}

fn action_names() -> Vec<&'static str> {
    Action::ALL.iter().map(|a| a.name()).collect()
}

/// `context,exten,priority` (priority defaults to 1), as in Asterisk's `Goto`.
fn parse_redirect(to: &str) -> Result<Redirect, String> {
    let parts: Vec<&str> = to.split(',').map(str::trim).collect();
    let ok_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_+*#.".contains(c))
    };
    match parts.as_slice() {
        [context, exten] | [context, exten, _] if ok_name(context) && ok_name(exten) => {
            let priority = match parts.get(2) {
                Some(p) => p.parse().map_err(|_| format!("{p:?} is not a priority number"))?,
                None => 1,
            };
            Ok(Redirect {
                context: context.to_string(),
                exten: exten.to_string(),
                priority,
            })
        }
        _ => Err(format!("{to:?} is not a dialplan place")),
    }
}
