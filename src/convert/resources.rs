//! Resources: CPU (cores × --cpu-mhz-per-core as Nomad's MHz share), memory in MiB (memory_max
//! from a limit above the request), GPUs as devices, and the containers' ephemeral storage as
//! the group's disk.

use super::Ctx;
use super::quantity::Quantity;
use crate::knative::model::RevisionSpec;
use crate::nomad::model::{EphemeralDisk, RequestedDevice, Resources};
use k8s_openapi::api::core::v1::Container;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// CPU as MHz (cores × --cpu-mhz-per-core), memory in MiB rounded up, memory_max from a limit
/// above the request, GPUs as devices.
pub fn resources(ctx: &mut Ctx<'_>, c: &Container, path: &str, task_path: &str) -> Resources {
    let mut out = Resources::default();
    let requested = Requested::of(c, path, task_path);
    let cpu_req = requested.parse(ctx, "requests", "cpu");
    let cpu_lim = requested.parse(ctx, "limits", "cpu");
    let mem_req = requested.parse(ctx, "requests", "memory");
    let mem_lim = requested.parse(ctx, "limits", "memory");
    let mhz = ctx.opts.cpu_mhz_per_core as u128;
    for (kind, name, quantity, value, unit) in [
        (
            "requests",
            "cpu",
            cpu_req,
            cpu_req.map(|q| q.scaled_ceil(mhz, 1)),
            "MHz",
        ),
        (
            "limits",
            "cpu",
            cpu_lim,
            cpu_lim.map(|q| q.scaled_ceil(mhz, 1)),
            "MHz",
        ),
        (
            "requests",
            "memory",
            mem_req,
            mem_req.map(|q| q.mebibytes_ceil()),
            "MiB",
        ),
        (
            "limits",
            "memory",
            mem_lim,
            mem_lim.map(|q| q.mebibytes_ceil()),
            "MiB",
        ),
    ] {
        requested.check_range(ctx, kind, name, quantity.and(value), unit);
    }
    if ctx.has_errors() {
        return out;
    }
    out.cpu = Some(requested.cpu(ctx, cpu_req, cpu_lim));
    (out.memory_mb, out.memory_max_mb) = requested.memory(ctx, mem_req, mem_lim);
    if cpu_req.is_none() && cpu_lim.is_none() || mem_req.is_none() && mem_lim.is_none() {
        ctx.report(
            "K2N044",
            &format!("{path}.resources"),
            "no CPU or memory request; Nomad's defaults (cpu 100 MHz, memory 300 MiB) are written",
        );
    }
    if out.memory_mb.is_some_and(|m| m < 10) {
        ctx.report(
            "K2N045",
            &format!("{path}.resources"),
            "memory below 10 MiB is raised to Nomad's minimum of 10",
        );
        out.memory_mb = Some(10);
        if out.memory_max_mb.is_some_and(|m| m < 10) {
            out.memory_max_mb = None;
        }
    }
    out.devices = requested.devices(ctx);
    out
}

/// A container's resource requests and limits, with the paths findings and notes name.
struct Requested<'a> {
    requests: BTreeMap<String, K8sQuantity>,
    limits: BTreeMap<String, K8sQuantity>,
    /// The container's YAML path.
    path: &'a str,
    /// The same without `spec.template.spec.`, for `--annotate` comments.
    short: &'a str,
    /// HCL path of the task's resources block.
    hcl: String,
}

impl<'a> Requested<'a> {
    fn of(c: &Container, path: &'a str, task_path: &str) -> Self {
        let reqs = c.resources.as_ref();
        Requested {
            requests: reqs.and_then(|r| r.requests.clone()).unwrap_or_default(),
            limits: reqs.and_then(|r| r.limits.clone()).unwrap_or_default(),
            path,
            short: path.trim_start_matches("spec.template.spec."),
            hcl: format!("{task_path}/resources"),
        }
    }

    fn list(&self, kind: &str) -> &BTreeMap<String, K8sQuantity> {
        if kind == "requests" {
            &self.requests
        } else {
            &self.limits
        }
    }

