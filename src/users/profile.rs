//! Custom user fields: the app's own serde type, stored with the user as
//! [`ProfileFields`] and read back typed with [`ProfileFields::parse`].

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Users;
use crate::error::{Error, FieldError};
use crate::user::RECORD_FIELDS;

/// The app's own user fields (see
/// [`UsersBuilder::with_profile`](crate::UsersBuilder::with_profile)), as
/// stored and sent: a JSON object, flattened into the user record.
///
/// Read them as the app's type with [`parse`](Self::parse), on a [`User`]
/// (`user.profile.parse::<AppProfile>()`, also through `CurrentUser`) or in
/// [`Hooks::validate_profile`](crate::Hooks::validate_profile). Serialized,
/// it is exactly the object.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use tower_users::ProfileFields;
///
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// struct AppProfile {
///     display_name: String,
/// }
///
/// let ann = AppProfile { display_name: "Ann".into() };
/// let fields = ProfileFields::from_typed(&ann)?;
/// // Stored and sent as the object itself, flattened into the user record.
/// assert_eq!(fields.as_map()["display_name"], "Ann");
/// assert_eq!(fields.parse::<AppProfile>()?, ann);
/// # Ok::<(), tower_users::Error>(())
/// ```
///
/// [`User`]: crate::User
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProfileFields(Map<String, Value>);

impl ProfileFields {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fields of the app's profile value, for
    /// [`Users::register_with_profile`]. Fails with [`Error::Internal`] if
    /// `T` does not serialize to a JSON object (a bug in `T`, not in input).
    pub fn from_typed<T: Serialize>(profile: &T) -> Result<Self, Error> {
        match serde_json::to_value(profile) {
            Ok(Value::Object(fields)) => Ok(ProfileFields(fields)),
            Ok(_) => Err(Error::internal(format!(
                "the profile type {} must serialize to a JSON object",
                std::any::type_name::<T>()
            ))),
            Err(e) => Err(Error::internal(e)),
        }
    }

    /// The fields as the app's type `T`, usually the one given to
    /// `with_profile` (every stored profile fits it).
    ///
    /// Fails with [`Error::Internal`] (a logged 500 when returned from a
    /// handler) if they do not fit `T`: the stored data and the type
    /// disagree. No request can cause that, and the bootstrapped superuser
    /// gets `T`'s defaults, but users stored before `with_profile` was set
    /// have an empty profile, which fits `T` only if all its fields have
    /// defaults.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Error> {
        T::deserialize(&self.0).map_err(|e| {
            Error::internal(format!(
                "the profile does not fit {}: {e}",
                std::any::type_name::<T>()
            ))
        })
    }

    /// The raw fields.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These fields with `changes` written over them.
    pub(crate) fn merged(&self, changes: &ProfileFields) -> ProfileFields {
        let mut merged = self.0.clone();
        merged.extend(changes.0.clone());
        ProfileFields(merged)
    }
}

impl From<Map<String, Value>> for ProfileFields {
    fn from(fields: Map<String, Value>) -> Self {
        ProfileFields(fields)
    }
}

impl From<ProfileFields> for Map<String, Value> {
    fn from(fields: ProfileFields) -> Self {
        fields.0
    }
}

/// Checks and normalizes raw custom fields into the app's type and back.
pub(crate) type ProfileSchema =
    Arc<dyn Fn(ProfileFields) -> Result<ProfileFields, Vec<FieldError>> + Send + Sync>;

/// The field a serde error is about: where it happened (a mistyped
/// `display_name`), or, for errors about the object itself (a missing or
/// unknown field), the field its message names.
fn field_of(err: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = err.path().to_string();
    if path != "." {
        return path;
    }
    let msg = err.inner().to_string();
    msg.split('`')
        .nth(1)
        .filter(|f| !f.is_empty() && msg.contains(" field `"))
        .unwrap_or("profile")
        .to_owned()
}

