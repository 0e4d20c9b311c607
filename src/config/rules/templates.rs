//! Meta's template rules (docs/meta-rules.md, "Template creation").

use super::Ctx;
use crate::config::meta::{self, Placeholder};
use crate::config::types::{Button, Naming, RawConfig, TemplateLanguage};

pub(super) fn check(ctx: &mut Ctx<'_>, config: &RawConfig) {
    for (name, template) in &config.templates {
        let path = format!("templates.{name}");
        if !meta::is_template_name(name) {
            ctx.error(
                &path,
                format!("template name `{name}` is not allowed"),
                "use lowercase letters, digits and `_` only (Meta: ^[a-z0-9_]{1,512}$)",
            );
        } else if template.naming == Naming::Versioned
            && name.len() + meta::VERSION_SUFFIX_LEN > meta::NAME_MAX
        {
            ctx.error(
                &path,
                format!("template name `{name}` leaves no room for the version suffix"),
                "versioned names get `_` + 8 hex digits; shorten the name to at most 503 characters",
            );
        }
        if template.languages.is_empty() {
            ctx.error(
                &format!("{path}.languages"),
                format!("template `{name}` has no languages"),
                "add at least one language, e.g. `en_US:` with a `body`",
            );
        }
        for (code, lang) in &template.languages {
            let lpath = format!("{path}.languages.{code}");
            if !meta::is_language(code) {
                ctx.error(
                    &lpath,
                    format!("`{code}` is not a language code Meta accepts"),
                    "use Meta's codes, e.g. en, en_US, en_GB, es, es_MX, pt_BR, de, fr, ru",
                );
            }
            check_language(ctx, config, &lpath, lang);
        }
    }
}

fn check_language(ctx: &mut Ctx<'_>, config: &RawConfig, path: &str, lang: &TemplateLanguage) {
    check_body(ctx, path, lang);
    if let Some(header) = &lang.header {
        let hpath = format!("{path}.header.text");
        let len = header.text.chars().count();
        if header.text.trim().is_empty() {
            ctx.error(
                &hpath,
                "header text is empty",
                "write a header or remove `header:`",
            );
        }
        if len > meta::HEADER_MAX {
            ctx.error(
                &hpath,
                format!(
                    "header text is {len} characters; Meta allows {}",
                    meta::HEADER_MAX
                ),
                "shorten the header",
            );
        }
        let vars = meta::placeholders(&header.text);
        if vars.len() > 1 || vars.iter().any(|p| p.number != Some(1)) {
            ctx.error(
                &hpath,
                "a header may hold at most one variable, `{{1}}`",
                "keep one `{{1}}` in the header or move the others to the body",
            );
        } else if vars.len() == 1 && header.example.is_none() {
            ctx.error(
                &format!("{path}.header"),
                "the header variable `{{1}}` has no example",
                "add `example: \"...\"` to the header (Meta reviews templates with samples)",
            );
        }
    }
    if let Some(footer) = &lang.footer {
        let fpath = format!("{path}.footer");
        let len = footer.chars().count();
        if len > meta::FOOTER_MAX {
            ctx.error(
                &fpath,
                format!(
                    "footer is {len} characters; Meta allows {}",
                    meta::FOOTER_MAX
                ),
                "shorten the footer",
            );
        }
        if !meta::placeholders(footer).is_empty() {
            ctx.error(
                &fpath,
                "a footer cannot hold variables",
                "remove `{{...}}` from the footer",
            );
        }
    }
    check_buttons(ctx, config, path, &lang.buttons);
}

