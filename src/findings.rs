//! Findings: what the converter could not carry over exactly, or assumed. Each has a stable code,
//! a severity, the YAML path and source location it concerns, a message and a hint.
//!
//! The registry [`CODES`] is the single list of codes; `knative2nomad explain` and
//! docs/findings.md are both derived from it.

use serde::Serialize;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Stops this service's conversion.
    Error,
    /// Behaviour on Nomad will differ from Knative.
    Warning,
    /// An assumption or a default the reader should know about.
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// Where in the input a finding points (1-based; line 0 means "the file as a whole").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    #[serde(serialize_with = "ser_arc_str")]
    pub file: Arc<str>,
    pub line: usize,
    pub column: usize,
}

fn ser_arc_str<S: serde::Serializer>(s: &Arc<str>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(s)
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.column)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    /// YAML path within the object, e.g. `spec.template.spec.containers[0].ports`.
    pub path: String,
    pub location: Location,
    pub message: String,
    pub hint: &'static str,
    /// A second place the finding concerns, as rustc shows where an unclosed delimiter opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related: Option<Box<Related>>,
}

/// A second source location of a finding, with what is there (`the quoted scalar starts here`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Related {
    pub location: Location,
    pub label: String,
}

impl Finding {
    /// A finding with the severity and hint registered for `code`.
    pub fn new(
        code: &'static str,
        location: Location,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Finding {
        let info = lookup(code);
        Finding {
            code,
            severity: info.map(|i| i.severity).unwrap_or(Severity::Error),
            path: path.into(),
            location,
            message: message.into(),
            hint: info.map(|i| i.hint).unwrap_or(""),
            related: None,
        }
    }

    /// This finding, also pointing at `location` with `label`.
    pub fn with_related(mut self, location: Location, label: impl Into<String>) -> Finding {
        self.related = Some(Box::new(Related {
            location,
            label: label.into(),
        }));
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}[{}]: {}\n  --> {}",
            self.severity, self.code, self.message, self.location
        )?;
        if !self.path.is_empty() {
            write!(f, " ({})", self.path)?;
        }
        if let Some(related) = &self.related {
            write!(f, "\n  ::: {}: {}", related.location, related.label)?;
        }
        if !self.hint.is_empty() {
            write!(f, "\n  = hint: {}", self.hint)?;
        }
        Ok(())
    }
}

/// One registered finding code.
#[derive(Debug)]
pub struct CodeInfo {
    pub code: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub explanation: &'static str,
    pub hint: &'static str,
    /// A minimal input that produces it.
    pub example: &'static str,
}

pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    CODES.iter().find(|c| c.code.eq_ignore_ascii_case(code))
}

/// Whether these findings should fail the run: any error, or under `strict` any warning whose
/// code is not allowed.
pub fn fails<'a>(
    findings: impl IntoIterator<Item = &'a Finding>,
    strict: bool,
    allow: &[String],
) -> bool {
    findings.into_iter().any(|f| {
        f.severity == Severity::Error
            || (strict
                && f.severity == Severity::Warning
                && !allow.iter().any(|a| a.eq_ignore_ascii_case(f.code)))
    })
}

/// What a snippet shows instead of text inside a Secret's `data` or `stringData`.
pub const REDACTED_SECRET: &str = "<redacted: Secret value>";

/// An input's text prepared for snippets: where each line starts (so thousands of findings in
/// one file each find their line at once, instead of scanning the file from the top), and the
/// byte spans a snippet must never show (Secret values, see `knative::redact`).
#[derive(Debug)]
pub struct SnippetSource<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
    hidden: Vec<Range<usize>>,
}

