//! EC2's `IpPermission` shape: rules grouped by (protocol, ports), one list of ranges per address family. The one
//! grouping behind both the revoke (the EC2 adapter) and the undo command, so that the undo restores exactly what the
//! revoke removed. Descriptions are data here; the undo puts them back, and the revoke leaves them out on purpose:
//! EC2 matches a revoke on (protocol, ports, CIDR) and needs no description ("you do not need to specify the
//! description to revoke the rule", RevokeSecurityGroupEgress), while a description sent that no longer matches (edited
//! between our describe and our revoke) can make the revoke miss the open rule.

use serde::Serialize;

use crate::model::{Destination, EgressRule, PortRange, Protocol};

/// One permission: the CIDR ranges of one (protocol, ports). Serializes as the AWS CLI's `--ip-permissions` JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Permission {
    #[serde(serialize_with = "as_ec2")]
    pub ip_protocol: Protocol,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_ranges: Vec<Ipv4Range>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ipv6_ranges: Vec<Ipv6Range>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prefix_list_ids: Vec<PrefixListId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrefixListId {
    pub prefix_list_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipv4Range {
    pub cidr_ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipv6Range {
    pub cidr_ipv6: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn as_ec2<S: serde::Serializer>(protocol: &Protocol, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&protocol.as_ec2())
}

/// The permissions naming exactly `rules`' CIDR and prefix-list destinations, one per (protocol, ports), in
/// first-seen order. Group references are left out (no rule egress-guard writes names one; plans never hold a prefix
/// list either). All traffic (`-1`) carries no ports.
pub fn permissions(rules: &[EgressRule]) -> Vec<Permission> {
    let mut perms: Vec<Permission> = Vec::new();
    for rule in rules {
        if matches!(rule.destination, Destination::SecurityGroup { .. }) {
            continue;
        }
        let ports: Option<PortRange> = if rule.protocol == Protocol::All { None } else { rule.ports };
        let (from_port, to_port) = (ports.map(|p| p.from), ports.map(|p| p.to));
        let same = |p: &Permission| p.ip_protocol == rule.protocol && (p.from_port, p.to_port) == (from_port, to_port);
        let index = perms.iter().position(same).unwrap_or_else(|| {
            let ip_protocol = rule.protocol;
            let (ip_ranges, ipv6_ranges, prefix_list_ids) = (vec![], vec![], vec![]);
            perms.push(Permission { ip_protocol, from_port, to_port, ip_ranges, ipv6_ranges, prefix_list_ids });
            perms.len() - 1
        });
        let description = rule.description.clone();
        let cidr = match &rule.destination {
            Destination::Cidr(cidr) => cidr,
            Destination::PrefixList(id) => {
                perms[index].prefix_list_ids.push(PrefixListId { prefix_list_id: id.clone(), description });
                continue;
            }
            Destination::SecurityGroup { .. } => continue,
        };
        let text = cidr.as_str().to_owned();
        if cidr.is_ipv6() {
            perms[index].ipv6_ranges.push(Ipv6Range { cidr_ipv6: text, description });
        } else {
            perms[index].ip_ranges.push(Ipv4Range { cidr_ip: text, description });
        }
    }
    perms
}

/// The `--ip-permissions` JSON that re-authorizes exactly `rules`.
pub fn ip_permissions_json(rules: &[EgressRule]) -> String {
    serde_json::to_string(&permissions(rules)).unwrap_or_default()
}

/// `aws ec2 authorize-security-group-egress …` restoring `rules`, quoted for a POSIX shell.
pub fn undo_command(region: &str, group_id: &str, rules: &[EgressRule]) -> String {
    aws_command("authorize-security-group-egress", region, group_id, rules)
}

/// `aws ec2 <verb> --region … --group-id … --ip-permissions '…'` naming exactly `rules`, quoted for a POSIX shell.
pub fn aws_command(verb: &str, region: &str, group_id: &str, rules: &[EgressRule]) -> String {
    let json = ip_permissions_json(rules).replace('\'', r"'\''");
    format!("aws ec2 {verb} --region {region} --group-id {group_id} --ip-permissions '{json}'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Cidr;

    fn rule(text: &str, description: Option<&str>) -> EgressRule {
        EgressRule { description: description.map(str::to_owned), ..text.parse().unwrap() }
    }

    /// The rules a list of permissions names, flattened back: what an authorize of them would create.
    fn flatten(perms: &[Permission]) -> Vec<EgressRule> {
        let mut rules = Vec::new();
        for p in perms {
            let ports = p.from_port.zip(p.to_port).map(|(from, to)| PortRange { from, to });
            let cidrs = p.ip_ranges.iter().map(|r| (&r.cidr_ip, &r.description));
            for (cidr, description) in cidrs.chain(p.ipv6_ranges.iter().map(|r| (&r.cidr_ipv6, &r.description))) {
                rules.push(EgressRule {
                    protocol: p.ip_protocol,
                    ports,
                    destination: Destination::Cidr(Cidr::parse(cidr).unwrap()),
                    description: description.clone(),
                    rule_id: None,
                });
            }
        }
        rules
    }

    #[test]
    fn grouping_keeps_every_range_and_description_and_drops_nothing_else() {
        let rules = vec![
            rule("all traffic to 0.0.0.0/0", Some("default")),
            rule("tcp 443 to 0.0.0.0/0", Some("web")),
            rule("all traffic to ::/0", None),
            rule("tcp 443 to ::/0", Some("web v6")),
            rule("tcp 443 to 0.0.0.0/1", None),
            rule("udp 53 to ::/0", None),
        ];
        let perms = permissions(&rules);
        assert_eq!(perms.len(), 3, "one permission per (protocol, ports): {perms:?}");
        let mut back = flatten(&perms);
        let mut want = rules.clone();
        back.sort();
        want.sort();
        assert_eq!(back, want);
    }

    #[test]
    fn group_references_are_never_named_and_prefix_lists_are_named_by_id() {
        assert!(permissions(&[rule("tcp 443 to sg-0fedcba9", None)]).is_empty());
        let json: serde_json::Value =
            serde_json::from_str(&ip_permissions_json(&[rule("tcp 443 to pl-0123abcd", Some("s3"))])).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                                "PrefixListIds": [{"PrefixListId": "pl-0123abcd", "Description": "s3"}]}])
        );
    }

    #[test]
    fn undo_json_restores_each_range_under_its_permission() {
        let rules = [
            rule("all traffic to 0.0.0.0/0", None),
            rule("all traffic to ::/0", None),
            rule("tcp 443 to 0.0.0.0/0", Some("web")),
        ];
        let json: serde_json::Value = serde_json::from_str(&ip_permissions_json(&rules)).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
                {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "web"}]}
            ])
        );
    }

    #[test]
    fn undo_command_quotes_a_description_with_an_apostrophe() {
        let rules = [rule("udp 53 to ::/0", Some("bob's dns"))];
        let cmd = undo_command("eu-west-1", "sg-0123abcd", &rules);
        assert!(cmd.starts_with(
            "aws ec2 authorize-security-group-egress --region eu-west-1 --group-id sg-0123abcd --ip-permissions '"
        ));
        assert!(cmd.contains(r#"bob'\''s dns"#), "{cmd}");
    }
}
