//! What a send's messages are addressed to, resolved once by plan: the
//! account template (name, language, namespace, flow-button index), the
//! approved earlier version used until the new one is approved, and the
//! Flow id. Apply builds every message from this alone
//! (docs/ARCHITECTURE.md, "The plan is all apply needs"); the only values
//! it fills in are the ones its own steps produce: the namespace of a
//! template its review saw approved, the id of a Flow it created.

use serde::{Deserialize, Serialize};

/// The resolved target of one send, carried by its [`SendPlan`](super::SendPlan).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendTarget {
    /// The template of a template send, or the fallback of a Flow message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<PlannedTemplate>,
    /// The Flow of a Flow message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<PlannedFlow>,
}

/// Whether the account template a target names is approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Review {
    /// Approved on the account when the plan was made.
    Approved,
    /// Submitted by this apply or already in review: usable once this
    /// apply's own review sees it approved (the namespace is learnt then).
    InReview,
}

/// The account template a send uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedTemplate {
    /// The account name of the version the config describes.
    pub name: String,
    /// Its language code.
    pub language: String,
    /// Whether it is approved yet.
    pub review: Review,
    /// Meta's namespace, when the account gave one (approved only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Position of the FLOW button among its buttons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_button: Option<usize>,
    /// An approved earlier version with the same shape, used while `name`
    /// is in review (sends keep the old version until the new one is
    /// approved; docs/design.md §1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interim: Option<ApprovedVersion>,
}

/// An approved account template version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedVersion {
    /// Its account name.
    pub name: String,
    /// Meta's namespace, when the account gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Position of the FLOW button among its buttons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_button: Option<usize>,
}

/// The Flow a Flow message opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedFlow {
    /// Its key under `flows:`.
    pub key: String,
    /// The account's id; `None` when this apply creates the Flow (the id
    /// is the one the create answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl PlannedTemplate {
    /// The account template name sends use as planned: this version when
    /// approved, else the interim one (`None`: nothing approved yet).
    pub fn planned_name(&self) -> Option<&str> {
        match (self.review, &self.interim) {
            (Review::Approved, _) => Some(&self.name),
            (Review::InReview, Some(old)) => Some(&old.name),
            (Review::InReview, None) => None,
        }
    }

    /// The version to send with: this one if approved when planned or
    /// approved by this apply's review (`approved_now` answers with the
    /// namespace the review read), else the interim version.
    pub fn version(
        &self,
        approved_now: impl Fn(&str, &str) -> Option<Option<String>>,
    ) -> Option<ApprovedVersion> {
        let this = |namespace: Option<String>| ApprovedVersion {
            name: self.name.clone(),
            namespace,
            flow_button: self.flow_button,
        };
        match self.review {
            Review::Approved => Some(this(self.namespace.clone())),
            Review::InReview => match approved_now(&self.name, &self.language) {
                Some(namespace) => Some(this(namespace)),
                None => self.interim.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(review: Review, interim: bool) -> PlannedTemplate {
        PlannedTemplate {
            name: "t_v2".into(),
            language: "en_US".into(),
            review,
            namespace: (review == Review::Approved).then(|| "ns".into()),
            flow_button: Some(0),
            interim: interim.then(|| ApprovedVersion {
                name: "t_v1".into(),
                namespace: Some("old".into()),
                flow_button: Some(1),
            }),
        }
    }

    #[test]
    fn version_prefers_the_approved_desired_version() {
        let none = |_: &str, _: &str| None;
        let learnt = |n: &str, l: &str| (n == "t_v2" && l == "en_US").then(|| Some("new".into()));
        let cases = [
            (
                planned(Review::Approved, false),
                none as fn(&str, &str) -> _,
                Some(("t_v2", Some("ns"), Some(0))),
            ),
            (
                planned(Review::InReview, true),
                none,
                Some(("t_v1", Some("old"), Some(1))),
            ),
            (planned(Review::InReview, false), none, None),
        ];
        for (t, f, want) in cases {
            let got = t.version(f);
            assert_eq!(
                got.as_ref()
                    .map(|v| (v.name.as_str(), v.namespace.as_deref(), v.flow_button)),
                want,
                "{t:?}"
            );
        }
        let got = planned(Review::InReview, true).version(learnt);
        assert_eq!(
            got.map(|v| (v.name, v.namespace)),
            Some(("t_v2".into(), Some("new".into())))
        );
        assert_eq!(planned(Review::InReview, true).planned_name(), Some("t_v1"));
        assert_eq!(planned(Review::InReview, false).planned_name(), None);
    }
}
