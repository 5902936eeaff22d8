//! The revision template's annotations (`spec.template.metadata.annotations`), where Knative
//! reads its per-revision settings (autoscaling, progress deadline): finding one (the
//! kebab-case key wins over its legacy camelCase alias), its YAML path for findings, and
//! reading a duration, with K2N013 for a value Knative would refuse.

use super::Ctx;
use crate::knative::model::KnativeService;
use std::collections::BTreeMap;
use std::time::Duration;

/// The template's annotations of one Service.
#[derive(Debug, Clone, Copy)]
pub struct TemplateAnnotations<'a> {
    map: Option<&'a BTreeMap<String, String>>,
}

impl<'a> TemplateAnnotations<'a> {
    pub fn of(svc: &'a KnativeService) -> Self {
        TemplateAnnotations {
            map: svc.spec.template.metadata.annotations.as_ref(),
        }
    }

    /// The value of `key`, else of its legacy `alias`, with the key it was found under.
    pub fn get(&self, key: &str, alias: Option<&str>) -> Option<(&'a str, &'a str)> {
        let map = self.map?;
        [Some(key), alias]
            .into_iter()
            .flatten()
            .find_map(|k| map.get_key_value(k))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A duration such as `60s`, at least `at_least`. A value that is not one is reported
    /// (K2N013) and ignored: the caller keeps its default, as Knative's webhook would refuse it.
    pub fn duration(
        &self,
        ctx: &mut Ctx<'_>,
        key: &str,
        alias: Option<&str>,
        at_least: Duration,
    ) -> Option<Duration> {
        let (found, value) = self.get(key, alias)?;
        match humantime::parse_duration(value.trim()) {
            Ok(d) if d >= at_least => Some(d),
            _ => {
                let bound = if at_least.is_zero() {
                    String::new()
                } else {
                    format!(" of at least {}", humantime::format_duration(at_least))
                };
                ctx.report(
                    "K2N013",
                    &path(found),
                    format!("{found} must be a duration{bound} such as 60s, not {value:?}"),
                );
                None
            }
        }
    }
}

/// The YAML path of the template annotation `key`, for findings.
pub fn path(key: &str) -> String {
    format!("spec.template.metadata.annotations[{key:?}]")
}
