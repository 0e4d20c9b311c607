//! What a Flow JSON may contain, as data: the components with the version
//! that introduced each, their properties and the limits Meta states
//! (docs/flow-json-rules.md). The validator and the published
//! `schemas/flow-json.schema.json` are both generated from this one table.

use super::version::Version;

/// The JSON shape a property takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string (may hold `${…}` bindings).
    Text,
    /// Text, or (from 5.1 with `markdown`) an array of lines.
    TextOrLines,
    /// `true`/`false`, or a `${…}` binding.
    Bool,
    /// An integer, or a `${…}` binding.
    Int,
    /// One of the listed strings, or a `${…}` binding.
    Enum(&'static [&'static str]),
    /// An array of `{id, title, …}` options, or a `${data.x}` binding.
    Options,
    /// An action object (`{name, next?, payload?}`).
    Action,
    /// An array of components.
    Children,
    /// Any JSON object.
    Object,
    /// Any JSON array, or a binding.
    Array,
    /// Anything (left to Meta).
    Any,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Prop {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) required: bool,
    pub(crate) since: Version,
    /// Longest value, in characters, for static text.
    pub(crate) max_chars: Option<usize>,
}

const V2_1: Version = Version::new(2, 1);
const V4_0: Version = Version::new(4, 0);
const V5_0: Version = Version::new(5, 0);
const V5_1: Version = Version::new(5, 1);
const V6_0: Version = Version::new(6, 0);
const V6_1: Version = Version::new(6, 1);
const V6_2: Version = Version::new(6, 2);
const V6_3: Version = Version::new(6, 3);
const V7_1: Version = Version::new(7, 1);

const fn p(name: &'static str, kind: Kind) -> Prop {
    Prop {
        name,
        kind,
        required: false,
        since: V2_1,
        max_chars: None,
    }
}

const fn req(name: &'static str, kind: Kind) -> Prop {
    Prop {
        required: true,
        ..p(name, kind)
    }
}

const fn max(prop: Prop, chars: usize) -> Prop {
    Prop {
        max_chars: Some(chars),
        ..prop
    }
}

