"""AWS as it is, in front of moto: a proxy on 127.0.0.1 that forwards every request to moto server, after rejecting
what real AWS rejects and moto lets through, and that answers with faults real AWS produces when a test asks it to.

Rejected, with AWS's own error code (moto is kinder):
- SNS Publish: a subject of 100 characters or more, with a character outside printable ASCII, or starting with a space;
  a message plus its attributes over 256 KiB; more than 10 message attributes; an attribute with an empty value.
- DynamoDB: an expression (update, condition, projection, key condition, filter) over 4 KB.
- CloudWatch Logs FilterLogEvents: more than 100 `logStreamNames`, names and `logStreamNamePrefix` together, a `limit`
  over 10,000.
- EC2 AuthorizeSecurityGroupEgress: a rule description over 255 characters or with a character EC2 does not allow.
- SNS Publish with `MessageStructure` json: a message that is not a JSON object of strings with a `default` key.
- EventBridge PutEvents: more than 10 entries, a `Source` starting with `aws.`, a `DetailType` over 128 characters, a
  `Detail` that is not a JSON object, entries over 256 KB (counted as EventBridge counts them).

Security Hub as AWS runs it (moto imports anything, overwrites everything, and has no BatchUpdateFindings):
- BatchImportFindings: more than 100 findings is refused; a finding missing a required field, over a field's limit,
  over 240 KB, created with `CreatedAt` and `UpdatedAt` apart, or whose `ProductArn` is not the calling account's
  default product in the region called, is a
  `FailedFindings` entry (`InvalidInput`), as is any finding in a region where EnableSecurityHub was not called
  (`InvalidAccess`), and one whose `AwsAccountId` is not the calling account (`AccessDenied`: with the default
  product ARN, "the identifier of the account that you are calling BatchImportFindings from needs to be the same as
  the AwsAccountId attribute for the finding", API_BatchImportFindings; the calling account is the one moto's STS
  answers for the request's access key). On a finding that exists, `Workflow` is ignored (the existing status stays; a `PASSED` finding
  that is `RESOLVED` or `NOTIFIED` is reset to `NEW` when its compliance turns to anything else), and an `UpdatedAt`
  not later than the existing one leaves it unchanged.
- BatchUpdateFindings: sets `Workflow.Status` on existing findings (`FindingNotFound` otherwise), at most 100.

Faults: POST /egress-guard-limits/inject with {"operation": "DescribeSecurityGroups", "times": 2, "status": 400,
"body": "<Response>...</Response>", "contains": "sg-0123"} answers the next `times` matching calls with that response
(`content_type`, default text/xml) instead of forwarding them. A call matches when each of these that the fault names
holds: `operation` (the query `Action` or the `X-Amz-Target` suffix), `path` (a prefix of the request path, for REST
APIs such as Lambda's `GET /2016-08-19/account-settings/`), `region` (the SigV4-signed region), `contains` (in the
body). GET /egress-guard-limits/faults lists them with the `times` left. GET /egress-guard-limits/rejected lists what
was rejected; GET /egress-guard-limits/published lists every SNS Publish forwarded (`Subject`, `MessageStructure`,
`Message`), as sent; GET /egress-guard-limits/calls lists every call received, answered or not (`operation`, `method`,
`path` without its query, `region`), in order. GET
/egress-guard-limits/denied lists every call moto answered 401 or 403 (its IAM enforcement denied it). POST
/egress-guard-limits/signer with {"access_key_id", "secret_access_key", "session_token"} re-signs that key's
query-protocol requests as moto's IAM enforcement recomputes them (see moto_signature).

Usage: python limits_proxy.py LISTEN_PORT MOTO_PORT (binds 127.0.0.1 only).
"""

import http.client
import json
import re
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SNS_MAX_BYTES = 256 * 1024
SNS_MAX_ATTRIBUTES = 10
DYNAMODB_MAX_EXPRESSION_BYTES = 4 * 1024
EXPRESSIONS = ("UpdateExpression", "ConditionExpression", "ProjectionExpression", "KeyConditionExpression",
               "FilterExpression")

EVENTS_MAX_ENTRIES = 10
EVENTS_MAX_BYTES = 256 * 1024
HUB_MAX_FINDINGS = 100
HUB_MAX_FINDING_BYTES = 240 * 1024
HUB_REQUIRED = ("SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "CreatedAt", "UpdatedAt",
                "Title", "Description", "Resources")
HUB_LIMITS = {"Id": 512, "GeneratorId": 512, "Title": 256, "Description": 1024}

