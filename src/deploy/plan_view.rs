//! Human rendering of a plan: the job diff Nomad returns (`Diff` of `/v1/job/:id/plan`, the
//! structure of nomad/structs/diff.go) in the layout of `nomad job plan`, and the per-group
//! scheduler annotations ("2 create, 1 ignore").
//!
//! Only formatting lives here; the plan itself comes from the cluster.

use crate::nomad::client::{DesiredUpdates, PlanResponse};
use serde_json::Value;
use std::fmt::Write;

fn marker(kind: &str) -> &'static str {
    match kind {
        "Added" => "+",
        "Deleted" => "-",
        "Edited" => "+/-",
        _ => " ",
    }
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn render_fields(out: &mut String, diff: &Value, indent: usize) {
    for field in list(diff, "Fields") {
        let kind = text(field, "Type");
        let name = text(field, "Name");
        let (old, new) = (text(field, "Old"), text(field, "New"));
        let pad = " ".repeat(indent);
        let _ = match kind.as_str() {
            "Added" => writeln!(out, "{pad}+ {name}: {new:?}"),
            "Deleted" => writeln!(out, "{pad}- {name}: {old:?}"),
            "Edited" => writeln!(out, "{pad}+/- {name}: {old:?} => {new:?}"),
            _ => writeln!(out, "{pad}  {name}: {new:?}"),
        };
    }
    for object in list(diff, "Objects") {
        let pad = " ".repeat(indent);
        let _ = writeln!(
            out,
            "{pad}{} {} {{",
            marker(&text(object, "Type")),
            text(object, "Name")
        );
        render_fields(out, object, indent + 2);
        let _ = writeln!(out, "{pad}}}");
    }
}

/// "(2 create, 1 ignore)" from the scheduler's desired updates of one group.
pub fn group_annotation(updates: &DesiredUpdates) -> String {
    let parts: Vec<String> = [
        (updates.place, "create"),
        (updates.destructive_update, "create/destroy update"),
        (updates.in_place_update, "in-place update"),
        (updates.stop, "destroy"),
        (updates.migrate, "migrate"),
        (updates.canary, "canary"),
        (updates.ignore, "ignore"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// The plan as `nomad job plan` shows it: diff, group annotations, placement warnings.
pub fn render_plan(job_id: &str, plan: &PlanResponse) -> String {
    let mut out = String::new();
    let updates = plan
        .annotations
        .as_ref()
        .and_then(|a| a.desired_tg_updates.clone())
        .unwrap_or_default();
    match &plan.diff {
        Some(diff) if diff.is_object() => {
            let kind = text(diff, "Type");
            let _ = writeln!(out, "{} Job: {job_id:?}", marker(&kind));
            render_fields(&mut out, diff, 0);
            for group in list(diff, "TaskGroups") {
                let name = text(group, "Name");
                let annotation = updates.get(&name).map(group_annotation).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{} Task Group: {name:?}{annotation}",
                    marker(&text(group, "Type"))
                );
                render_fields(&mut out, group, 2);
                for task in list(group, "Tasks") {
                    let notes: Vec<&str> = list(task, "Annotations")
                        .iter()
                        .filter_map(Value::as_str)
                        .collect();
                    let notes = if notes.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", notes.join(", "))
                    };
                    let _ = writeln!(
                        out,
                        "  {} Task: {:?}{notes}",
                        marker(&text(task, "Type")),
                        text(task, "Name")
                    );
                    render_fields(&mut out, task, 4);
                }
            }
        }
        _ => {
            for (name, group_updates) in &updates {
                let _ = writeln!(
                    out,
                    "  Task Group: {name:?}{}",
                    group_annotation(group_updates)
                );
            }
        }
    }
    if let Some(failed) = plan.failed_tg_allocs.as_ref().filter(|f| !f.is_empty()) {
        let _ = writeln!(
            out,
            "Scheduler dry-run: WARNING: Failed to place all allocations."
        );
        for (group, metric) in failed {
            let _ = writeln!(out, "  Task Group {group:?}: {}", placement_reason(metric));
        }
    } else {
        let _ = writeln!(out, "Scheduler dry-run: All tasks successfully allocated.");
    }
    if !plan.warnings.trim().is_empty() {
        let _ = writeln!(out, "Job Warnings:\n{}", plan.warnings.trim_end());
    }
    out
}

/// One line on why a group could not be placed, from an `AllocMetric`.
pub fn placement_reason(metric: &Value) -> String {
    let mut reasons = Vec::new();
    let evaluated = metric
        .get("NodesEvaluated")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if evaluated == 0 {
        reasons.push("No nodes were eligible for evaluation".to_string());
    }
    for key in [
        "ClassFiltered",
        "ConstraintFiltered",
        "ClassExhausted",
        "DimensionExhausted",
        "QuotaExhausted",
    ] {
        if let Some(map) = metric.get(key).and_then(Value::as_object) {
            for (what, count) in map {
                let verb = match key {
                    "ClassFiltered" => format!("Class {what:?} filtered"),
                    "ConstraintFiltered" => format!("Constraint {what:?} filtered"),
                    "ClassExhausted" => format!("Class {what:?} exhausted"),
                    "DimensionExhausted" => format!("Dimension {what:?} exhausted"),
                    _ => format!("Quota limit hit {what:?}"),
                };
                reasons.push(format!("{verb} on {count} nodes"));
            }
        }
    }
    if reasons.is_empty() {
        let exhausted = metric
            .get("NodesExhausted")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        reasons.push(format!("Resources exhausted on {exhausted} nodes"));
    }
    reasons.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_an_edited_field_like_nomad_plan() {
        let plan: PlanResponse = serde_json::from_value(json!({
            "Diff": {"Type": "Edited", "ID": "web", "Fields": [], "Objects": [],
                "TaskGroups": [{"Type": "Edited", "Name": "web", "Fields": [], "Objects": [],
                    "Tasks": [{"Type": "Edited", "Name": "app", "Fields": [],
                        "Annotations": ["forces create/destroy update"],
                        "Objects": [{"Type": "Edited", "Name": "Config", "Objects": [],
                            "Fields": [{"Type": "Edited", "Name": "image", "Old": "a:1", "New": "a:2"}]}]}]}]},
            "Annotations": {"DesiredTGUpdates": {"web": {"DestructiveUpdate": 2}}}
        }))
        .unwrap();
        let text = render_plan("web", &plan);
        assert!(text.contains("+/- Job: \"web\""), "{text}");
        assert!(
            text.contains("+/- Task Group: \"web\" (2 create/destroy update)"),
            "{text}"
        );
        assert!(text.contains("+/- image: \"a:1\" => \"a:2\""), "{text}");
    }
}