const fn since(prop: Prop, version: Version) -> Prop {
    Prop {
        since: version,
        ..prop
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Component {
    pub(crate) name: &'static str,
    pub(crate) since: Version,
    pub(crate) props: &'static [Prop],
    /// Its `name` is a form field (`${form.<name>}`, part of the response).
    pub(crate) input: bool,
    /// Option count bounds for `data-source` when written out.
    pub(crate) options: Option<(usize, usize)>,
    /// At most this many per screen.
    pub(crate) per_screen: Option<usize>,
}

const FONT_WEIGHT: Kind = Kind::Enum(&["bold", "italic", "bold_italic", "normal"]);
const INPUT_TYPE: Kind = Kind::Enum(&["text", "number", "email", "password", "passcode", "phone"]);
const SCALE: Kind = Kind::Enum(&["cover", "contain"]);
const MEDIA_SIZE: Kind = Kind::Enum(&["regular", "large"]);
const LABEL_VARIANT: Kind = Kind::Enum(&["large"]);

const VISIBLE: Prop = p("visible", Kind::Bool);
const ENABLED: Prop = p("enabled", Kind::Bool);
const REQUIRED: Prop = p("required", Kind::Bool);
const NAME: Prop = req("name", Kind::Text);
const INIT_VALUE: Prop = since(p("init-value", Kind::Any), V4_0);
const ERROR_MESSAGE: Prop = since(p("error-message", Kind::Text), V4_0);
const ON_SELECT: Prop = p("on-select-action", Kind::Action);
const ON_UNSELECT: Prop = since(p("on-unselect-action", Kind::Action), V6_0);

/// A text component; its `text` limit is in [`text_limit`].
const fn text_component(name: &'static str, rich: bool) -> Component {
    Component {
        name,
        since: V2_1,
        props: if rich {
            &TEXT_RICH_PROPS
        } else {
            &TEXT_PLAIN_PROPS
        },
        input: false,
        options: None,
        per_screen: None,
    }
}

// Text limits differ per component, so each text component has its own
// property list; these are the shapes they share.
const TEXT_PLAIN_PROPS: [Prop; 2] = [req("text", Kind::Text), VISIBLE];
const TEXT_RICH_PROPS: [Prop; 5] = [
    req("text", Kind::TextOrLines),
    p("font-weight", FONT_WEIGHT),
    p("strikethrough", Kind::Bool),
    VISIBLE,
    since(p("markdown", Kind::Bool), V5_1),
];

/// The character limit of a text component's `text`.
pub(crate) fn text_limit(component: &str) -> Option<usize> {
    match component {
        "TextHeading" | "TextSubheading" => Some(80),
        "TextBody" => Some(4096),
        "TextCaption" => Some(409),
        _ => None,
    }
}

pub(crate) const COMPONENTS: &[Component] = &[
    text_component("TextHeading", false),
    text_component("TextSubheading", false),
    text_component("TextBody", true),
    text_component("TextCaption", true),
    Component {
        name: "RichText",
        since: V5_1,
        props: &[req("text", Kind::TextOrLines), VISIBLE],
        input: false,
        options: None,
        per_screen: None,
    },
    Component {
        name: "TextInput",
        since: V2_1,
        props: &[
            NAME,
            max(req("label", Kind::Text), 20),
            p("input-type", INPUT_TYPE),
            p("pattern", Kind::Text),
            REQUIRED,
            p("min-chars", Kind::Int),
            p("max-chars", Kind::Int),
            max(p("helper-text", Kind::Text), 80),
            ENABLED,
            VISIBLE,
            INIT_VALUE,
            ERROR_MESSAGE,
            p("label-variant", LABEL_VARIANT),
        ],
        input: true,
        options: None,
        per_screen: None,
    },
    Component {
        name: "TextArea",
        since: V2_1,
        props: &[
            NAME,
            max(req("label", Kind::Text), 20),
            REQUIRED,
            p("max-length", Kind::Int),
            max(p("helper-text", Kind::Text), 80),
            ENABLED,
            VISIBLE,
            INIT_VALUE,
            ERROR_MESSAGE,
            p("label-variant", LABEL_VARIANT),
        ],
        input: true,
        options: None,
        per_screen: None,
    },
    Component {
        name: "CheckboxGroup",
        since: V2_1,
        props: &[
            NAME,
            req("data-source", Kind::Options),
            max(p("label", Kind::Text), 30),
            max(p("description", Kind::Text), 300),
            p("min-selected-items", Kind::Int),
            p("max-selected-items", Kind::Int),
            ENABLED,
            REQUIRED,
            VISIBLE,
            ON_SELECT,
            ON_UNSELECT,
            INIT_VALUE,
            ERROR_MESSAGE,
            since(p("media-size", MEDIA_SIZE), V5_0),
        ],
        input: true,
        options: Some((1, 20)),
        per_screen: None,
    },
    Component {
        name: "RadioButtonsGroup",
        since: V2_1,
        props: &[
            NAME,
            req("data-source", Kind::Options),
            max(p("label", Kind::Text), 30),
            max(p("description", Kind::Text), 300),
            ENABLED,
            REQUIRED,
            VISIBLE,
            ON_SELECT,
            ON_UNSELECT,
            INIT_VALUE,
            ERROR_MESSAGE,
            since(p("media-size", MEDIA_SIZE), V5_0),
        ],
        input: true,
        options: Some((1, 20)),
        per_screen: None,
    },
    Component {
        name: "Dropdown",
        since: V2_1,
        props: &[
            NAME,
            max(req("label", Kind::Text), 20),
            req("data-source", Kind::Options),
            ENABLED,
            REQUIRED,
            VISIBLE,
            ON_SELECT,
            ON_UNSELECT,
            INIT_VALUE,
            ERROR_MESSAGE,
        ],
        input: true,
        options: Some((1, 200)),
        per_screen: None,
    },
    Component {
        name: "ChipsSelector",
        since: V6_3,
        props: &[
            NAME,
            req("data-source", Kind::Options),
            req("label", Kind::Text),
            p("description", Kind::Text),
            p("min-selected-items", Kind::Int),
            p("max-selected-items", Kind::Int),
            ENABLED,
            REQUIRED,
            VISIBLE,
            ON_SELECT,
            INIT_VALUE,
            ERROR_MESSAGE,
        ],
        input: true,
        options: Some((2, 20)),
        per_screen: None,
    },
    Component {
        name: "Footer",
        since: V2_1,
        props: &[
            max(req("label", Kind::Text), 35),
            req("on-click-action", Kind::Action),
            max(p("left-caption", Kind::Text), 15),
            max(p("center-caption", Kind::Text), 15),
            max(p("right-caption", Kind::Text), 15),
            ENABLED,
        ],
        input: false,
        options: None,
        per_screen: None,
    },
    Component {
        name: "OptIn",
        since: V2_1,
        props: &[
            NAME,
            max(req("label", Kind::Text), 120),
            REQUIRED,
            VISIBLE,
            p("on-click-action", Kind::Action),
            since(p("on-select-action", Kind::Action), V6_0),
            ON_UNSELECT,
            INIT_VALUE,
        ],
        input: true,
        options: None,
        per_screen: Some(5),
    },
    Component {
        name: "EmbeddedLink",
        since: V2_1,
        props: &[
            max(req("text", Kind::Text), 25),
            req("on-click-action", Kind::Action),
            VISIBLE,
        ],
        input: false,
        options: None,
        per_screen: Some(2),
    },
    Component {
        name: "DatePicker",
        since: V2_1,
        props: &[
            NAME,
            max(req("label", Kind::Text), 40),
            p("min-date", Kind::Text),
            p("max-date", Kind::Text),
            p("unavailable-dates", Kind::Array),
            max(p("helper-text", Kind::Text), 80),
            ENABLED,
            REQUIRED,
            VISIBLE,
            ON_SELECT,
            INIT_VALUE,
            ERROR_MESSAGE,
        ],
        input: true,
        options: None,
        per_screen: None,
    },
    Component {
        name: "CalendarPicker",
        since: V6_1,
        props: &[
            NAME,
            p("title", Kind::Text),
            p("description", Kind::Text),
            p("label", Kind::Any),
            p("helper-text", Kind::Any),
            p("mode", Kind::Enum(&["single", "range"])),
            p("min-date", Kind::Text),
            p("max-date", Kind::Text),
            p("unavailable-dates", Kind::Array),
            p("include-days", Kind::Array),
            p("min-days", Kind::Int),
            p("max-days", Kind::Int),
            ENABLED,
            REQUIRED,
            VISIBLE,
            ON_SELECT,
            INIT_VALUE,
            p("error-message", Kind::Any),
        ],
        input: true,
        options: None,
        per_screen: None,
    },
    Component {
        name: "Image",
        since: V2_1,
        props: &[
            req("src", Kind::Text),
            p("width", Kind::Int),
            p("height", Kind::Int),
            p("scale-type", SCALE),
            p("aspect-ratio", Kind::Int),
            p("alt-text", Kind::Text),
            VISIBLE,
        ],
        input: false,
        options: None,
        per_screen: Some(3),
    },
    Component {
        name: "ImageCarousel",
        since: V7_1,
        props: &[
            req("images", Kind::Array),
            p("aspect-ratio", Kind::Text),
            p("scale-type", SCALE),
            VISIBLE,
        ],
        input: false,
        options: None,
        per_screen: None,
    },
    Component {
        name: "PhotoPicker",
        since: V4_0,
        props: &[
            NAME,
            req("label", Kind::Text),
            p("description", Kind::Text),
            p(
                "photo-source",
                Kind::Enum(&["camera_gallery", "camera", "gallery"]),
            ),
            p("max-file-size-kb", Kind::Int),
            p("min-uploaded-photos", Kind::Int),
            p("max-uploaded-photos", Kind::Int),
            ENABLED,
            VISIBLE,
            ERROR_MESSAGE,
        ],
        input: true,
        options: None,
        per_screen: None,
    },
    Component {
        name: "DocumentPicker",
        since: V4_0,
        props: &[
            NAME,
            req("label", Kind::Text),
            p("description", Kind::Text),
            p("max-file-size-kb", Kind::Int),
            p("min-uploaded-documents", Kind::Int),
            p("max-uploaded-documents", Kind::Int),
            p("allowed-mime-types", Kind::Array),
            ENABLED,
            VISIBLE,
            ERROR_MESSAGE,
        ],
        input: true,
        options: None,
        per_screen: None,
    },
    Component {
        name: "NavigationList",
        since: V6_2,
        props: &[
            NAME,
            req("list-items", Kind::Array),
            p("label", Kind::Text),
            p("description", Kind::Text),
            p("media-size", MEDIA_SIZE),
            p("on-click-action", Kind::Action),
        ],
        input: false,
        options: None,
        per_screen: None,
    },
    Component {
        name: "If",
        since: V4_0,
        props: &[
            req("condition", Kind::Text),
            req("then", Kind::Children),
            p("else", Kind::Children),
        ],
        input: false,
        options: None,
        per_screen: None,
    },
    Component {
        name: "Switch",
        since: V4_0,
        props: &[req("value", Kind::Text), req("cases", Kind::Object)],
        input: false,
        options: None,
        per_screen: None,
    },
    Component {
        name: "Form",
        since: V2_1,
        props: &[
            NAME,
            req("children", Kind::Children),
            p("init-values", Kind::Object),
            p("error-messages", Kind::Object),
        ],
        input: false,
        options: None,
        per_screen: None,
    },
];

pub(crate) fn component(name: &str) -> Option<&'static Component> {
    COMPONENTS.iter().find(|c| c.name == name)
}

impl Component {
    pub(crate) fn prop(&self, name: &str) -> Option<&'static Prop> {
        self.props.iter().find(|p| p.name == name)
    }
}

