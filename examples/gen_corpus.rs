//! Writes a corpus of one-Service Knative files for the batch benchmark (BENCHMARKS.md):
//! `cargo run --release --example gen_corpus -- DIR [COUNT] [--shared-config]` (default
//! 10,000). The services vary deterministically (env, secrets, ConfigMaps, probes, resources,
//! annotations, volumes, sidecars) so the benchmark exercises every mapping, not one hot path.
//!
//! Every fifth Service has a ConfigMap in its own file. With `--shared-config`, the corpus also
//! has ConfigMaps in folders, as a repository with per-team folders does: `DIR/platform.yaml`
//! (`platform-config`, read by every third Service with `envFrom`, from the parent folder) and one
//! `group-config` per folder, the same name with different data in each (read by every other
//! Service with `configMapKeyRef`), so scoped resolution (issue 17) walks folders for thousands
//! of references and finds one name among 100 folders.

use std::fmt::Write as _;
use std::path::PathBuf;

fn service(i: usize, shared_config: bool) -> String {
    let mut y = String::new();
    let name = format!("svc-{i:05}");
    let team = format!("team-{}", i % 17);
    if i.is_multiple_of(5) {
        let _ = write!(
            y,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-config\ndata:\n  LOG_LEVEL: info\n  FEATURE_{i}: \"on\"\n---\n"
        );
    }
    let _ = write!(
        y,
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: {name}\n  labels:\n    app.kubernetes.io/part-of: {team}\n    tier: \"{}\"\n",
        i % 3
    );
    if i.is_multiple_of(11) {
        y.push_str("    networking.knative.dev/visibility: cluster-local\n");
    }
    y.push_str("spec:\n  template:\n    metadata:\n      annotations:\n");
    let _ = writeln!(
        y,
        "        autoscaling.knative.dev/min-scale: \"{}\"",
        i % 3
    );
    let _ = writeln!(
        y,
        "        autoscaling.knative.dev/max-scale: \"{}\"",
        5 + i % 20
    );
    if i.is_multiple_of(4) {
        let _ = writeln!(
            y,
            "        autoscaling.knative.dev/target: \"{}\"",
            10 + i % 90
        );
    }
    if i.is_multiple_of(7) {
        y.push_str("        autoscaling.knative.dev/metric: rps\n");
    }
    y.push_str("    spec:\n");
    if i.is_multiple_of(6) {
        let _ = writeln!(y, "      containerConcurrency: {}", 1 + i % 50);
    }
    let _ = write!(
        y,
        "      containers:\n        - name: app\n          image: ghcr.io/example/{team}/{name}:1.{}.{}\n",
        i % 10,
        i % 7
    );
    // A serving container with a sidecar must declare the port.
    if i.is_multiple_of(2) || i.is_multiple_of(13) {
        let _ = write!(
            y,
            "          ports:\n            - containerPort: {}\n",
            3000 + i % 5000
        );
    }
    y.push_str("          env:\n            - name: SERVICE_INDEX\n");
    let _ = writeln!(y, "              value: \"{i}\"");
    if i.is_multiple_of(3) {
        let _ = write!(
            y,
            "            - name: DB_PASSWORD\n              valueFrom:\n                secretKeyRef:\n                  name: {team}-db\n                  key: password\n"
        );
    }
    if shared_config && i.is_multiple_of(2) {
        let _ = write!(
            y,
            "            - name: GROUP\n              valueFrom:\n                configMapKeyRef:\n                  name: group-config\n                  key: GROUP\n"
        );
    }
    let own_config = i.is_multiple_of(5);
    let platform_config = shared_config && i.is_multiple_of(3);
    if own_config || platform_config {
        y.push_str("          envFrom:\n");
    }
    if own_config {
        let _ = write!(
            y,
            "            - configMapRef:\n                name: {name}-config\n"
        );
    }
    if platform_config {
        y.push_str("            - configMapRef:\n                name: platform-config\n");
    }
    let _ = write!(
        y,
        "          resources:\n            requests:\n              cpu: {}m\n              memory: {}Mi\n            limits:\n              memory: {}Mi\n",
        50 + i % 950,
        64 + i % 512,
        128 + i % 1024
    );
    if i % 2 == 1 {
        y.push_str("          readinessProbe:\n            httpGet:\n              path: /healthz\n            periodSeconds: 5\n");
    }
    if i % 4 == 1 {
        y.push_str("          livenessProbe:\n            httpGet:\n              path: /live\n            initialDelaySeconds: 3\n");
    }
    if i.is_multiple_of(8) {
        y.push_str("          volumeMounts:\n            - name: certs\n              mountPath: /etc/certs\n");
    }
    if i.is_multiple_of(13) {
        y.push_str("        - name: sidecar\n          image: ghcr.io/example/sidecar:2\n");
    }
    if i.is_multiple_of(8) {
        let _ = write!(
            y,
            "      volumes:\n        - name: certs\n          secret:\n            secretName: {team}-tls\n            items:\n              - key: tls.crt\n                path: tls.crt\n"
        );
    }
    y
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let shared_config = args.iter().any(|a| a == "--shared-config");
    let mut positional = args.iter().filter(|a| !a.starts_with("--"));
    let dir = PathBuf::from(
        positional
            .next()
            .map_or("target/bench-corpus", String::as_str),
    );
    let count: usize = positional
        .next()
        .and_then(|c| c.parse().ok())
        .unwrap_or(10_000);
    std::fs::create_dir_all(&dir)?;
    if shared_config {
        std::fs::write(
            dir.join("platform.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: platform-config\ndata:\n  REGION: eu-west-1\n  TRACING: \"on\"\n",
        )?;
    }
    for i in 0..count {
        // 100 services per folder, like a repository with team folders.
        let group = i / 100;
        let sub = dir.join(format!("group-{group:03}"));
        if i % 100 == 0 {
            std::fs::create_dir_all(&sub)?;
            if shared_config {
                std::fs::write(
                    sub.join("config.yaml"),
                    format!(
                        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: group-config\ndata:\n  GROUP: group-{group:03}\n"
                    ),
                )?;
            }
        }
        std::fs::write(
            sub.join(format!("svc-{i:05}.yaml")),
            service(i, shared_config),
        )?;
    }
    eprintln!("wrote {count} services under {}", dir.display());
    Ok(())
}
