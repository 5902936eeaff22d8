//! An HCL attribute's value converted to its field's Go type, as Nomad's decoder does it
//! (jobspec2 decodes with gohcl, which converts with go-cty's rules): `cpu = "100"` is the number
//! 100, `user = 5` the string "5", `leader = "true"` a bool; `cpu = 1.5` and `leader = "yes"`
//! are errors. Each rule was checked with `jobspec2json` (tests/integration/nomad_oracle.rs
//! holds the table). Not here: free-form bodies (driver config), which Nomad keeps as written.

use super::parse_duration;
use crate::nomad::schema::Field;
use serde_json::{Map, Value};

/// What a Go type holds once pointers, slices and maps are taken off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    String,
    Int,
    Float,
    Bool,
    Duration,
    /// A struct, `any`, `[]byte`: nothing to convert here.
    Other,
}

/// Converts `value` (an attribute of `field`) to the field's type; `path` names it in errors.
/// A `null` is refused where Nomad refuses it: for plain (non-pointer) scalars and durations.
/// Returns `None` for a `null` that leaves the field unset.
pub fn coerce(field: &Field, value: Value, path: &str) -> Result<Option<Value>, String> {
    if value.is_null() {
        let scalar = scalar_of(field.go_type.trim_start_matches('*'));
        let plain = !field.pointer && !field.go_type.starts_with(['[', 'm']);
        return if scalar == Scalar::Duration || (plain && scalar != Scalar::Other) {
            Err(format!("{path}: null value is not allowed"))
        } else {
            Ok(None)
        };
    }
    convert(field.go_type.trim_start_matches('*'), value, path).map(Some)
}

fn convert(go: &str, value: Value, path: &str) -> Result<Value, String> {
    if let Some(inner) = go.strip_prefix("[]")
        && inner != "byte"
    {
        return match value {
            Value::Array(items) => items
                .into_iter()
                .map(|v| convert(inner.trim_start_matches('*'), v, path))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            _ => Err(format!("{path}: a list is required")),
        };
    }
    if let Some(inner) = go.strip_prefix("map[string]") {
        return match value {
            Value::Object(obj) => obj
                .into_iter()
                .map(|(k, v)| Ok((k, convert(inner.trim_start_matches('*'), v, path)?)))
                .collect::<Result<Map<_, _>, String>>()
                .map(Value::Object),
            _ => Err(format!("{path}: a map is required")),
        };
    }
    match (scalar_of(go), value) {
        (Scalar::Other, v) => Ok(v),
        (_, Value::Null) => Err(format!("{path}: null value is not allowed")),
        (Scalar::String, Value::String(s)) => Ok(Value::String(s)),
        (Scalar::String, Value::Number(n)) => Ok(Value::String(n.to_string())),
        (Scalar::String, Value::Bool(b)) => Ok(Value::String(b.to_string())),
        (Scalar::Bool, Value::Bool(b)) => Ok(Value::Bool(b)),
        // go-cty's string → bool conversion knows these four spellings.
        (Scalar::Bool, Value::String(s)) => match s.as_str() {
            "true" | "1" => Ok(Value::Bool(true)),
            "false" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("{path}: a bool is required")),
        },
        // go-cty converts to a Go int only when the number is whole and fits in 64 bits; an
        // integer literal is taken as written (through f64 it would lose digits above 2^53).
        (Scalar::Int, Value::Number(n)) if n.is_i64() => Ok(Value::Number(n)),
        (Scalar::Int, Value::Number(n)) if n.is_u64() => Err(format!(
            "{path}: value must be a whole number, between {} and {}",
            i64::MIN,
            i64::MAX
        )),
        (Scalar::Int, v) => {
            let n = number(v, path)?;
            if n.fract() != 0.0 || n.abs() > 9.007_199_254_740_992e15 {
                return Err(format!("{path}: value must be a whole number"));
            }
            Ok(Value::from(n as i64))
        }
        (Scalar::Float, v) => Ok(Value::from(number(v, path)?)),
        (Scalar::Duration, Value::String(d)) => parse_duration(&d)
            .map(Value::from)
            .ok_or_else(|| format!("{path}: invalid duration {d:?}")),
        (Scalar::Duration, Value::Number(n)) => n
            .as_i64()
            .map(Value::from)
            .ok_or_else(|| format!("{path}: a duration must be a whole number of nanoseconds")),
        (Scalar::String | Scalar::Bool | Scalar::Duration, _) => {
            Err(format!("{path}: a {go} is required"))
        }
    }
}

