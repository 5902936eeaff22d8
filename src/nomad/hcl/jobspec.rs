//! Where an HCL block does not map one-to-one onto an API field, and Nomad's own parser
//! (jobspec2) moves values after decoding. Checked with `jobspec2json` (../shared/tools) on Nomad
//! 1.8, 1.10 and 2.0:
//!
//! - `port "web" { static = 80 }` is written in the `port` blocks of `network`, which decode into
//!   `DynamicPorts`; jobspec2 then moves every port with a static value to `ReservedPorts`. (A
//!   `reserved_ports` block, the API struct's own tag, is silently dropped.)
//! - An `identity` block without a name is the task's default identity: jobspec2 puts it in
//!   `Identity`, not in `Identities` (whose tag the block carries).
//!
//! [`to_blocks`] prepares a job's API JSON for rendering; [`from_blocks`] does what jobspec2
//! does to parsed JSON, so rendering and parsing stay inverse.

use serde_json::{Map, Value};

/// Each task group of a job (API JSON), mutably.
fn groups(job: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    job.get_mut("TaskGroups")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

/// Each item of an array field of `obj`, as objects.
fn items<'a>(
    obj: &'a mut Map<String, Value>,
    field: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    obj.get_mut(field)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

/// API JSON → the shape the HCL blocks have: static ports among the `port` blocks, the default
/// identity among the `identity` blocks.
pub fn to_blocks(job: &mut Value) {
    for group in groups(job) {
        for network in items(group, "Networks") {
            if let Some(Value::Array(reserved)) = network.remove("ReservedPorts") {
                let dynamic = network
                    .entry("DynamicPorts")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(ports) = dynamic {
                    ports.extend(reserved);
                }
            }
        }
        for task in items(group, "Tasks") {
            if let Some(identity) = task.remove("Identity") {
                let list = task
                    .entry("Identities")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(identities) = list {
                    identities.insert(0, identity);
                }
            }
        }
    }
}

/// Parsed HCL blocks → API JSON, as jobspec2 leaves it.
pub fn from_blocks(job: &mut Value) {
    for group in groups(job) {
        for network in items(group, "Networks") {
            let Some(Value::Array(ports)) = network.remove("DynamicPorts") else {
                continue;
            };
            let is_static = |p: &Value| p["Value"].as_i64().is_some_and(|v| v > 0);
            let (reserved, dynamic): (Vec<Value>, Vec<Value>) =
                ports.into_iter().partition(is_static);
            if !dynamic.is_empty() {
                network.insert("DynamicPorts".into(), Value::Array(dynamic));
            }
            if !reserved.is_empty() {
                network.insert("ReservedPorts".into(), Value::Array(reserved));
            }
        }
        for task in items(group, "Tasks") {
            let Some(Value::Array(identities)) = task.remove("Identities") else {
                continue;
            };
            let unnamed = |i: &Value| i["Name"].as_str().is_none_or(str::is_empty);
            let (default, named): (Vec<Value>, Vec<Value>) =
                identities.into_iter().partition(unnamed);
            if let Some(identity) = default.into_iter().next() {
                task.insert("Identity".into(), identity);
            }
            if !named.is_empty() {
                task.insert("Identities".into(), Value::Array(named));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn static_ports_and_the_default_identity_round_trip() {
        let api = json!({"TaskGroups": [{
            "Networks": [{"DynamicPorts": [{"Label": "http"}], "ReservedPorts": [{"Label": "web", "Value": 80}]}],
            "Tasks": [{"Identity": {"Env": true}, "Identities": [{"Name": "vault"}]}]
        }]});
        let mut blocks = api.clone();
        to_blocks(&mut blocks);
        assert_eq!(
            blocks["TaskGroups"][0]["Networks"][0],
            json!({"DynamicPorts": [{"Label": "http"}, {"Label": "web", "Value": 80}]})
        );
        assert_eq!(
            blocks["TaskGroups"][0]["Tasks"][0],
            json!({"Identities": [{"Env": true}, {"Name": "vault"}]})
        );
        from_blocks(&mut blocks);
        assert_eq!(blocks, api);
    }
}