impl<'a> SnippetSource<'a> {
    /// `hidden`: sorted, disjoint byte spans shown as [`REDACTED_SECRET`].
    pub fn new(text: &'a str, hidden: Vec<Range<usize>>) -> SnippetSource<'a> {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SnippetSource {
            text,
            line_starts,
            hidden,
        }
    }

    /// Line `number` (1-based) without its line break, and its byte offset.
    fn line(&self, number: usize) -> Option<(usize, &'a str)> {
        let start = *self.line_starts.get(number.checked_sub(1)?)?;
        if start >= self.text.len() && number > 1 {
            return None;
        }
        let end = self
            .line_starts
            .get(number)
            .map_or(self.text.len(), |next| next - 1);
        let line = &self.text[start..end];
        Some((start, line.strip_suffix('\r').unwrap_or(line)))
    }

    /// The line as a snippet shows it, with hidden spans replaced, as characters; and where the
    /// character at `column` (0-based) of the source line is in it.
    fn shown_line(&self, start: usize, line: &str, column: usize) -> (Vec<char>, usize) {
        let mut shown = Vec::with_capacity(line.len());
        let mut caret = None;
        let mut span = self.hidden.partition_point(|s| s.end <= start);
        // Where the placeholder being drawn starts, while inside a hidden span.
        let mut placeholder: Option<usize> = None;
        for (index, (offset, c)) in line.char_indices().enumerate() {
            let at = start + offset;
            while self.hidden.get(span).is_some_and(|s| s.end <= at) {
                span += 1;
                placeholder = None;
            }
            let hidden = self.hidden.get(span).is_some_and(|s| s.start <= at);
            if hidden {
                let first = *placeholder.get_or_insert_with(|| {
                    shown.extend(REDACTED_SECRET.chars());
                    shown.len() - REDACTED_SECRET.chars().count()
                });
                if index == column {
                    caret = Some(first);
                }
            } else {
                placeholder = None;
                if index == column {
                    caret = Some(shown.len());
                }
                shown.push(c);
            }
        }
        let caret = caret.unwrap_or(shown.len());
        (shown, caret)
    }
}

/// Renders a finding like a rustc diagnostic, with the offending source line when available
/// (Secret values in it replaced, see [`SnippetSource`]).
/// Notes (info) are one line each: a batch of thousands of Services has several per Service,
/// and the snippet adds nothing to "this default was assumed".
pub fn render_human(finding: &Finding, source: Option<&SnippetSource<'_>>) -> String {
    if finding.severity == Severity::Info {
        return format!(
            "note[{}]: {}\n  --> {}\n",
            finding.code, finding.message, finding.location
        );
    }
    let mut out = format!(
        "{}[{}]: {}\n  --> {}",
        finding.severity, finding.code, finding.message, finding.location
    );
    if !finding.path.is_empty() {
        out.push_str(&format!("  ({})", finding.path));
    }
    out.push('\n');
    // One gutter width for both snippets, as rustc aligns them.
    let gutter = finding
        .related
        .as_ref()
        .map_or(0, |r| r.location.line)
        .max(finding.location.line)
        .to_string()
        .len();
    if let Some(source) = source {
        push_snippet(&mut out, source, &finding.location, gutter, None);
    }
    if let Some(related) = &finding.related {
        out.push_str(&format!("  ::: {}\n", related.location));
        if let Some(source) = source {
            push_snippet(
                &mut out,
                source,
                &related.location,
                gutter,
                Some(&related.label),
            );
        }
    }
    if !finding.hint.is_empty() {
        out.push_str(&format!("  = hint: {}\n", finding.hint));
    }
    out
}

/// The source line at `location` with a marker under it: `^` to the end of the line for the
/// finding's own place, or `-` and `label` for a related place. Nothing when the line does not
/// exist (an error at the end of the input).
fn push_snippet(
    out: &mut String,
    source: &SnippetSource<'_>,
    location: &Location,
    gutter: usize,
    label: Option<&str>,
) {
    let Some((line_start, line)) = source.line(location.line) else {
        return;
    };
    let number = format!("{:>gutter$}", location.line);
    let pad = " ".repeat(number.len());
    let (chars, caret_at) = source.shown_line(line_start, line, location.column.saturating_sub(1));
    // Long lines are cut to a window around the caret.
    const WINDOW: usize = 100;
    let start = caret_at.saturating_sub(WINDOW / 2).min(chars.len());
    let end = (start + WINDOW).min(chars.len());
    let shown: String = chars[start..end].iter().collect();
    let (lead, trail) = (
        if start > 0 { "…" } else { "" },
        if end < chars.len() { "…" } else { "" },
    );
    out.push_str(&format!(
        "{pad} |\n{number} | {lead}{shown}{trail}\n{pad} | "
    ));
    out.push_str(&" ".repeat(caret_at.min(end) - start + lead.chars().count()));
    match label {
        None => {
            let rest: String = chars[caret_at.min(end)..end].iter().collect();
            out.push_str(&"^".repeat(rest.trim_end().chars().count().max(1)));
        }
        Some(label) => {
            out.push_str("- ");
            out.push_str(label);
        }
    }
    out.push('\n');
}

/// The documentation of a code, as `explain` prints it and docs/findings.md holds it.
pub fn explain(info: &CodeInfo) -> String {
    format!(
        "## {} — {} ({})\n\n{}\n\nWhat to do: {}\n\nExample input:\n\n```yaml\n{}\n```\n",
        info.code,
        info.title,
        info.severity,
        info.explanation,
        info.hint,
        info.example.trim_end()
    )
}

/// The whole docs/findings.md text.
pub fn findings_markdown() -> String {
    let mut out = String::from(
        "# Finding codes\n\nEvery message knative2nomad prints has a stable code. Errors stop the conversion of that \
service; warnings mean the Nomad job will behave differently from the Knative Service; info notes an \
assumption or a default. `--strict` fails on warnings; `--allow CODE` accepts a code on purpose. \
`knative2nomad explain CODE` prints one entry. This file is generated from `src/findings.rs` \
(`UPDATE_DOCS=1 cargo test findings_doc`).\n\n| code | severity | title |\n|---|---|---|\n",
    );
    for c in CODES {
        out.push_str(&format!(
            "| [{}](#{}) | {} | {} |\n",
            c.code,
            c.code.to_lowercase(),
            c.severity,
            c.title
        ));
    }
    for c in CODES {
        out.push('\n');
        out.push_str(&explain(c));
    }
    out
}

macro_rules! code {
    ($code:literal, $sev:ident, $title:literal, $expl:literal, $hint:literal, $ex:literal) => {
        CodeInfo {
            code: $code,
            severity: Severity::$sev,
            title: $title,
            explanation: $expl,
            hint: $hint,
            example: $ex,
        }
    };
}

pub static CODES: &[CodeInfo] = &[
    code!(
        "K2N001",
        Error,
        "YAML or JSON syntax error",
        "A document is not valid YAML or JSON. The message names the place the parser stopped and, when it was inside something that opened earlier (a quoted string, a flow sequence), where that opened. Other documents of the same file and other files are still converted.",
        "fix the YAML syntax at the marked position (a linter such as yamllint shows the same place)",
        "spec:\n  template: [unclosed"
    ),
    code!(
        "K2N002",
        Error,
        "field has the wrong type",
        "A field does not have the type Knative's schema gives it (a string where a list is expected, a map where a number is).",
        "compare the field with the Knative Service reference; Kubernetes would reject it the same way",
        "spec:\n  template:\n    spec:\n      containers: nope"
    ),
    code!(
        "K2N003",
        Error,
        "required field missing",
        "A Knative Service needs metadata.name and at least one container with an image.",
        "add the missing field",
        "spec:\n  template:\n    spec:\n      containers:\n      - name: app"
    ),
    code!(
        "K2N004",
        Error,
        "invalid name",
        "Service names must be DNS-1035 labels (lower-case letters, digits and '-', starting with a letter, at most 63 characters) so they are valid Nomad job IDs and service names too. Container names must be DNS-1123 labels.",
        "rename the Service or container",
        "metadata:\n  name: My_Service"
    ),
    code!(
        "K2N005",
        Error,
        "unsupported apiVersion",
        "Only serving.knative.dev/v1 Services are converted. v1alpha1/v1beta1 Services were removed from Knative.",
        "migrate the manifest to serving.knative.dev/v1 (the field layout is the same for most services)",
        "apiVersion: serving.knative.dev/v1alpha1\nkind: Service"
    ),
    code!(
        "K2N006",
        Error,
        "input too large or too deeply nested",
        "Inputs over 16 MiB, YAML nested more than 100 levels deep (checked on the text before parsing, whose time grows with the square of the depth), or alias expansions beyond the parser's budget are refused instead of exhausting time or memory.",
        "split the input into smaller files; remove recursive or exploding YAML aliases",
        "a: &a [*a, *a, *a]"
    ),
    code!(
        "K2N010",
        Error,
        "invalid container ports",
        "Knative allows at most one port, on exactly one container; with several containers the serving one must declare it. Port names must be empty, http1 or h2c; protocol TCP.",
        "declare one containerPort on the container that serves requests",
        "containers:\n- image: a\n  ports:\n  - containerPort: 8080\n  - containerPort: 9000"
    ),
    code!(
        "K2N011",
        Error,
        "reserved port",
        "Ports 8012, 8013, 8022, 8008, 9090 and 9091 are used by Knative's queue-proxy and rejected by Knative.",
        "move the application to another port, e.g. 8080",
        "ports:\n- containerPort: 9090"
    ),
    code!(
        "K2N012",
        Error,
        "invalid resource quantity",
        "A resources value is not a Kubernetes quantity (e.g. 250m, 0.5, 128Mi, 1G, 1e3).",
        "write the quantity as Kubernetes does; the message quotes the bad value",
        "resources:\n  requests:\n    memory: 12 8Mi"
    ),
    code!(
        "K2N013",
        Error,
        "invalid autoscaling annotation",
        "An autoscaling annotation value is not what Knative accepts (scale bounds must be non-negative integers; targets positive numbers; windows durations), or min-scale is above max-scale.",
        "fix the annotation value; Knative would reject it too",
        "annotations:\n  autoscaling.knative.dev/min-scale: \"two\""
    ),
    code!(
        "K2N014",
        Error,
        "reserved environment variable",
        "PORT, K_SERVICE, K_CONFIGURATION and K_REVISION are set by Knative in the serving container and may not be set by the user.",
        "remove the variable; the converter sets it in the Nomad task as Knative did",
        "env:\n- name: PORT\n  value: \"9000\""
    ),
    code!(
        "K2N015",
        Error,
        "invalid volume or mount",
        "A volumeMount names a volume that does not exist, a mount path is not absolute or is reserved, or a volume has no supported source.",
        "make every mount name a declared volume, with an absolute path",
        "volumeMounts:\n- name: missing\n  mountPath: /data"
    ),
    code!(
        "K2N016",
        Error,
        "generated job fails Nomad validation",
        "The job the converter produced breaks one of Nomad's register-time rules. This is a converter bug or an input the mapping cannot express; nothing is written for this service.",
        "report the input; the message names the Nomad rule",
        "(no example: indicates a bug)"
    ),
    code!(
        "K2N020",
        Warning,
        "scale to zero not kept",
        "Knative scales this Service to zero when idle (min-scale 0, the default) and wakes it with its activator. With --scale-to-zero none there is no request-driven activation on Nomad, so the job keeps at least one instance running.",
        "accept it (--allow K2N020), set autoscaling.knative.dev/min-scale: \"1\", or drop --scale-to-zero none to scale to zero through Sablier (docs/serverless.md)",
        "metadata:\n  name: hello\nspec:\n  template:\n    spec:\n      containers:\n      - image: ghcr.io/example/hello"
    ),
    code!(
        "K2N021",
        Info,
        "max-scale unset, capped",
        "Knative's max-scale 0 (the default) means unlimited; the Nomad scaling block needs a maximum, so the configured default cap is used.",
        "set autoscaling.knative.dev/max-scale, or --default-max-scale",
        "annotations:\n  autoscaling.knative.dev/min-scale: \"1\""
    ),
    code!(
        "K2N022",
        Warning,
        "containerConcurrency not enforced",
        "containerConcurrency is a hard per-instance limit enforced by Knative's queue-proxy. Nomad does not limit in-flight requests; put a limit in the ingress (e.g. Traefik inFlightReq) if the application needs it.",
        "configure an in-flight request limit in the proxy in front of the service",
        "spec:\n  template:\n    spec:\n      containerConcurrency: 10"
    ),
    code!(
        "K2N023",
        Warning,
        "request timeout not enforced",
        "timeoutSeconds bounds each request in Knative. Nomad does not see requests; the value only bounds kill_timeout (capped at the Nomad client's max_kill_timeout, 30s by default).",
        "set the timeout in the ingress or the application",
        "spec:\n  template:\n    spec:\n      timeoutSeconds: 60"
    ),
    code!(
        "K2N024",
        Warning,
        "traffic split not converted",
        "Nomad runs one version of a job at a time, so traffic percentages between revisions, pinned revisions and per-revision tags are not converted. The job runs the template's current spec; tags become service tags.",
        "use Nomad canary deployments (update { canary }) for gradual rollouts",
        "traffic:\n- revisionName: hello-00001\n  percent: 50\n- latestRevision: true\n  percent: 50"
    ),
    code!(
        "K2N025",
        Info,
        "autoscaling mapped to a Nomad Autoscaler policy",
        "Knative's autoscaler target becomes a target-value strategy of the Nomad Autoscaler. Concurrency and rps targets read Traefik's metrics from Prometheus; CPU and memory read nomad-apm. The Nomad Autoscaler must be running for the group to scale.",
        "run the Nomad Autoscaler with a Prometheus APM, or adjust the policy's query",
        "annotations:\n  autoscaling.knative.dev/target: \"50\""
    ),
    code!(
        "K2N026",
        Warning,
        "autoscaling setting without Nomad equivalent",
        "Panic windows, target burst capacity, the aggregation algorithm and similar KPA settings have no Nomad Autoscaler equivalent and are dropped; so are activation scale and the pod retention period of a Service that does not scale to zero (for one that does, they map to Sablier's settings).",
        "tune the Nomad Autoscaler policy (cooldown, evaluation_interval) instead",
        "annotations:\n  autoscaling.knative.dev/panic-window-percentage: \"20\""
    ),
    code!(
        "K2N027",
        Info,
        "secret read from a Nomad Variable",
        "Secret values are never copied. Each secretKeyRef, envFrom secret and secret volume becomes a template that reads a Nomad Variable at the task's path; the variable must exist before the job can start.",
        "create the variable with the `nomad var put` command shown in the secret manifest",
        "env:\n- name: TOKEN\n  valueFrom:\n    secretKeyRef: {name: api, key: token}"
    ),
    code!(
        "K2N028",
        Warning,
        "ConfigMap not in the inputs",
        "The referenced ConfigMap was not among the inputs, so its values could not be inlined; they are read from a Nomad Variable instead, which must be created.",
        "add the ConfigMap to the inputs, or create the Nomad Variable",
        "envFrom:\n- configMapRef: {name: settings}"
    ),
    code!(
        "K2N029",
        Warning,
        "probe type not supported by the provider",
        "Nomad's built-in service provider runs only http and tcp checks. exec probes need Consul script checks, gRPC probes Consul grpc checks; otherwise a TCP check on the port is used.",
        "use --service-provider consul, or give the application an HTTP health endpoint",
        "readinessProbe:\n  exec:\n    command: [cat, /tmp/ready]"
    ),
    code!(
        "K2N030",
        Info,
        "default readiness check",
        "Knative probes the serving port over TCP when no readiness probe is given; the job gets the same TCP check.",
        "add a readinessProbe with httpGet for a more meaningful check",
        "containers:\n- image: ghcr.io/example/hello"
    ),
    code!(
        "K2N031",
        Info,
        "probe timing adjusted",
        "Knative's default probing (periodSeconds 0) polls every 50 ms until ready; Nomad checks run at most once a second, so interval and timeout are at least 1s.",
        "set periodSeconds/timeoutSeconds explicitly to choose the check timing",
        "readinessProbe:\n  httpGet: {path: /healthz}"
    ),
    code!(
        "K2N032",
        Warning,
        "pod field not converted",
        "A pod-level field (behind a Knative feature flag, or without a Nomad equivalent) is not converted: nodeSelector, affinity, tolerations, dnsConfig, priorityClassName, serviceAccountName and similar.",
        "express placement with Nomad constraints/affinities by hand",
        "spec:\n  template:\n    spec:\n      nodeSelector: {disktype: ssd}"
    ),
    code!(
        "K2N033",
        Warning,
        "container field not converted",
        "A container field has no Nomad docker driver equivalent and is dropped (e.g. terminationMessagePath, some securityContext settings).",
        "check whether the application depends on it",
        "securityContext:\n  seccompProfile: {type: RuntimeDefault}"
    ),
    code!(
        "K2N034",
        Warning,
        "volume kind not converted",
        "Only secret, configMap, projected (secret/configMap), emptyDir and persistentVolumeClaim volumes are converted. PVCs become CSI volume requests that must exist in Nomad.",
        "create a Nomad volume with the claim's name, or mount storage by hand",
        "volumes:\n- name: data\n  hostPath: {path: /srv}"
    ),
    code!(
        "K2N035",
        Info,
        "image tag not pinned",
        "Knative resolves image tags to digests when it creates a revision, so a revision keeps running the same image. Nomad pulls the tag as written.",
        "pin the image by digest (image@sha256:...) for reproducible deployments",
        "image: ghcr.io/example/hello:latest"
    ),
    code!(
        "K2N036",
        Warning,
        "Knative object not converted",
        "Only Services are converted. Routes, Configurations, Revisions, DomainMappings and eventing objects (Triggers, Brokers, sources, flows) have no Nomad counterpart.",
        "recreate routing and event delivery with your ingress and messaging on Nomad",
        "apiVersion: eventing.knative.dev/v1\nkind: Trigger"
    ),
    code!(
        "K2N037",
        Warning,
        "annotation in the wrong place",
        "Autoscaling annotations on the Service's own metadata are rejected by Knative; they belong under spec.template.metadata.annotations. They are ignored.",
        "move the annotation to spec.template.metadata.annotations",
        "metadata:\n  annotations:\n    autoscaling.knative.dev/min-scale: \"1\""
    ),
    code!(
        "K2N038",
        Info,
        "cluster-local visibility",
        "networking.knative.dev/visibility: cluster-local keeps the Service off the public ingress. The job gets no ingress tags and is tagged cluster-local.",
        "nothing to do unless the service should be public",
        "metadata:\n  labels:\n    networking.knative.dev/visibility: cluster-local"
    ),
    code!(
        "K2N039",
        Warning,
        "obsolete visibility label",
        "serving.knative.dev/visibility is no longer read by Knative (renamed in v0.18); the Service is public in Knative today, and stays public here.",
        "use networking.knative.dev/visibility if the Service should be cluster-local",
        "metadata:\n  labels:\n    serving.knative.dev/visibility: cluster-local"
    ),
    code!(
        "K2N040",
        Warning,
        "environment source not supported",
        "fieldRef and resourceFieldRef read pod fields that do not exist on Nomad; the variable is set from the matching Nomad runtime variable where one exists, otherwise dropped.",
        "use Nomad runtime variables (NOMAD_ALLOC_ID, NOMAD_CPU_LIMIT, ...) in the application",
        "env:\n- name: POD\n  valueFrom:\n    fieldRef: {fieldPath: metadata.name}"
    ),
    code!(
        "K2N041",
        Warning,
        "image pull secret not converted",
        "imagePullSecrets are Kubernetes Secrets; Nomad's docker driver authenticates through the client's docker auth config or an auth block.",
        "configure registry credentials on the Nomad clients (docker plugin auth config)",
        "imagePullSecrets:\n- name: regcred"
    ),
    code!(
        "K2N042",
        Info,
        "revision naming",
        "Nomad has no revisions; K_REVISION is set to the template's name, or to <service>-00001 like a Service's first revision.",
        "nothing to do unless the application parses K_REVISION",
        "spec:\n  template:\n    metadata:\n      name: hello-v2"
    ),
    code!(
        "K2N043",
        Info,
        "ephemeral storage becomes the group's ephemeral disk",
        "ephemeral-storage requests and limits of all containers are summed into the group's ephemeral_disk size (at least what the log files need).",
        "nothing to do",
        "resources:\n  requests:\n    ephemeral-storage: 1Gi"
    ),
    code!(
        "K2N044",
        Info,
        "Nomad default resources",
        "The container requests no CPU or memory, so Nomad's defaults (100 MHz, 300 MiB) are written explicitly.",
        "set resources.requests so the job reserves what the function needs",
        "containers:\n- image: ghcr.io/example/hello"
    ),
    code!(
        "K2N045",
        Info,
        "resource value raised to Nomad's minimum",
        "Nomad requires at least 1 MHz of CPU and 10 MiB of memory per task; smaller requests are raised.",
        "nothing to do",
        "resources:\n  requests:\n    memory: 4Mi"
    ),
    code!(
        "K2N046",
        Warning,
        "secret keys unknown",
        "envFrom or a volume names a Secret/ConfigMap whose keys are not known (it is not among the inputs), so its entries cannot be listed in the template.",
        "add the Secret (key names are enough, values are never read) or ConfigMap to the inputs",
        "envFrom:\n- secretRef: {name: api}"
    ),
    code!(
        "K2N047",
        Warning,
        "expansion syntax differs",
        "Kubernetes expands $(VAR) in command, args and env values; Nomad's docker driver expands ${VAR}. References are rewritten to Nomad's syntax.",
        "check the rewritten command line",
        "args: [\"--port=$(PORT)\"]"
    ),
    code!(
        "K2N048",
        Info,
        "liveness probe restarts the task",
        "A liveness probe becomes a check with check_restart: after failureThreshold consecutive failures Nomad restarts the task, after a grace period covering initialDelaySeconds and any startup probe.",
        "nothing to do",
        "livenessProbe:\n  httpGet: {path: /healthz}"
    ),
    code!(
        "K2N049",
        Warning,
        "duplicate job ID",
        "Two inputs produce the same Nomad job ID (the same Service twice, or the same name in two files of one namespace). Only the first is written.",
        "rename one of the Services, or exclude one file with .k2nignore",
        "(two files both defining metadata.name: hello)"
    ),
    code!(
        "K2N050",
        Warning,
        "CPU limit not enforced",
        "Nomad's cpu is a share of the node, not a hard cap like a Kubernetes CPU limit (unless the client enforces cpu_hard_limit). The request (or the limit, when no request is given) becomes cpu.",
        "set docker cpu_hard_limit on the task if the hard cap matters",
        "resources:\n  limits:\n    cpu: \"1\""
    ),
    code!(
        "K2N100",
        Warning,
        "HTTPS probe becomes a TCP check",
        "kubelet does not verify the certificate of an HTTPS probe. Nomad's built-in checks cannot skip verification (tls_skip_verify is for Consul checks only; Nomad refuses the job otherwise) and would check the allocation's IP address against the certificate. With --service-provider nomad the probe becomes a TCP check on its port; with consul it stays an HTTPS check with tls_skip_verify.",
        "use --service-provider consul to keep the HTTPS check, or give the application a plain-HTTP health endpoint",
        "readinessProbe:\n  httpGet: {path: /healthz, scheme: HTTPS}"
    ),
    code!(
        "K2N101",
        Warning,
        "volume shared by several instances",
        "All instances of a Knative revision mount the same PersistentVolumeClaim. Nomad refuses a CSI volume request with a single-node access mode in a group whose count is above 1, so such a group asks for multi-node-multi-writer (or multi-node-reader-only when read-only), which the Nomad CSI volume must be registered with. A group of one that may scale up keeps the single-node mode: instances beyond the first cannot claim the volume and are not placed.",
        "register the volume with a multi-node access mode (and set it in the job), or set max-scale 1",
        "autoscaling.knative.dev/max-scale: \"5\"\n...\nvolumes:\n- name: data\n  persistentVolumeClaim: {claimName: data}"
    ),
    code!(
        "K2N110",
        Error,
        "input cannot be read",
        "A path given on the command line (or a file found under a directory) does not exist, cannot be read, or is not UTF-8 text (a binary file, or text in another encoding). A UTF-8 byte order mark is accepted. Other inputs are still converted.",
        "check the path (a directory is searched for *.yaml, *.yml and *.json; `-` reads stdin) and that the file is YAML or JSON text in UTF-8",
        "(a path that does not exist: knative2nomad convert missing.yaml)"
    ),
    code!(
        "K2N111",
        Warning,
        "no Knative Service in an input",
        "A file, stdin or directory named on the command line holds no serving.knative.dev/v1 Service, and no ConfigMap or Secret for the Services of other inputs: it is empty, holds only comments, only objects without apiVersion and kind, or only other kinds (a core v1 Service, a Deployment). Nothing is converted from it, which is rarely what was meant.",
        "pass the file that holds the Knative Service (kind: Service, apiVersion: serving.knative.dev/v1), or drop this input",
        "{}"
    ),
    code!(
        "K2N112",
        Error,
        "image is a ko build reference",
        "An image `ko://<import path>` is a placeholder that `ko resolve` or `ko apply` replaces with the image it builds and pushes. It is not an image a container runtime can pull: Knative cannot resolve it either, and a Nomad job with it would fail at every start.",
        "build and push the image first: run `ko resolve -f FILE > resolved.yaml` and convert the resolved YAML, or replace the ko:// reference with a pushed image",
        "spec:\n  template:\n    spec:\n      containers:\n      - image: ko://github.com/example/app/cmd/server"
    ),
    code!(
        "K2N090",
        Info,
        "scales to zero through Sablier",
        "The Service scales to zero in Knative, and keeps doing so on Nomad: the job starts at count 0 with the group meta Sablier's Nomad provider discovers it by, its service tags define only a router on Traefik's loopback hop entry point, and a Traefik file-provider route (traefik/<job>.yml beside the jobs with -o) sends each request through the Sablier middleware, which starts the group and holds the request until it is ready. The Sablier and Traefik jobs must run (knative2nomad platform).",
        "write the routes with -o, run `knative2nomad platform`, or keep one instance up with --scale-to-zero none",
        "metadata:\n  name: hello\nspec:\n  template:\n    spec:\n      containers:\n      - image: ghcr.io/example/hello"
    ),
    code!(
        "K2N091",
        Warning,
        "load-based scaling above the activation count not migrated",
        "Knative scales this Service between 0 and max-scale on load. On Nomad, Sablier owns the count of a scale-to-zero group: it starts the activation count (1, or autoscaling.knative.dev/activation-scale) on the first request and scales to 0 when idle. No Nomad Autoscaler policy is written, because with the minimum of 0 Nomad requires it could scale the group to 0 during a session (or up outside one) and fight Sablier over the count.",
        "set autoscaling.knative.dev/activation-scale to the instances the Service needs under load, or set min-scale 1 to keep it up and autoscaled",
        "annotations:\n  autoscaling.knative.dev/max-scale: \"5\""
    ),
    code!(
        "K2N092",
        Info,
        "idle and wait settings mapped to Sablier",
        "Knative keeps an idle revision's last pod for max(stable window + scale-to-zero grace period, pod retention period) and holds a request during a cold start for at most its request timeout (a revision not ready within the progress deadline fails). They become the Sablier middleware's sessionDuration and blocking.timeout. Approximate: Sablier stops the group up to its sessions.expiration-interval after the session ends, the grace period is a cluster setting (knative-defaults in --config), and Knative's activator bound differs between versions.",
        "set the cluster's values under knative-defaults in --config if they differ from Knative's defaults",
        "annotations:\n  autoscaling.knative.dev/window: \"120s\""
    ),
    code!(
        "K2N093",
        Info,
        "shorter minimum healthy time",
        "Sablier lets a held request through only once the new allocation is deployment-healthy, so the update block's min_healthy_time (Nomad's default 10s) would be added to every cold start. Scale-to-zero jobs use serverless.min-healthy-time (1s by default), which also shortens each step of a rolling update.",
        "nothing to do; set serverless.min-healthy-time in --config to change it",
        "metadata:\n  name: hello"
    ),
    code!(
        "K2N094",
        Info,
        "initial scale not kept",
        "Knative starts a new revision with initial-scale pods and scales it to zero when idle. A scale-to-zero job is registered at count 0 instead, as Sablier's own examples do (Sablier also stops, at its start, running groups it did not start): the first request after a deploy is a cold start.",
        "nothing to do unless the first request must be warm",
        "annotations:\n  autoscaling.knative.dev/initial-scale: \"2\""
    ),
    code!(
        "K2N080",
        Error,
        "ConfigMap or Secret defined differently at the same distance",
        "A Service reads a ConfigMap or Secret from the nearest definition of its namespace and name: in the Service's own file, else in its folder, else in the closest parent folder. Two definitions at that same distance that differ (ConfigMaps: data or binaryData; Secrets: key names) would make the job depend on which file was read last, so the Services that use the name are not converted. Identical definitions are fine.",
        "make the two definitions identical, delete one, or move each next to the Services that should use it (a sub-folder per environment)",
        "# envs/a.yaml and envs/b.yaml, side by side:\nkind: ConfigMap\nmetadata: {name: app-config}\ndata: {DB_HOST: db.prod.internal}\n---\nkind: ConfigMap\nmetadata: {name: app-config}\ndata: {DB_HOST: db.staging.internal}"
    ),
    code!(
        "K2N081",
        Info,
        "ConfigMap or Secret defined outside the Service's scope",
        "The referenced ConfigMap or Secret is among the inputs, but only in a folder the Service does not see (a sibling folder, such as staging/ for a Service in prod/), so it is not used: the reference is treated as not among the inputs.",
        "move the definition into the Service's file or folder, or a parent folder of it; for Kustomize trees run `kustomize build overlays/NAME | knative2nomad convert -`",
        "# prod/app.yaml reads app-config, which only staging/config.yaml defines\nenvFrom:\n- configMapRef: {name: app-config}"
    ),
    code!(
        "K2N060",
        Error,
        "input is not a regular file",
        "An input named on the command line is a FIFO, socket or device. Reading one could block forever (a FIFO with no writer) or never end (/dev/zero), so it is refused before anything is read. Standard input (`-`) is the way to pipe an input in.",
        "give the file itself, or pipe the content in: `producer | knative2nomad convert -`",
        "(knative2nomad convert /dev/zero)"
    ),
    code!(
        "K2N061",
        Warning,
        "file skipped while walking a directory",
        "A `*.yaml`, `*.yml` or `*.json` entry of a walked directory was not read: it is a FIFO, socket or device, or a symbolic link that leads outside the walked directory (or nowhere). A repository can carry symbolic links; following one out of the tree would read (and show) files the tree does not own. Links to files inside the tree are read.",
        "keep inputs as regular files inside the tree, or name a file outside it on the command line",
        "(services/db.yaml -> /etc/passwd)"
    ),
    code!(
        "K2N062",
        Error,
        "invalid namespace",
        "metadata.namespace must be what Kubernetes accepts for a namespace: a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters). It becomes the Nomad namespace and appears in generated commands, so anything else is refused.",
        "use the namespace name as `kubectl get namespaces` shows it",
        "metadata:\n  name: hello\n  namespace: \"default $(id)\""
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_unique_and_documented() {
        let mut seen = std::collections::HashSet::new();
        for c in CODES {
            assert!(seen.insert(c.code), "duplicate {}", c.code);
            assert!(!c.explanation.is_empty() && !c.hint.is_empty() && !c.example.is_empty());
        }
    }

    #[test]
    fn findings_doc_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/findings.md");
        let want = findings_markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/findings.md is stale: run UPDATE_DOCS=1 cargo test findings_doc"
        );
    }

