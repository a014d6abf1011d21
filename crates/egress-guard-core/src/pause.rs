//! The kill switch: revokes paused in some regions or all, by whom, since when and why. While a pause covers a
//! trigger's region the function runs it as a dry run, and every notice says it is paused.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::Error;

/// A pause of revokes, as the switch stores it (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    /// The regions paused; `None`: every region.
    pub regions: Option<BTreeSet<String>>,
    /// Who paused (the caller's ARN).
    pub by: String,
    /// When (RFC 3339).
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Pause {
    pub fn covers(&self, region: &str) -> bool {
        self.regions.as_ref().is_none_or(|regions| regions.contains(region))
    }

    /// Where it holds, as a person reads it: `every region`, `eu-west-1, us-east-1`.
    pub fn scope(&self) -> String {
        scope(self.regions.as_ref())
    }

    /// The notice's line.
    pub fn line(&self) -> String {
        let reason = self.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
        format!(
            "PAUSED in {} by {} since {}{reason}: nothing is revoked until `egress-guard resume`.",
            self.scope(),
            self.by,
            self.at
        )
    }

    pub fn parse(text: &str) -> Result<Pause, Error> {
        serde_json::from_str(text).map_err(|e| Error::InvalidField { path: "pause".into(), message: e.to_string() })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// This pause widened by `regions` (`None`: every region), as `by` at `at`.
    pub fn and(
        existing: Option<&Pause>,
        regions: Option<BTreeSet<String>>,
        by: &str,
        at: &str,
        reason: Option<String>,
    ) -> Pause {
        let regions = match (existing.map(|p| &p.regions), regions) {
            (Some(None), _) | (_, None) => None,
            (Some(Some(old)), Some(new)) => Some(old.union(&new).cloned().collect()),
            (None, Some(new)) => Some(new),
        };
        Pause { regions, by: by.to_owned(), at: at.to_owned(), reason }
    }

    /// What is left of `existing` once `regions` (`None`: every region) resume: `Ok(None)` when nothing stays
    /// paused. Resuming some regions of a pause of every region is refused: which regions stay paused is not known.
    pub fn without(existing: &Pause, regions: Option<&BTreeSet<String>>) -> Result<Option<Pause>, Error> {
        let Some(resumed) = regions else { return Ok(None) };
        let Some(paused) = &existing.regions else {
            return Err(Error::InvalidField {
                path: "--regions".into(),
                message: "every region is paused: resume all of them (--regions all), then pause the ones to keep"
                    .into(),
            });
        };
        let left: BTreeSet<String> = paused.difference(resumed).cloned().collect();
        Ok((!left.is_empty()).then(|| Pause { regions: Some(left), ..existing.clone() }))
    }
}

/// Regions as a person reads them; `None`: `every region`.
pub fn scope(regions: Option<&BTreeSet<String>>) -> String {
    match regions {
        None => "every region".to_owned(),
        Some(regions) => regions.iter().cloned().collect::<Vec<_>>().join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(regions: &[&str]) -> BTreeSet<String> {
        regions.iter().map(|r| r.to_string()).collect()
    }

    fn pause(regions: Option<&[&str]>) -> Pause {
        Pause {
            regions: regions.map(set),
            by: "arn:aws:iam::123456789012:user/ops".into(),
            at: "t".into(),
            reason: None,
        }
    }

    #[test]
    fn a_pause_covers_its_regions_or_every_region() {
        assert!(pause(None).covers("eu-west-1"));
        assert!(pause(Some(&["eu-west-1"])).covers("eu-west-1"));
        assert!(!pause(Some(&["eu-west-1"])).covers("us-east-1"));
    }

    #[test]
    fn pausing_more_widens_and_every_region_wins() {
        let some = pause(Some(&["eu-west-1"]));
        assert_eq!(
            Pause::and(Some(&some), Some(set(&["us-east-1"])), "b", "t2", None).regions,
            Some(set(&["eu-west-1", "us-east-1"]))
        );
        assert_eq!(Pause::and(Some(&some), None, "b", "t2", None).regions, None);
        assert_eq!(Pause::and(Some(&pause(None)), Some(set(&["us-east-1"])), "b", "t2", None).regions, None);
        assert_eq!(Pause::and(None, Some(set(&["us-east-1"])), "b", "t2", None).regions, Some(set(&["us-east-1"])));
    }

    #[test]
    fn resuming_leaves_the_other_regions_paused_and_refuses_part_of_every_region() {
        let some = pause(Some(&["eu-west-1", "us-east-1"]));
        let left = Pause::without(&some, Some(&set(&["eu-west-1"]))).unwrap().unwrap();
        assert_eq!(left.regions, Some(set(&["us-east-1"])));
        assert_eq!(Pause::without(&some, Some(&set(&["eu-west-1", "us-east-1"]))).unwrap(), None);
        assert_eq!(Pause::without(&some, None).unwrap(), None);
        assert!(Pause::without(&pause(None), Some(&set(&["eu-west-1"]))).is_err());
    }

    #[test]
    fn a_pause_reads_back_what_it_wrote_and_refuses_anything_else() {
        let p = Pause { reason: Some("incident 42".into()), ..pause(Some(&["eu-west-1"])) };
        assert_eq!(Pause::parse(&p.to_json()).unwrap(), p);
        assert!(Pause::parse("{\"regions\": null}").is_err());
        assert!(
            p.line().starts_with("PAUSED in eu-west-1 by arn:aws:iam::123456789012:user/ops since t (incident 42)")
        );
    }
}
