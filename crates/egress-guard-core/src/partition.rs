//! The partition a region belongs to: the second field of every ARN egress-guard writes (roles, security groups,
//! Security Hub products).

/// Each partition but `aws` and the prefix its regions' names start with. AWS groups regions into partitions, each
/// region in exactly one:
/// https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html. The prefixes are
/// those of the region patterns the AWS SDKs resolve endpoints by (their `partitions.json`): `^cn-`, `^us-gov-`,
/// `^us-iso-`, `^us-isob-`, `^eu-isoe-`, `^us-isof-`, `^eusc-(de)-`.
const PREFIXES: [(&str, &str); 7] = [
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-iso-", "aws-iso"),
    ("us-isob-", "aws-iso-b"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-isof-", "aws-iso-f"),
    ("eusc-", "aws-eusc"),
];

/// The partition of `region`: `aws-cn` (China), `aws-us-gov` (GovCloud), `aws-iso`, `aws-iso-b`, `aws-iso-e` and
/// `aws-iso-f` (the isolated regions), `aws-eusc` (the AWS European Sovereign Cloud), else `aws`, the commercial
/// regions'.
pub fn partition(region: &str) -> &'static str {
    PREFIXES.iter().find(|(prefix, _)| region.starts_with(prefix)).map_or("aws", |(_, partition)| partition)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A region and the partition it belongs to, one test each.
    macro_rules! partition {
        ($($name:ident: $region:expr => $partition:expr;)*) => {$(
            #[test]
            fn $name() {
                assert_eq!(partition($region), $partition);
            }
        )*};
    }

    partition! {
        a_commercial_region_is_in_aws: "eu-west-1" => "aws";
        a_us_commercial_region_is_in_aws_not_govcloud: "us-east-1" => "aws";
        a_china_region_is_in_aws_cn: "cn-northwest-1" => "aws-cn";
        a_govcloud_region_is_in_aws_us_gov: "us-gov-west-1" => "aws-us-gov";
        us_iso_east_is_in_aws_iso: "us-iso-east-1" => "aws-iso";
        us_isob_east_is_in_aws_iso_b: "us-isob-east-1" => "aws-iso-b";
        eu_isoe_west_is_in_aws_iso_e: "eu-isoe-west-1" => "aws-iso-e";
        us_isof_south_is_in_aws_iso_f: "us-isof-south-1" => "aws-iso-f";
        the_european_sovereign_cloud_is_in_aws_eusc: "eusc-de-east-1" => "aws-eusc";
    }
}