    #[test]
    fn a_related_place_gets_its_own_snippet() {
        let at = |line, column| Location {
            file: Arc::from("q.yaml"),
            line,
            column,
        };
        let source = "a: 1\nb: \"open\nc: 2\n";
        let finding = Finding::new("K2N001", at(3, 5), "", "YAML syntax error: never closed")
            .with_related(at(2, 4), "the quoted scalar starts here");
        assert_eq!(
            render_human(&finding, Some(&SnippetSource::new(source, Vec::new()))),
            "error[K2N001]: YAML syntax error: never closed
  --> q.yaml:3:5
  |
3 | c: 2
  |     ^
  ::: q.yaml:2:4
  |
2 | b: \"open
  |    - the quoted scalar starts here
  = hint: fix the YAML syntax at the marked position (a linter such as yamllint shows the same place)
"
        );
        let json = serde_json::to_value(&finding).unwrap();
        assert_eq!(json["related"]["location"]["line"], 2);
        let plain = Finding::new("K2N001", at(3, 5), "", "m");
        assert!(
            serde_json::to_value(&plain)
                .unwrap()
                .get("related")
                .is_none()
        );
    }

    #[test]
    fn snippets_hide_spans_and_point_at_the_placeholder() {
        let text = "a: 1\n{\"K\":\"MARK\",\"x\":2}\r\nlast";
        let mark = text.find("\"MARK").unwrap();
        let source = SnippetSource::new(text, std::iter::once(mark..mark + 6).collect());
        let at = |line, column| {
            let location = Location {
                file: Arc::from("f"),
                line,
                column,
            };
            Finding::new("K2N020", location, "", "m")
        };
        let out = render_human(&at(2, 7), Some(&source));
        assert!(!out.contains("MARK"), "{out}");
        assert!(
            out.contains(&format!("2 | {{\"K\":{REDACTED_SECRET},\"x\":2}}\n")),
            "{out}"
        );
        // The caret points at the placeholder when its column is hidden.
        assert!(out.contains("\n  |      ^^^"), "{out}");
        assert!(render_human(&at(3, 1), Some(&source)).contains("3 | last"));
        assert!(!render_human(&at(9, 1), Some(&source)).contains(" | "));
    }

    #[test]
    fn strict_and_allow() {
        let loc = Location {
            file: Arc::from("f"),
            line: 1,
            column: 1,
        };
        let w = vec![Finding::new("K2N020", loc, "", "m")];
        assert!(!fails(&w, false, &[]));
        assert!(fails(&w, true, &[]));
        assert!(!fails(&w, true, &["k2n020".to_string()]));
    }
}
