//! Custom user fields: the app's own serde type, stored with the user.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use serde::{Deserialize, Serialize};
//! use tower_users::{RedbStore, Users};
//!
//! #[derive(Serialize, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Profile {
//!     display_name: String,
//! }
//!
//! let users = Users::builder(RedbStore::in_memory().unwrap())
//!     .with_secret([7u8; 32])
//!     .with_profile::<Profile>()
//!     .build()
//!     .unwrap();
//! let mut fields = tower_users::Profile::new();
//! fields.insert("display_name".into(), "Ann".into());
//! let ann = users
//!     .register_with_profile("ann@example.com", "correct horse battery", fields)
//!     .await
//!     .unwrap();
//! let record = serde_json::to_value(ann.record()).unwrap();
//! assert_eq!(record["display_name"], "Ann");
//! # });
//! ```

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Users;
use crate::error::{Error, FieldError};
use crate::user::{Profile, RECORD_FIELDS};

/// Checks and normalizes raw custom fields into the app's type and back.
pub(crate) type ProfileSchema =
    Arc<dyn Fn(Profile) -> Result<Profile, Vec<FieldError>> + Send + Sync>;

/// The field a serde error is about, when its message names one.
fn field_of(err: &serde_json::Error) -> String {
    let msg = err.to_string();
    msg.split('`')
        .nth(1)
        .filter(|f| !f.is_empty() && msg.contains(" field `"))
        .unwrap_or("profile")
        .to_owned()
}

/// The schema for `T`: fields must deserialize into it; what is stored is
/// `T` serialized again, so defaults and renames apply.
pub(crate) fn schema<T: Serialize + DeserializeOwned + 'static>() -> ProfileSchema {
    Arc::new(|raw: Profile| {
        let typed: T = serde_json::from_value(Value::Object(raw))
            .map_err(|e| vec![FieldError::new(field_of(&e), e.to_string())])?;
        match serde_json::to_value(typed) {
            Ok(Value::Object(fields)) => Ok(fields),
            _ => Err(vec![FieldError::new(
                "profile",
                "the profile type must serialize to an object",
            )]),
        }
    })
}

impl Users {
    /// Checks custom fields from a request: the profile type, then the
    /// `validate_profile` hook. Without a profile type they are ignored.
    pub(super) async fn accept_profile(&self, raw: Profile) -> Result<Profile, Error> {
        let Some(schema) = &self.inner.config.profile else {
            return Ok(Profile::new());
        };
        let clashes: Vec<FieldError> = raw
            .keys()
            .filter(|k| RECORD_FIELDS.contains(&k.as_str()))
            .map(|k| FieldError::new(k.clone(), "this field cannot be set here"))
            .collect();
        if !clashes.is_empty() {
            return Err(Error::Validation(clashes));
        }
        let profile = schema(raw).map_err(Error::Validation)?;
        self.inner
            .hooks
            .validate_profile(&profile)
            .await
            .map_err(Error::Validation)?;
        Ok(profile)
    }
}
