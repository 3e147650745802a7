//! The simulator's impairment-spec parser (`bot_adapter::sim::Impairments: FromStr`), which takes
//! `verbatim record --impair ...` from the command line. A spec that parses must validate, print, and parse
//! back to the same value.
#![no_main]

use bot_adapter::sim::Impairments;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(imp) = s.parse::<Impairments>() {
        assert!(imp.validate().is_ok(), "{s:?} parsed to an invalid {imp:?}");
        let shown = imp.to_string();
        let back: Impairments = shown
            .parse()
            .unwrap_or_else(|e| panic!("{s:?} -> {shown:?} does not parse back: {e}"));
        assert_eq!(back, imp, "{s:?} -> {shown:?}");
    }
});