lock = threading.Lock()
faults = []
rejected = []
hubs_enabled = set()
published = []
denied = []
signers = {}
calls = []
accounts = {}


def operation(headers, body):
    """The API operation: a query-protocol `Action`, or the JSON protocol's `X-Amz-Target` suffix."""
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1], None
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return form.get("Action", [""])[0], form


EC2_DESCRIPTION = re.compile(r"^[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]{0,255}$")


def moto_signature(command, path, headers, body):
    """The query-protocol request signed as moto checks it under IAM enforcement, for a key given to
    /egress-guard-limits/signer: moto re-encodes the form it parsed (spaces as `+`) and signs that, where the Rust SDK
    signed its own encoding (spaces as `%20`), so a message with a space would fail moto's check though AWS takes it.
    The same credentials, headers and values: only the Signature changes. None for any other request."""
    lower = {k.lower(): v for k, v in headers.items()}
    auth = lower.get("authorization", "")
    match = re.search(r"Credential=([^/]+)/[0-9]+/([^/]+)/([^/]+)/aws4_request", auth)
    if not match or match.group(1) not in signers or "x-www-form-urlencoded" not in lower.get("content-type", ""):
        return None
    from collections import OrderedDict
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    secret, token = signers[match.group(1)]
    signed = auth.partition("SignedHeaders=")[2].partition(",")[0].split(";")
    kept = {k: v for k, v in headers.items() if k.lower() in signed}
    data = OrderedDict((k, [v]) for k, v in urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
    request = AWSRequest(method=command, url=path, data=data, headers=kept)
    request.context["timestamp"] = lower["x-amz-date"]
    signer = SigV4Auth(Credentials(match.group(1), secret, token), match.group(3), match.group(2))
    signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return re.sub(r"Signature=[0-9a-f]+", "Signature=" + signature, auth)


def logs_problem(name, body):
    if name != "FilterLogEvents":
        return None
    request = json.loads(body or b"{}")
    names = request.get("logStreamNames")
    if names is not None and not 1 <= len(names) <= 100:
        return f"logStreamNames must hold 1 to 100 names: {len(names)}"
    if names is not None and request.get("logStreamNamePrefix") is not None:
        return "logStreamNames and logStreamNamePrefix cannot both be specified"
    if request.get("limit", 1) > 10000:
        return "limit must be at most 10000"
    return None


def ec2_authorize_problem(form):
    for key, values in form.items():
        if key.startswith("IpPermissions.") and key.endswith(".Description"):
            if not EC2_DESCRIPTION.match(values[0]):
                return f"Invalid rule description: {values[0]!r} (255 characters of a-zA-Z0-9. _-:/()#,@[]+=&;{{}}!$*)"
    return None


def sns_publish_problem(form):
    subject = form.get("Subject", [None])[0]
    if subject is not None:
        if len(subject) >= 100:
            return f"Subject must be less than 100 characters: {len(subject)}"
        if any(not (" " <= c <= "~") for c in subject):
            return "Subject must be ASCII text without line breaks or control characters"
        if subject.startswith(" "):
            return "Subject must begin with a letter, number or punctuation mark"
    names = {".".join(k.split(".")[:3]) for k in form if k.startswith("MessageAttributes.entry.")}
    if len(names) > SNS_MAX_ATTRIBUTES:
        return f"Number of message attributes [{len(names)}] exceeds the allowed maximum [{SNS_MAX_ATTRIBUTES}]."
    size = len(form.get("Message", [""])[0].encode())
    for entry in names:
        name = form.get(entry + ".Name", [""])[0]
        value = form.get(entry + ".Value.StringValue", [""])[0]
        if value == "":
            return f"The message attribute '{name}' must contain non-empty message attribute value"
        size += len(name.encode()) + len(value.encode()) + len(form.get(entry + ".Value.DataType", [""])[0])
    if size > SNS_MAX_BYTES:
        return f"Message too long: {size} bytes with attributes, over {SNS_MAX_BYTES}"
    return None


def sns_structure_problem(form):
    if form.get("MessageStructure", [None])[0] != "json":
        return None
    try:
        message = json.loads(form.get("Message", [""])[0])
    except ValueError:
        return "Message Structure - JSON message body failed to parse"
    if not isinstance(message, dict) or not isinstance(message.get("default"), str):
        return "Message Structure - No default entry in JSON message body"
    if any(not isinstance(v, str) for v in message.values()):
        return "Message Structure - every protocol's message must be a string"
    return None


def events_problem(body):
    entries = json.loads(body or b"{}").get("Entries", [])
    if not 1 <= len(entries) <= EVENTS_MAX_ENTRIES:
        return f"Entries must hold 1 to {EVENTS_MAX_ENTRIES} entries: {len(entries)}"
    total = 0
    for entry in entries:
        if entry.get("Source", "").startswith("aws."):
            return f"Source {entry['Source']!r}: sources starting with aws. are reserved for AWS"
        if len(entry.get("DetailType", "")) > 128:
            return f"DetailType is over 128 characters: {len(entry['DetailType'])}"
        try:
            detail = json.loads(entry.get("Detail", ""))
        except ValueError:
            return "Detail is not valid JSON"
        if not isinstance(detail, dict):
            return "Detail must be a JSON object"
        size = 14 + sum(len(entry.get(k, "").encode()) for k in ("Source", "DetailType", "Detail"))
        size += sum(len(r.encode()) for r in entry.get("Resources", []))
        if size > EVENTS_MAX_BYTES:
            return f"an entry is {size} bytes, over {EVENTS_MAX_BYTES}"
        total += size
    if total > EVENTS_MAX_BYTES:
        return f"Total size of the entries in the request is over the limit: {total} bytes"
    return None


def signed_region(headers):
    """The (access key, region) of a SigV4 `Authorization` header."""
    match = re.search(r"Credential=([^/]+)/[^/]+/([^/]+)/", headers.get("Authorization", ""))
    return (match.group(1), match.group(2)) if match else ("", "")


def caller_account(headers):
    """The account of the request's access key, as moto's GetCallerIdentity answers it (cached); None if unknown."""
    key, region = signed_region(headers)
    with lock:
        if key in accounts:
            return accounts[key]
    date = "20260101T000000Z"
    auth = (f"AWS4-HMAC-SHA256 Credential={key}/{date[:8]}/{region or 'us-east-1'}/sts/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date, Signature=0")
    forward = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
               "X-Amz-Date": date, "Host": f"127.0.0.1:{MOTO_PORT}"}
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    if key in signers:
        forward["Authorization"] = moto_signature("POST", "/", forward, body) or auth
        if signers[key][1]:
            forward["X-Amz-Security-Token"] = signers[key][1]
    try:
        connection = http.client.HTTPConnection("127.0.0.1", MOTO_PORT, timeout=30)
        connection.request("POST", "/", body=body, headers=forward)
        answer = connection.getresponse().read().decode("utf-8", "replace")
        connection.close()
    except OSError:
        return None
    match = re.search(r"<Account>([0-9]{12})</Account>", answer)
    account = match.group(1) if match else None
    with lock:
        accounts[key] = account
    return account