/// A number, or a string that holds one (go-cty parses `"1e2"` but not `" 100"`).
fn number(v: Value, path: &str) -> Result<f64, String> {
    let n = match &v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if !s.is_empty() && !s.starts_with(char::is_whitespace) => {
            s.parse::<f64>().ok()
        }
        _ => None,
    };
    n.filter(|n| n.is_finite())
        .ok_or_else(|| format!("{path}: a number is required"))
}

fn scalar_of(go: &str) -> Scalar {
    match go {
        "string" => Scalar::String,
        "bool" => Scalar::Bool,
        "time.Duration" => Scalar::Duration,
        "float32" | "float64" => Scalar::Float,
        "int" | "int8" | "int16" | "int32" | "int64" | "uint" | "uint8" | "uint16" | "uint32"
        | "uint64" => Scalar::Int,
        _ => Scalar::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nomad::schema::schema;
    use serde_json::json;

    fn field(s: &str, f: &str) -> &'static Field {
        schema().field(s, f).unwrap()
    }

    #[test]
    fn converts_like_go_cty() {
        let cpu = field("Resources", "CPU");
        assert_eq!(coerce(cpu, json!("100"), "p").unwrap(), Some(json!(100)));
        assert_eq!(coerce(cpu, json!("1e2"), "p").unwrap(), Some(json!(100)));
        assert_eq!(coerce(cpu, json!(100.0), "p").unwrap(), Some(json!(100)));
        assert!(coerce(cpu, json!(100.5), "p").is_err());
        assert!(coerce(cpu, json!(" 100"), "p").is_err());
        // Found by the property test: integers above 2^53 are Go ints too, exactly as written.
        assert_eq!(
            coerce(cpu, json!(99_999_999_999_999_001_i64), "p").unwrap(),
            Some(json!(99_999_999_999_999_001_i64))
        );
        assert_eq!(
            coerce(cpu, json!(i64::MAX), "p").unwrap(),
            Some(json!(i64::MAX))
        );
        assert!(coerce(cpu, json!(i64::MAX as u64 + 1), "p").is_err());
        assert_eq!(coerce(cpu, json!(null), "p").unwrap(), None);
        let user = field("Task", "User");
        assert_eq!(coerce(user, json!(5), "p").unwrap(), Some(json!("5")));
        assert_eq!(coerce(user, json!(1.5), "p").unwrap(), Some(json!("1.5")));
        assert_eq!(coerce(user, json!(true), "p").unwrap(), Some(json!("true")));
        assert!(coerce(user, json!(null), "p").is_err());
        let leader = field("Task", "Leader");
        assert_eq!(coerce(leader, json!("1"), "p").unwrap(), Some(json!(true)));
        assert!(coerce(leader, json!("yes"), "p").is_err());
        let kill = field("Task", "KillTimeout");
        assert!(coerce(kill, json!(null), "p").is_err());
        assert_eq!(
            coerce(kill, json!("5s"), "p").unwrap(),
            Some(json!(5_000_000_000_i64))
        );
        let meta = field("Task", "Meta");
        assert_eq!(
            coerce(meta, json!({"a": 1, "b": true}), "p").unwrap(),
            Some(json!({"a": "1", "b": "true"}))
        );
        let dcs = field("Job", "Datacenters");
        assert_eq!(coerce(dcs, json!([1]), "p").unwrap(), Some(json!(["1"])));
        assert!(coerce(dcs, json!("dc1"), "p").is_err());
    }
}
