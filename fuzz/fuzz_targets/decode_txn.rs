//! libFuzzer target: arbitrary bytes into `jute::fuzz_decode_txn`, which must not panic
//! (its only panics are round-trip self-checks, i.e. codec bugs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    jute::fuzz_decode_txn(data);
});