def finding_problem(finding, region):
    for key in HUB_REQUIRED:
        if not finding.get(key):
            return f"{key} is required"
    for key, limit in HUB_LIMITS.items():
        if len(finding[key]) > limit:
            return f"{key} is over {limit} characters"
    if len(finding.get("Remediation", {}).get("Recommendation", {}).get("Text", "")) > 512:
        return "Remediation.Recommendation.Text is over 512 characters"
    fields = finding.get("ProductFields", {})
    if len(fields) > 50 or any(len(k) > 128 or len(v) > 2048 for k, v in fields.items()):
        return "ProductFields: at most 50, keys of 128 and values of 2048 characters"
    if not 1 <= len(finding["Resources"]) <= 32:
        return "Resources must hold 1 to 32 resources"
    if len(json.dumps(finding).encode()) > HUB_MAX_FINDING_BYTES:
        return "the finding is over 240 KB"
    account = finding["AwsAccountId"]
    if finding["ProductArn"] != f"arn:aws:securityhub:{region}:{account}:product/{account}/default":
        return f"ProductArn {finding['ProductArn']} is not the default product of {account} in {region}"
    return None


def moto_call(method, path, payload, headers):
    connection = http.client.HTTPConnection("127.0.0.1", MOTO_PORT, timeout=120)
    data = json.dumps(payload).encode()
    forward = {k: v for k, v in headers.items() if k.lower() not in ("connection", "keep-alive", "content-length")}
    forward["Content-Length"] = str(len(data))
    connection.request(method, path, body=data, headers=forward)
    response = connection.getresponse()
    answer = response.read()
    connection.close()
    return response.status, answer


