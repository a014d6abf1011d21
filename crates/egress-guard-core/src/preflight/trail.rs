//! Trail coverage: whether a trail covers a region, whether its event selectors (classic or advanced) log the
//! management write events egress-guard acts on, and `trail_problem`, why no trail delivers a region's events.

use crate::preflight::observations::{AdvancedSelector, ClassicSelector, FieldSelector, Selectors, TrailObservation};
use crate::trigger::EventName;

/// The source of every call egress-guard acts on, as an advanced event selector's `eventSource` sees it.
const EC2_SOURCE: &str = "ec2.amazonaws.com";

impl TrailObservation {
    /// A trail covers `region` when it is multi-region (an organization trail too: then in every member account) or
    /// when `region` is its home region; a single-region trail elsewhere does not.
    pub fn covers(&self, region: &str) -> bool {
        self.multi_region || self.home_region == region
    }
}

impl FieldSelector {
    fn matches(&self, value: &str) -> bool {
        let any = |list: &[String], hit: &dyn Fn(&str) -> bool| list.iter().any(|v| hit(v));
        (self.equals.is_empty() || any(&self.equals, &|v| value == v))
            && (self.starts_with.is_empty() || any(&self.starts_with, &|v| value.starts_with(v)))
            && (self.ends_with.is_empty() || any(&self.ends_with, &|v| value.ends_with(v)))
            && !any(&self.not_equals, &|v| value == v)
            && !any(&self.not_starts_with, &|v| value.starts_with(v))
            && !any(&self.not_ends_with, &|v| value.ends_with(v))
    }
}

impl AdvancedSelector {
    /// Whether it logs the management write call `event_name` to EC2. A field preflight cannot know the value of
    /// (anything but `eventCategory`, `readOnly`, `eventSource`, `eventName`) makes it not count.
    fn logs(&self, event_name: &str) -> bool {
        self.fields.iter().all(|f| match f.field.as_str() {
            "eventCategory" => f.matches("Management"),
            "readOnly" => f.matches("false"),
            "eventSource" => f.matches(EC2_SOURCE),
            "eventName" => f.matches(event_name),
            _ => false,
        })
    }
}

impl ClassicSelector {
    fn logs_management_writes(&self) -> bool {
        self.include_management_events.unwrap_or(true)
            && matches!(self.read_write_type.as_deref().unwrap_or("All"), "All" | "WriteOnly")
            && !self.exclude_management_event_sources.iter().any(|s| s == EC2_SOURCE)
    }
}

impl Selectors {
    /// Whether the trail logs the management write events egress-guard acts on (every call of `EventName::ALL`).
    /// No custom selectors is CloudTrail's default, every management event; AWS answers it as one classic selector
    /// (`All`, management events included), moto as no selector at all: both count.
    pub fn logs_management_writes(&self) -> bool {
        if !self.custom && self.classic.is_empty() && self.advanced.is_empty() {
            return true;
        }
        let classic = self.classic.iter().any(ClassicSelector::logs_management_writes);
        // Each call by some selector: selectors log the union of what each matches.
        let advanced = EventName::ALL.iter().all(|name| self.advanced.iter().any(|s| s.logs(name.as_str())));
        classic || advanced
    }
}

