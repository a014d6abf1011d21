//! `--regions`: `all` or a comma-separated list of region names, checked before any call (each name goes into an
//! endpoint's host name), and the regions a verb then acts in.

use std::collections::BTreeSet;

use egress_guard_aws::Clients;

/// `all` (`None`) or a comma-separated list of region names.
pub fn parse(text: &str) -> anyhow::Result<Option<BTreeSet<String>>> {
    if text.trim() == "all" {
        return Ok(None);
    }
    let regions: BTreeSet<String> = text.split(',').map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()).collect();
    if regions.is_empty() {
        anyhow::bail!("--regions: give `all` or region names");
    }
    if let Some(bad) = regions.iter().find(|r| !egress_guard_core::org::is_region(r)) {
        anyhow::bail!("--regions: {bad:?} is not a region name");
    }
    Ok(Some(regions))
}

/// The regions listed, or for `all` the regions enabled for the account (`DescribeRegions`).
pub async fn each(clients: &Clients, regions: Option<BTreeSet<String>>) -> anyhow::Result<Vec<String>> {
    match regions {
        Some(listed) => Ok(listed.into_iter().collect()),
        None => {
            clients.security_groups().regions().await.map_err(|e| anyhow::anyhow!("listing the account's regions: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn all_is_every_region() {
        assert_eq!(parse(" all ").unwrap(), None);
    }

    #[test]
    fn a_list_is_trimmed_and_deduplicated() {
        let regions = parse("eu-west-1, us-east-1,,eu-west-1").unwrap().unwrap();
        assert_eq!(regions.into_iter().collect::<Vec<_>>(), ["eu-west-1", "us-east-1"]);
    }

    #[test]
    fn a_name_that_is_no_region_is_refused() {
        let err = parse("eu-west-1,eu-west-1.evil.example").unwrap_err();
        assert_eq!(err.to_string(), "--regions: \"eu-west-1.evil.example\" is not a region name");
    }

    #[test]
    fn an_empty_list_is_refused() {
        assert_eq!(parse(" , ").unwrap_err().to_string(), "--regions: give `all` or region names");
    }
}
