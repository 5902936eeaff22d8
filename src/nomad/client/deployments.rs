//! Deployment endpoints (`/v1/deployment/:id`), as Nomad's `api/deployments.go`.

use super::NomadClient;
use super::error::NomadError;
use super::transport::{Indexed, QueryOptions, encode_segment};
use super::types::Deployment;

impl NomadClient {
    /// `GET /v1/deployment/:id`, blocking when `options.index` > 0.
    pub async fn deployment(
        &self,
        id: &str,
        options: QueryOptions,
    ) -> Result<Indexed<Deployment>, NomadError> {
        let path = format!("/v1/deployment/{}", encode_segment(id));
        self.get(&path, None, options).await
    }
}
