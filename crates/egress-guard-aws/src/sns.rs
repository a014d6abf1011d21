//! The notifier port on SNS: the notice's subject and, per protocol (`MessageStructure` json), its text for e-mail
//! and every other subscriber, its chat card for HTTPS ones (Amazon Q Developer in chat applications), with message
//! attributes that subscribers can filter on.

use aws_sdk_sns::types::MessageAttributeValue;
use egress_guard_core::{Message, Notifier};

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

    /// A notifier for `topic_arn` with a client in the topic's own region, which SNS requires: a central topic in
    /// another region than the function's still receives every notice.
    pub fn for_topic(config: &aws_config::SdkConfig, topic_arn: &str) -> Self {
        let mut builder = aws_sdk_sns::config::Builder::from(config);
        if let Some(region) = topic_arn.split(':').nth(3).filter(|r| !r.is_empty()) {
            builder = builder.region(aws_config::Region::new(region.to_owned()));
        }
        SnsNotifier::new(aws_sdk_sns::Client::from_conf(builder.build()), topic_arn)
    }
}

/// The message per protocol: `default` (e-mail, SQS, Lambda and any protocol not named) is the text as a person
/// reads it; `https`, the protocol the chat integration subscribes with, is the chat card.
pub fn structured(message: &(dyn Message + Sync)) -> String {
    serde_json::json!({ "default": message.text(), "https": message.chat() }).to_string()
}

fn attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder().data_type("String").string_value(value).build().expect("data type is set")
}

impl Notifier for SnsNotifier {
    type Error = Error;

    async fn publish(&self, message: &(dyn Message + Sync)) -> Result<(), Error> {
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(message.subject())
            .message_structure("json")
            .message(structured(message));
        for (name, value) in message.attributes() {
            request = request.message_attributes(name, attribute(&value));
        }
        let result = request.send().await;
        match result {
            Ok(out) => {
                tracing::info!(message_id = ?out.message_id(), "notice published");
                Ok(())
            }
            Err(err) => {
                let (code, message) = crate::error::code_and_message(&err);
                Err(Error::Sns { topic: self.topic_arn.clone(), code, message })
            }
        }
    }
}