/// Why no trail delivers `region`'s management write events to EventBridge, and the fix; `None` when one does, or
/// when the trails that might could not be read (an error, not a finding).
pub(super) fn trail_problem(region: &str, trails: &[TrailObservation]) -> Option<(String, String)> {
    let covering: Vec<&TrailObservation> = trails.iter().filter(|t| t.covers(region)).collect();
    if covering.is_empty() {
        return Some((
            format!(
                "no trail covers {region}: no trail logs its management write events, so EventBridge never sees the calls made there"
            ),
            format!(
                "deploy with CreateTrail=true or create a trail that covers {region} (a multi-region trail covers every region)"
            ),
        ));
    }
    let works = |t: &&TrailObservation| {
        t.logging == Ok(true) && t.selectors.as_ref().is_ok_and(Selectors::logs_management_writes)
    };
    let unread = |t: &&TrailObservation| t.logging.is_err() || t.selectors.is_err();
    if covering.iter().any(works) || covering.iter().any(unread) {
        return None;
    }
    let mut reasons = Vec::new();
    let mut fixes = Vec::new();
    for t in &covering {
        let stopped = t.logging == Ok(false);
        let no_writes = !t.selectors.as_ref().is_ok_and(Selectors::logs_management_writes);
        let why = match (stopped, no_writes) {
            (true, true) => "is not logging (stopped) and does not log management write events",
            (true, false) => "is not logging (stopped)",
            _ => "does not log management write events",
        };
        reasons.push(format!("trail {} covers {region} but {why}", t.name));
        if stopped {
            fixes.push(format!(
                "start logging on {}: `aws cloudtrail start-logging --name {} --region {}`",
                t.name, t.arn, t.home_region
            ));
        }
        if no_writes {
            fixes.push(format!(
                "log management write events on {} (an event selector with IncludeManagementEvents true and ReadWriteType All or WriteOnly, or an advanced selector with eventCategory Management and no readOnly true)",
                t.name
            ));
        }
    }
    fixes.push("or deploy with CreateTrail=true".to_owned());
    Some((
        format!(
            "no trail logs management write events in {region}: {}; EventBridge never sees the calls made there",
            reasons.join("; ")
        ),
        fixes.join("; "),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::fixtures::{places, trail, with_trails};
    use crate::preflight::{Check, errors, findings};

    fn classic(read_write: Option<&str>, management: Option<bool>, excluded: &[&str]) -> Selectors {
        Selectors {
            custom: true,
            classic: vec![ClassicSelector {
                read_write_type: read_write.map(str::to_owned),
                include_management_events: management,
                exclude_management_event_sources: excluded.iter().map(|s| (*s).to_owned()).collect(),
            }],
            advanced: vec![],
        }
    }

    /// A field selector from `field op value[|value]` lines: `eventCategory = Management`, `readOnly != true`.
    fn field(text: &str) -> FieldSelector {
        let mut parts = text.splitn(3, ' ');
        let (name, op, values) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let values: Vec<String> = values.split('|').map(str::to_owned).collect();
        let mut f = FieldSelector { field: name.to_owned(), ..Default::default() };
        match op {
            "=" => f.equals = values,
            "!=" => f.not_equals = values,
            "^=" => f.starts_with = values,
            "!^=" => f.not_starts_with = values,
            "$=" => f.ends_with = values,
            "!$=" => f.not_ends_with = values,
            _ => panic!("unknown operator {op}"),
        }
        f
    }

    fn advanced(selectors: &[&[&str]]) -> Selectors {
        Selectors {
            custom: true,
            classic: vec![],
            advanced: selectors
                .iter()
                .map(|fields| AdvancedSelector { name: None, fields: fields.iter().map(|f| field(f)).collect() })
                .collect(),
        }
    }

    macro_rules! selectors {
        ($($name:ident: $selectors:expr => $logs:expr;)*) => {$(
            #[test]
            fn $name() {
                assert_eq!($selectors.logs_management_writes(), $logs);
            }
        )*};
    }

    selectors! {
        classic_all_logs_writes: classic(Some("All"), Some(true), &[]) => true;
        classic_write_only_logs_writes: classic(Some("WriteOnly"), Some(true), &[]) => true;
        classic_read_only_misses_writes: classic(Some("ReadOnly"), Some(true), &[]) => false;
        classic_without_management_events_misses_writes: classic(Some("All"), Some(false), &[]) => false;
        classic_defaults_are_all_and_management_included: classic(None, None, &[]) => true;
        classic_excluding_kms_still_logs_ec2: classic(Some("All"), Some(true), &["kms.amazonaws.com"]) => true;
        classic_excluding_ec2_misses_its_calls: classic(Some("All"), Some(true), &["ec2.amazonaws.com"]) => false;
        one_classic_selector_of_several_is_enough: Selectors {
            classic: [classic(Some("ReadOnly"), Some(true), &[]).classic, classic(Some("WriteOnly"), None, &[]).classic].concat(),
            ..classic(None, None, &[])
        } => true;
        no_custom_selectors_is_cloudtrails_default_every_management_event: Selectors::default() => true;
        custom_but_empty_selectors_log_nothing: Selectors { custom: true, ..Default::default() } => false;
        advanced_management_without_read_only_logs_writes: advanced(&[&["eventCategory = Management"]]) => true;
        advanced_management_read_only_false_logs_writes: advanced(&[&["eventCategory = Management", "readOnly = false"]]) => true;
        advanced_management_read_only_true_misses_writes: advanced(&[&["eventCategory = Management", "readOnly = true"]]) => false;
        advanced_read_only_not_true_logs_writes: advanced(&[&["eventCategory = Management", "readOnly != true"]]) => true;
        advanced_excluding_kms_still_logs_ec2: advanced(&[&["eventCategory = Management", "eventSource != kms.amazonaws.com|rdsdata.amazonaws.com"]]) => true;
        advanced_excluding_ec2_misses_its_calls: advanced(&[&["eventCategory = Management", "eventSource != ec2.amazonaws.com"]]) => false;
        advanced_data_only_misses_management_writes: advanced(&[
            &["eventCategory = Data", "resources.type = AWS::S3::Object"],
            &["eventCategory = Data", "resources.type = AWS::Lambda::Function"],
        ]) => false;
        advanced_data_beside_management_writes_logs_them: advanced(&[
            &["eventCategory = Data", "resources.type = AWS::S3::Object"],
            &["eventCategory = Management", "readOnly = false"],
        ]) => true;
        advanced_reads_and_writes_split_over_two_selectors_log_writes: advanced(&[
            &["eventCategory = Management", "readOnly = true"],
            &["eventCategory = Management", "readOnly = false"],
        ]) => true;
        advanced_naming_only_one_of_the_calls_misses_the_others: advanced(&[&["eventCategory = Management", "eventName = CreateSecurityGroup"]]) => false;
        advanced_prefix_operators_are_matched: advanced(&[&["eventCategory ^= Manage", "eventSource $= .amazonaws.com", "eventName !^= Delete"]]) => true;
        advanced_field_preflight_cannot_see_does_not_count: advanced(&[&["eventCategory = Management", "userIdentity.arn ^= arn:aws:iam::123456789012:role/ci"]]) => false;
    }

    fn trail_in(region: &str) -> (Check, Option<String>, Option<String>) {
        (Check::TRAIL, Some(region.to_owned()), None)
    }

    #[test]
    fn a_single_region_trail_covers_only_its_home_region() {
        let o = with_trails(&["eu-west-1", "us-west-2"], vec![trail("west", "us-west-2", false, false)]);
        assert_eq!(places(&o), [trail_in("eu-west-1")]);
        let f = &findings(&o)[0];
        assert!(f.problem.starts_with("no trail covers eu-west-1:"), "{}", f.problem);
        assert!(f.fix.contains("CreateTrail=true"), "{}", f.fix);
        assert!(errors(&o).is_empty());
    }

    #[test]
    fn a_multi_region_trail_elsewhere_covers_every_region() {
        let o = with_trails(&["eu-west-1", "ap-south-1"], vec![trail("all", "us-east-1", true, false)]);
        assert_eq!(places(&o), []);
    }

    #[test]
    fn an_organization_trail_covers_a_member_region_as_its_multi_region_flag_says() {
        let o = with_trails(&["eu-west-1"], vec![trail("org", "us-east-1", true, true)]);
        assert_eq!(places(&o), []);
        let o = with_trails(&["eu-west-1", "us-east-1"], vec![trail("org-home", "us-east-1", false, true)]);
        assert_eq!(places(&o), [trail_in("eu-west-1")]);
    }

    #[test]
    fn a_stopped_trail_is_named_with_the_command_that_starts_it() {
        let mut t = trail("main", "eu-west-1", true, false);
        t.logging = Ok(false);
        let o = with_trails(&["eu-west-1", "us-east-1"], vec![t]);
        assert_eq!(places(&o), [trail_in("eu-west-1"), trail_in("us-east-1")]);
        let f = &findings(&o)[1];
        assert!(f.problem.contains("trail main covers us-east-1 but is not logging (stopped)"), "{}", f.problem);
        let start = "aws cloudtrail start-logging --name arn:aws:cloudtrail:eu-west-1:123456789012:trail/main --region eu-west-1";
        assert!(f.fix.contains(start), "{}", f.fix);
    }

    #[test]
    fn a_trail_without_management_writes_is_told_apart_from_a_stopped_one() {
        let mut t = trail("reads", "eu-west-1", false, false);
        t.selectors = Ok(classic(Some("ReadOnly"), Some(true), &[]));
        let f = findings(&with_trails(&["eu-west-1"], vec![t])).remove(0);
        assert!(
            f.problem.contains("trail reads covers eu-west-1 but does not log management write events"),
            "{}",
            f.problem
        );
        assert!(!f.problem.contains("stopped") && !f.fix.contains("start-logging"), "{f:?}");
    }

    #[test]
    fn one_working_trail_is_enough_beside_broken_ones() {
        let mut stopped = trail("stopped", "eu-west-1", true, false);
        stopped.logging = Ok(false);
        let mut unread = trail("unread", "eu-west-1", true, false);
        unread.logging = Err("AccessDeniedException: no".into());
        let o = with_trails(&["eu-west-1"], vec![stopped, unread, trail("ok", "eu-west-1", false, false)]);
        assert_eq!((places(&o), errors(&o)), (vec![], vec![]));
    }

    #[test]
    fn a_trail_whose_state_cannot_be_read_is_an_error_not_a_pass_nor_a_finding() {
        let mut t = trail("main", "us-east-1", true, false);
        t.selectors = Err("TrailNotFoundException: Unknown trail".into());
        let o = with_trails(&["eu-west-1"], vec![t]);
        assert_eq!(places(&o), []);
        let e = errors(&o);
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].check, e[0].region.as_deref()), (Check::TRAIL, Some("eu-west-1")));
        assert_eq!(e[0].error, "trail main: TrailNotFoundException: Unknown trail");
    }
}
