//! Where the tables live (schema and prefix), and the embedded, versioned
//! migrations that create them.

use sqlx::{AssertSqlSafe, PgPool, SqlSafeStr as _, SqlStr};

use crate::store::StoreError;

use super::db;

/// The schema and table-name prefix of one store, validated so that they
/// cannot inject SQL. The schema is spliced in double quotes, as it may be a
/// reserved word (`user`); a table or index name is the prefix followed by a
/// fixed suffix (`users`, `outbox_due`), none of which is a reserved word in
/// any such combination, so it needs none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Names {
    schema: String,
    prefix: String,
}

/// PostgreSQL truncates identifiers longer than this (NAMEDATALEN - 1).
const MAX_IDENTIFIER: usize = 63;
/// The longest table or index name appended to the prefix.
const LONGEST_SUFFIX: &str = "refresh_tokens_session_id";

fn plain_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Names {
    /// Refuses anything but lower-case ASCII identifiers: names are spliced
    /// into SQL, and such names cannot inject, and mean the same quoted or
    /// not (PostgreSQL folds unquoted names to lower case).
    pub(super) fn new(schema: &str, prefix: &str) -> Result<Self, StoreError> {
        if !plain_identifier(schema) || schema.len() > MAX_IDENTIFIER {
            return Err(StoreError::backend(format!(
                "invalid PostgreSQL schema name {schema:?}: use [a-z_][a-z0-9_]*, at most \
                 {MAX_IDENTIFIER} bytes"
            )));
        }
        let prefix_ok = prefix.is_empty() || plain_identifier(prefix);
        if !prefix_ok || prefix.len() + LONGEST_SUFFIX.len() > MAX_IDENTIFIER {
            return Err(StoreError::backend(format!(
                "invalid table prefix {prefix:?}: use [a-z_][a-z0-9_]*, at most {} bytes",
                MAX_IDENTIFIER - LONGEST_SUFFIX.len()
            )));
        }
        Ok(Names {
            schema: schema.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// `sql` with `{s}` replaced by the quoted schema and `{p}` by the
    /// prefix.
    pub(super) fn expand(&self, sql: &str) -> String {
        sql.replace("{s}", &format!("\"{}\"", self.schema))
            .replace("{p}", &self.prefix)
    }

    /// [`expand`](Self::expand), ready for sqlx.
    pub(super) fn sql(&self, sql: &str) -> SqlStr {
        AssertSqlSafe(self.expand(sql)).into_sql_str()
    }

    /// The unique index on the users' email, as named in errors.
    pub(super) fn email_index(&self) -> String {
        format!("{}users_email_key", self.prefix)
    }

    /// The unique index on the users' username, as named in errors.
    pub(super) fn username_index(&self) -> String {
        format!("{}users_username_key", self.prefix)
    }

    /// The key of the advisory lock that serializes removals of an active
    /// superuser in this store.
    pub(super) fn superuser_lock(&self) -> String {
        format!("tower-users superusers {}.{}", self.schema, self.prefix)
    }
}

/// One schema version: applied once, in order, in one transaction with the
/// others still missing.
struct Migration {
    version: i32,
    sql: &'static str,
}

/// Every schema version, oldest first. Never edit an applied one: add the
/// next version. Versions may have gaps (branches developed side by side
/// each take their own number): the runner applies every version not yet
/// recorded, so one merged in later below the latest still runs.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: include_str!("migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        sql: include_str!("migrations/0002_outbox_claim_token.sql"),
    },
    Migration {
        version: 3,
        sql: include_str!("migrations/0003_rate_limits.sql"),
    },
    Migration {
        version: 4,
        sql: include_str!("migrations/0004_usernames.sql"),
    },
    Migration {
        version: 5,
        sql: include_str!("migrations/0005_roles.sql"),
    },
    Migration {
        version: 6,
        sql: include_str!("migrations/0006_session_reauth.sql"),
    },
];

/// Creates the schema if needed and applies the missing migrations, all in
/// one READ COMMITTED transaction under a transaction-level advisory lock
/// keyed by the schema: a second instance starting at the same moment
/// waits, then finds the work done. A database migrated by a newer version is refused.
pub(super) async fn migrate(pool: &PgPool, names: &Names) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(db)?;
    // Whatever the database's default: at REPEATABLE READ or SERIALIZABLE
    // the snapshot is fixed by the lock statement, before the instance
    // that holds the lock commits, so the waiter would not see its schema
    // and would create it again (42P06). READ COMMITTED reads afresh after
    // the wait.
    sqlx::query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("tower-users migrate {}", names.schema))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    // Checked first: a role that may not create schemas can still use one
    // an administrator made for it.
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(&names.schema)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
    if !exists {
        sqlx::raw_sql(names.sql("CREATE SCHEMA {s}"))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    sqlx::raw_sql(names.sql(
        "CREATE TABLE IF NOT EXISTS {s}.{p}schema_migrations (\
             version integer PRIMARY KEY, \
             applied_at timestamptz NOT NULL DEFAULT now())",
    ))
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let applied: Vec<i32> =
        sqlx::query_scalar(names.sql("SELECT version FROM {s}.{p}schema_migrations"))
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
    let current = applied.iter().copied().max().unwrap_or(0);
    let latest = MIGRATIONS.last().map_or(0, |m| m.version);
    if current > latest {
        return Err(StoreError::backend(format!(
            "the database schema is at version {current}, newer than this tower-users knows \
             ({latest}): upgrade tower-users"
        )));
    }
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        sqlx::raw_sql(names.sql(migration.sql))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(names.sql("INSERT INTO {s}.{p}schema_migrations (version) VALUES ($1)"))
            .bind(migration.version)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_need_quoting_are_refused() {
        assert!(Names::new("tower_users", "").is_ok());
        assert!(Names::new("auth", "tu_").is_ok());
        for (schema, prefix) in [
            ("", ""),
            ("Auth", ""),
            ("1auth", ""),
            ("auth;drop", ""),
            ("auth", "x\"y"),
            ("auth", "tu-"),
            (&"a".repeat(64), ""),
            ("auth", &"p".repeat(40)),
        ] {
            assert!(Names::new(schema, prefix).is_err(), "{schema:?} {prefix:?}");
        }
    }

    #[test]
    fn expansion_splices_schema_and_prefix() {
        let names = Names::new("auth", "tu_").unwrap();
        assert_eq!(
            names.expand("SELECT * FROM {s}.{p}users"),
            "SELECT * FROM \"auth\".tu_users"
        );
        assert_eq!(names.email_index(), "tu_users_email_key");
        assert_eq!(names.username_index(), "tu_users_username_key");
    }
}
