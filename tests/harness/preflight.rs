//! What `egress-guard preflight`'s tests set up: trails and Security Hub in an account, and the limits proxy's canned
//! answers (AWS's documented shapes where moto has none) and its log of the calls it received.

use aws_config::Region;
use serde_json::Value;

use super::{Moto, World, http_post};

/// moto's default account: the hub's, whose function is `egress-guard`.
const HUB_ACCOUNT: &str = "123456789012";

impl Moto {
    /// Answers the next `times` calls that `call` matches with `status`, `content_type` and `body` instead of moto.
    /// `call` names any of `operation`, `path` (a prefix), `region` (the signed one) and `contains` (in the body), as
    /// `scripts/limits_proxy.py` matches them: `json!({"path": "/2016-08-19/account-settings"})`.
    pub fn answer(&self, call: Value, times: u32, status: u16, content_type: &str, body: &str) {
        let mut fault = call;
        fault["times"] = times.into();
        fault["status"] = status.into();
        fault["content_type"] = content_type.into();
        fault["body"] = body.into();
        let (status, _) = http_post(self.port, "/egress-guard-limits/inject", &fault.to_string());
        assert_eq!(status, 200, "the limits proxy took the answer");
    }

    /// Every call the proxy received so far, answered by moto or by an injected answer, in order: `operation` (the
    /// query `Action` or JSON target; empty for REST APIs), `method`, `path`, `region` (as signed).
    pub fn calls(&self) -> Vec<Value> {
        self.control("calls")
    }
}

impl World {
    pub fn cloudtrail_in(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        let config = self.config.to_builder().region(Region::new(region.to_owned())).build();
        aws_sdk_cloudtrail::Client::new(&config)
    }

    /// A trail `name` whose home region is `region`, multi-region or not, delivering to a bucket of its own, and
    /// logging; returns its ARN.
    pub async fn trail(&self, region: &str, name: &str, multi_region: bool) -> String {
        let s3 = aws_sdk_s3::Client::new(&self.config);
        let bucket = format!("trail-{name}");
        let location = aws_sdk_s3::types::BucketLocationConstraint::from(super::REGION);
        let config = aws_sdk_s3::types::CreateBucketConfiguration::builder().location_constraint(location).build();
        s3.create_bucket().bucket(&bucket).create_bucket_configuration(config).send().await.unwrap();
        let cloudtrail = self.cloudtrail_in(region);
        let out = cloudtrail
            .create_trail()
            .name(name)
            .s3_bucket_name(&bucket)
            .is_multi_region_trail(multi_region)
            .send()
            .await
            .unwrap();
        cloudtrail.start_logging().name(name).send().await.unwrap();
        out.trail_arn().unwrap().to_owned()
    }

    /// What a deployed function's sweeps read as a region seen: a logging multi-region trail of this world's account
    /// (home region `home`), and the rule that takes each region's changes: with the function's ARN (the function's
    /// own account), its rule at home and a region stack's forwarder to home's default bus elsewhere; without (a
    /// member account), the spoke's forwarder to the organization bus of `home`'s function `egress-guard`.
    pub async fn watched(&self, home: &str, regions: &[String], function_arn: Option<&str>) {
        let account = self.sts_account().await;
        self.trail(home, &format!("audit-{account}"), true).await;
        let pattern = serde_json::json!({"source": ["aws.ec2"], "detail-type": ["AWS API Call via CloudTrail"],
            "detail": {"eventSource": ["ec2.amazonaws.com"], "eventName": ["AuthorizeSecurityGroupEgress"]}});
        for region in regions {
            let config = self.config.to_builder().region(Region::new(region.clone())).build();
            let events = aws_sdk_eventbridge::Client::new(&config);
            let target = match function_arn {
                Some(function) if region == home => function.to_owned(),
                Some(_) => format!("arn:aws:events:{home}:{account}:event-bus/default"),
                None => format!("arn:aws:events:{home}:{HUB_ACCOUNT}:event-bus/egress-guard"),
            };
            events.put_rule().name("egress-guard").event_pattern(pattern.to_string()).send().await.unwrap();
            let target = aws_sdk_eventbridge::types::Target::builder().id("egress-guard").arn(target).build().unwrap();
            events.put_targets().rule("egress-guard").targets(target).send().await.unwrap();
        }
    }

    async fn sts_account(&self) -> String {
        let out = aws_sdk_sts::Client::new(&self.config).get_caller_identity().send().await.unwrap();
        out.account().unwrap().to_owned()
    }

    pub async fn enable_security_hub(&self, region: &str) {
        let config = self.config.to_builder().region(Region::new(region.to_owned())).build();
        aws_sdk_securityhub::Client::new(&config).enable_security_hub().send().await.unwrap();
    }
}