/// The schema for `T`: fields must deserialize into it; what is stored is
/// `T` serialized again, so defaults and renames apply.
pub(crate) fn schema<T: Serialize + DeserializeOwned + 'static>() -> ProfileSchema {
    Arc::new(|raw: ProfileFields| {
        let typed: T = serde_path_to_error::deserialize(Value::Object(raw.0))
            .map_err(|e| vec![FieldError::new(field_of(&e), e.inner().to_string())])?;
        match serde_json::to_value(typed) {
            Ok(Value::Object(fields)) => Ok(ProfileFields(fields)),
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
    pub(super) async fn accept_profile(&self, raw: ProfileFields) -> Result<ProfileFields, Error> {
        self.refuse_record_fields(&raw)?;
        self.checked_profile(raw).await
    }

    /// The stored fields with a request's `changes` over them, checked as
    /// [`accept_profile`](Self::accept_profile) checks new ones. Only the
    /// changes must avoid the record's field names: a stored key that now
    /// collides (a `username` kept while usernames were off) is the app's to
    /// migrate, and must not make every later profile change a 422.
    pub(super) async fn accept_profile_change(
        &self,
        stored: &ProfileFields,
        changes: &ProfileFields,
    ) -> Result<ProfileFields, Error> {
        self.refuse_record_fields(changes)?;
        self.checked_profile(stored.merged(changes)).await
    }

    /// A 422 naming each key the record already uses. With usernames off,
    /// `username` is not refused: a client sending it is sending an extra
    /// field, as before usernames existed; the record never shows it anyway.
    fn refuse_record_fields(&self, raw: &ProfileFields) -> Result<(), Error> {
        if self.inner.config.profile.is_none() {
            return Ok(());
        }
        let clashes: Vec<FieldError> = raw
            .0
            .keys()
            .filter(|k| {
                RECORD_FIELDS.contains(&k.as_str())
                    || (self.inner.config.usernames.enabled() && k.as_str() == "username")
            })
            .map(|k| FieldError::new(k.clone(), "this field cannot be set here"))
            .collect();
        if clashes.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(clashes))
        }
    }

    async fn checked_profile(&self, raw: ProfileFields) -> Result<ProfileFields, Error> {
        let Some(schema) = &self.inner.config.profile else {
            return Ok(ProfileFields::new());
        };
        let profile = schema(raw).map_err(Error::Validation)?;
        self.inner.hooks.validate_profile(&profile).await?;
        Ok(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Profile {
        display_name: String,
        #[serde(default)]
        age: Option<u8>,
    }

    #[test]
    fn typed_fields_round_trip_and_serialize_as_the_bare_object() {
        let ann = Profile {
            display_name: "Ann".into(),
            age: Some(30),
        };
        let fields = ProfileFields::from_typed(&ann).unwrap();
        assert_eq!(fields.parse::<Profile>().unwrap(), ann);
        assert_eq!(
            serde_json::to_value(&fields).unwrap(),
            serde_json::json!({"display_name": "Ann", "age": 30})
        );
    }

    #[test]
    fn a_refused_field_is_named_whatever_is_wrong_with_it() {
        #[derive(Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Strict {
            display_name: String,
        }
        let check = schema::<Strict>();
        for (raw, field) in [
            (serde_json::json!({"display_name": 5}), "display_name"),
            (serde_json::json!({}), "display_name"),
            (
                serde_json::json!({"display_name": "Ann", "nickname": "A"}),
                "nickname",
            ),
        ] {
            let fields = ProfileFields::from_typed(&raw).unwrap();
            let errors = check(fields).unwrap_err();
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].field, field, "{raw}");
        }
    }

    #[test]
    fn fields_that_do_not_fit_the_type_are_an_internal_error() {
        let fields = ProfileFields::from_typed(&serde_json::json!({"age": 3})).unwrap();
        let err = fields.parse::<Profile>().unwrap_err();
        assert_eq!(err.code(), "INTERNAL");
        assert!(ProfileFields::from_typed(&5).is_err());
    }
}

#[cfg(test)]
mod superuser_tests {
    #![allow(clippy::unwrap_used)]
    use serde::{Deserialize, Serialize};

    use crate::{Error, RedbStore, Users};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct WithDefault {
        #[serde(default = "team")]
        team: String,
    }

    fn team() -> String {
        "staff".into()
    }

    #[derive(Serialize, Deserialize)]
    struct Required {
        display_name: String,
    }

    #[tokio::test]
    async fn the_bootstrapped_superuser_gets_the_profile_types_defaults() {
        let users = Users::builder(RedbStore::in_memory().unwrap())
            .with_secret([5u8; 32])
            .with_profile::<WithDefault>()
            .with_superuser("root@example.com", "kettle staple zebra")
            .start()
            .await
            .unwrap();
        let root = users
            .login("root@example.com", "kettle staple zebra")
            .await
            .unwrap();
        let me = users.authenticate(&root.access_token).await.unwrap();
        assert_eq!(
            me.user.profile.parse::<WithDefault>().unwrap(),
            WithDefault { team: team() }
        );
    }

    #[tokio::test]
    async fn a_profile_type_the_superuser_cannot_fill_stops_the_start() {
        let started = Users::builder(RedbStore::in_memory().unwrap())
            .with_secret([5u8; 32])
            .with_profile::<Required>()
            .with_superuser("root@example.com", "kettle staple zebra")
            .start()
            .await;
        let Err(Error::Validation(fields)) = started else {
            panic!("the start went on with a superuser whose profile cannot be read");
        };
        assert_eq!(fields[0].field, "display_name");
    }
}