def existing_findings(headers):
    found, token = {}, None
    while True:
        request = {"MaxResults": 100, **({"NextToken": token} if token else {})}
        status, answer = moto_call("POST", "/findings", request, headers)
        page = json.loads(answer or b"{}")
        for finding in page.get("Findings", []):
            found[(finding["Id"], finding["ProductArn"])] = finding
        token = page.get("NextToken")
        if not token:
            return found


def hub_import(headers, body):
    """BatchImportFindings as AWS runs it: (status, answer)."""
    findings = json.loads(body or b"{}").get("Findings", [])
    if not 1 <= len(findings) <= HUB_MAX_FINDINGS:
        return 400, {"__type": "InvalidInputException", "Message": f"Findings must hold 1 to 100: {len(findings)}"}
    key, region = signed_region(headers)
    failed, accepted = [], []
    existing = existing_findings(headers)
    caller = caller_account(headers)
    for finding in findings:
        if (caller or key, region) not in hubs_enabled:
            failed.append({"Id": finding.get("Id", ""), "ErrorCode": "InvalidAccess",
                           "ErrorMessage": "Account is not subscribed to AWS Security Hub"})
            continue
        if caller and finding.get("AwsAccountId") != caller:
            failed.append({"Id": finding.get("Id", ""), "ErrorCode": "AccessDenied",
                           "ErrorMessage": f"AwsAccountId {finding.get('AwsAccountId')} is not the calling account "
                                           f"{caller}: a default-product finding is imported by its own account"})
            continue
        problem = finding_problem(finding, region)
        if problem:
            failed.append({"Id": finding.get("Id", ""), "ErrorCode": "InvalidInput", "ErrorMessage": problem})
            continue
        old = existing.get((finding["Id"], finding["ProductArn"]))
        if old is None and finding["CreatedAt"] != finding["UpdatedAt"]:
            failed.append({"Id": finding["Id"], "ErrorCode": "InvalidInput",
                           "ErrorMessage": "CreatedAt and UpdatedAt must be the same when a finding is created"})
            continue
        if old is not None:
            if finding["UpdatedAt"] <= old.get("UpdatedAt", ""):
                continue
            status = old.get("Workflow", {}).get("Status", "NEW")
            was = old.get("Compliance", {}).get("Status")
            now = finding.get("Compliance", {}).get("Status")
            if was == "PASSED" and now != "PASSED" and status in ("NOTIFIED", "RESOLVED"):
                status = "NEW"
            finding = {**finding, "Workflow": {"Status": status}}
        accepted.append(finding)
    if accepted:
        status, answer = moto_call("POST", "/findings/import", {"Findings": accepted}, headers)
        if status != 200:
            return status, json.loads(answer or b"{}")
    with lock:
        rejected.extend({"operation": "BatchImportFindings", "problem": f["ErrorMessage"]} for f in failed)
    return 200, {"FailedCount": len(failed), "SuccessCount": len(findings) - len(failed), "FailedFindings": failed}


def hub_update(headers, body):
    """BatchUpdateFindings, which moto lacks: the workflow status set on existing findings, through a re-import."""
    request = json.loads(body or b"{}")
    identifiers = request.get("FindingIdentifiers", [])
    if not 1 <= len(identifiers) <= HUB_MAX_FINDINGS:
        return 400, {"__type": "InvalidInputException", "Message": f"FindingIdentifiers must hold 1 to 100"}
    existing = existing_findings(headers)
    processed, unprocessed, updated = [], [], []
    for identifier in identifiers:
        old = existing.get((identifier.get("Id"), identifier.get("ProductArn")))
        if old is None:
            unprocessed.append({"FindingIdentifier": identifier, "ErrorCode": "FindingNotFound",
                                "ErrorMessage": "Finding Not Found"})
            continue
        if "Workflow" in request:
            old = {**old, "Workflow": {"Status": request["Workflow"]["Status"]}}
        updated.append(old)
        processed.append(identifier)
    if updated:
        moto_call("POST", "/findings/import", {"Findings": updated}, headers)
    return 200, {"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}


def dynamodb_problem(body):
    request = json.loads(body or b"{}")
    for key in EXPRESSIONS:
        text = request.get(key)
        if text is not None and len(text.encode()) > DYNAMODB_MAX_EXPRESSION_BYTES:
            return f"Invalid {key}: Expression size has exceeded the maximum allowed size; size: {len(text.encode())}"
    return None


def query_error(code, message):
    body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            "<RequestId>limits-proxy</RequestId></ErrorResponse>")
    return 400, "text/xml", body.encode()


