//! Fuzz target: any bytes through the event parser. It may reject them, never panic; what it accepts names only
//! well-formed group ids.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(trigger) = egress_guard_core::parse_event(data) {
        for id in &trigger.group_ids {
            assert!(egress_guard_core::model::validate_group_id(id).is_ok(), "{id}");
        }
    }
});