fn check_body(ctx: &mut Ctx<'_>, path: &str, lang: &TemplateLanguage) {
    let bpath = format!("{path}.body");
    let body = &lang.body;
    let len = body.chars().count();
    if body.trim().is_empty() {
        ctx.error(
            &bpath,
            "the body is empty",
            "every template needs body text",
        );
        return;
    }
    if len > meta::BODY_MAX {
        ctx.error(
            &bpath,
            format!("body is {len} characters; Meta allows {}", meta::BODY_MAX),
            "shorten the body",
        );
    }
    let vars = meta::placeholders(body);
    for p in vars.iter().filter(|p| p.number.is_none()) {
        ctx.error(
            &bpath,
            format!("`{}` is not a positional variable", p.raw),
            "write variables as `{{1}}`, `{{2}}`, ... numbered from 1",
        );
    }
    let mut numbers: Vec<u32> = vars.iter().filter_map(|p| p.number).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let expected: Vec<u32> = (1..=numbers.len() as u32).collect();
    if numbers != expected {
        ctx.error(
            &bpath,
            format!(
                "body variables must be numbered {{{{1}}}}..{{{{n}}}} without gaps; found {}",
                numbers
                    .iter()
                    .map(|n| format!("{{{{{n}}}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "renumber the variables from {{1}} in order",
        );
    }
    let n = meta::variable_count(body);
    if lang.body_examples.len() != n {
        ctx.error(
            &format!("{path}.body_examples"),
            format!(
                "the body has {n} variable{} but {} body_examples",
                if n == 1 { "" } else { "s" },
                lang.body_examples.len()
            ),
            "give exactly one sample value per body variable (Meta reviews templates with samples)",
        );
    }
    let trimmed_start = body.len() - body.trim_start().len();
    let trimmed_end = body.trim_end().len();
    if vars.first().is_some_and(|p| p.start == trimmed_start) {
        ctx.error(
            &bpath,
            "the body starts with a variable",
            "Meta rejects templates whose body starts with a variable: put some text before it",
        );
    }
    if vars.last().is_some_and(|p| p.end == trimmed_end) {
        ctx.error(
            &bpath,
            "the body ends with a variable",
            "Meta rejects templates whose body ends with a variable: put some text (even a `.`) after it",
        );
    }
    for pair in vars.windows(2) {
        if adjacent(body, &pair[0], &pair[1]) {
            ctx.error(
                &bpath,
                format!(
                    "variables {} and {} are next to each other",
                    pair[0].raw, pair[1].raw
                ),
                "separate variables with some text",
            );
        }
    }
}

fn adjacent(body: &str, a: &Placeholder, b: &Placeholder) -> bool {
    body[a.end..b.start].trim().is_empty()
}

fn check_buttons(ctx: &mut Ctx<'_>, config: &RawConfig, path: &str, buttons: &[Button]) {
    let bpath = format!("{path}.buttons");
    if buttons.len() > meta::BUTTONS_MAX {
        ctx.error(
            &bpath,
            format!(
                "{} buttons; Meta allows {}",
                buttons.len(),
                meta::BUTTONS_MAX
            ),
            "remove buttons",
        );
    }
    let count = |f: fn(&Button) -> bool| buttons.iter().filter(|b| f(b)).count();
    let flows = count(|b| matches!(b, Button::Flow { .. }));
    let urls = count(|b| matches!(b, Button::Url { .. }));
    let phones = count(|b| matches!(b, Button::PhoneNumber { .. }));
    for (n, max, what) in [
        (flows, meta::FLOW_BUTTONS_MAX, "FLOW"),
        (urls, meta::URL_BUTTONS_MAX, "URL"),
        (phones, meta::PHONE_BUTTONS_MAX, "phone number"),
    ] {
        if n > max {
            ctx.error(
                &bpath,
                format!("{n} {what} buttons; a template may have at most {max}"),
                format!("keep at most {max} {what} button(s)"),
            );
        }
    }
    // Quick replies must form one group, not interleaved with call-to-action buttons.
    let kinds: Vec<bool> = buttons
        .iter()
        .map(|b| matches!(b, Button::QuickReply { .. }))
        .collect();
    let groups = kinds.windows(2).filter(|w| w[0] != w[1]).count();
    if groups > 1 {
        ctx.error(
            &bpath,
            "quick-reply buttons are interleaved with other buttons",
            "put all quick_reply buttons together, before or after the other buttons",
        );
    }
    for (i, button) in buttons.iter().enumerate() {
        let p = format!("{bpath}[{i}]");
        let len = button.text().chars().count();
        if button.text().trim().is_empty() {
            ctx.error(
                &format!("{p}.text"),
                "button text is empty",
                "write the button's label",
            );
        } else if len > meta::BUTTON_TEXT_MAX {
            ctx.error(
                &format!("{p}.text"),
                format!(
                    "button text is {len} characters; Meta allows {}",
                    meta::BUTTON_TEXT_MAX
                ),
                "shorten the label",
            );
        }
        match button {
            Button::Flow {
                flow,
                action,
                screen,
                ..
            } => {
                if !config.flows.contains_key(flow) {
                    ctx.error(
                        &format!("{p}.flow"),
                        format!("flow `{flow}` is not defined in `flows:`"),
                        known("flows", config.flows.keys()),
                    );
                }
                if *action == crate::config::types::FlowAction::Navigate && screen.is_none() {
                    ctx.error(
                        &p,
                        "a `navigate` Flow button needs `screen`",
                        "add `screen: <FIRST_SCREEN_ID>` (or use `action: data_exchange`)",
                    );
                }
            }
            Button::Url { url, .. } => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    ctx.error(
                        &format!("{p}.url"),
                        format!("\"{url}\" is not an http(s) URL"),
                        "",
                    );
                }
            }
            Button::PhoneNumber { phone_number, .. } => {
                if let Err(msg) = crate::config::phone::normalize(phone_number) {
                    ctx.error(
                        &format!("{p}.phone_number"),
                        msg,
                        "write the number in E.164",
                    );
                }
            }
            Button::QuickReply { .. } => {}
        }
    }
}

/// "defined here: a, b" for a reference error's help.
pub(super) fn known<'a>(section: &str, keys: impl Iterator<Item = &'a String>) -> String {
    let keys: Vec<&str> = keys.map(String::as_str).collect();
    if keys.is_empty() {
        format!("`{section}:` is empty; define it there first")
    } else {
        format!("defined in `{section}:` are: {}", keys.join(", "))
    }
}
