//! API tokens: random, shown once, stored as SHA-256, revocable.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use uuid::Uuid;

use crate::access::authz::{authorize, Action, Actor};
use crate::access::users::{LocalUsers, User};
use crate::crypto::token_hash;
use crate::{Core, Error, Result};

const PREFIX: &str = "slw_";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Token {
    pub id: Uuid,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Core {
    /// Makes a token for `user`; the text is returned once and never stored.
    pub async fn create_token(&self, user: &User, description: &str) -> Result<(Token, String)> {
        authorize(&user.actor()?, Action::ManageOwnTokens, None)?;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let text = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let token = sqlx::query_as!(
            Token,
            "insert into api_tokens (id, user_id, token_hash, description) values ($1, $2, $3, $4)
             returning id, description, created_at as \"created_at: chrono::DateTime<chrono::Utc>\",
                       last_used_at as \"last_used_at: chrono::DateTime<chrono::Utc>\"",
            Uuid::new_v4(),
            user.id,
            token_hash(&text),
            description.trim()
        )
        .fetch_one(&self.pool)
        .await?;
        tracing::info!(actor = %user.login, "api token created");
        Ok((token, text))
    }

    /// The actor a bearer token acts as, or `None` when it is unknown or revoked.
    pub async fn authenticate_token(&self, text: &str, local: LocalUsers) -> Result<Option<Actor>> {
        if !text.starts_with(PREFIX) {
            return Ok(None);
        }
        // The policy is part of the key: an actor found under one is not one under the other.
        let credential = format!("token:{local:?}:{text}");
        let ticket = match self.remembered.get(&credential) {
            Ok(actor) => return Ok(Some(actor)),
            Err(ticket) => ticket,
        };
        // One round trip: the token's user, and whether last use is worth recording again.
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: User,
            stale: bool,
        }
        // Dynamic SQL (not `query_as!`): the user is read through `User`'s `FromRow`
        // (flattened), which the macros do not use.
        let row: Option<Row> = sqlx::query_as(
            "select u.id, u.provider, u.provider_id, u.login, u.email, u.role, u.created_at,
                    u.disabled_at is not null as disabled,
                    coalesce(t.last_used_at < now() - interval '1 minute', true) as stale
               from api_tokens t join users u on u.id = t.user_id
              where t.token_hash = $1 and t.revoked_at is null",
        )
        .bind(token_hash(text))
        .fetch_optional(&self.pool)
        .await?;
        let Some(Row { user, stale }) = row else {
            return Ok(None);
        };
        if stale {
            // Recorded at most once a minute, so reads stay reads.
            sqlx::query!(
                "update api_tokens set last_used_at = now() where token_hash = $1",
                token_hash(text)
            )
            .execute(&self.pool)
            .await?;
        }
        if user.disabled {
            return Ok(None);
        }
        let actor = user.actor_if(local)?;
        if let Some(a) = &actor {
            self.remembered.put(&credential, a.clone(), ticket);
        }
        Ok(actor)
    }

    pub async fn tokens(&self, actor: &Actor) -> Result<Vec<Token>> {
        authorize(actor, Action::ManageOwnTokens, None)?;
        Ok(sqlx::query_as!(
            Token,
            r#"select id, description, created_at as "created_at: chrono::DateTime<chrono::Utc>",
                      last_used_at as "last_used_at: chrono::DateTime<chrono::Utc>"
                 from api_tokens
                where user_id = $1 and revoked_at is null order by created_at"#,
            actor.user_id
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Revokes one of the actor's own tokens.
    pub async fn revoke_token(&self, actor: &Actor, id: Uuid) -> Result<()> {
        authorize(actor, Action::ManageOwnTokens, None)?;
        let n = sqlx::query!("update api_tokens set revoked_at = now() where id = $1 and user_id = $2 and revoked_at is null", id, actor.user_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound("That token was not found.".into()));
        }
        self.remembered.forget_all();
        tracing::info!(actor = %actor.login, token = %id, "api token revoked");
        Ok(())
    }
}
