//! The kill switch on the history table: one item, `pk` = `egress-guard/pause` (a group's key has three parts), whose
//! `pause` attribute is the `Pause` as JSON; no `expires_at`, so it stays until resumed. The function reads it with a
//! strongly consistent `GetItem` on every invocation, so a pause holds from the next one; it is written only if it
//! still holds what its writer read.
//! https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_GetItem.html

use aws_sdk_dynamodb::types::AttributeValue;
use egress_guard_core::{Pause, Switch};

use crate::error::{Error, dynamo};
use crate::table::history::DynamoHistory;

/// The switch's item key.
pub const PAUSE_KEY: &str = "egress-guard/pause";

impl DynamoHistory {
    /// The pause in force, if any. A failure (the table missing included: `ResourceNotFoundException`) is an error;
    /// the caller decides what a missing table means.
    pub async fn paused(&self) -> Result<Option<Pause>, Error> {
        let out = self
            .client
            .get()
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(PAUSE_KEY.into()))
            .consistent_read(true)
            .send()
            .await;
        let out = out.map_err(|err| dynamo("GetItem", &self.table, &err))?;
        let Some(text) = out.item().and_then(|item| item.get("pause")).and_then(|v| v.as_s().ok()) else {
            return Ok(None);
        };
        Pause::parse(text).map(Some).map_err(|err| Error::Dynamo {
            operation: "GetItem",
            table: self.table.clone(),
            code: "InvalidPause".into(),
            message: err.to_string(),
        })
    }

    /// Sets the switch to `pause`, or clears it (`None`), only if it still holds `read` (what the caller read before):
    /// two operators at once cannot undo each other unseen. Otherwise `ConditionalCheckFailedException`: read again.
    /// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html
    pub async fn set_pause(&self, pause: Option<&Pause>, read: Option<&Pause>) -> Result<(), Error> {
        let key = AttributeValue::S(PAUSE_KEY.into());
        let (condition, old) = match read {
            None => ("attribute_not_exists(pk)", None),
            Some(old) => ("pause = :old", Some(AttributeValue::S(old.to_json()))),
        };
        match pause {
            Some(pause) => {
                let item = [("pk".to_owned(), key), ("pause".to_owned(), AttributeValue::S(pause.to_json()))];
                let put = self.client.get().put_item().table_name(&self.table).set_item(Some(item.into()));
                let put = put.condition_expression(condition);
                let put = match old {
                    Some(old) => put.expression_attribute_values(":old", old),
                    None => put,
                };
                put.send().await.map(drop).map_err(|err| dynamo("PutItem", &self.table, &err))
            }
            None => {
                let delete = self.client.get().delete_item().table_name(&self.table).key("pk", key);
                let delete = delete.condition_expression(condition);
                let delete = match old {
                    Some(old) => delete.expression_attribute_values(":old", old),
                    None => delete,
                };
                delete.send().await.map(drop).map_err(|err| dynamo("DeleteItem", &self.table, &err))
            }
        }
    }
}

impl Switch for DynamoHistory {
    type Error = Error;
    async fn paused(&self) -> Result<Option<Pause>, Error> {
        match DynamoHistory::paused(self).await {
            // The function's own table missing holds no pause (the history tells its own failure); any other
            // failure leaves the switch unread, and nothing is done.
            Err(err) if err.code() == "ResourceNotFoundException" => {
                tracing::warn!(error = %err, "the pause switch's table does not exist: not paused");
                Ok(None)
            }
            answer => answer,
        }
    }
}
