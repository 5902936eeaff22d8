//! Shared test support: running the binary with a clean environment, the Nomad API double, the fake Kubernetes API, the verifier's process
//! fixtures and the verifier's minimal proxies in front of Nomad allocations, the scale-to-zero
//! request path (a Sablier API double and a Traefik stand-in, started together by
//! `activation::ActivationPath`) and a throwaway PKI for TLS tests. Not
//! used by the shipped binary; every address here is loopback.

pub mod activation;
pub mod binary;
pub mod fake_kube;
pub mod jobspec2;
pub mod loopback_http;
pub mod nomad_double;
pub mod nomad_router;
pub mod sablier_double;
pub mod traefik_double;
pub mod verify_fixtures;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::path::PathBuf;
use std::sync::Arc;

/// A CA, a server certificate for `localhost` / `127.0.0.1`, and a client certificate, all
/// generated for one test and written as PEM files into a temporary directory.
pub struct TestPki {
    /// Holds the PEM files; they are deleted when the PKI is dropped.
    _dir: tempfile::TempDir,
    pub ca_cert: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub server_config: Arc<rustls::ServerConfig>,
}

impl TestPki {
    /// `require_client_cert`: the server demands a client certificate signed by the CA (mTLS).
    pub fn generate(require_client_cert: bool) -> TestPki {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "knative2nomad test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key"))
            .expect("ca cert");

        let server_key = KeyPair::generate().expect("server key");
        let server_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("server params");
        let server_cert = server_params
            .signed_by(&server_key, &ca)
            .expect("server cert");

        let client_key = KeyPair::generate().expect("client key");
        let mut client_params = CertificateParams::new(vec!["client".to_string()]).expect("p");
        client_params
            .distinguished_name
            .push(DnType::CommonName, "client");
        let client_cert = client_params
            .signed_by(&client_key, &ca)
            .expect("client cert");

        let dir = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write pem");
            path
        };
        let ca_path = write("ca.pem", ca.pem());
        let client_cert_path = write("client.pem", client_cert.pem());
        let client_key_path = write("client-key.pem", client_key.serialize_pem());

        let chain = vec![server_cert.der().clone(), ca.der().clone()];
        let key = rustls::pki_types::PrivateKeyDer::try_from(server_key.serialize_der())
            .expect("server key der");
        let builder = rustls::ServerConfig::builder();
        let builder = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca.der().clone()).expect("add ca");
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder.with_single_cert(chain, key).expect("server config");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TestPki {
            _dir: dir,
            ca_cert: ca_path,
            client_cert: client_cert_path,
            client_key: client_key_path,
            server_config: Arc::new(config),
        }
    }
}