/// Most components on one screen, counting nested ones.
pub(crate) const COMPONENTS_PER_SCREEN: usize = 50;
/// Most outgoing routes from one screen.
pub(crate) const BRANCHES_PER_SCREEN: usize = 10;
/// Data types a screen's `data` model may declare.
pub(crate) const DATA_TYPES: [&str; 6] =
    ["string", "number", "integer", "boolean", "object", "array"];

/// Action names, each with the version that introduced it.
pub(crate) const ACTIONS: [(&str, Version); 5] = [
    ("navigate", V2_1),
    ("complete", V2_1),
    ("data_exchange", V2_1),
    ("update_data", V6_0),
    ("open_url", V6_0),
];

/// Top-level properties: name, required.
pub(crate) const TOP_LEVEL: [(&str, bool); 5] = [
    ("version", true),
    ("screens", true),
    ("routing_model", false),
    ("data_api_version", false),
    ("data_channel_uri", false),
];

/// Screen properties with the version that introduced each.
pub(crate) const SCREEN_PROPS: [(&str, Version); 8] = [
    ("id", V2_1),
    ("terminal", V2_1),
    ("success", V2_1),
    ("title", V2_1),
    ("refresh_on_back", V2_1),
    ("data", V2_1),
    ("layout", V2_1),
    ("sensitive", V5_1),
];

/// Data API versions an endpoint Flow may declare.
pub(crate) const DATA_API_VERSIONS: [&str; 2] = ["3.0", "4.0"];
