//! Meta's limits and vocabularies for templates and Flow messages
//! (docs/meta-rules.md, "Template creation" and "Sending an interactive Flow").

/// Template name pattern `^[a-z0-9_]{1,512}$`.
pub(crate) const NAME_MAX: usize = 512;
/// `_` + 8 hex digits appended by versioned naming (docs/design.md §2).
pub(crate) const VERSION_SUFFIX_LEN: usize = 9;
pub(crate) const BODY_MAX: usize = 1024;
pub(crate) const HEADER_MAX: usize = 60;
pub(crate) const FOOTER_MAX: usize = 60;
pub(crate) const BUTTON_TEXT_MAX: usize = 25;
pub(crate) const BUTTONS_MAX: usize = 10;
pub(crate) const URL_BUTTONS_MAX: usize = 2;
pub(crate) const PHONE_BUTTONS_MAX: usize = 1;
pub(crate) const FLOW_BUTTONS_MAX: usize = 1;
/// sendFlow `flowCta` (Meta: ≤ 20 chars, docs/meta-rules.md).
pub(crate) const FLOW_CTA_MAX: usize = 20;

/// Template language codes Meta accepts (1msg's `TemplateLanguageProp`
/// enum, docs/provider-1msg.md; Meta's "supported languages" list).
pub(crate) const LANGUAGES: &[&str] = &[
    "af", "sq", "ar", "ar_EG", "ar_AE", "ar_LB", "ar_MA", "ar_QA", "az", "be_BY", "bn", "bn_IN",
    "bg", "ca", "zh_CN", "zh_HK", "zh_TW", "hr", "cs", "da", "prs_AF", "nl", "nl_BE", "en",
    "en_GB", "en_US", "en_AE", "en_AU", "en_CA", "en_GH", "en_IE", "en_IN", "en_JM", "en_MY",
    "en_NZ", "en_QA", "en_SG", "en_UG", "en_ZA", "et", "fil", "fi", "fr", "fr_BE", "fr_CA",
    "fr_CH", "fr_CI", "fr_MA", "ka", "de", "de_AT", "de_CH", "el", "gu", "ha", "he", "hi", "hu",
    "id", "ga", "it", "ja", "kn", "kk", "rw_RW", "ko", "ky_KG", "lo", "lv", "lt", "mk", "ms", "ml",
    "mr", "nb", "ps_AF", "fa", "pl", "pt_BR", "pt_PT", "pa", "ro", "ru", "sr", "si_LK", "sk", "sl",
    "es", "es_AR", "es_CL", "es_CO", "es_CR", "es_DO", "es_EC", "es_HN", "es_MX", "es_PA", "es_PE",
    "es_ES", "es_UY", "sw", "sv", "ta", "te", "th", "tr", "uk", "ur", "uz", "vi", "zu",
];

pub(crate) fn is_language(code: &str) -> bool {
    LANGUAGES.contains(&code)
}

pub(crate) fn is_template_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A `{{...}}` found in text, with its byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placeholder {
    /// The number inside, when it is a positional `{{n}}`.
    pub(crate) number: Option<u32>,
    pub(crate) raw: String,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Every `{{...}}` in `text`, in order.
pub(crate) fn placeholders(text: &str) -> Vec<Placeholder> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find("{{") {
        let start = from + open;
        let Some(close) = text[start + 2..].find("}}") else {
            break;
        };
        let end = start + 2 + close + 2;
        let inner = &text[start + 2..end - 2];
        let number = if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
            inner.parse().ok()
        } else {
            None
        };
        out.push(Placeholder {
            number,
            raw: text[start..end].to_string(),
            start,
            end,
        });
        from = end;
    }
    out
}

/// The number of body variables (`{{1}}`..`{{n}}` → n).
pub fn variable_count(text: &str) -> usize {
    placeholders(text)
        .iter()
        .filter_map(|p| p.number)
        .max()
        .unwrap_or(0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_placeholders() {
        let p = placeholders("Hi {{1}}, {{name}} and {{2}}");
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].number, Some(1));
        assert_eq!(p[1].number, None);
        assert_eq!(variable_count("Hi {{1}}, {{2}}!"), 2);
        assert!(is_template_name("course_signup_1"));
        assert!(!is_template_name("Course"));
    }
}
