//! The notifier port on SNS: the notice's subject and text, with message attributes that subscribers can filter on.

use aws_sdk_sns::types::MessageAttributeValue;
use egress_guard_core::{Notice, Notifier};

use crate::error::Error;

#[derive(Clone, Debug)]
pub struct SnsNotifier {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        SnsNotifier { client, topic_arn: topic_arn.into() }
    }
}

fn attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder().data_type("String").string_value(value).build().expect("data type is set")
}

impl Notifier for SnsNotifier {
    type Error = Error;

    async fn publish(&self, notice: &Notice) -> Result<(), Error> {
        let result = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(notice.subject())
            .message(notice.text())
            .message_attributes("outcome", attribute(notice.outcome.as_str()))
            .message_attributes("group_id", attribute(&notice.group.id))
            .message_attributes("account", attribute(&notice.account))
            .message_attributes("region", attribute(&notice.region))
            .message_attributes("dry_run", attribute(if notice.dry_run { "true" } else { "false" }))
            .send()
            .await;
        match result {
            Ok(out) => {
                tracing::info!(group_id = %notice.group.id, message_id = ?out.message_id(), "notice published");
                Ok(())
            }
            Err(err) => {
                let (code, message) = crate::error::code_and_message(&err);
                Err(Error::Sns { topic: self.topic_arn.clone(), code, message })
            }
        }
    }
}
