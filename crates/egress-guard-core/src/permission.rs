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

/// The permissions naming exactly `rules`' CIDR destinations, one per (protocol, ports), in first-seen order. Prefix
/// lists and group references are left out: plans never hold them. All traffic (`-1`) carries no ports.
pub fn permissions(rules: &[EgressRule]) -> Vec<Permission> {
    let mut perms: Vec<Permission> = Vec::new();
    for rule in rules {
        let Destination::Cidr(cidr) = &rule.destination else { continue };
        let ports: Option<PortRange> = if rule.protocol == Protocol::All { None } else { rule.ports };
        let (from_port, to_port) = (ports.map(|p| p.from), ports.map(|p| p.to));
        let same = |p: &Permission| p.ip_protocol == rule.protocol && (p.from_port, p.to_port) == (from_port, to_port);
        let index = perms.iter().position(same).unwrap_or_else(|| {
            let ip_protocol = rule.protocol;
            perms.push(Permission { ip_protocol, from_port, to_port, ip_ranges: vec![], ipv6_ranges: vec![] });
            perms.len() - 1
        });
        let (text, description) = (cidr.as_str().to_owned(), rule.description.clone());
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
    let json = ip_permissions_json(rules).replace('\'', r"'\''");
    format!("aws ec2 authorize-security-group-egress --region {region} --group-id {group_id} --ip-permissions '{json}'")
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
    fn prefix_lists_and_group_references_are_never_named() {
        let rules = [rule("tcp 443 to pl-0123abcd", None), rule("tcp 443 to sg-0fedcba9", None)];
        assert!(permissions(&rules).is_empty());
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
