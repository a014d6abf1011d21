"""egress-guard demo: moto server, real groups, the real bootstrap under the Lambda Runtime Interface Emulator.

Run through scripts/demo.sh, which builds the bootstrap and installs the pinned tools first.
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import time
import urllib.request

import boto3

from local import DUMMY, EVENT_GROUP, REGION, ROOT, create_history_table, free_port, wait_port


def egress_lines(ec2, group_id):
    perms = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]["IpPermissionsEgress"]
    lines = []
    for p in perms:
        ports = str(p.get("FromPort")) if p.get("FromPort") == p.get("ToPort") else f'{p.get("FromPort")}-{p.get("ToPort")}'
        proto = "all traffic" if p["IpProtocol"] == "-1" else f'{p["IpProtocol"]} {ports}'
        for r in p.get("IpRanges", []):
            lines.append(f"  {proto:<14} {r['CidrIp']}")
        for r in p.get("Ipv6Ranges", []):
            lines.append(f"  {proto:<14} {r['CidrIpv6']}")
    return "\n".join(lines) or "  (none)"


SAMPLE_VPC = "vpc-0c4d5e6f7a8b9c0d1"  # the VPC that events/create-vpc.json names


# The events happen now, so that the flow logs written below fall in the window a notice reads.
NOW = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def event(name, group_id, vpc_id=SAMPLE_VPC):
    text = (ROOT / "events" / f"{name}.json").read_text().replace(EVENT_GROUP, group_id).replace(SAMPLE_VPC, vpc_id)
    return re.sub(r'"(eventTime|time)": "[^"]*"', lambda m: f'"{m.group(1)}": "{NOW}"', text)


FLOW_FORMAT = ("${version} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${start} ${end} "
               "${action} ${log-status} ${tcp-flags} ${flow-direction}")


def flow_logs(ec2, endpoint, vpc, group):
    """One interface using `group`, its flow log in CloudWatch Logs, and a day of what it did: connections it
    started (HTTPS to two addresses, PostgreSQL inside the VPC), and replies to the HTTPS it serves."""
    logs = boto3.client("logs", endpoint_url=endpoint, **DUMMY)
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet, Groups=[group], PrivateIpAddress="10.0.1.10")
    eni = eni["NetworkInterface"]["NetworkInterfaceId"]
    logs.create_log_group(logGroupName="/vpc/flow-logs")
    ec2.create_flow_logs(ResourceIds=[eni], ResourceType="NetworkInterface", TrafficType="ALL",
                         LogGroupName="/vpc/flow-logs", LogFormat=FLOW_FORMAT,
                         DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/flow-logs")
    logs.create_log_stream(logGroupName="/vpc/flow-logs", logStreamName=f"{eni}-all")
    t = int(time.time()) - 86400
    seen = [("10.0.1.10", "203.0.113.10", 49152, 443, 2), ("10.0.1.10", "203.0.113.11", 49153, 443, 3),
            ("10.0.1.10", "10.0.2.15", 49154, 5432, 2), ("10.0.1.10", "198.51.100.7", 443, 50123, 18),
            ("198.51.100.7", "10.0.1.10", 50123, 443, 2)]
    events = [{"timestamp": (t + i * 60) * 1000,
               "message": f"5 {eni} {s} {d} {sp} {dp} 6 {t + i * 60} {t + i * 60 + 60} ACCEPT OK {f} "
                          f"{'ingress' if d == '10.0.1.10' else 'egress'}"}
              for i, (s, d, sp, dp, f) in enumerate(seen * 3)]
    logs.put_log_events(logGroupName="/vpc/flow-logs", logStreamName=f"{eni}-all", logEvents=events)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--rie", required=True)
    ap.add_argument("--moto", required=True)
    ap.add_argument("--cli", required=True)
    args = ap.parse_args()

    procs = []
    try:
        moto_port = free_port()
        moto = subprocess.Popen([args.moto, "-H", "127.0.0.1", "-p", str(moto_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(moto)
        wait_port(moto_port, moto, "moto_server")
        endpoint = f"http://127.0.0.1:{moto_port}"
        ec2 = boto3.client("ec2", endpoint_url=endpoint, **DUMMY)
        sns = boto3.client("sns", endpoint_url=endpoint, **DUMMY)
        sqs = boto3.client("sqs", endpoint_url=endpoint, **DUMMY)

        topic = sns.create_topic(Name="egress-guard")["TopicArn"]
        history = create_history_table(boto3.client("dynamodb", endpoint_url=endpoint, **DUMMY))
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
        web = ec2.create_security_group(GroupName="web-frontend", Description="Web tier", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_egress(GroupId=web, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        flow_logs(ec2, endpoint, vpc, web)
        db = ec2.create_security_group(GroupName="reporting-db", Description="DB", VpcId=vpc)["GroupId"]
        ec2.revoke_security_group_egress(GroupId=db, IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
        ec2.authorize_security_group_egress(GroupId=db, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.20.0.0/16"}]}])
        proxy = ec2.create_security_group(GroupName="egress-proxy", Description="Proxy", VpcId=vpc)["GroupId"]
        ec2.create_tags(Resources=[proxy], Tags=[{"Key": "egress-guard:exempt", "Value": "egress proxy, ticket SEC-42"}])

        before = egress_lines(ec2, web)

        rie_port, runtime_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({
            "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "test", "AWS_LAMBDA_FUNCTION_TIMEOUT": "30",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "EGRESS_GUARD_TOPIC_ARN": topic, "EGRESS_GUARD_DRY_RUN": "false",
            "AWS_LAMBDA_LOG_LEVEL": "warn", "EGRESS_GUARD_HISTORY_TABLE": history,
            "EGRESS_GUARD_OBSERVED_EGRESS_DAYS": "14",
        })
        rie = subprocess.Popen([args.rie, "--runtime-interface-emulator-address", f"127.0.0.1:{rie_port}",
                                "--runtime-api-address", f"127.0.0.1:{runtime_port}", args.bootstrap],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(rie)
        wait_port(rie_port, rie, "the Lambda Runtime Interface Emulator")
        url = f"http://127.0.0.1:{rie_port}/2015-03-31/functions/function/invocations"

        print("egress-guard demo: moto server on", endpoint, "| bootstrap under the Lambda Runtime Interface Emulator\n")
        open_443 = [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        reopen = lambda: ec2.authorize_security_group_egress(GroupId=web, IpPermissions=open_443)
        cases = [
            ("authorize-egress-terraform", web, "web-frontend: default allow-all + tcp 443 to 0.0.0.0/0, by Terraform"),
            ("authorize-egress-terraform", web, "web-frontend: Terraform's next apply re-opens tcp 443", reopen),
            ("authorize-egress-restricted", db, "reporting-db: tcp 5432 to 10.20.0.0/16 only"),
            ("authorize-egress-exempt-group", proxy, "egress-proxy: tagged egress-guard:exempt"),
            ("authorize-egress-failed-call", web, "a call that CloudTrail recorded as failed"),
            ("malformed-no-group-id", web, "an event that names no group"),
            ("create-vpc", web, "a new VPC: its default group allows all egress, IPv4 and IPv6"),
        ]
        for name, group, what, *before_event in cases:
            for action in before_event:
                action()
            req = urllib.request.Request(url, data=event(name, group, vpc).encode(), method="POST")
            with urllib.request.urlopen(req, timeout=60) as resp:
                body = json.loads(resp.read())
            if "errorType" in body:
                result = f"rejected ({body['errorType']}): {body['errorMessage']}"
            else:
                result = ", ".join(r["outcome"] for r in body["results"])
            print(f"events/{name}.json\n  {what}\n  -> {result}\n")

        print(f"web-frontend ({web}) egress before:\n{before}\nafter:\n{egress_lines(ec2, web)}\n")
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        envelopes = [json.loads(m["Body"]) for m in messages]
        subjects = "".join(f"  {e['Subject']}\n" for e in envelopes)
        print(f"{len(messages)} notice(s) arrived by e-mail (here: through SQS):\n{subjects}\nthe repeat:\n")
        envelope = next((e for e in envelopes if "REPEAT" in e["Subject"]), None) or (
            envelopes[-1] if envelopes else {"Subject": "-", "Message": "(none)"})
        print("-" * 78)
        print(f"Subject: {envelope['Subject']}\n")
        print(envelope["Message"])
        print("-" * 78)
        print(f"\n$ egress-guard recommend --group-id {web}   (the CLI: the whole proposal, and how to apply it)\n")
        out = subprocess.run([args.cli, "recommend", "--group-id", web], env=env, capture_output=True, text=True,
                             timeout=120)
        print(out.stdout or out.stderr)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


if __name__ == "__main__":
    main()
