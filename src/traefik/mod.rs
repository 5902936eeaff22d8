//! Traefik's configuration as typed values, for the scale-to-zero path: the dynamic
//! configuration (file provider) that routes a Service through the Sablier middleware while its
//! group is at zero ([`dynamic`]), and the static configuration of the Traefik job that
//! `platform` writes ([`static_config`]).
//!
//! Only the subset this tool writes. Reading refuses unknown keys, so a misspelt or
//! version-specific key is caught by the tests (which also check every route against
//! SchemaStore's published file-provider schema). Not here: which Service gets which route
//! (`convert::activation`) or the job around the static configuration (`platform`).

pub mod dynamic;
pub mod static_config;

/// Traefik's entry point for public Services.
pub const WEB: &str = "web";
/// Traefik's entry point for cluster-local Services.
pub const INTERNAL: &str = "internal";
/// Traefik's loopback entry point of the second hop, where the tag-defined router of a running
/// allocation answers.
pub const HOP: &str = "hop";
/// Traefik's loopback entry point in front of Sablier's API (when `sablierUrl` points at it).
pub const SABLIER: &str = "sablier";
/// The Sablier plugin's Go module, as Traefik's plugin catalog names it
/// (sablierapp/sablier-traefik-plugin README).
pub const SABLIER_PLUGIN_MODULE: &str = "github.com/sablierapp/sablier-traefik-plugin";
