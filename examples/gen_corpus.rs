//! Writes a corpus of one-Service Knative files for the batch benchmark (BENCHMARKS.md):
//! `cargo run --release --example gen_corpus -- DIR [COUNT]` (default 10,000). The services vary
//! deterministically (env, secrets, ConfigMaps, probes, resources, annotations, volumes,
//! sidecars) so the benchmark exercises every mapping, not one hot path.

use std::fmt::Write as _;
use std::path::PathBuf;

fn service(i: usize) -> String {
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
    if i.is_multiple_of(5) {
        let _ = write!(
            y,
            "          envFrom:\n            - configMapRef:\n                name: {name}-config\n"
        );
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
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/bench-corpus".to_string()),
    );
    let count: usize = args.next().and_then(|c| c.parse().ok()).unwrap_or(10_000);
    for i in 0..count {
        // 100 services per folder, like a repository with team folders.
        let sub = dir.join(format!("group-{:03}", i / 100));
        std::fs::create_dir_all(&sub)?;
        std::fs::write(sub.join(format!("svc-{i:05}.yaml")), service(i))?;
    }
    eprintln!("wrote {count} services under {}", dir.display());
    Ok(())
}