    /// The quantity of `name` in `kind` (requests or limits); a malformed one is reported.
    fn parse(&self, ctx: &mut Ctx<'_>, kind: &str, name: &str) -> Option<Quantity> {
        let q = self.list(kind).get(name)?;
        let path = self.path;
        let p = if name.contains(['.', '/']) {
            format!("{path}.resources.{kind}[{name:?}]")
        } else {
            format!("{path}.resources.{kind}.{name}")
        };
        match Quantity::parse(&q.0) {
            Ok(v) => Some(v),
            Err(e) => {
                ctx.report("K2N012", &p, e.0);
                None
            }
        }
    }

    /// The quantity as the user wrote it, for notes.
    fn raw(&self, kind: &str, name: &str) -> String {
        self.list(kind)
            .get(name)
            .map(|q| q.0.clone())
            .unwrap_or_default()
    }

    /// Nomad's cpu and memory are Go ints: a value beyond i64 is an error, not a silently
    /// saturated 9223372036854775807 that no node could ever hold.
    fn check_range(
        &self,
        ctx: &mut Ctx<'_>,
        kind: &str,
        name: &str,
        converted: Option<Option<u128>>,
        unit: &str,
    ) {
        let Some(converted) = converted else { return };
        if converted.and_then(|v| i64::try_from(v).ok()).is_none() {
            ctx.report(
                "K2N012",
                &format!("{}.resources.{kind}.{name}", self.path),
                format!(
                    "{name} {} is out of range: Nomad takes at most {} {unit}",
                    self.raw(kind, name),
                    i64::MAX
                ),
            );
        }
    }

    /// Nomad's cpu share in MHz: the request, else the limit, else Nomad's default.
    fn cpu(&self, ctx: &mut Ctx<'_>, request: Option<Quantity>, limit: Option<Quantity>) -> i64 {
        let rp = &self.hcl;
        let Some(q) = request.or(limit) else {
            ctx.note(
                format!("{rp}/cpu"),
                "default: Nomad's 100 MHz (no CPU request)",
            );
            return 100;
        };
        let mhz = ctx.opts.cpu_mhz_per_core as u128;
        let kind = if request.is_some() {
            "requests"
        } else {
            "limits"
        };
        ctx.note(
            format!("{rp}/cpu"),
            format!(
                "{}.resources.{kind}.cpu {} × {mhz} MHz/core",
                self.short,
                self.raw(kind, "cpu")
            ),
        );
        let value = q
            .scaled_ceil(mhz, 1)
            .map(|v| v.min(i64::MAX as u128) as i64)
            .unwrap_or(i64::MAX);
        if value < 1 {
            ctx.report(
                "K2N045",
                &format!("{}.resources", self.path),
                "CPU below 1 MHz is raised to Nomad's minimum of 1",
            );
        }
        if limit.is_some() {
            ctx.report(
                "K2N050",
                &format!("{}.resources.limits.cpu", self.path),
                "a CPU limit is a hard cap in Kubernetes; Nomad's cpu is a share",
            );
        }
        value.max(1)
    }

    /// Nomad's memory and memory_max in MiB: the request (or the limit alone, or Nomad's
    /// default), and the limit when it is above the request.
    fn memory(
        &self,
        ctx: &mut Ctx<'_>,
        request: Option<Quantity>,
        limit: Option<Quantity>,
    ) -> (Option<i64>, Option<i64>) {
        let rp = &self.hcl;
        let short = self.short;
        let mib = |q: Quantity| {
            q.mebibytes_ceil()
                .map(|v| v.min(i64::MAX as u128) as i64)
                .unwrap_or(i64::MAX)
        };
        match (request, limit) {
            (Some(r), limit) => {
                ctx.note(
                    format!("{rp}/memory"),
                    format!(
                        "{short}.resources.requests.memory {} in MiB, rounded up",
                        self.raw("requests", "memory")
                    ),
                );
                let Some(l) = limit.filter(|l| l.cmp_exact(r) == Some(Ordering::Greater)) else {
                    return (Some(mib(r)), None);
                };
                ctx.note(
                    format!("{rp}/memory_max"),
                    format!(
                        "{short}.resources.limits.memory {}",
                        self.raw("limits", "memory")
                    ),
                );
                (Some(mib(r)), Some(mib(l)))
            }
            (None, Some(l)) => {
                ctx.note(
                    format!("{rp}/memory"),
                    format!(
                        "{short}.resources.limits.memory {} (no request)",
                        self.raw("limits", "memory")
                    ),
                );
                (Some(mib(l)), None)
            }
            (None, None) => {
                ctx.note(
                    format!("{rp}/memory"),
                    "default: Nomad's 300 MiB (no memory request)",
                );
                (Some(300), None)
            }
        }
    }

