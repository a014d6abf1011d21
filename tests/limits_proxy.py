"""AWS as it is, in front of moto: a proxy on 127.0.0.1 that forwards every request to moto server, after rejecting
what real AWS rejects and moto lets through, and that answers with faults real AWS produces when a test asks it to.

Rejected, with AWS's own error code (moto is kinder):
- SNS Publish: a subject of 100 characters or more, with a character outside printable ASCII, or starting with a space;
  a message plus its attributes over 256 KiB; more than 10 message attributes; an attribute with an empty value.
- DynamoDB: an expression (update, condition, projection, key condition, filter) over 4 KB.
- CloudWatch Logs FilterLogEvents: more than 100 `logStreamNames`, names and `logStreamNamePrefix` together, a `limit`
  over 10,000.
- EC2 AuthorizeSecurityGroupEgress: a rule description over 255 characters or with a character EC2 does not allow.

Faults: POST /egress-guard-limits/inject with {"operation": "DescribeSecurityGroups", "times": 2, "status": 400,
"body": "<Response>...</Response>", "contains": "sg-0123"} answers the next `times` matching calls with that response
instead of forwarding them. GET /egress-guard-limits/rejected lists what was rejected.

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

lock = threading.Lock()
faults = []
rejected = []


def operation(headers, body):
    """The API operation: a query-protocol `Action`, or the JSON protocol's `X-Amz-Target` suffix."""
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1], None
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return form.get("Action", [""])[0], form


EC2_DESCRIPTION = re.compile(r"^[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]{0,255}$")


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

    def control(self, body):
        if self.command == "POST" and self.path == "/egress-guard-limits/inject":
            with lock:
                faults.append(json.loads(body))
            return self.reply(200, "application/json", b"{}")
        with lock:
            listed = json.dumps(rejected).encode()
        return self.reply(200, "application/json", listed)

    def handle_any(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/egress-guard-limits/"):
            return self.control(body)
        name, form = operation(self.headers, body)
        problem = None
        if name == "Publish" and form is not None:
            problem = sns_publish_problem(form)
            if problem:
                answer = query_error("InvalidParameter", "Invalid parameter: " + problem)
        elif self.headers.get("X-Amz-Target", "").startswith("DynamoDB_"):
            problem = dynamodb_problem(body)
            if problem:
                answer = json_error("ValidationException", problem)
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
            fault = next((f for f in faults if f["operation"] == name and f["times"] > 0
                          and f.get("contains", "").encode() in body), None)
            if fault:
                fault["times"] -= 1
        if fault:
            return self.reply(fault["status"], fault.get("content_type", "text/xml"), fault["body"].encode())
        upstream = http.client.HTTPConnection("127.0.0.1", MOTO_PORT, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any


if __name__ == "__main__":
    LISTEN_PORT, MOTO_PORT = int(sys.argv[1]), int(sys.argv[2])
    ThreadingHTTPServer(("127.0.0.1", LISTEN_PORT), Proxy).serve_forever()
