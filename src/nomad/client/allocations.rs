//! Allocation endpoints (`/v1/allocation/:id`), as Nomad's `api/allocations.go`.

use super::NomadClient;
use super::error::NomadError;
use super::transport::{Indexed, QueryOptions, encode_segment};
use serde_json::Value;

impl NomadClient {
    /// `GET /v1/allocation/:id` (full allocation, as JSON).
    pub async fn allocation(&self, id: &str) -> Result<Indexed<Value>, NomadError> {
        let path = format!("/v1/allocation/{}", encode_segment(id));
        self.get(&path, None, QueryOptions::default()).await
    }
}
