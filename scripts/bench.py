"""egress-guard benchmark: the release bootstrap under the Lambda Runtime Interface Emulator, against moto server
behind a counting proxy, beside a hello-world lambda_runtime bootstrap built the same way as its floor.

Run through scripts/bench.sh. Prints a table and writes bench/results.json. Medians and maxima over repeated runs.
"""
import argparse
import datetime
import http.client
import http.server
import json
import os
import pathlib
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import boto3

from local import DUMMY, EVENT_GROUP, REGION, ROOT, create_history_table, free_port, wait_port


class CountingProxy:
    """Forwards every request to moto and records the AWS action it carried, as seen on the wire."""

    def __init__(self, upstream_port):
        self.calls = []
        # Added to every call, as the round trip to a real AWS endpoint would be (moto answers in milliseconds).
        self.latency_s = 0.0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.forward()

            def do_GET(self):
                self.forward()

            def do_PATCH(self):
                self.forward()

            def forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                target = self.headers.get("X-Amz-Target")
                if self.command == "GET":  # S3, by path
                    action = "ListObjectsV2" if "list-type=2" in self.path else "GetObject"
                elif self.path.startswith("/findings/"):  # Security Hub, by path
                    action = {"/findings/import": "BatchImportFindings"}.get(self.path, "BatchUpdateFindings")
                elif target:
                    action = target.split(".")[-1]
                else:
                    action = urllib.parse.parse_qs(body.decode()).get("Action", ["?"])[0]
                proxy.calls.append(action)
                if proxy.latency_s:
                    time.sleep(proxy.latency_s)
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self):
        calls, self.calls = self.calls, []
        return calls


def vm_hwm_kib(pid):
    """Peak RSS of the bootstrap: the RIE's child process."""
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            status = pathlib.Path(f"/proc/{child}/status").read_text()
            m = re.search(r"VmHWM:\s+(\d+) kB", status)
            if m:
                return int(m.group(1))
    return None


class Function:
    """A bootstrap under the RIE, with its output in a file."""

    def __init__(self, rie, bootstrap, env, log_path):
        self.port, runtime = free_port(), free_port()
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen([rie, "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}",
                                      "--runtime-api-address", f"127.0.0.1:{runtime}", bootstrap],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc, "aws-lambda-rie", poll=0.001)

    def invoke(self, body):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations",
                                     data=body.encode(), method="POST")
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())

    def output(self):
        return pathlib.Path(self.log_path).read_text()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


def summary(values):
    return {"median": round(statistics.median(values), 2), "max": round(max(values), 2), "n": len(values)}


def cold_starts(rie, bootstrap, env, event_body, runs, tmp):
    init, spawn, rss = [], [], []
    for i in range(runs):
        f = Function(rie, bootstrap, env, tmp / f"cold-{i}.log")
        f.invoke(event_body())
        spawn.append((time.perf_counter() - f.t0) * 1000)
        rss.append(vm_hwm_kib(f.proc.pid) / 1024)
        m = re.search(r"INIT REPORT\(durationMs: ([0-9.]+)\)", f.output())
        f.stop()
        if m:
            init.append(float(m.group(1)))
    return {"init_ms": summary(init), "spawn_to_first_response_ms": summary(spawn), "peak_rss_mib": summary(rss)}


