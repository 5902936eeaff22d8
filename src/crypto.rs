//! The process-wide TLS crypto provider. rustls is built without a default provider here, and
//! both HTTP stacks (reqwest for Nomad, the verifier's probes and the Pushgateway; kube's hyper
//! client for Kubernetes) panic without one, so every entry point installs it first.

/// Installs rustls' ring provider once per process. A second call (or another provider
/// installed first) only reports that one is already there, which is fine.
pub fn install_crypto_provider() {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}
