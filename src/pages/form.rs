//! Reading a page's form: urlencoded, behind the same body limits as the
//! API ([`guarded`](crate::http::body::guarded)).

use std::collections::HashMap;

use http::request::Parts;

use crate::error::Error;
use crate::http::body::{MediaType, RequestBody, media_type, read};

/// The fields of a submitted form. A field sent twice keeps its last value.
pub(super) struct Form(HashMap<String, String>);

impl Form {
    pub(super) async fn read<B: RequestBody>(parts: &Parts, body: B) -> Result<Form, Error> {
        if media_type(&parts.headers) != MediaType::Form {
            return Err(Error::UnsupportedMediaType);
        }
        let bytes = read(body).await?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| Error::field("body", "malformed form body"))?;
        Ok(Form(pairs.into_iter().collect()))
    }

    /// The field `name`, or "" when it was not sent.
    pub(super) fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }
}

/// The query parameter `name` of `parts`' URI.
pub(super) fn query(parts: &Parts, name: &str) -> Option<String> {
    let query = parts.uri.query()?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}