def sweeps(args, endpoint, proxy, env, tmp):
    """One region's sweep of N open groups by the bootstrap, one group at a time and four at once, with no added
    latency and with an AWS-like round trip on every call: the handler's Duration, median over the runs. Each run is a
    fresh function (a full revoke bucket) after the groups are opened again."""
    region = "ap-south-1"  # none of the benchmark's other groups are here
    ec2 = boto3.client("ec2", endpoint_url=endpoint, **dict(DUMMY, region_name=region))
    ids = [ec2.create_security_group(GroupName=f"sweep-{i}", Description="sweep")["GroupId"]
           for i in range(args.sweep_groups)]
    everything = [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    schedule = (ROOT / "events/scheduled-sweep.json").read_text().replace("eu-west-1", region)
    results = {"region": region, "groups": len(ids), "added_latency_ms": args.sweep_latency_ms}
    for latency_ms in (0, args.sweep_latency_ms):
        proxy.latency_s = latency_ms / 1000
        for concurrency in (1, 4):
            durations = []
            for run in range(args.sweep_runs):
                for g in ids:
                    if not ec2.describe_security_groups(GroupIds=[g])["SecurityGroups"][0]["IpPermissionsEgress"]:
                        ec2.authorize_security_group_egress(GroupId=g, IpPermissions=everything)
                f = Function(args.rie, args.bootstrap, dict(env, AWS_REGION=region, AWS_LAMBDA_FUNCTION_TIMEOUT="300",
                                                            EGRESS_GUARD_SWEEP_CONCURRENCY=str(concurrency)),
                             tmp / f"sweep-{latency_ms}-{concurrency}-{run}.log")
                out = f.invoke(schedule)
                assert out["counts"].get("remediated", 0) >= len(ids), out["counts"]
                deadline = time.time() + 5
                while "REPORT RequestId" not in f.output() and time.time() < deadline:
                    time.sleep(0.005)
                reports = re.findall(r"REPORT RequestId: \S+\s+(?:Init Duration: [0-9.]+ ms\s+)?Duration: ([0-9.]+) ms",
                                     f.output())
                durations.append(float(reports[-1]))
                f.stop()
            results[f"latency_{latency_ms}ms_concurrency_{concurrency}_ms"] = summary(durations)
        one = results[f"latency_{latency_ms}ms_concurrency_1_ms"]["median"]
        four = results[f"latency_{latency_ms}ms_concurrency_4_ms"]["median"]
        results[f"latency_{latency_ms}ms_speedup"] = round(one / four, 2)
        results[f"latency_{latency_ms}ms_per_group_ms"] = {"concurrency_1": round(one / len(ids), 1),
                                                           "concurrency_4": round(four / len(ids), 1)}
    proxy.latency_s = 0.0
    return results


def recommend(args, endpoint, proxy, env):
    """`egress-guard recommend` on a group used by N interfaces with D days of flow logs: half of them log to
    CloudWatch Logs (one flow log each), half through their subnet's flow log to S3 (one gzip file a day). Wall time
    and AWS calls, median over 5 runs, against moto and with an AWS-like latency added to every call; the floor is
    the same command on a group no interface uses (process start, the group's describe)."""
    import gzip
    rng = __import__("random").Random(7)
    ec2 = boto3.client("ec2", endpoint_url=endpoint, **DUMMY)
    logs = boto3.client("logs", endpoint_url=endpoint, **DUMMY)
    s3 = boto3.client("s3", endpoint_url=endpoint, **DUMMY)
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.8.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)]
    group = ec2.create_security_group(GroupName="bench-recommend", Description="bench", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    empty = ec2.create_security_group(GroupName="bench-recommend-floor", Description="bench", VpcId=vpc)["GroupId"]
    n, days, per_day = args.recommend_interfaces, args.recommend_days, args.recommend_records_per_day
    half = n // 2
    s3.create_bucket(Bucket="bench-flow-logs", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3_log = ec2.create_flow_logs(ResourceIds=[subnets[1]], ResourceType="Subnet", TrafficType="ALL",
                                  LogDestinationType="s3", LogDestination="arn:aws:s3:::bench-flow-logs")["FlowLogIds"][0]
    logs.create_log_group(logGroupName="/bench/flow")
    destinations = [f"203.0.113.{i}" for i in range(1, 41)] + [f"10.8.9.{i}" for i in range(1, 11)]
    now = int(time.time())
    files = {}
    records = 0
    for i in range(n):
        ip = f"10.8.{1 if i < half else 2}.{10 + i}"
        eni = ec2.create_network_interface(SubnetId=subnets[0 if i < half else 1], Groups=[group],
                                           PrivateIpAddress=ip)["NetworkInterface"]["NetworkInterfaceId"]
        lines = []
        for d in range(days):
            for r in range(per_day):
                # Spread over the window, newest last; moto keeps CloudWatch events of the last 14 days only.
                t = now - int((days - d - 0.5) * 86400 * 0.99) + r
                dst, port = rng.choice(destinations), rng.choice([443, 443, 443, 5432, 6379, 8080])
                sport = 1024 + rng.randrange(60000)
                lines.append((t, f"2 123456789012 {eni} {ip} {dst} {sport} {port} 6 10 840 {t} {t + 60} ACCEPT OK"))
                # One reply in four: the group serves HTTPS too.
                if r % 4 == 0:
                    lines.append((t, f"2 123456789012 {eni} {ip} 198.51.100.{r % 200} 443 {sport} 6 10 840 {t} {t + 60} ACCEPT OK"))
        records += len(lines)
        if i < half:
            ec2.create_flow_logs(ResourceIds=[eni], ResourceType="NetworkInterface", TrafficType="ALL",
                                 LogGroupName="/bench/flow", DeliverLogsPermissionArn="arn:aws:iam::123456789012:role/x")
            logs.create_log_stream(logGroupName="/bench/flow", logStreamName=f"{eni}-all")
            for k in range(0, len(lines), 5000):
                batch = [{"timestamp": t * 1000, "message": m} for t, m in lines[k:k + 5000]]
                logs.put_log_events(logGroupName="/bench/flow", logStreamName=f"{eni}-all", logEvents=batch)
        else:
            for t, m in lines:
                files.setdefault(time.strftime("%Y/%m/%d", time.gmtime(t)), []).append(m)
    header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
    for day, lines in files.items():
        stamp = day.replace("/", "") + "T0000Z"
        key = f"AWSLogs/123456789012/vpcflowlogs/{REGION}/{day}/123456789012_vpcflowlogs_{REGION}_{s3_log}_{stamp}_0.log.gz"
        s3.put_object(Bucket="bench-flow-logs", Key=key, Body=gzip.compress(("\n".join([header] + lines) + "\n").encode()))

    def run(group_id):
        proxy.take()
        t0 = time.perf_counter()
        out = subprocess.run([args.cli, "recommend", "--group-id", group_id, "--days", str(days), "--format", "json"],
                             env=env, capture_output=True, text=True, timeout=900)
        wall = (time.perf_counter() - t0) * 1000
        assert out.returncode == 0, out.stderr
        return wall, proxy.take(), json.loads(out.stdout)

    result = {"interfaces": n, "days": days, "records": records}
    for latency in (0, args.sweep_latency_ms):
        proxy.latency_s = latency / 1000
        walls, floors = [], []
        for _ in range(5):
            floors.append(run(empty)[0])
            wall, calls, proposal = run(group)
            walls.append(wall)
        result[f"latency_{latency}ms_wall_ms"] = summary(walls)
        result[f"latency_{latency}ms_floor_ms"] = summary(floors)
        result[f"latency_{latency}ms_ratio_to_floor"] = round(summary(walls)["median"] / summary(floors)["median"], 1)
    proxy.latency_s = 0.0
    result["aws_calls"] = len(calls)
    result["aws_calls_by_action"] = {a: calls.count(a) for a in sorted(set(calls))}
    result["rules"] = len(proposal["rules"])
    result["started"] = sum(c["started"] for c in proposal["interfaces"])
    result["replies"] = sum(c["replies"] for c in proposal["interfaces"])
    return result


def audit(args, endpoint, proxy, env):
    """`egress-guard audit` over N regions x M groups: wall time and AWS calls, median over 5 runs."""
    regions = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1",
               "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1", "ca-central-1"][:args.audit_regions]
    for region in regions:
        ec2 = boto3.client("ec2", endpoint_url=endpoint, **dict(DUMMY, region_name=region))
        vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        for i in range(args.audit_groups):
            ec2.create_security_group(GroupName=f"bench-{i}", Description="bench", VpcId=vpc)
    walls, calls = [], []
    for _ in range(5):
        proxy.take()
        t0 = time.perf_counter()
        out = subprocess.run([args.cli, "audit", "--regions", ",".join(regions), "--format", "json"],
                             env=env, capture_output=True, text=True, timeout=600)
        walls.append((time.perf_counter() - t0) * 1000)
        calls.append(len(proxy.take()))
        report = json.loads(out.stdout)
        # The benchmark's own groups in eu-west-1 come on top of the default group and the ones created here.
        assert report["summary"]["groups"] >= len(regions) * (args.audit_groups + 1), report["summary"]
    return {"regions": len(regions), "groups_per_region": args.audit_groups, "groups": report["summary"]["groups"],
            "wall_ms": summary(walls), "aws_calls": calls[-1], "open_rules": report["summary"]["open_rules"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--hello", required=True)
    ap.add_argument("--rie", required=True)
    ap.add_argument("--moto", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--baseline", help="another bootstrap (an earlier build) whose cold starts are measured in the "
                    "same run, for a ratio against it")
    ap.add_argument("--cold-only", action="store_true", help="measure the cold starts only, then stop")
    ap.add_argument("--audit-regions", type=int, default=10)
    ap.add_argument("--audit-groups", type=int, default=500)
    ap.add_argument("--sweep-groups", type=int, default=40)
    ap.add_argument("--sweep-runs", type=int, default=5)
    ap.add_argument("--sweep-latency-ms", type=int, default=100)
    ap.add_argument("--recommend-interfaces", type=int, default=10)
    ap.add_argument("--recommend-days", type=int, default=14)
    ap.add_argument("--recommend-records-per-day", type=int, default=500)
    ap.add_argument("--out", default=str(ROOT / "bench/results.json"))
    args = ap.parse_args()
    tmp = ROOT / "bench/out"
    tmp.mkdir(parents=True, exist_ok=True)

    moto_port = free_port()
    moto = subprocess.Popen([args.moto, "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(moto_port, moto, "moto_server")
        proxy = CountingProxy(moto_port)
        endpoint = f"http://127.0.0.1:{moto_port}"
        ec2 = boto3.client("ec2", endpoint_url=endpoint, **DUMMY)
        sns = boto3.client("sns", endpoint_url=endpoint, **DUMMY)
        topic = sns.create_topic(Name="egress-guard")["TopicArn"]
        # The repeat history: a remediation adds one UpdateItem, nothing else does.
        history = create_history_table(boto3.client("dynamodb", endpoint_url=endpoint, **DUMMY))
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
        counter = [0]

        def group(kind):
            counter[0] += 1
            g = ec2.create_security_group(GroupName=f"{kind}-{counter[0]}", Description=kind, VpcId=vpc)["GroupId"]
            if kind in ("compliant", "exempt"):
                ec2.revoke_security_group_egress(GroupId=g, IpPermissions=[
                    {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
                ec2.authorize_security_group_egress(GroupId=g, IpPermissions=[
                    {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                     "IpRanges": [{"CidrIp": "10.0.0.0/8" if kind == "compliant" else "0.0.0.0/0"}]}])
            if kind == "exempt":
                ec2.create_tags(Resources=[g], Tags=[{"Key": "egress-guard:exempt", "Value": "bench"}])
            return g

        def event(kind):
            return (ROOT / "events/create-security-group.json").read_text().replace(EVENT_GROUP, group(kind))

        env = {"PATH": os.environ.get("PATH", ""), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
               "AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
               "AWS_SESSION_TOKEN": "test", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
               "AWS_LAMBDA_FUNCTION_TIMEOUT": "30", "EGRESS_GUARD_TOPIC_ARN": topic, "AWS_LAMBDA_LOG_LEVEL": "warn",
               "EGRESS_GUARD_HISTORY_TABLE": history}
        # Where the TLS roots are read from, if the caller says (see README "Performance").
        env.update({k: os.environ[k] for k in ("SSL_CERT_FILE", "SSL_CERT_DIR") if k in os.environ})
        ec2.describe_security_groups()  # moto loads EC2 lazily: keep that out of the first measurement

        results = {"machine": {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                               "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")},
                   "runs": args.runs}
        results["binary_mib"] = {"egress_guard": round(os.path.getsize(args.bootstrap) / 2**20, 2),
                                 "hello": round(os.path.getsize(args.hello) / 2**20, 2)}
        hello_body = lambda: "{}"
        results["cold_hello"] = cold_starts(args.rie, args.hello, env, hello_body, args.runs, tmp)
        results["cold_egress_guard"] = cold_starts(args.rie, args.bootstrap, env, lambda: event("compliant"), args.runs, tmp)
        if args.baseline:
            # Alternated with the build under test, so that the machine's noise falls on both alike.
            results["cold_baseline"] = cold_starts(args.rie, args.baseline, env, lambda: event("compliant"), args.runs, tmp)
            results["cold_egress_guard_again"] = cold_starts(args.rie, args.bootstrap, env, lambda: event("compliant"),
                                                             args.runs, tmp)
            # As deployed with every integration on: the sweep queue, Security Hub and the bus configured too.
            deployed = dict(env, EGRESS_GUARD_SWEEP_QUEUE_URL=f"http://127.0.0.1:{moto_port}/123456789012/sweeps",
                            EGRESS_GUARD_SECURITY_HUB="true", EGRESS_GUARD_EVENT_BUS="default")
            for name, bootstrap in (("baseline", args.baseline), ("egress_guard", args.bootstrap)):
                results[f"cold_{name}_every_integration"] = cold_starts(args.rie, bootstrap, deployed,
                                                                        lambda: event("compliant"), args.runs, tmp)
            print("init median, every integration on: baseline "
                  f"{results['cold_baseline_every_integration']['init_ms']['median']} ms, egress-guard "
                  f"{results['cold_egress_guard_every_integration']['init_ms']['median']} ms")
            base, mine = results["cold_baseline"]["init_ms"]["median"], results["cold_egress_guard"]["init_ms"]["median"]
            again = results["cold_egress_guard_again"]["init_ms"]["median"]
            hello = results["cold_hello"]["init_ms"]["median"]
            print(f"init median: hello {hello} ms, baseline {base} ms, egress-guard {mine} ms then {again} ms; "
                  f"egress-guard / baseline {round(min(mine, again) / base, 2)}-{round(max(mine, again) / base, 2)}, "
                  f"baseline / hello {round(base / hello, 2)}, egress-guard / hello {round(mine / hello, 2)}")
        if args.cold_only:
            pathlib.Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
            return
        proxy.take()

        # The outlets (Security Hub findings, an event on the bus) need Security Hub as AWS runs it, which moto does not
        # (no BatchUpdateFindings): those invocations go through scripts/limits_proxy.py, behind a counter of their own.
        limits_port = free_port()
        limits = subprocess.Popen([sys.executable, str(ROOT / "scripts/limits_proxy.py"), str(limits_port), str(moto_port)])
        wait_port(limits_port, limits, "limits_proxy.py")
        outlets_proxy = CountingProxy(limits_port)
        outlets_env = dict(env, AWS_ENDPOINT_URL=f"http://127.0.0.1:{outlets_proxy.port}",
                           EGRESS_GUARD_SECURITY_HUB="true", EGRESS_GUARD_EVENT_BUS="default")
        # The limits proxy takes Security Hub as enabled only for a caller that enabled it through the proxy.
        boto3.client("securityhub", endpoint_url=f"http://127.0.0.1:{limits_port}", **DUMMY).enable_security_hub()

        warm, calls = {}, {}
        runs = (("false", env, proxy, ["compliant", "remediated", "exempt"]), ("true", env, proxy, ["dry_run"]),
                ("false", outlets_env, outlets_proxy, ["remediated_with_outlets"]))
        for dry_run, base, counting, kinds in runs:
            f = Function(args.rie, args.bootstrap, dict(base, EGRESS_GUARD_DRY_RUN=dry_run),
                         tmp / f"warm-{dry_run}-{kinds[0]}.log")
            f.invoke(event("compliant"))  # cold start out of the way
            for kind in kinds:
                durations = []
                for _ in range(args.runs):
                    body = event("remediated" if kind in ("dry_run", "remediated_with_outlets") else kind)
                    seen = f.output().count("REPORT RequestId")
                    counting.take()
                    out = f.invoke(body)
                    assert out["results"][0]["outcome"] == kind.removesuffix("_with_outlets"), out
                    calls[kind] = counting.take()
                    deadline = time.time() + 5
                    while f.output().count("REPORT RequestId") == seen and time.time() < deadline:
                        time.sleep(0.005)
                    reports = re.findall(r"REPORT RequestId: \S+\s+(?:Init Duration: [0-9.]+ ms\s+)?Duration: ([0-9.]+) ms", f.output())
                    durations.append(float(reports[-1]))
                warm[kind] = summary(durations)
            f.stop()
        limits.terminate()
        limits.wait(timeout=10)
        results["warm_handler_ms"] = warm
        results["aws_calls"] = {k: {"count": len(v), "calls": v} for k, v in calls.items()}
        results["sweep"] = sweeps(args, endpoint, proxy, env, tmp)
        results["audit"] = audit(args, endpoint, proxy, env)
        results["recommend"] = recommend(args, endpoint, proxy, env)
        ours, hello = results["cold_egress_guard"], results["cold_hello"]
        results["ratio_to_hello"] = {k: round(ours[k]["median"] / hello[k]["median"], 2) for k in ours}
    finally:
        moto.terminate()
        moto.wait(timeout=10)

    pathlib.Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    rows = [
        ("init (INIT REPORT), ms", "cold_egress_guard", "cold_hello", "init_ms"),
        ("spawn to first response, ms", "cold_egress_guard", "cold_hello", "spawn_to_first_response_ms"),
        ("peak RSS (VmHWM), MiB", "cold_egress_guard", "cold_hello", "peak_rss_mib"),
    ]
    print(f"egress-guard benchmark: {args.runs} runs each, {results['machine']['cpus']} CPUs, {results['machine']['date']}")
    print(f"{'figure':<36}{'egress-guard median (max)':>28}{'hello median (max)':>24}{'ratio':>8}")
    for label, ours_key, hello_key, k in rows:
        o, h = results[ours_key][k], results[hello_key][k]
        print(f"{label:<36}{o['median']:>18} ({o['max']:>7}){h['median']:>14} ({h['max']:>7}){results['ratio_to_hello'][k]:>8}")
    for kind, s in warm.items():
        print(f"{'warm handler, ' + kind + ', ms':<36}{s['median']:>18} ({s['max']:>7})")
    for kind, c in results["aws_calls"].items():
        print(f"{'AWS calls, ' + kind:<36}{c['count']:>18}   {' '.join(c['calls'])}")
    a = results["audit"]
    print(f"{'audit ' + str(a['regions']) + ' regions x ' + str(a['groups_per_region']) + ' groups, ms':<36}"
          f"{a['wall_ms']['median']:>18} ({a['wall_ms']['max']:>7})   {a['aws_calls']} AWS calls, {a['groups']} groups, "
          f"{a['open_rules']} open rules")
    sw = results["sweep"]
    for latency in (0, sw["added_latency_ms"]):
        one, four = sw[f"latency_{latency}ms_concurrency_1_ms"], sw[f"latency_{latency}ms_concurrency_4_ms"]
        print(f"{'sweep ' + str(sw['groups']) + ' open groups, +' + str(latency) + ' ms/call, ms':<36}"
              f"{one['median']:>18} one at a time, {four['median']} four at once: x{sw[f'latency_{latency}ms_speedup']}")
    r = results["recommend"]
    for latency in (0, sw["added_latency_ms"]):
        w, f = r[f"latency_{latency}ms_wall_ms"], r[f"latency_{latency}ms_floor_ms"]
        print(f"{'recommend ' + str(r['interfaces']) + ' ENIs x ' + str(r['days']) + ' d, +' + str(latency) + ' ms/call, ms':<36}"
              f"{w['median']:>18} ({w['max']:>7})   floor {f['median']}: x{r[f'latency_{latency}ms_ratio_to_floor']}")
    print(f"{'recommend AWS calls':<36}{r['aws_calls']:>18}   {r['aws_calls_by_action']}; {r['records']} records, "
          f"{r['started']} started, {r['replies']} replies, {r['rules']} rules")
    b = results["binary_mib"]
    print(f"{'stripped bootstrap, MiB':<36}{b['egress_guard']:>18}{'':>10}{b['hello']:>14}")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