def json_error(code, message, version="1.0"):
    body = json.dumps({"__type": f"com.amazon.coral.validate#{code}", "message": message})
    return 400, f"application/x-amz-json-{version}", body.encode()


def ec2_error(code, message):
    body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            "<RequestID>limits-proxy</RequestID></Response>")
    return 400, "text/xml", body.encode()


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reply_json(self, status, answer):
        return self.reply(status, "application/json", json.dumps(answer).encode())

    def control(self, body):
        if self.command == "POST" and self.path == "/egress-guard-limits/inject":
            with lock:
                faults.append(json.loads(body))
            return self.reply(200, "application/json", b"{}")
        if self.command == "POST" and self.path == "/egress-guard-limits/signer":
            key = json.loads(body)
            with lock:
                signers[key["access_key_id"]] = (key["secret_access_key"], key.get("session_token"))
            return self.reply(200, "application/json", b"{}")
        lists = {"faults": faults, "published": published, "calls": calls, "rejected": rejected, "denied": denied}
        with lock:
            listed = json.dumps(lists.get(self.path.rsplit("/", 1)[-1], rejected)).encode()
        return self.reply(200, "application/json", listed)

    def handle_any(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/egress-guard-limits/"):
            return self.control(body)
        name, form = operation(self.headers, body)
        region = signed_region(self.headers)[1]
        with lock:
            calls.append({"operation": name, "method": self.command, "path": self.path.split("?")[0], "region": region})
        if "/securityhub/" in self.headers.get("Authorization", ""):
            if self.command == "POST" and self.path == "/accounts":
                # A hub is the account's in the region, whichever of its credentials enabled it.
                key, hub_region = signed_region(self.headers)
                account = caller_account(self.headers) or key
                with lock:
                    hubs_enabled.add((account, hub_region))
            elif self.command == "POST" and self.path == "/findings/import":
                return self.reply_json(*hub_import(self.headers, body))
            elif self.command == "PATCH" and self.path == "/findings/batchupdate":
                return self.reply_json(*hub_update(self.headers, body))
        problem = None
        if name == "Publish" and form is not None:
            problem = sns_publish_problem(form) or sns_structure_problem(form)
            if problem:
                answer = query_error("InvalidParameter", "Invalid parameter: " + problem)
        elif self.headers.get("X-Amz-Target", "").startswith("DynamoDB_"):
            problem = dynamodb_problem(body)
            if problem:
                answer = json_error("ValidationException", problem)
        elif self.headers.get("X-Amz-Target", "") == "AWSEvents.PutEvents":
            problem = events_problem(body)
            if problem:
                answer = json_error("ValidationException", problem, "1.1")
        elif self.headers.get("X-Amz-Target", "").startswith("Logs_"):
            problem = logs_problem(name, body)
            if problem:
                answer = json_error("InvalidParameterException", problem, "1.1")
        elif name == "AuthorizeSecurityGroupEgress" and form is not None:
            problem = ec2_authorize_problem(form)
            if problem:
                answer = ec2_error("InvalidParameterValue", problem)
        if problem:
            with lock:
                rejected.append({"operation": name, "problem": problem})
            print(f"limits-proxy: rejected {name}: {problem}", file=sys.stderr, flush=True)
            return self.reply(*answer)
        with lock:
            fault = next((f for f in faults if f["times"] > 0 and f.get("operation", name) == name
                          and self.path.startswith(f.get("path", "")) and f.get("region", region) == region
                          and f.get("contains", "").encode() in body), None)
            if fault:
                fault["times"] -= 1
        if fault:
            return self.reply(fault["status"], fault.get("content_type", "text/xml"), fault["body"].encode())
        if name == "Publish" and form is not None:
            with lock:
                published.append({k: form.get(k, [None])[0] for k in ("Subject", "MessageStructure", "Message")})
        upstream = http.client.HTTPConnection("127.0.0.1", MOTO_PORT, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        with lock:
            resigned = moto_signature(self.command, self.path, headers, body) if signers else None
        if resigned:
            headers = {k: (resigned if k.lower() == "authorization" else v) for k, v in headers.items()}
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        if response.status in (401, 403):
            with lock:
                denied.append({"operation": name, "status": response.status,
                               "answer": data.decode(errors="replace")[:500]})
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


if __name__ == "__main__":
    LISTEN_PORT, MOTO_PORT = int(sys.argv[1]), int(sys.argv[2])
    ThreadingHTTPServer(("127.0.0.1", LISTEN_PORT), Proxy).serve_forever()
