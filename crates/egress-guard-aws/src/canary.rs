//! What `egress-guard verify` sets up and takes down, and nothing else: a temporary group per region (in the default
//! VPC or the one given, tagged, its default egress revoked), a temporary SQS queue subscribed to the topic (its policy
//! admits only that topic), the notices read back from it; each removed again.

use std::time::Duration;

use aws_config::{Region, SdkConfig};
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use egress_guard_core::verify::{Heard, TAG_KEY};

use crate::ec2::ec2_error;
use crate::error::{Error, call, code_and_message};

/// Attempts at deleting a group EC2 still holds a dependency on (`DependencyViolation`), a few seconds apart.
const DELETE_ATTEMPTS: u32 = 10;

/// The temporary queue and its subscription to the topic.
#[derive(Clone, Debug)]
pub struct Listener {
    pub queue_url: String,
    pub subscription_arn: Option<String>,
    config: SdkConfig,
}

/// The canary's calls, with the caller's credentials.
#[derive(Clone, Debug)]
pub struct Canary {
    config: SdkConfig,
}

impl Canary {
    pub fn new(config: &SdkConfig) -> Canary {
        Canary { config: config.clone() }
    }

    fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.config.to_builder().region(Region::new(region.to_owned())).build())
    }

    /// A queue named `name` in the topic's region, whose policy lets only `topic_arn` send to it, subscribed to the
    /// topic. An SQS subscription needs no confirmation when the queue's policy lets the topic send:
    /// https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html
    pub async fn listen(&self, topic_arn: &str, name: &str) -> Result<Listener, Error> {
        let parts: Vec<&str> = topic_arn.split(':').collect();
        let (partition, region) = (parts.get(1).copied().unwrap_or("aws"), parts.get(3).copied().unwrap_or_default());
        let config = self.config.to_builder().region(Region::new(region.to_owned())).build();
        let sts = aws_sdk_sts::Client::new(&config);
        let me = sts.get_caller_identity().send().await.map_err(|e| call("STS", "GetCallerIdentity", &e))?;
        let queue_arn = format!("arn:{partition}:sqs:{region}:{}:{name}", me.account().unwrap_or_default());
        // The policy is given as the queue is made: a policy set later "can take up to 60 seconds" to hold, and SNS
        // drops a delivery the queue refuses.
        // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html
        let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]});
        let sqs = aws_sdk_sqs::Client::new(&config);
        let created = sqs
            .create_queue()
            .queue_name(name)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .map_err(|e| call("SQS", "CreateQueue", &e))?;
        let queue_url = created.queue_url().unwrap_or_default().to_owned();
        let mut listener = Listener { queue_url, subscription_arn: None, config };
        let sns = aws_sdk_sns::Client::new(&listener.config);
        match sns.subscribe().topic_arn(topic_arn).protocol("sqs").endpoint(queue_arn).send().await {
            Ok(out) => listener.subscription_arn = out.subscription_arn().map(str::to_owned),
            Err(e) => {
                let _ = self.unlisten(&listener).await;
                return Err(call("SNS", "Subscribe", &e));
            }
        }
        Ok(listener)
    }

    /// The notices that arrived (up to ten, waiting up to a second), each deleted once read.
    pub async fn hear(&self, listener: &Listener) -> Result<Vec<Heard>, Error> {
        let sqs = aws_sdk_sqs::Client::new(&listener.config);
        let out = sqs
            .receive_message()
            .queue_url(&listener.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| call("SQS", "ReceiveMessage", &e))?;
        let mut heard = Vec::new();
        let mut receipts = Vec::new();
        for message in out.messages() {
            // The SNS envelope: Message (the text), MessageAttributes (group_id, outcome, ...).
            let envelope: serde_json::Value =
                serde_json::from_str(message.body().unwrap_or_default()).unwrap_or_default();
            let attribute = |k: &str| envelope["MessageAttributes"][k]["Value"].as_str().unwrap_or_default().to_owned();
            heard.push(Heard {
                group_id: attribute("group_id"),
                outcome: attribute("outcome"),
                text: envelope["Message"].as_str().unwrap_or_default().to_owned(),
            });
            receipts.extend(message.receipt_handle().map(str::to_owned));
        }
        // Each read is kept whatever its delete answers: a message not deleted comes back, and is heard twice.
        for receipt in receipts {
            let _ = sqs.delete_message().queue_url(&listener.queue_url).receipt_handle(receipt).send().await;
        }
        Ok(heard)
    }

    /// Removes the queue named `name` in the topic's region and its subscriptions to the topic, whether or not the
    /// run that made them got to note them (stopped between a call and its answer); answers what could not be removed.
    pub async fn forget(&self, topic_arn: &str, name: &str) -> Vec<String> {
        let region = topic_arn.split(':').nth(3).unwrap_or_default().to_owned();
        let config = self.config.to_builder().region(Region::new(region)).build();
        let sqs = aws_sdk_sqs::Client::new(&config);
        let queue_url = match sqs.get_queue_url().queue_name(name).send().await {
            Ok(out) => out.queue_url().unwrap_or_default().to_owned(),
            // The queue is not there: the run stopped before it was made, or it is removed already.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_queue_does_not_exist()) => return Vec::new(),
            Err(e) => return vec![format!("queue {name}: {}", code_and_message(&e).0)],
        };
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .ok()
            .and_then(|a| {
                a.attributes().and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)).cloned()
            });
        let Some(queue_arn) = queue_arn else {
            return vec![format!("queue {queue_url}: its ARN could not be read, so neither it nor its subscription")];
        };
        // ListSubscriptionsByTopic pages by NextToken, 100 a page:
        // https://docs.aws.amazon.com/sns/latest/api/API_ListSubscriptionsByTopic.html
        let sns = aws_sdk_sns::Client::new(&config);
        let mut subscriptions = Vec::new();
        let mut token = None;
        loop {
            match sns.list_subscriptions_by_topic().topic_arn(topic_arn).set_next_token(token).send().await {
                Ok(out) => {
                    subscriptions.extend(
                        out.subscriptions()
                            .iter()
                            .filter(|s| s.endpoint() == Some(queue_arn.as_str()))
                            .filter_map(|s| s.subscription_arn().map(str::to_owned)),
                    );
                    token = out.next_token().map(str::to_owned);
                    if token.is_none() {
                        break;
                    }
                }
                Err(e) => return vec![format!("the subscriptions of {topic_arn}: {}", code_and_message(&e).0)],
            }
        }
        let mut listener = Listener { queue_url, subscription_arn: None, config };
        let mut left = Vec::new();
        for arn in subscriptions {
            listener.subscription_arn = Some(arn);
            left.extend(self.unlisten_subscription(&listener).await);
        }
        listener.subscription_arn = None;
        left.extend(self.unlisten(&listener).await);
        left
    }

    async fn unlisten_subscription(&self, listener: &Listener) -> Vec<String> {
        let Some(arn) = listener.subscription_arn.as_deref().filter(|a| a.starts_with("arn:")) else { return vec![] };
        let sns = aws_sdk_sns::Client::new(&listener.config);
        match sns.unsubscribe().subscription_arn(arn).send().await {
            Ok(_) => vec![],
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found_exception()) => vec![],
            Err(e) => vec![format!("subscription {arn}: {}", code_and_message(&e).0)],
        }
    }

    /// The groups tagged with this run's id in `region`.
    pub async fn tagged_groups(&self, region: &str, run: &str) -> Result<Vec<String>, Error> {
        let filter = Filter::builder().name(format!("tag:{TAG_KEY}")).values(run).build();
        let out = self.ec2(region).describe_security_groups().filters(filter).send().await;
        let out = out.map_err(|e| ec2_error("DescribeSecurityGroups", &e))?;
        Ok(out.security_groups().iter().filter_map(|g| g.group_id()).map(str::to_owned).collect())
    }

    /// Unsubscribes and deletes the queue; answers what could not be removed.
    pub async fn unlisten(&self, listener: &Listener) -> Vec<String> {
        let mut left = self.unlisten_subscription(listener).await;
        let sqs = aws_sdk_sqs::Client::new(&listener.config);
        if let Err(e) = sqs.delete_queue().queue_url(&listener.queue_url).send().await
            && !e.as_service_error().is_some_and(|e| e.is_queue_does_not_exist())
        {
            left.push(format!("queue {}: {}", listener.queue_url, code_and_message(&e).0));
        }
        left
    }

    /// The region's default VPC, if it has one.
    pub async fn default_vpc(&self, region: &str) -> Result<Option<String>, Error> {
        let filter = Filter::builder().name("is-default").values("true").build();
        let out = self.ec2(region).describe_vpcs().filters(filter).send().await;
        let out = out.map_err(|e| ec2_error("DescribeVpcs", &e))?;
        Ok(out.vpcs().first().and_then(|v| v.vpc_id()).map(str::to_owned))
    }

    /// A group `name` in `vpc`, tagged `egress-guard:verify=<run>` as it is created (one call, so that no untagged
    /// canary can be left), then stripped of the egress EC2 gave it.
    /// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html
    pub async fn create_group(
        &self,
        region: &str,
        vpc: &str,
        name: &str,
        description: &str,
        run: &str,
    ) -> Result<String, Error> {
        let ec2 = self.ec2(region);
        let tags = TagSpecification::builder()
            .resource_type(ResourceType::SecurityGroup)
            .tags(Tag::builder().key(TAG_KEY).value(run).build())
            .build();
        let out = ec2
            .create_security_group()
            .group_name(name)
            .description(description)
            .vpc_id(vpc)
            .tag_specifications(tags)
            .send()
            .await
            .map_err(|e| ec2_error("CreateSecurityGroup", &e))?;
        Ok(out.group_id().unwrap_or_default().to_owned())
    }

    /// Removes every egress rule the group has (EC2's default allow-all); a rule already gone (egress-guard may have
    /// revoked it first, on the `CreateSecurityGroup` event) is fine.
    pub async fn strip_egress(&self, region: &str, group_id: &str) -> Result<(), Error> {
        let ec2 = self.ec2(region);
        // Right after CreateSecurityGroup, EC2 may not show the group yet (eventual consistency): read again.
        // https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html
        let mut attempt = 0;
        let out = loop {
            match ec2.describe_security_groups().group_ids(group_id).send().await {
                Err(e) if code_and_message(&e).0 == "InvalidGroup.NotFound" && attempt < 5 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                answer => break answer.map_err(|e| ec2_error("DescribeSecurityGroups", &e))?,
            }
        };
        let rules: Vec<_> = out.security_groups().iter().flat_map(|g| g.ip_permissions_egress().to_vec()).collect();
        if rules.is_empty() {
            return Ok(());
        }
        match ec2.revoke_security_group_egress().group_id(group_id).set_ip_permissions(Some(rules)).send().await {
            Err(e) if code_and_message(&e).0 != "InvalidPermission.NotFound" => {
                Err(ec2_error("RevokeSecurityGroupEgress", &e))
            }
            _ => Ok(()),
        }
    }

    /// Deletes the group, again while EC2 still holds a dependency on it; a group already gone is fine.
    /// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSecurityGroup.html
    pub async fn delete_group(&self, region: &str, group_id: &str) -> Result<(), Error> {
        let ec2 = self.ec2(region);
        let mut attempt = 0;
        loop {
            match ec2.delete_security_group().group_id(group_id).send().await {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let code = code_and_message(&e).0;
                    attempt += 1;
                    // Not found twice, a few seconds apart: gone (once may be a group too new to show).
                    if code == "InvalidGroup.NotFound" && attempt >= 2 {
                        return Ok(());
                    }
                    if !matches!(code.as_str(), "DependencyViolation" | "InvalidGroup.NotFound")
                        || attempt >= DELETE_ATTEMPTS
                    {
                        return Err(ec2_error("DeleteSecurityGroup", &e));
                    }
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
            }
        }
    }
}
