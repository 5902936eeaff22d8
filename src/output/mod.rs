//! Job files as output: their formats and text (with the marker that says this tool wrote
//! them), the Traefik route files of Services that scale to zero, the one atomic writer every
//! file this tool writes goes through, writing a batch's files under `-o`, and `check`'s
//! comparison with committed files.
//!
//! What it is not: converting or batching. It takes rendered jobs and paths ([`JobFile`]);
//! `batch` decides what they are.

mod atomic;
mod check;
mod format;
mod write;

pub use atomic::{
    Durability, TEMP_SUFFIX, UnsafePath, prepare_under, remove_stale_temp_files, temp_file_owner,
    write_atomic,
};
pub use check::{CheckReport, Checker};
pub use format::{
    GENERATED_MARKER, OutputFormat, ROUTE_EXTENSION, ROUTES_DIR, Rendering, is_generated,
    platform_job_marker, platform_policy_marker, render, render_route, render_with,
    route_namespace,
};
pub use write::{JobFile, OutputWriter, WriteReport};
