//! Query parameters, read like bodies: a failure is kept as the [`Error`]
//! the handler answers (`M_MISSING_PARAM` naming the parameter, else
//! `M_INVALID_PARAM`), not raised inside dropshot.

use dropshot::{
    ApiEndpointBodyContentType, ExtractorMetadata, HttpError, Query, RequestContext, ServerContext, SharedExtractor,
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::error::Error;

#[derive(Debug)]
pub struct QueryParams<T>(Result<T, Error>);

impl<T> QueryParams<T> {
    /// The parameters, or why they could not be read.
    pub fn into_inner(self) -> Result<T, Error> {
        self.0
    }
}

#[async_trait::async_trait]
impl<T> SharedExtractor for QueryParams<T>
where
    T: DeserializeOwned + JsonSchema + Send + Sync + 'static,
{
    async fn from_request<C: ServerContext>(rqctx: &RequestContext<C>) -> Result<Self, HttpError> {
        let query = <Query<T> as SharedExtractor>::from_request(rqctx).await;
        Ok(QueryParams(query.map(Query::into_inner).map_err(Error::from)))
    }

    fn metadata(content_type: ApiEndpointBodyContentType) -> ExtractorMetadata {
        <Query<T> as SharedExtractor>::metadata(content_type)
    }
}
