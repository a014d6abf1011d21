//! Fuzz target: any group (as JSON) through evaluation and the notice's undo command. Never a panic, and a plan holds
//! only `/0` destinations.
#![no_main]

use egress_guard_core::{SecurityGroup, Settings, evaluate, permission::undo_command};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(group) = serde_json::from_slice::<SecurityGroup>(data) else { return };
    for settings in [Settings::default(), Settings { revoke_other_protocols: true, ..Settings::default() }] {
        let plan = evaluate(&group, &settings).plan;
        assert!(plan.rules.iter().all(|r| r.destination.is_unrestricted()));
        let _ = undo_command("eu-west-1", &group.id, &plan.rules);
    }
});
