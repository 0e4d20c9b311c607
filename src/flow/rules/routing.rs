//! Routing: the screen graph from `routing_model` (endpoint Flows) or from
//! the `navigate` actions. Targets exist, no screen routes to itself, at
//! most 10 branches per screen, one entry screen reaches every screen, and
//! every screen can reach a terminal one (docs/flow-json-rules.md "Routing").

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;

use super::{Ctx, Model};
use crate::flow::spec::BRANCHES_PER_SCREEN;

/// Checks the graph; returns the entry screen's id.
pub(super) fn check(ctx: &mut Ctx<'_>, model: &Model<'_>) -> Option<String> {
    let ids: Vec<&str> = model.screens.iter().filter_map(|s| s.id).collect();
    if ids.is_empty() {
        return None;
    }
    let declared = model.root.get("routing_model").and_then(Value::as_object);
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    if let Some(rm) = declared {
        for (from, targets) in rm {
            let fpath = format!("routing_model.{from}");
            if !ids.contains(&from.as_str()) {
                ctx.error(
                    &fpath,
                    format!("routing_model names screen `{from}`, which does not exist"),
                    format!("screens: {}", ids.join(", ")),
                );
                continue;
            }
            let Some(targets) = targets.as_array() else {
                ctx.error(&fpath, "a route must be an array of screen ids", "");
                continue;
            };
            if targets.len() > BRANCHES_PER_SCREEN {
                ctx.error(
                    &fpath,
                    format!(
                        "screen `{from}` has {} routes; Meta allows {BRANCHES_PER_SCREEN}",
                        targets.len()
                    ),
                    "split the choice over more screens",
                );
            }
            for (i, target) in targets.iter().enumerate() {
                let tpath = format!("{fpath}[{i}]");
                let Some(target) = target.as_str() else {
                    ctx.error(&tpath, "a route target must be a screen id", "");
                    continue;
                };
                if target == from {
                    ctx.error(
                        &tpath,
                        format!("screen `{from}` routes to itself"),
                        "remove the self-route; refresh a screen with `data_exchange` instead",
                    );
                } else if !ids.contains(&target) {
                    ctx.error(
                        &tpath,
                        format!("route target `{target}` is not a screen"),
                        format!("screens: {}", ids.join(", ")),
                    );
                } else {
                    edges.entry(from.as_str()).or_default().insert(target);
                }
            }
        }
    }
    for screen in &model.screens {
        let Some(from) = screen.id else { continue };
        for action in screen
            .actions
            .iter()
            .filter(|a| a.name() == Some("navigate"))
        {
            let Some(target) = action.target() else {
                continue;
            };
            let tpath = format!("{}.next.name", action.path);
            if target == from {
                ctx.error(
                    &tpath,
                    format!("screen `{from}` navigates to itself"),
                    "navigate to another screen; use `update_data` or `data_exchange` to change this one",
                );
            } else if !ids.contains(&target) {
                ctx.error(
                    &tpath,
                    format!("navigate target `{target}` is not a screen"),
                    format!("screens: {}", ids.join(", ")),
                );
            } else if let Some(rm) = declared {
                let routed = rm
                    .get(from)
                    .and_then(Value::as_array)
                    .is_some_and(|t| t.iter().any(|v| v.as_str() == Some(target)));
                if !routed {
                    ctx.error(
                        &tpath,
                        format!("navigate from `{from}` to `{target}` is not in routing_model"),
                        format!("add \"{target}\" to routing_model.{from}"),
                    );
                }
            } else {
                edges.entry(from).or_default().insert(target);
            }
        }
    }
    if declared.is_none() {
        for screen in &model.screens {
            let Some(from) = screen.id else { continue };
            let count = edges.get(from).map_or(0, BTreeSet::len);
            if count > BRANCHES_PER_SCREEN {
                ctx.error(
                    &screen.path,
                    format!(
                        "screen `{from}` navigates to {count} screens; Meta allows {BRANCHES_PER_SCREEN} branches"
                    ),
                    "split the choice over more screens",
                );
            }
        }
    }
    reachability(ctx, model, &ids, &edges)
}

fn reachability(
    ctx: &mut Ctx<'_>,
    model: &Model<'_>,
    ids: &[&str],
    edges: &BTreeMap<&str, BTreeSet<&str>>,
) -> Option<String> {
    let path_of = |id: &str| model.screen(id).map(|s| s.path.clone()).unwrap_or_default();
    let inbound: BTreeSet<&str> = edges.values().flatten().copied().collect();
    let roots: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| !inbound.contains(id))
        .collect();
    // The first screen opens the Flow unless something navigates to it.
    let entry = roots.first().copied().unwrap_or(ids[0]);
    let reached = walk(entry, |s| {
        edges.get(s).into_iter().flatten().copied().collect()
    });
    for id in ids {
        if reached.contains(id) {
            continue;
        }
        let also_root = roots.contains(id);
        ctx.error(
            &path_of(id),
            format!("screen `{id}` cannot be reached from the entry screen `{entry}`"),
            if also_root {
                format!("a Flow has one entry screen: navigate to `{id}` from another screen, or remove it")
            } else {
                format!("only screens that cannot be reached from `{entry}` lead here: connect it or remove it")
            },
        );
    }
    let terminals: Vec<&str> = model
        .screens
        .iter()
        .filter(|s| s.terminal)
        .filter_map(|s| s.id)
        .collect();
    if terminals.is_empty() {
        return Some(entry.to_string());
    }
    let mut reverse: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, targets) in edges {
        for to in targets {
            reverse.entry(to).or_default().push(from);
        }
    }
    let mut finishes = BTreeSet::new();
    for t in &terminals {
        finishes.extend(walk(t, |s| reverse.get(s).cloned().unwrap_or_default()));
    }
    for id in ids {
        if finishes.contains(id) || !reached.contains(id) {
            continue;
        }
        let dead_end = edges.get(id).is_none_or(BTreeSet::is_empty);
        ctx.error(
            &path_of(id),
            if dead_end {
                format!("screen `{id}` is a dead end: it is not terminal and leads nowhere")
            } else {
                format!("no path from screen `{id}` reaches a terminal screen")
            },
            "navigate onward from it, or mark it `\"terminal\": true` with a Footer that completes the Flow",
        );
    }
    Some(entry.to_string())
}

fn walk<'a>(start: &'a str, next: impl Fn(&'a str) -> Vec<&'a str>) -> BTreeSet<&'a str> {
    let mut seen = BTreeSet::from([start]);
    let mut queue = VecDeque::from([start]);
    while let Some(s) = queue.pop_front() {
        for n in next(s) {
            if seen.insert(n) {
                queue.push_back(n);
            }
        }
    }
    seen
}
