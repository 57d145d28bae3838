// Fuzzes the check_origin parser and matcher (scheme, host, port, `//host`, `*.domain`, IPv6) with an untrusted Origin header (first line) against configured entries (other lines); checks that an accepted origin accepts itself and that case never matters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::endpoint::CheckOrigin;
use switchboard::endpoint::fuzzing::origin_allowed;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let origin = lines.next().unwrap_or_default();
    let entries: Vec<String> = lines.map(str::to_owned).collect();
    assert!(origin_allowed(&CheckOrigin::Off, Some(origin), None));
    let check = CheckOrigin::Allow(entries.clone());
    assert!(
        origin_allowed(&check, None, None),
        "a request without Origin is refused"
    );
    let allowed = origin_allowed(&check, Some(origin), None);
    if allowed {
        let itself = CheckOrigin::Allow(vec![origin.to_owned()]);
        assert!(
            origin_allowed(&itself, Some(origin), None),
            "an accepted origin refuses itself"
        );
    }
    // Scheme and host compare case-insensitively; nothing else can change with ASCII case.
    for case in [str::to_ascii_uppercase, str::to_ascii_lowercase] {
        let check = CheckOrigin::Allow(entries.iter().map(|e| case(e)).collect());
        assert_eq!(
            origin_allowed(&check, Some(&case(origin)), None),
            allowed,
            "ASCII case changed the verdict"
        );
    }
});
