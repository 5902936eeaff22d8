//! Evaluation endpoints (`/v1/evaluation/:id`), as Nomad's `api/evaluations.go`.

use super::NomadClient;
use super::error::NomadError;
use super::transport::{Indexed, QueryOptions, encode_segment};
use super::types::Evaluation;

impl NomadClient {
    /// `GET /v1/evaluation/:id`, blocking when `options.index` > 0.
    pub async fn evaluation(
        &self,
        id: &str,
        options: QueryOptions,
    ) -> Result<Indexed<Evaluation>, NomadError> {
        let path = format!("/v1/evaluation/{}", encode_segment(id));
        self.get(&path, None, options).await
    }
}