    /// Extended resources with a vendor prefix (GPUs): Nomad devices.
    fn devices(&self, ctx: &mut Ctx<'_>) -> Vec<RequestedDevice> {
        let mut devices = Vec::new();
        for name in self.limits.keys() {
            let vendor = match name.as_str() {
                "nvidia.com/gpu" => "nvidia/gpu",
                "amd.com/gpu" => "amd/gpu",
                n if n.contains('/') => n,
                _ => continue,
            };
            let Some(quantity) = self.parse(ctx, "limits", name) else {
                continue;
            };
            // Nomad's device count is a uint64 (nomad/structs RequestedDevice.Count): a count
            // beyond it is an error, not a silently saturated 18446744073709551615.
            let Some(count) = quantity.units_ceil().and_then(|v| u64::try_from(v).ok()) else {
                ctx.report(
                    "K2N012",
                    &format!("{}.resources.limits[{name:?}]", self.path),
                    format!(
                        "{name} count {} is out of range: a device count is a whole number of at most {}",
                        self.raw("limits", name),
                        u64::MAX
                    ),
                );
                continue;
            };
            devices.push(RequestedDevice {
                name: Some(vendor.replace('.', "-").replacen("-com/", "/", 1)),
                count: Some(count),
                ..RequestedDevice::default()
            });
        }
        devices
    }
}

/// Sum of the containers' ephemeral-storage (limit, else request) as the group's disk.
pub fn ephemeral_disk(ctx: &mut Ctx<'_>, spec: &RevisionSpec) -> Option<Option<EphemeralDisk>> {
    let mut total: i64 = 0;
    let mut any = false;
    for (i, c) in spec.containers.iter().enumerate() {
        let r = c.resources.as_ref();
        let q = r
            .and_then(|r| r.limits.as_ref().and_then(|l| l.get("ephemeral-storage")))
            .or_else(|| {
                r.and_then(|r| r.requests.as_ref().and_then(|l| l.get("ephemeral-storage")))
            });
        let Some(q) = q else { continue };
        let path = format!("spec.template.spec.containers[{i}].resources");
        match Quantity::parse(&q.0) {
            Ok(v) => {
                any = true;
                let Some(sum) = v
                    .mebibytes_ceil()
                    .and_then(|m| i64::try_from(m).ok())
                    .and_then(|m| total.checked_add(m))
                else {
                    ctx.report(
                        "K2N012",
                        &path,
                        format!(
                            "ephemeral-storage {} is out of range: Nomad takes at most {} MiB",
                            q.0,
                            i64::MAX
                        ),
                    );
                    continue;
                };
                total = sum;
                ctx.report(
                    "K2N043",
                    &path,
                    "ephemeral-storage becomes the group's ephemeral_disk",
                );
            }
            Err(e) => ctx.report("K2N012", &path, e.0),
        }
    }
    if ctx.has_errors() {
        return None;
    }
    if !any {
        return Some(None);
    }
    // Nomad requires each task's logs (10 files × 10 MiB by default) to fit below the disk size.
    let logs = 101;
    Some(Some(EphemeralDisk {
        size_mb: Some(total.max(logs)),
        ..EphemeralDisk::default()
    }))
}
