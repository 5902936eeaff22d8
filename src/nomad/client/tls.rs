//! TLS for the Nomad connection, as the official CLI sets it up: a CA bundle that replaces the
//! system roots (`NOMAD_CACERT`), a client certificate for mutual TLS (`NOMAD_CLIENT_CERT` and
//! `NOMAD_CLIENT_KEY`), an expected server name (`NOMAD_TLS_SERVER_NAME`) and the insecure
//! skip (`NOMAD_SKIP_VERIFY`). rustls with the ring provider; no OpenSSL.

use super::error::NomadError;
use super::settings::ConnectionSettings;
use reqwest::ClientBuilder;
use std::net::ToSocketAddrs;
use std::path::Path;

/// Applies the TLS settings to `builder`. Returns the base URL to use, which differs from
/// `base` only when a server name is given (requests then address the server by that name).
pub(super) fn configure(
    mut builder: ClientBuilder,
    settings: &ConnectionSettings,
    base: String,
) -> Result<(ClientBuilder, String), NomadError> {
    if let Some(path) = &settings.ca_cert {
        let pem = read(path, "CA certificate")?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| NomadError::Config(format!("CA certificate {}: {e}", path.display())))?;
        builder = builder.tls_certs_only(certs);
    }
    match (&settings.client_cert, &settings.client_key) {
        (Some(cert), Some(key)) => {
            let mut pem = read(cert, "client certificate")?;
            pem.push(b'\n');
            pem.extend(read(key, "client key")?);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| NomadError::Config(format!("client certificate/key: {e}")))?;
            builder = builder.identity(identity);
        }
        (None, None) => {}
        _ => {
            return Err(NomadError::Config(
                "a client certificate needs both --client-cert (NOMAD_CLIENT_CERT) and \
                 --client-key (NOMAD_CLIENT_KEY)"
                    .to_string(),
            ));
        }
    }
    if settings.tls_skip_verify {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    match &settings.tls_server_name {
        Some(server_name) => pin_server_name(builder, server_name, &base),
        None => Ok((builder, base)),
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, NomadError> {
    std::fs::read(path)
        .map_err(|e| NomadError::Config(format!("reading {what} {}: {e}", path.display())))
}

/// Verify the certificate against `server_name` while connecting to the configured host:
/// address the server by that name and pin the name to the real socket.
fn pin_server_name(
    builder: ClientBuilder,
    server_name: &str,
    base: &str,
) -> Result<(ClientBuilder, String), NomadError> {
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    let host_port = rest.split('/').next().unwrap_or(rest);
    let default_port = if scheme == "https" { 443 } else { 80 };
    let with_port = if host_port
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !host_port.ends_with(']')
    {
        host_port.to_string()
    } else {
        format!("{host_port}:{default_port}")
    };
    let addrs: Vec<_> = with_port
        .to_socket_addrs()
        .map_err(|e| NomadError::Config(format!("resolving {host_port}: {e}")))?
        .collect();
    let port = addrs.first().map(|a| a.port()).unwrap_or(default_port);
    Ok((
        builder.resolve_to_addrs(server_name, &addrs),
        format!("{scheme}://{server_name}:{port}"),
    ))
}
