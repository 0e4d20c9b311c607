//! Template work: submit new templates and versions, wait for Meta's
//! review, delete what the plan deletes (superseded versions only after
//! their successor is approved — create-before-destroy).

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use super::reporter::TemplateStep;
use crate::plan::{Plan, TemplateAction};
use crate::provider::{NewTemplate, Provider, TemplateStatus};

/// Submits every create/replace of the plan. Returns the (name, language)
/// pairs submitted.
pub(crate) async fn create(
    provider: &dyn Provider,
    plan: &Plan,
    report: &mut dyn FnMut(TemplateStep<'_>),
) -> anyhow::Result<Vec<(String, String)>> {
    let mut submitted = Vec::new();
    for t in plan
        .templates
        .iter()
        .filter(|t| matches!(t.action, TemplateAction::Create | TemplateAction::Replace))
    {
        let new = NewTemplate {
            name: t.name.clone(),
            category: t.category.clone().unwrap_or_default(),
            language: t.language.clone(),
            components: t.components.clone(),
        };
        provider.add_template(&new).await.map_err(|e| {
            anyhow::anyhow!("cannot create template {} [{}]: {e}", t.name, t.language)
        })?;
        report(TemplateStep::Submitted {
            name: &t.name,
            language: &t.language,
        });
        submitted.push((t.name.clone(), t.language.clone()));
    }
    Ok(submitted)
}

/// How the approval wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Review {
    /// (name, language, namespace) approved during the wait.
    pub(crate) approved: Vec<(String, String, Option<String>)>,
    pub(crate) rejected: Vec<(String, String, String)>,
    /// Still in review when the timeout came.
    pub(crate) pending: Vec<(String, String)>,
}

/// Polls the account until every template in `waiting` is approved or
/// rejected, or `timeout` passes. Polls back off from 1 s to 30 s (with jitter).
pub(crate) async fn wait_for_review(
    provider: &dyn Provider,
    waiting: &[(String, String)],
    timeout: Duration,
    stop: &std::sync::atomic::AtomicBool,
    report: &mut dyn FnMut(TemplateStep<'_>),
) -> anyhow::Result<Review> {
    let deadline = Instant::now()
        .checked_add(timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600));
    let backoff = crate::backoff::Backoff {
        base: Duration::from_secs(1),
        max: Duration::from_secs(30),
    };
    let mut rng = fastrand::Rng::new();
    let mut attempt = 0u32;
    let mut open: BTreeSet<(String, String)> = waiting.iter().cloned().collect();
    let mut review = Review {
        approved: Vec::new(),
        rejected: Vec::new(),
        pending: Vec::new(),
    };
    let started = Instant::now();
    while !open.is_empty() {
        let account = provider
            .list_templates()
            .await
            .map_err(|e| anyhow::anyhow!("cannot read template status: {e}"))?;
        for t in account {
            let key = (t.name.clone(), t.language.clone());
            if !open.contains(&key) {
                continue;
            }
            match t.status {
                TemplateStatus::Approved => {
                    report(TemplateStep::Approved {
                        name: &key.0,
                        language: &key.1,
                        after: started.elapsed(),
                    });
                    open.remove(&key);
                    review.approved.push((key.0, key.1, t.namespace.clone()));
                }
                TemplateStatus::Rejected | TemplateStatus::Disabled | TemplateStatus::Paused => {
                    let reason = t
                        .rejected_reason
                        .unwrap_or_else(|| format!("{:?}", t.status));
                    report(TemplateStep::Rejected {
                        name: &key.0,
                        language: &key.1,
                        reason: &reason,
                    });
                    open.remove(&key);
                    review.rejected.push((key.0, key.1, reason));
                }
                _ => {}
            }
        }
        if open.is_empty() {
            break;
        }
        let now = Instant::now();
        if now >= deadline || stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        let delay = backoff.delay(attempt, None, &mut rng);
        attempt = attempt.saturating_add(1);
        tracing::debug!(
            in_review = open.len(),
            attempt,
            delay_ms = delay.as_millis(),
            "templates still in review; polling again"
        );
        report(TemplateStep::StillInReview {
            count: open.len(),
            recheck: delay,
        });
        // Sleep in short steps so a signal ends the wait promptly.
        let until = now + delay.min(deadline - now);
        while Instant::now() < until && !stop.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(200).min(until - Instant::now())).await;
        }
    }
    review.pending = open.into_iter().collect();
    Ok(review)
}

/// Deletes every name the plan deletes (removeTemplate deletes a name in
/// all languages, so each name is removed once).
pub(crate) async fn delete(
    provider: &dyn Provider,
    plan: &Plan,
    report: &mut dyn FnMut(TemplateStep<'_>),
) -> anyhow::Result<usize> {
    let names: BTreeSet<&str> = plan
        .templates
        .iter()
        .filter(|t| t.action == TemplateAction::Delete)
        .map(|t| t.name.as_str())
        .collect();
    for name in &names {
        provider
            .remove_template(name)
            .await
            .map_err(|e| anyhow::anyhow!("cannot delete template {name}: {e}"))?;
        report(TemplateStep::Deleted { name });
    }
    Ok(names.len())
}
